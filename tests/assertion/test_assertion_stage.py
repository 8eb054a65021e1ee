"""The assertion stage on messy clinical snippets: ConText triggers, scopes, sections."""

from __future__ import annotations

import pickle
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from note2fhir.assertion.stage import AssertionStage
from note2fhir.document import (
    ClinicalDocument,
    DocumentContext,
    Entity,
    EntityType,
    SourceRef,
)
from note2fhir.errors import Note2FhirError
from note2fhir.pipeline import Pipeline
from note2fhir.settings import load_settings
from note2fhir.text.stage import SentencesStage

NONE: set[str] = set()
SOURCE = SourceRef(
    "DocumentReference", "n1", "DocumentReference/n1", "DocumentReference.content[0].attachment"
)
Annotate = Callable[..., dict[str, Entity]]


def flags(entity: Entity) -> set[str]:
    """The assertion flags that are set, with ``differential`` and ``relative=XXX``."""
    assertion = entity.assertion
    found = {name for name, value in assertion.as_flags().items() if value}
    if assertion.differential:
        found.add("differential")
    if assertion.relative:
        found.add(f"relative={assertion.relative}")
    return found


@pytest.fixture(scope="module")
def stage() -> AssertionStage:
    return AssertionStage(AssertionStage.Options(), load_settings())


MakeDoc = Callable[..., ClinicalDocument]


