"""Problem names that name something else in their context (``not_problems`` of the lexicon):
a test, a vaccine, a team, an idiom or an exam finding.  Each case is one an audit of the
PhysioNet, Synthea and MACCROBAT output found coded as a disease."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from note2fhir.document import NORMAL_STATE_SOURCE, ClinicalDocument, EntityType
from note2fhir.extract.lexicon import load_lexicon

Read = Callable[[str], ClinicalDocument]


def problems(doc: ClinicalDocument) -> list[str]:
    return [e.text for e in doc.entities if e.type is EntityType.PROBLEM]


def named_tests(doc: ClinicalDocument) -> dict[str, list[str]]:
    """Test entities by text, with their codes (none expected)."""
    return {e.text: [c.code for c in e.codes] for e in doc.entities if e.type is EntityType.TEST}


@pytest.mark.parametrize(
    "text",
    [
        "The patient was given the following immunizations: influenza, seasonal, injectable.",
        "Immunizations: zoster vaccine, live, hep b, adult.",
        "Sars-cov-2 (covid-19) vaccine, mrna, given today.",
        "SEEN BY STROKE TEAM.",
        "A germline deletion of the VHL tumor suppressor gene.",
        "Elevated anti-GAD antibodies.",
        "Pt anxious to go home Monday.",
        "A: TIRED OF BEING IN HOSPITAL.",
        "By the fifth day of illness he was home.",
        "Neuro: +gag +cough, strong cough. Able to cough secretions.",
        "EKG SHOWING NEW LBBB WITH ST DEPRESSION.",
        "Death occurred in the hospital.",
        "MAE, strong grips. obeys commands.",
        "The patient was placed on a careplan: - diabetes self management plan",
        "- infectious disease care plan (record artifact)",
        "- injection of tetanus antitoxin",
        "- lifestyle education regarding hypertension",
        "- measurement of varicella-zoster virus antibody",
        "- human immunodeficiency virus antigen test",
        "Rapid flu: Influenza A negative.",
        "Influenza A/B PCR negative.",
        "TO HAVE FLU SHOT, CONSENT IN CHART.",
        "EKG SHOWED NEW ST DEPRESSIONS IN LAT LEADS.",
        "Converted to sinus rhythm with two direct current electric shocks.",
        "Presented to the R Adams Cowley Shock Trauma Center.",
        "REQUIRES FREQ HAND FLUSHING TO MAINT WAVE FORM.",
        # a likeness: the name only says what something resembles
        "Flu-like symptoms for two days.",
        "Influenza like illness.",
        "Pneumonia-like symptoms resolved.",
        "Lupus-like syndrome after hydralazine.",
        "Pt wants flu shot.",
        # an order, a risk or an exposure (review16 D18, D19)
        "DVT ppx: heparin SQ",
        "Stroke prophylaxis: apixaban",
        "Seizure precautions.",
        "MRSA precautions",
        "Counseled on COVID prevention.",
        "Tamiflu prophylaxis after flu exposure at daycare.",
        "Stroke risk high, CHA2DS2-VASc 4.",
        # an ambulance crew (review16)
        "Brought in by ALS.",
        "flu vax declined",
        "Influenza A and B vaccine given.",
        "Hep B surface Ab positive (immune).",
        # (the RNA, not the antibody, says the infection goes on: a coder's call)
        "Hepatitis C virus antibody positive, HCV RNA high.",
        # a season, gastroenteritis, an animal influenza
        "Flu season precautions reviewed.",
        "She had the stomach flu last week.",
        "Concern for bird flu exposure.",
    ],
)
def test_no_problem_in_these_contexts(read: Read, text: str) -> None:
    assert problems(read(text)) == []


@pytest.mark.parametrize(
    ("text", "test"),
    [
        ("- depression screening", "depression screening"),
        ("SCHEDULED FOR SLEEP APNEA STUDY.", "SLEEP APNEA STUDY"),
        ("HIV was negative.", "HIV"),
        ("1st c-diff negative.", "c-diff"),
        ("Stool sample sent for c-diff today.", "c-diff"),
        ("SEND STOOL C DIFF.", "C DIFF"),
        ("Tested for HIV at the clinic.", "HIV"),
        ("- sleep apnea monitoring with alarm", "sleep apnea monitoring"),
        # a slash list of tests with one result: each name is a test
        ("COVID/flu negative.", "COVID"),
        ("COVID/flu/RSV negative.", "flu"),
        # lists of panel names before one negative result (review16 D26, D30)
        ("COVID and flu negative.", "COVID"),
        ("COVID, flu, RSV all negative.", "flu"),
        ("COVID and influenza negative.", "influenza"),
        ("COVID/flu A/flu B/RSV negative.", "COVID"),
        ("COVID/flu/RSV/strep/mono/HIV negative", "HIV"),
        # review17: tests of flu, typed panels
        ("Negative flu swab.", "flu swab"),
        ("Flu/COVID pending", "COVID"),
        ("Will check flu", "flu"),
        ("Flu A, flu B, RSV negative", "Flu"),
        ("Influenza A, B and RSV negative", "Influenza"),
        ("HIV/HCV/HBV screening negative", "HIV"),
        # review18: typed panels, mixed panels, pending tests
        ("Flu A/B, RSV negative", "Flu A/B"),
        ("Flu A/B pending", "Flu A/B"),
        ("HIV and hepatitis C negative", "hepatitis C"),
        ("Hep B, Hep C, HIV negative", "Hep C"),
        ("HIV, RPR, GC/CT pending", "HIV"),
        ("COVID pending", "COVID"),
        # review19: a test cue before a colon; HIV screens by their assay's name
        ("Checked HIV, negative", "HIV"),
        ("Labs to check: HIV", "HIV"),
        ("Stool sent for: C diff", "C diff"),
        ("HIV 1/2 Ab negative", "HIV"),
        ("HIV Ag/Ab negative", "HIV"),
        ("Hepatitis B and C negative", "Hepatitis B"),
        ("Check flu.", "flu"),
        # a panel's one result cannot say which name it is for
        ("COVID/flu pos.", "COVID"),
        ("COVID/flu/RSV swab: positive for RSV", "flu"),
        # an antibody alone does not establish the infection
        ("HCV Ab positive, HCV RNA undetectable.", "HCV Ab"),
        ("Lyme IgM positive.", "Lyme IgM"),
    ],
)
def test_a_problem_name_that_names_its_test_is_an_uncoded_test(
    read: Read, text: str, test: str
) -> None:
    doc = read(text)
    assert problems(doc) == []
    assert named_tests(doc)[test] == []


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("Has influenza and cough.", "influenza"),
        ("Pt anxious about surgery.", "anxious"),
        ("Cough for 2 weeks, worse at night.", "Cough"),
        ("HIV positive on HAART.", "HIV positive"),
        ("The tumor was negative for ER.", "tumor"),
        ("Pt has depression.", "depression"),
        ("Pt with c diff colitis on vanco.", "c diff colitis"),
        ("Immunizations up to date. Influenza since Monday.", "Influenza"),
        ("PMH: HIV, HTN.", "HIV"),
        ("Needs diabetes education. Pt with diabetes.", "diabetes"),
        ("Sacral decubitus ulcer care provided per protocol.", "decubitus ulcer"),
        ("Admitted to rehab unit for stroke rehabilitation.", "stroke"),
        ("Left wrist laceration self-inflicted.", "laceration"),
        ("Current shock state likely septic.", "shock"),
        ("Had the flu last week.", "flu"),
        ("Pneumonia and HIV negative.", "Pneumonia"),  # no panel
        ("Sepsis/bacteremia, positive blood cultures", "Sepsis"),  # no panel either
        ("74M w/ COVID positive", "COVID"),  # "w/" is no list
        ("INR check, afib on warfarin", "afib"),  # the cue's comma ends it
        ("Patient with COVID sent from SNF", "COVID"),  # "sent" is no test status
        ("Chest pain like pressure.", "Chest pain"),
        ("Lupus-like rash on the cheeks.", "rash"),
    ],
)
def test_the_same_names_elsewhere_stay_problems(read: Read, text: str, problem: str) -> None:
    assert problem in problems(read(text))


def test_nursing_short_form_pulm_reads_pulmonary(read: Read) -> None:
    doc = read("PMH: PULM HYPERTENSION, PVD.")
    ents = {e.text: e for e in doc.entities}
    assert "I27.20" in [c.code for c in ents["PULM HYPERTENSION"].codes]


@pytest.mark.parametrize(
    "text",
    [
        "Reduced cytochrome c oxidase activity in muscle.",
        "Citrate synthase was normal.",
        "Elevated anti-glutamic acid decarboxylase levels.",
        "The tumour was estrogen receptor positive.",
    ],
)
def test_drug_names_inside_enzyme_receptor_or_gene_names_are_no_drugs(
    read: Read, text: str
) -> None:
    assert [e.text for e in read(text).entities if e.type is EntityType.MEDICATION] == []


def test_a_drug_given_stays_a_drug(read: Read) -> None:
    doc = read("Started insulin drip; estrogen 0.625 mg daily.")
    drugs = [e.text for e in doc.entities if e.type is EntityType.MEDICATION]
    assert "insulin drip" in drugs and "estrogen" in drugs


def test_the_normal_states_group_is_the_source_the_builders_skip() -> None:
    """``NORMAL_STATE_SOURCE`` names a lexicon group: renaming the group must fail here, not
    turn "afebrile" back into a Condition."""
    group = NORMAL_STATE_SOURCE.removeprefix("lexicon:")
    assert "afebrile" in {t for e in load_lexicon().groups[group].entries for t in e.terms}


def test_a_likeness_makes_no_entity_of_the_words_it_describes(read: Read) -> None:
    """ "flu-like symptoms" is neither influenza nor a problem called "like symptoms"."""
    assert read("Flu-like symptoms, fever 101.").entities[0].text == "fever"


@pytest.mark.parametrize(
    ("text", "name"),
    [("Influenza A.", "Influenza A"), ("Flu B positive.", "Flu B"), ("flu type A", "flu type A")],
)
def test_a_named_influenza_type_is_the_identified_virus(read: Read, text: str, name: str) -> None:
    """J10 includes influenza A (non-novel) and B; J11 is for an unidentified virus."""
    entity = next(e for e in read(text).entities if e.text == name)
    assert [c.code for c in entity.codes if c.selected] == ["J10.1"]
    assert "J11.1" in [c.code for c in entity.codes]  # kept for the coder


def test_a_positive_nasal_mrsa_screen_is_colonization(read: Read) -> None:
    """Guideline I.C.1.e.1.(d): "MRSA screen positive", "MRSA nasal swab positive"."""
    for text in ("MRSA nares positive.", "MRSA nasal swab positive", "MRSA screen positive."):
        (entity,) = read(text).entities
        assert [c.code for c in entity.codes if c.selected] == ["Z22.322"], text


def test_ctab_is_an_exam_finding_no_drug(read: Read) -> None:
    """ "Lungs: CTAB" is clear to auscultation bilaterally, not cetrimonium."""
    drugs = [
        e for e in read("Lungs: CTAB, no wheezes.").entities if e.type is EntityType.MEDICATION
    ]
    assert drugs == []


def test_cva_tenderness_is_no_stroke(read: Read) -> None:
    """Costovertebral angle tenderness (review16): the exam finding, never I63.9."""
    codes = {c.code for e in read("No CVA tenderness.").entities for c in e.codes}
    assert not any(code.startswith("I63") for code in codes)


@pytest.mark.parametrize("text", ["H. flu type B meningitis.", "H. influenza pneumonia."])
def test_h_flu_is_haemophilus_no_influenza(read: Read, text: str) -> None:
    """review17/18: "H. flu" is Haemophilus influenzae, never J10/J11."""
    codes = {c.code for e in read(text).entities for c in e.codes}
    assert not any(code.startswith(("J10", "J11")) for code in codes)