@pytest.fixture(scope="module")
def make_doc() -> MakeDoc:
    """``make_doc(text, spans)``: a document with tokens, units and problem entities."""
    sentences = SentencesStage(SentencesStage.Options(), load_settings())

    def make(
        text: str, spans: list[tuple[int, int]], types: list[EntityType] | None = None
    ) -> ClinicalDocument:
        doc = ClinicalDocument(id="n1", source=SOURCE, original_text=text)
        sentences.process(doc)
        kinds = types or [EntityType.PROBLEM] * len(spans)
        doc.entities = [
            Entity(f"E{n}", start, end, text[start:end], kind)
            for n, ((start, end), kind) in enumerate(zip(spans, kinds, strict=True))
        ]
        return doc

    return make


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Negation spans a list; "but" ends it.
        (
            "No [[fever]], [[chills]], or [[night sweats]].",
            {"fever": {"negated"}, "chills": {"negated"}, "night sweats": {"negated"}},
        ),
        ("Denies [[CP]] but endorses [[SOB]].", {"CP": {"negated"}, "SOB": NONE}),
        (
            "Pt denies [[CP]], however reports [[palpitations]]",
            {"CP": {"negated"}, "palpitations": NONE},
        ),
        # ALL CAPS nursing note, semicolons and periods as unit ends.
        (
            "PT ALERT. DENIES [[CP]], [[SOB]]; [[NAUSEA]] NOTED. NO [[N/V]].",
            {"CP": {"negated"}, "SOB": {"negated"}, "NAUSEA": NONE, "N/V": {"negated"}},
        ),
        # Abbreviations: a trigger of another category ends the scope before it.
        (
            "pt c/o [[SOB]], r/o [[MI]], hx [[HTN]], [[DM2]]",
            {
                "SOB": NONE,
                "MI": {"uncertain", "differential"},
                "HTN": {"historical"},
                "DM2": {"historical"},
            },
        ),
        # "p/w" (presents with) ends the history's scope like "presents with" (review12 C1)
        (
            "58F w/ hx [[COPD]], [[HFpEF]], [[DM2]] p/w progressive [[SOB]], productive "
            "[[cough]] and [[fevers]].",
            {
                "COPD": {"historical"},
                "HFpEF": {"historical"},
                "DM2": {"historical"},
                "SOB": NONE,
                "cough": NONE,
                "fevers": NONE,
            },
        ),
        (
            "[[PNA]] vs [[CHF exacerbation]]",
            {
                "PNA": {"uncertain", "differential"},
                "CHF exacerbation": {"uncertain", "differential"},
            },
        ),
        ("Differential diagnosis includes [[PE]].", {"PE": {"uncertain", "differential"}}),
        ("? [[pneumonia]]. Possible [[UTI]].", {"pneumonia": {"uncertain"}, "UTI": {"uncertain"}}),
        ("[[Appendicitis]] cannot be ruled out.", {"Appendicitis": {"uncertain"}}),
        ("[[MI]] was ruled out.", {"MI": {"negated"}}),
        ("CT was negative for [[PE]].", {"PE": {"negated"}}),
        (
            "Return to ED if [[fever]] or [[chest pain]] develops.",
            {"fever": {"hypothetical"}, "chest pain": {"hypothetical"}},
        ),
        ("Monitor for [[bleeding]].", {"bleeding": {"hypothetical"}}),
        ("s/p [[CABG]] in 2005.", {"CABG": {"historical"}}),
        ("[[MI]] 3 years ago.", {"MI": {"historical"}}),
        ("Remained [[seizure]] free.", {"seizure": {"negated"}}),
        ("non-[[diabetic]] patient", {"diabetic": {"negated"}}),
        ("Never treated with [[antipsychotics]].", {"antipsychotics": {"negated"}}),
        # Pseudo-triggers are not triggers.
        ("No increase in [[edema]].", {"edema": NONE}),
        ("Blood cultures grew gram negative [[rods]].", {"rods": NONE}),
        ("Over the past 2 days [[cough]] worsened.", {"cough": NONE}),
        ("Not in labor force (finding), [[anemia]] (disorder).", {"anemia": NONE}),
        # Synthea-style lists: a semantic tag ends an item, a history runs through the list.
        (
            "Concussion, no [[loss of consciousness]] (finding), [[viral sinusitis]] (disorder)",
            {"loss of consciousness": {"negated"}, "viral sinusitis": NONE},
        ),
        (
            "Patient has a history of [[asthma]] (disorder), [[stress]] (finding), [[CKD]].",
            {"asthma": {"historical"}, "stress": {"historical"}, "CKD": {"historical"}},
        ),
        ("A 45-year-old man with [[pneumonia]].", {"pneumonia": NONE}),
        # how long the presenting complaint has lasted is no past history
        ("Presented with a 1 month history of [[epistaxis]].", {"epistaxis": NONE}),
        ("A three-month history of [[weight loss]].", {"weight loss": NONE}),
        ("A 10-year history of [[diabetes]].", {"diabetes": NONE}),
        ("He has a history of [[asthma]].", {"asthma": {"historical"}}),
        # nursing shorthand: MOM is milk of magnesia, VS vital signs, wo without
        ("MOM given for [[constipation]].", {"constipation": NONE}),
        ("Colace and MOM, may need [[dulcolax]].", {"dulcolax": {"uncertain"}}),
        ("VS remain stable on 6 mcg [[dopamine]].", {"dopamine": NONE}),
        ("SR wo [[ectopy]].", {"ectopy": {"negated"}}),
        ("NO STOOL, REC'D [[COLACE]].", {"COLACE": NONE}),
        (
            "Mom 45 with history of [[breast cancer]].",
            {"breast cancer": {"family", "historical", "relative=MTH"}},
        ),
        ("[[sepsis]] vs HD related", {"sepsis": {"uncertain", "differential"}}),
        # an exposure or a screening names a disease the patient may not have
        ("Exposure to [[COVID-19]] at work.", {"COVID-19": {"uncertain"}}),
        ("Sick contact with [[influenza]] at home.", {"influenza": {"uncertain"}}),
        ("Screening for [[colon cancer]].", {"colon cancer": {"uncertain"}}),
        ("Presents to be evaluated for [[chest pain]].", {"chest pain": NONE}),
        ("[[Contact dermatitis]] on hands.", {"Contact dermatitis": NONE}),
        # a test that looked for the disease came back negative; not across a comma
        ("[[Influenza]] A swab negative.", {"Influenza": {"negated"}}),
        ("[[Pneumonia]], sputum culture negative.", {"Pneumonia": NONE}),
        ("[[Sepsis]] blood cultures negative at 48 hours.", {"Sepsis": NONE}),
        ("[[Influenza]] A/B swab negative.", {"Influenza": {"negated"}}),
        ("[[MRSA]] nares swab negative.", {"MRSA": {"negated"}}),  # the specimen between
        ("[[HIV]] Ab negative.", {"HIV": {"negated"}}),
        # a review of systems written with colons, dashes and signs
        ("[[Fever]]: negative. [[Cough]]: positive.", {"Fever": {"negated"}, "Cough": NONE}),
        ("[[Chest pain]]: denies.", {"Chest pain": {"negated"}}),
        ("[[Fever]]: no", {"Fever": {"negated"}}),
        ("[[Fever]] - no", {"Fever": {"negated"}}),
        ("The [[organism]] was catalase-negative, esculin-negative.", {"organism": NONE}),
        ("anti-HBs (-), [[anti-HBc]] (+), anti-HCV (-) and [[anti-HIV]] (-).", {"anti-HBc": NONE}),
        ("[[Chest pain]]: (-)", {"Chest pain": {"negated"}}),
        # the colon's word opens a list: the forward rules' (review16 D1)
        (
            "Constitutional: Negative for [[fever]], [[chills]]. Respiratory: Denies [[cough]].",
            {"fever": {"negated"}, "chills": {"negated"}, "cough": {"negated"}},
        ),
        (
            "Constitutional: Denies [[fever]] and [[chills]].",
            {"fever": {"negated"}, "chills": {"negated"}},
        ),
        (
            "[[Chest pain]]: negative for exertional component.",
            {"Chest pain": NONE},
        ),
        (
            "(-) [[fever]], [[chills]], (+) [[cough]]",
            {"fever": {"negated"}, "chills": {"negated"}, "cough": NONE},
        ),
        (
            "Negatives: [[fever]], [[chills]]; Positives: [[cough]]",
            {"fever": {"negated"}, "chills": {"negated"}, "cough": NONE},
        ),
        (
            "Pertinent negatives: [[chest pain]], [[dyspnea]].",
            {"chest pain": {"negated"}, "dyspnea": {"negated"}},
        ),
        # a bare "neg" is about the word just before, in its clause (review16 D4)
        ("[[Chest pain]], [[trop]] neg x2.", {"Chest pain": NONE, "trop": {"negated"}}),
        ("[[CAD]], neg [[troponin]]", {"CAD": NONE}),
        ("[[UA]] neg", {"UA": {"negated"}}),
        # a rule-out that ends its clause looks back (review16 D11)
        ("[[NSTEMI]] r/o", {"NSTEMI": {"uncertain", "differential"}}),
        ("[[ACS]] (r/o)", {"ACS": {"uncertain", "differential"}}),
        ("[[Meningitis]]: rule out", {"Meningitis": {"uncertain", "differential"}}),
        ("[[ACS]]: to r/o", {"ACS": {"uncertain", "differential"}}),
        ("Pt c/o [[SOB]], r/o [[MI]].", {"SOB": NONE, "MI": {"uncertain", "differential"}}),
        (
            "R/O: [[MI]], [[PE]]",
            {"MI": {"uncertain", "differential"}, "PE": {"uncertain", "differential"}},
        ),
        # only the alternatives of "vs" are the differential (review16 D7)
        (
            "[[Chest pain]], [[ACS]] vs [[PE]]",
            {"Chest pain": NONE, "ACS": {"uncertain", "differential"}},
        ),
        (
            "# [[Sepsis]] 2/2 [[UTI]] vs [[PNA]]",
            {"Sepsis": NONE, "PNA": {"uncertain", "differential"}},
        ),
        # a colon's denial reaches only its own item (review16 D14)
        ("[[Cough]]: yes, [[Fever]]: negative", {"Cough": NONE, "Fever": {"negated"}}),
        ("[[COVID]]: positive, [[Flu]]: negative", {"COVID": NONE, "Flu": {"negated"}}),
        ("[[Flu A]]: Positive  [[Flu B]]: Negative", {"Flu A": NONE, "Flu B": {"negated"}}),
        # an order after a denial is no part of it (review16 D13)
        (
            "No [[bleeding]], continue [[warfarin]] 5 mg daily",
            {"bleeding": {"negated"}, "warfarin": NONE},
        ),
        ("No [[fever]], given [[tylenol]].", {"fever": {"negated"}, "tylenol": NONE}),
        # hedges and doubts (review16 D28)
        ("c/f [[sepsis]]", {"sepsis": {"uncertain"}}),
        ("Low c/f [[meningitis]].", {"meningitis": {"uncertain"}}),
        ("[[PE]] not suspected.", {"PE": {"negated"}}),
        ("[[MI]] doubtful", {"MI": {"uncertain"}}),
        ("doubt [[ACS]]", {"ACS": {"uncertain"}}),
        ("No doubt he has [[pneumonia]].", {"pneumonia": NONE}),
        ("[[NSTEMI]] less likely given flat trops", {"NSTEMI": {"uncertain"}}),
        ("[[CHF]], less likely [[PNA]]", {"CHF": NONE, "PNA": {"uncertain"}}),
        ("[[Sepsis]] is on the differential.", {"Sepsis": {"uncertain"}}),
        ("query [[PNA]]", {"PNA": {"uncertain"}}),
        # warnings, risks and side effects are no conditions (review16 D22)
        (
            "Return precautions: [[chest pain]], [[fever]].",
            {"chest pain": {"hypothetical"}, "fever": {"hypothetical"}},
        ),
        ("Return to ED for worsening [[chest pain]].", {"chest pain": {"hypothetical"}}),
        (
            "Side effects reviewed: [[nausea]], [[lactic acidosis]].",
            {"nausea": {"hypothetical"}, "lactic acidosis": {"hypothetical"}},
        ),
        ("Risks include bleeding, infection, and [[stroke]].", {"stroke": {"hypothetical"}}),
        # a pain score of zero (review16 D20)
        ("[[Pain]]: 0/10", {"Pain": {"negated"}}),
        ("[[Pain]]: 7/10", {"Pain": NONE}),
        # a negative nares screen (review16 D23)
        ("[[MRSA]] nares negative.", {"MRSA": {"negated"}}),
        # a study's requisition (review16 D31)
        ("Reason for study: [[PE]].", {"PE": {"uncertain"}}),
        # people the patient lives with or cares for (review16 D21)
        ("Lives with boyfriend who has [[HIV]].", {"HIV": {"family", "relative=SIGOTHR"}}),
        ("Roommate tested positive for [[COVID]].", {"COVID": {"family", "relative=ROOM"}}),
        ("Husband recently diagnosed with [[TB]].", {"TB": {"family", "relative=SPS"}}),
        ("Caregiver for husband with [[ALS]].", {"ALS": {"family", "relative=SPS"}}),
        ("Coworker with [[COVID]] last week.", {"COVID": {"family", "relative=FRND"}}),
        ("Boyfriend at bedside. Pt with [[HIV]] on ART.", {"HIV": NONE}),
        (
            "[[COPD exacerbation]], [[PE]] ruled out by CTA",
            {"COPD exacerbation": NONE, "PE": {"negated"}},
        ),
        # review17: a trailing rule-out doubts only its own item; "most likely" looks ahead;
        # a result's sign or "negative:" is no list; an order ends a denial, a symptom does
        # not; "2/2" ends a scope; "neg" is the word just before; a query's answer confirms
        (
            "[[HTN]], [[DM2]], [[CKD 3]], [[ACS]] r/o",
            {"HTN": NONE, "DM2": NONE, "CKD 3": NONE, "ACS": {"uncertain", "differential"}},
        ),
        ("[[Cirrhosis]] with ascites, [[SBP]] to rule out", {"Cirrhosis": NONE}),
        ("[[AKI]] most likely prerenal", {"AKI": NONE}),
        ("Rapid strep (-), viral [[pharyngitis]].", {"pharyngitis": NONE}),
        ("Workup negative: [[syncope]] likely vasovagal", {"syncope": NONE}),
        (
            "Denies [[fever]], [[chills]], [[decreased appetite]]",
            {"fever": {"negated"}, "decreased appetite": {"negated"}},
        ),
        ("[[ACS]] vs [[PE]]/[[PNA]]", {"PNA": {"uncertain", "differential"}}),
        ("[[Breast cancer]] ER neg", {"Breast cancer": NONE}),
        ("Per query response, [[acute blood loss anemia]]", {"acute blood loss anemia": NONE}),
        ("Without a doubt [[pneumonia]].", {"pneumonia": NONE}),
        ("Wound looks like it is healing well, [[cellulitis]] resolving", {"cellulitis": NONE}),
        ("[[Neck pain]]: 0/10 at rest, 8/10 with rotation", {"Neck pain": NONE}),
        ("[[MI]] r/o'd", {"MI": {"negated"}}),
        ("Risks include [[bleeding]] given his [[thrombocytopenia]]", {"thrombocytopenia": NONE}),
        # review18: "neg" over a test's words, not over a tumour marker; "ruled out" after a
        # list; "likely 2/2"; an order's base form ends a denial; "unlikely" either side; a
        # rule-out before "with"; a result before "neg:"
        ("[[HIV]] 4th gen neg", {"HIV": {"negated"}}),
        ("[[TB]] QFT neg", {"TB": {"negated"}}),
        ("[[AML]] FLT3 neg", {"AML": NONE}),
        (
            "[[MI]], [[PE]], and [[aortic dissection]] ruled out",
            {"MI": {"negated"}, "PE": {"negated"}, "aortic dissection": {"negated"}},
        ),
        ("Ruled out: [[MI]], [[PE]]", {"MI": {"negated"}, "PE": {"negated"}}),
        ("[[Sepsis]]: ruled out", {"Sepsis": {"negated"}}),
        ("[[Anemia]] likely 2/2 [[GI bleed]]", {"Anemia": NONE, "GI bleed": {"uncertain"}}),
        (
            "No [[hypoglycemia]], increase insulin for [[DM]]",
            {"hypoglycemia": {"negated"}, "DM": NONE},
        ),
        ("Unlikely [[PE]].", {"PE": {"uncertain"}}),
        ("[[PE]] unlikely.", {"PE": {"uncertain"}}),
        ("[[MI]] r/o with serial troponins", {"MI": {"uncertain", "differential"}}),
        (
            "[[Diabetic foot ulcer]] with [[osteomyelitis]] r/o",
            {"Diabetic foot ulcer": NONE, "osteomyelitis": {"uncertain", "differential"}},
        ),
        ("Looks like a viral [[URI]]", {"URI": {"uncertain"}}),
        ("Strep neg: viral [[pharyngitis]]", {"pharyngitis": NONE}),
        ("Resolved: AKI\nActive: [[CHF exacerbation]]", {"CHF exacerbation": NONE}),
        # review19: "Neg:" where a unit or label starts; "neg" after a test's own words only;
        # "ruled out" into a coordinated list, not over an item of its own; a hedge in
        # brackets; "increase in" is no order; "unlikely to explain"
        ("Neg: [[fever]], [[chills]]; Pos: [[cough]]", {"fever": {"negated"}, "cough": NONE}),
        ("ROS neg: [[fever]], [[chest pain]]", {"fever": {"negated"}, "chest pain": {"negated"}}),
        ("[[Chest pain]] trop neg x2", {"Chest pain": NONE}),
        ("[[Lymphoma]] CD20 neg", {"Lymphoma": NONE}),
        ("[[Afib]] on apixaban, [[stroke]] ruled out", {"Afib": NONE, "stroke": {"negated"}}),
        (
            "[[MI]] ruled out, [[CHF exacerbation]] treated with lasix",
            {"MI": {"negated"}, "CHF exacerbation": NONE},
        ),
        (
            "R/O'd for [[MI]], [[CHF exacerbation]] improving",
            {"MI": {"negated"}, "CHF exacerbation": NONE},
        ),
        ("[[PE]] (unlikely)", {"PE": {"uncertain"}}),
        ("Lupus unlikely to explain her [[anemia]]", {"anemia": NONE}),
        (
            "Denies [[fever]], increase in [[cough]], or [[hemoptysis]]",
            {"fever": {"negated"}, "cough": {"negated"}, "hemoptysis": {"negated"}},
        ),
        # a hedge (review16 D9)
        ("Looks like [[pneumonia]].", {"pneumonia": {"uncertain"}}),
        ("Sounds like [[GERD]].", {"GERD": {"uncertain"}}),
        # a list of resolved or inactive problems (review16 D6)
        ("Inactive problems: [[breast cancer]]", {"breast cancer": {"historical"}}),
        ("Seen by WO nurse for sacral [[decubitus ulcer]].", {"decubitus ulcer": NONE}),
        ("Remote 10 year history of [[alcohol abuse]].", {"alcohol abuse": {"historical"}}),
        # step-relatives and in-laws are family, by their own RoleCode
        ("Step-father with [[alcoholism]].", {"alcoholism": {"family", "relative=STPFTH"}}),
        ("Mother-in-law with [[DM]].", {"DM": {"family", "relative=MTHINLAW"}}),
        ("Husband's mother had [[DM]].", {"DM": {"family", "relative=MTHINLAW"}}),
        ("Her wife's father has [[HTN]].", {"HTN": {"family", "relative=FTHINLAW"}}),
        # a relative kept informed has no condition of the list after it; one who speaks does
        ("daughter updated  skin yeast/[[psoriasis]]-creams", {"psoriasis": NONE}),
        ("Pt's daughter updated re: [[sepsis]].", {"sepsis": NONE}),
        ("Son has been updated about [[AKI]].", {"AKI": NONE}),
        (
            "Father talked about his history of [[MI]].",
            {"MI": {"family", "historical", "relative=FTH"}},
        ),
        # a nursing verb ends a negation, not a relative's scope or a condition
        (
            "Mother with [[DM]], got dialysis for [[ESRD]].",
            {"DM": {"family", "relative=MTH"}, "ESRD": {"family", "relative=MTH"}},
        ),
        (
            "Call if you are [[vomiting]], getting [[dizzy]] or [[fainting]].",
            {"vomiting": {"hypothetical"}, "dizzy": {"hypothetical"}, "fainting": {"hypothetical"}},
        ),
        (
            "[[Chest pain]] wo [[radiation]], [[diaphoresis]]",
            {"Chest pain": NONE, "radiation": {"negated"}, "diaphoresis": {"negated"}},
        ),
        # a nursing note's comma list is findings of their own after "wo", and a clause that
        # opens with "now" or a verb ends a negation, a doubt and a history
        ("SOB WO CP, NOW [[HYPOXIC]] ON 4L", {"HYPOXIC": NONE}),
        ("PAIN WO RELIEF FROM [[MORPHINE]], [[AGITATED]]", {"MORPHINE": NONE, "AGITATED": NONE}),
        (
            "R/O [[MI]], GOT [[ASA]] AND [[NTG]]",
            {"MI": {"uncertain", "differential"}, "ASA": NONE, "NTG": NONE},
        ),
        (
            "Hx of [[seizures]], got [[keppra]] load in ED",
            {"seizures": {"historical"}, "keppra": NONE},
        ),
        ("NO BM, GETTING [[SENNA]] AND [[COLACE]]", {"SENNA": NONE, "COLACE": NONE}),
        ("plan: con't wean [[neo]] as tolerated.", {"neo": NONE}),
        # a question mark before a word doubts that word, one after doubts the one before
        ("[[HTN]]. ? [[CHF]].", {"HTN": NONE, "CHF": {"uncertain"}}),
        ("[[HTN]], ? [[CHF]]", {"HTN": NONE, "CHF": {"uncertain"}}),
        ("[[PNA]] ?", {"PNA": {"uncertain"}}),
        ("[[HTN]], ? [[CHF]], [[COPD]]", {"HTN": NONE, "CHF": {"uncertain"}, "COPD": NONE}),
        ("? R LL [[PNA]]", {"PNA": {"uncertain"}}),
        ("[[Fever]] ? no.", {"Fever": {"uncertain"}}),
        ("No [[fever]], [[chills]].", {"fever": {"negated"}, "chills": {"negated"}}),
        # A mention that contains the trigger is not modified by it.
        ("[[No acute distress]].", {"No acute distress": NONE}),
        # Test results are results, not negation.
        ("[[Blood cultures]] were negative.", {"Blood cultures": NONE}),
        ("Findings consistent with [[pneumonia]].", {"pneumonia": NONE}),
    ],
)
def test_context(annotate: Annotate, text: str, expected: dict[str, set[str]]) -> None:
    found = annotate(text)
    assert {name: flags(found[name]) for name in expected} == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Her mother had [[breast cancer]].", {"breast cancer": {"family", "relative=MTH"}}),
        ("[[Breast cancer]] in her sister.", {"Breast cancer": {"family", "relative=SIS"}}),
        ("Maternal grandmother with [[DM]].", {"DM": {"family", "relative=GRMTH"}}),
        (
            "Family history of [[colon cancer]] in his maternal aunt.",
            {"colon cancer": {"family", "relative=AUNT"}},
        ),
        ("Strong family history of [[CAD]].", {"CAD": {"family", "relative=FAMMEMB"}}),
        (
            "The patient's son has [[asthma]]. Pt has [[COPD]].",
            {"asthma": {"family", "relative=SONC"}, "COPD": NONE},
        ),
        ("Her daughter has [[lupus]].", {"lupus": {"family", "relative=DAUC"}}),
        # Negated and about the family at once.
        (
            "No family history of [[colon cancer]].",
            {"colon cancer": {"negated", "family", "relative=FAMMEMB"}},
        ),
        # A spouse's condition, but not a spouse who is just there.
        (
            "Social: pt's wife has a form of [[dementia]].",
            {"dementia": {"family", "relative=SPS"}},
        ),
        ("Wife at bedside, pt [[anxious]].", {"anxious": NONE}),
        ("Her husband has been supportive during her [[depression]].", {"depression": NONE}),
        ("Wife has been giving him insulin for his [[diabetes]].", {"diabetes": NONE}),
        (
            "Her mother, who has [[diabetes]], died at 60. Pt has [[HTN]].",
            {"diabetes": {"family", "relative=MTH"}, "HTN": NONE},
        ),
        ("Daughter, who is a nurse, says pt has [[fever]].", {"fever": NONE}),
        ("Husband in and updated. [[Edema]] unchanged.", {"Edema": NONE}),
        # Someone else speaking about the patient.
        ("Mother reports patient has had [[fever]] for 3 days.", {"fever": NONE}),
        ("The child presented with [[fever]].", {"fever": NONE}),
        # A newborn's birth history: the pregnancy is the mother's.
        (
            "He was born at term following an uneventful [[pregnancy]].",
            {"pregnancy": {"family", "relative=MTH"}},
        ),
        ("Born at 32 weeks after a [[pregnancy]].", {"pregnancy": {"family", "relative=MTH"}}),
        ("Her [[pregnancy]] was uncomplicated.", {"pregnancy": NONE}),
        # the newborn's own conditions, and a mother's delivery in an obstetric note
        (
            "Born after 36 hours of labor, complicated by [[meconium aspiration]].",
            {"meconium aspiration": NONE},
        ),
        (
            "Patient delivered at 39 weeks following induction for [[preeclampsia]].",
            {"preeclampsia": NONE},
        ),
    ],
)
def test_family(annotate: Annotate, text: str, expected: dict[str, set[str]]) -> None:
    found = annotate(text)
    assert {name: flags(found[name]) for name in expected} == expected


def test_family_history_section(annotate: Annotate) -> None:
    found = annotate(
        "HPI: [[cough]] x 3 days\n"
        "FAMILY HISTORY:\n"
        "Mother: [[breast cancer]]\n"
        "Father - [[MI]] at 50\n"
        "[[Diabetes]] in paternal grandmother\n"
        "[[HTN]]\n"
        "No [[colon cancer]]\n"
        "SOCIAL HISTORY: quit [[smoking]]"
    )
    assert {name: flags(entity) for name, entity in found.items()} == {
        "cough": NONE,
        "breast cancer": {"family", "relative=MTH"},
        "MI": {"family", "relative=FTH"},
        "Diabetes": {"family", "relative=GRMTH"},
        "HTN": {"family", "relative=FAMMEMB"},
        "colon cancer": {"family", "negated", "relative=FAMMEMB"},
        "smoking": NONE,
    }
    section_cue = found["HTN"].assertion.cues[0]
    assert (section_cue.category, section_cue.rule) == ("family", "section.family_history")


def test_relative_named_in_the_line_of_a_family_history_section(annotate: Annotate) -> None:
    found = annotate("FH:\n[[Colon cancer]] - father")
    assert flags(found["Colon cancer"]) == {"family", "relative=FTH"}


def test_the_patient_as_subject_leaves_a_family_history_section(annotate: Annotate) -> None:
    found = annotate(
        "Family history: mother with [[breast cancer]]. Patient has a history of [[lung cancer]]."
        " Her father had [[colon cancer]]. He has [[hypertension]]."
    )
    assert "family" in flags(found["breast cancer"])
    assert flags(found["lung cancer"]) == {"historical"}
    # a pronoun may be the relative just named
    assert "family" in flags(found["hypertension"])
    # the patient telling the family's history, or named with kin
    found = annotate("Family history: Pt reports [[colon cancer]] in multiple relatives.")
    assert "family" in flags(found["colon cancer"])
    found = annotate("Family history: Patient has 2 children with [[asthma]].")
    assert "family" in flags(found["asthma"])


def test_past_history_section_combines_with_negation(annotate: Annotate) -> None:
    found = annotate("PMH: [[HTN]], [[DM2]], no [[CAD]]\nHPI: [[chest pain]]")
    assert flags(found["HTN"]) == {"historical"}
    assert flags(found["DM2"]) == {"historical"}
    assert flags(found["CAD"]) == {"historical", "negated"}
    assert flags(found["chest pain"]) == NONE


def test_cues_explain_the_decision(annotate: Annotate) -> None:
    text = "Pt denies [[chest pain]]."
    entity = annotate(text)["chest pain"]
    (cue,) = entity.assertion.cues
    assert (cue.category, cue.rule) == ("negated", "negated.list")
    assert cue.start is not None and cue.end is not None
    assert text[cue.start : cue.end] == "Pt denies"
    assert cue.detail is not None and cue.detail.startswith("forward ")


def test_resolved_is_historical_unless_asked_otherwise(annotate: Annotate) -> None:
    text = "The [[rash]] resolved. [[Metoprolol]] was discontinued."
    default = annotate(text)
    assert flags(default["rash"]) == {"historical"}
    assert flags(default["Metoprolol"]) == {"historical"}
    as_negation = annotate(text, ended_as="negated")
    assert flags(as_negation["rash"]) == {"negated"}
    assert as_negation["rash"].assertion.cues[0].category == "negated"


def test_options_choose_categories_and_sections(annotate: Annotate) -> None:
    text = "PMH: [[HTN]]\nPlan: r/o [[MI]]; no [[fever]]"
    only_negation = annotate(text, categories=["negated"])
    assert flags(only_negation["HTN"]) == NONE
    assert flags(only_negation["MI"]) == NONE
    assert flags(only_negation["fever"]) == {"negated"}
    assert flags(annotate(text, section_defaults=False)["HTN"]) == NONE


def test_unknown_option_is_refused() -> None:
    settings = load_settings(
        pipeline=["sections", "sentences", "targets", "assertion"],
        stages={"assertion": {"negation": True}},
    )
    with pytest.raises(Note2FhirError):
        Pipeline.from_settings(settings)


def test_assertion_needs_entities_and_sentences_first() -> None:
    with pytest.raises(Note2FhirError, match="requires"):
        Pipeline.from_settings(load_settings(pipeline=["assertion", "sentences", "targets"]))


def test_stage_pickles(stage: AssertionStage, make_doc: MakeDoc) -> None:
    clone = pickle.loads(pickle.dumps(stage))
    doc = make_doc("denies fever", [(7, 12)])
    clone.process(doc)
    assert doc.entities[0].assertion.negated


def test_entities_outside_tokens_and_across_units(stage: AssertionStage, make_doc: MakeDoc) -> None:
    # A mention over blank space, one past the text, one spanning two units.
    doc = make_doc("No fever.\n   \nDenies cough.", [(9, 13), (40, 45), (3, 20)])
    stage.process(doc)
    blank, outside, across = doc.entities
    assert flags(blank) == NONE
    assert flags(outside) == NONE
    assert flags(across) == {"negated"}


def test_plans_make_treatments_hypothetical_not_problems(
    stage: AssertionStage, make_doc: MakeDoc
) -> None:
    text = "Will start metoprolol for HTN. If chest pain recurs, will get ECG."
    spans = [(11, 21), (26, 29), (34, 44), (62, 65)]
    kinds = [EntityType.MEDICATION, EntityType.PROBLEM, EntityType.PROBLEM, EntityType.TEST]
    doc = make_doc(text, spans, kinds)
    stage.process(doc)
    metoprolol, htn, chest_pain, ecg = doc.entities
    assert flags(metoprolol) == {"hypothetical"}
    assert flags(htn) == NONE
    assert flags(chest_pain) == {"hypothetical"}
    assert flags(ecg) == {"hypothetical"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Discussion r/e PEG for long term feeding.", {"hypothetical"}),
        ("Spoke to her about the need for PEG next week.", {"hypothetical"}),
        ("P: plan trach/PEG for Monday.", {"hypothetical"}),
        ("Pt remains NPO for PEG placement.", {"hypothetical"}),
        ("A trach and PEG are recommended.", {"hypothetical"}),
        ("Tube feeds at goal via PEG.", NONE),
        ("She continued to undergo feeding through the PEG.", NONE),
        ("She needed to receive PEG feeds.", NONE),
        # a plan word does not end the negation before it
        ("Patients who do not need a PEG.", {"negated", "hypothetical"}),
        ("Patients who do not need PEG.", {"negated"}),
        ("Discharged without the need for PEG.", {"negated"}),
        # treatments already given are no plans
        ("Hypotensive overnight needing PEG, now weaned off.", NONE),
        ("Given need for feeding, started PEG.", NONE),
        ("Pt was able to get PEG feeds.", NONE),
        ("Re: PEG, site clean.", NONE),
    ],
)
def test_planned_procedures_in_nursing_notes(
    stage: AssertionStage, make_doc: MakeDoc, text: str, expected: set[str]
) -> None:
    start = text.index("PEG")
    doc = make_doc(text, [(start, start + 3)], [EntityType.PROCEDURE])
    stage.process(doc)
    assert flags(doc.entities[0]) == expected


def test_existing_assertions_are_replaced(stage: AssertionStage, make_doc: MakeDoc) -> None:
    doc = make_doc("has fever", [(4, 9)])
    doc.entities[0].assertion.negated = True
    stage.process(doc)
    assert flags(doc.entities[0]) == NONE


@settings(max_examples=120, deadline=None)
@given(
    st.lists(
        st.sampled_from([*"ab ,.;:?\n-/1", "no ", "not ", "hx ", "mother ", "if ", "r/o ", "but "]),
        max_size=40,
    ).map("".join),
    st.lists(st.tuples(st.integers(0, 130), st.integers(0, 20)), max_size=8),
)
def test_any_text_and_spans(
    stage: AssertionStage, make_doc: MakeDoc, text: str, spans: list[tuple[int, int]]
) -> None:
    doc = make_doc(text, [(start, start + length) for start, length in spans])
    stage.process(doc)
    for entity in doc.entities:
        for cue in entity.assertion.cues:
            assert cue.start is None or 0 <= cue.start < cue.end <= len(text)  # type: ignore[operator]


def test_large_and_garbage_input_completes(stage: AssertionStage, make_doc: MakeDoc) -> None:
    """Long notes, one endless unit, control characters and other scripts: no hang."""
    texts = [
        "PT C/O SOB. NO CP; HX HTN, DM2, R/O MI. MOTHER W/ BREAST CA.\n" * 5_000,
        "no fever , possible pna , hx htn , mother with mi , if pain " * 5_000,
        "\x00\x07\u202e\ufffd никакой лихорадки 発熱なし ? no ?? " * 5_000,
    ]
    negated = []
    for text in texts:
        doc = make_doc(text, [(i, i + 4) for i in range(0, len(text) - 4, 7)])
        stage.process(doc)
        negated.append(sum(e.assertion.negated for e in doc.entities))
    assert negated[0] > 0 and negated[1] > 0


def test_an_adherence_note_negates_its_medication(
    mark: Callable[[str], ClinicalDocument],
) -> None:
    """A medication list line "(not taking)" must become a not-taken statement."""
    pipeline = Pipeline.from_settings(
        load_settings(pipeline=["sections", "sentences", "targets", "assertion"])
    )
    doc = pipeline.run(
        mark("Meds:\n3. [[M:Furosemide]] 40 mg PO daily (not taking)\n4. [[M:Aspirin]] 81 mg daily")
    )
    flags = {e.text: e.assertion.negated for e in doc.entities}
    assert flags == {"Furosemide": True, "Aspirin": False}


def test_a_year_is_past_only_before_the_note_s_year() -> None:
    """With the note's date known, a later year is no history; a past year (or its own) is,
    in a plan's section too ("A&P: CAD. CABG in 2010.")."""
    pipeline = Pipeline.from_settings(load_settings())
    text = "A&P: CAD. CABG in 2010. Follow-up colonoscopy in 2027. Stent in 2026."
    doc = ClinicalDocument(
        id="n1",
        source=SOURCE,
        original_text=text,
        context=DocumentContext(date="2026-03-01T09:30:00-05:00"),
    )
    found = {e.text: e for e in pipeline.run(doc).entities}
    assert "historical" in flags(found["CABG"])
    assert "historical" not in flags(found["colonoscopy"])
    assert "historical" in flags(found["Stent"])  # the note's own year: past, most often


def test_a_masked_year_still_dates_a_test_or_procedure() -> None:
    """De-identification masks "2007" as a date; the year trigger still reads it (so a note
    gets the same statuses with and without de-identification), and no cue shows the year.
    A problem with a year is left as it is: "diagnosed with ADHD in 2005" is its onset."""
    pipeline = Pipeline.from_settings(load_settings())
    text = (
        "Surveillance MRI in 2007 revealed a recurrence. CABG in 1998. "
        "He was diagnosed with ADHD in 2005. Colonoscopy due in 2027.\n"
        "Plan: repeat endoscopy in 2029."
    )
    doc = pipeline.run(ClinicalDocument(id="n1", source=SOURCE, original_text=text))
    assert "2007" not in doc.text and "1998" not in doc.text
    found = {entity.text: entity for entity in doc.entities}
    assert "historical" in flags(found["MRI"])
    assert "historical" in flags(found["CABG"])
    assert "historical" not in flags(found["ADHD"])
    assert "historical" not in flags(found["Colonoscopy"])  # a year to come
    assert "historical" not in flags(found["endoscopy"])  # a plan
    details = [cue.detail or "" for e in doc.entities for cue in e.assertion.cues]
    assert not any(year in d for d in details for year in ("2007", "1998", "2005"))
