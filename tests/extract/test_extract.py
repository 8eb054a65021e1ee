"""The ``extract`` stage on messy clinical snippets."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path

import pytest

from note2fhir.document import ClinicalDocument, Entity, EntityType, SourceRef
from note2fhir.extract.dictionary import ExtractOptions, ExtractStage, _Scan, _singular
from note2fhir.extract.words import document_words
from note2fhir.pipeline import Pipeline
from note2fhir.settings import Settings
from note2fhir.terminology.schema import ICD10CM, ICD10PCS
from note2fhir.text.stage import SentencesStage

SOURCE = SourceRef(
    "DocumentReference", "n1", "DocumentReference/n1", "DocumentReference.content[0].attachment"
)


Read = Callable[[str], ClinicalDocument]


def found(doc: ClinicalDocument) -> dict[str, Entity]:
    """Entities by their text (lower case)."""
    return {e.text.lower(): e for e in doc.entities}


def codes(entity: Entity, system: str = ICD10CM) -> list[str]:
    return [c.code for c in entity.codes if c.system == system]


def test_abbreviations_in_a_terse_note(read: Read) -> None:
    ents = found(read("Pt c/o SOB, r/o MI, hx HTN, DM2; CKD stage 3."))
    assert ents["sob"].type is EntityType.PROBLEM
    # the note also names CKD: the guidelines presume both linked to it (coding/links.py)
    assert codes(ents["htn"])[:2] == ["I12.9", "I10"]
    assert codes(ents["dm2"])[:2] == ["E11.22", "E11.9"]
    assert "I21.9" in codes(ents["mi"])  # "r/o" supports the ambiguous MI
    assert ents["htn"].source == "dictionary:icd10cm exact"
    assert "exact: abbreviation 'HTN'" in ents["htn"].codes[1].reason
    assert "pt" not in ents


def test_all_caps_nursing_note(read: Read) -> None:
    doc = read(
        "PMH: CAD; HTN; NIDDM; PVD. HEAD CT- NEG FOR BLEED; VQ SCAN- NEG FOR PE. "
        "K 3.9; INR 2.0. LASIX GIVEN. PT IS ALL SET, CAN GO HOME."
    )
    ents = found(doc)
    assert {"cad", "htn", "niddm", "head ct", "vq scan", "k", "inr", "lasix"} <= set(ents)
    assert ents["k"].value == {"value": 3.9}
    assert ents["lasix"].type is EntityType.MEDICATION
    assert ents["pe"].type is EntityType.PROBLEM  # "VQ SCAN ... FOR PE" supports it
    assert not {"all", "can", "go", "pt", "set"} & set(ents)
    assert "pvd" not in ents  # ambiguous, and nothing around it says which meaning


def test_pe_as_physical_exam_is_not_an_embolism(read: Read) -> None:
    doc = read("Physical exam:\nPE: lungs clear, no edema.\nMS intact. Sat 95% on RA.")
    ents = found(doc)
    assert "pe" not in ents
    assert "ms" not in ents
    assert "ra" not in ents
    assert ents["edema"].type is EntityType.PROBLEM
    assert ents["edema"].section == "physical_exam"


def test_ambiguous_abbreviations_kept_with_support(read: Read) -> None:
    ents = found(read("CTA chest shows saddle PE. Her RA is treated with methotrexate."))
    assert "I26.99" in codes(ents["pe"])
    assert "M06.9" in codes(ents["ra"])
    assert "ambiguous, kept: supporting word" in ents["pe"].codes[0].reason


def test_short_lowercase_words_never_match_alone(read: Read) -> None:
    doc = read("he was in bed all day and may go home; as per pt, no pain at all")
    types = {e.text.lower() for e in doc.entities}
    assert types <= {"pain"}


def test_stated_values(read: Read) -> None:
    ents = found(
        read("BNP 1250 pg/mL, K 4.1, HbA1c 8.2%, BP 158/92 mmHg, troponin negative, HR 88.")
    )
    assert ents["bnp"].value == {
        "value": 1250,
        "unit": "pg/mL",
        "system": "http://unitsofmeasure.org",
        "code": "pg/mL",
    }
    assert ents["k"].value == {"value": 4.1}
    assert ents["hba1c"].value == {
        "value": 8.2,
        "unit": "%",
        "system": "http://unitsofmeasure.org",
        "code": "%",
    }
    assert ents["bp"].value == {"string": "158/92 mmHg"}
    assert ents["troponin"].value == {"string": "negative"}
    assert ents["hr"].value == {"value": 88}
    assert all(e.type is EntityType.TEST for e in ents.values())
    assert all(e.codes == [] for e in ents.values())  # no open code system for lab tests


def test_a_marker_s_number_is_its_name_not_its_value(read: Read) -> None:
    ents = found(read("Tumour cells were positive for CK-20 and CDX2 but not cytokeratin 7."))
    assert ents["cytokeratin 7"].value is None
    assert ents["ck-20"].type is EntityType.TEST
    assert "cdx2" in ents


def test_single_letter_tests_need_a_value(read: Read) -> None:
    ents = found(read("Plan K: give vitamin K. T 38.2, P 110, R 22."))
    assert "k" not in ents
    assert ents["t"].value == {"value": 38.2}
    assert ents["p"].type is EntityType.TEST
    assert ents["r"].value == {"value": 22}


def test_tests_and_procedures_out_of_the_box(read: Read) -> None:
    doc = read(
        "CBC, BMP and lipid panel pending. CXR: no infiltrate. Echo showed EF 35%. "
        "s/p lap chole 2019 and CABG x3. Colonoscopy next year. Intubated for 3 days."
    )
    ents = found(doc)
    for name in ("cbc", "bmp", "lipid panel", "cxr", "echo", "ef"):
        assert ents[name].type is EntityType.TEST, name
    assert ents["ef"].value == {
        "value": 35,
        "unit": "%",
        "system": "http://unitsofmeasure.org",
        "code": "%",
    }
    assert ents["cbc"].source == "lexicon:labs"
    assert ents["lap chole"].type is EntityType.PROCEDURE
    assert codes(ents["lap chole"], ICD10PCS) == ["0FT44ZZ"]  # checked in test_lexicon
    assert codes(ents["colonoscopy"], ICD10PCS) == ["0DJD8ZZ"]
    assert ents["cabg x3"].type is EntityType.PROCEDURE
    assert ents["cabg x3"].codes == []
    assert ents["intubated"].type is EntityType.PROCEDURE


def test_longest_match_wins(read: Read) -> None:
    doc = read("Presents with chest pain and type 2 diabetes mellitus without complications.")
    texts = [e.text for e in doc.entities]
    assert "chest pain" in texts
    assert "chest" not in texts and "pain" not in texts
    assert "type 2 diabetes mellitus without complications" in texts


def test_combination_title_reaches_the_specific_code(read: Read) -> None:
    ents = found(read("Type 2 diabetes with diabetic nephropathy, on metformin."))
    entity = ents["type 2 diabetes with diabetic nephropathy"]
    assert codes(entity)[0] == "E11.21"
    assert "E11.9" in codes(entity)  # the shorter match stays as an alternative
    assert entity.source == "dictionary:icd10cm combination"
    assert ents["metformin"].type is EntityType.MEDICATION


def test_combination_title_keeps_the_type_of_diabetes(read: Read) -> None:
    """A title longer than the exact index is still found exactly, and an approximate title
    never changes the type: E10.22 (type 1) and E13.22 (other specified) read almost like
    E11.22 letter by letter."""
    long = "type 2 diabetes mellitus with diabetic chronic kidney disease"
    entity = found(read(f"Assessment: {long}."))[long]
    assert codes(entity)[0] == "E11.22"
    assert "E10.22" not in codes(entity)
    untyped = "diabetes mellitus with diabetic chronic kidney disease"
    entity = found(read(f"Assessment: {untyped}."))[untyped]
    assert codes(entity)[0] == "E11.22"  # diabetes of no stated type is E11 (as E11.9)
    assert not {"E10.22", "E13.22"} & set(codes(entity))


def test_a_combination_title_of_another_category(read: Read) -> None:
    """A combination may leave the base's category when its title adds no qualifier."""
    ents = found(read("Anemia with chronic kidney disease."))
    assert codes(ents["anemia with chronic kidney disease"])[0] == "D63.1"


def test_a_code_whose_title_denies_the_with_clause_is_not_chosen(read: Read) -> None:
    """F03.90 says "without behavioral disturbance": not for "dementia with behavioral
    disturbance" (it stays, scored below selection, for coders)."""
    for text in ("Dementia with behavioral disturbance.", "Dementia, with behavioral disturbance"):
        doc = read(text)
        dementia = next(e for e in doc.entities if e.text.lower().startswith("dementia"))
        f0390 = [c for c in dementia.codes if c.code == "F03.90"]
        assert f0390 and f0390[0].score <= 0.8, text
    doc = read("Dementia with her daughter at bedside.")
    assert codes(found(doc)["dementia"])[0] == "F03.90"


def test_a_dose_is_not_part_of_a_name_in_another_order(read: Read) -> None:
    """ "5-nitrofurantoin" is a synonym; "nitrofurantoin 5 mg/ml" is the drug and its
    strength."""
    ents = found(read("Medications: nitrofurantoin 5 mg/ml oral suspension."))
    assert "nitrofurantoin" in ents
    assert "nitrofurantoin 5" not in ents


@pytest.mark.parametrize(
    ("text", "mention", "code"),
    [
        ("Complains of pain in legs.", "pain in legs", "M79.606"),
        ("Pain in the right upper quadrant.", "pain in the right upper quadrant", "R10.11"),
        (
            "pain in the right upper quadrant of her abdomen",
            "pain in the right upper quadrant",
            "R10.11",
        ),
        ("pain in his chest", "pain in his chest", "R07.9"),
        ("Pain in the left knee.", "pain in the left knee", "M25.569"),  # sided in coding
    ],
)
def test_pain_in_a_site_is_that_site_s_pain(read: Read, text: str, mention: str, code: str) -> None:
    ents = found(read(text))
    assert code in codes(ents[mention])
    assert "R52" in codes(ents[mention])  # the bare "pain" stays below for coders


def test_pain_in_no_known_site_stays_pain(read: Read) -> None:
    for text in ("pain in the right side", "pain in 2 days", "c/o pain to back of head"):
        assert "pain" in found(read(text)), text


def test_a_rate_denominator_is_no_heart_rate(read: Read) -> None:
    doc = read("DILTIAZEM AT 10MG/HR, heparin 500U/HR. HR 80 SR. HR/BP stable.")
    assert [e.text for e in doc.entities if e.type is EntityType.TEST] == ["HR", "HR", "BP"]
    doc = read("T 98.6F/HR 78, BP 118/76 mmHg/HR 64")  # a vital sign's value is no dose
    assert [e.text for e in doc.entities if e.text == "HR"] == ["HR", "HR"]
    doc = read("SpO2 95% on 2 L/HR 92")  # a value after it: the heart rate
    assert [e.text for e in doc.entities if e.text == "HR"] == ["HR"]
    doc = read("LR BOLUS AT 1 L/HR.")
    assert not [e.text for e in doc.entities if e.text == "HR"]


def test_dm_in_a_history_list_is_diabetes(read: Read) -> None:
    ents = found(read("PMH: HTN, DM, MI"))
    assert codes(ents["dm"])[0] == "E11.9"  # guideline I.C.4.a.2: no stated type is E11
    assert "mi" in ents
    for text, name, code in [
        ("Pre-DM, diet controlled.", "pre-dm", "R73.03"),
        ("Gestational DM.", "gestational dm", "O24.419"),
        ("Steroid-induced DM.", "steroid-induced dm", "E09.9"),
        ("DM type 1 on insulin pump.", "dm type 1", "E10.9"),
    ]:
        assert codes(found(read(text))[name])[0] == code, text
    for text in (
        "68 yo M with DM presents with cough",
        "Pre-op clearance for DM patient",
        "DM: diet controlled",
    ):
        assert any(codes(e)[:1] == ["E11.9"] for e in read(text).entities), text
    # dystrophia myotonica, defined or beside its genetics, is no diabetes
    doc = read("Myotonic dystrophy (DM) is autosomal dominant. Levels in DM patients were low.")
    assert [codes(e)[0] for e in doc.entities if e.text == "DM"] == ["G71.11", "G71.11"]
    assert not any("E11.9" in codes(e) for e in read("The DM kinase gene.").entities)
    # the cough syrup's dextromethorphan is no diabetes
    for text in ("Guaifenesin DM 10 ml q4h prn cough.", "robitussin dm prn"):
        assert not any("E11.9" in codes(e) for e in read(text).entities), text


def test_word_order_variant(read: Read) -> None:
    ents = found(read("Heart failure congestive, NYHA II."))
    entity = ents["heart failure congestive"]
    assert "I50.9" in codes(entity)
    assert "same words, other order" in entity.codes[0].reason


def test_misspellings_and_british_spellings(read: Read) -> None:
    ents = found(read("Known hypertenson. Ankle oedema and dyspnoea. Two lesions."))
    assert ents["hypertenson"].source.endswith("approximate")
    assert "I10" in codes(ents["hypertenson"])
    assert ents["oedema"].type is EntityType.PROBLEM
    assert ents["dyspnoea"].type is EntityType.PROBLEM
    assert ents["lesions"].type is EntityType.PROBLEM


def test_approximate_never_flips_meaning(read: Read) -> None:
    doc = read("Facial symmetry preserved.")
    for entity in doc.entities:
        assert "asymmetry" not in " ".join(c.display.lower() for c in entity.codes)


def test_semantic_tags(read: Read) -> None:
    doc = read(
        "Patient is presenting with full-time employment (finding), stress (finding), "
        "history of tubal ligation (situation). The following procedures were conducted:\n"
        "- renal dialysis (procedure)"
    )
    ents = found(doc)
    assert ents["full-time employment"].type is EntityType.PROBLEM
    assert ents["full-time employment"].source == "semantic-tag:finding"
    assert ents["stress"].type is EntityType.PROBLEM
    assert ents["tubal ligation"].type is EntityType.PROBLEM
    assert ents["renal dialysis"].type is EntityType.PROCEDURE


def test_of_opens_a_tagged_phrase_only_after_a_head_such_as_history(read: Read) -> None:
    ents = found(
        read(
            "Problems: victim of intimate partner abuse (finding), history of tubal ligation "
            "(situation), assessment of anxiety (procedure)."
        )
    )
    assert ents["victim of intimate partner abuse"].type is EntityType.PROBLEM
    assert "tubal ligation" in ents
    assert ents["assessment of anxiety"].type is EntityType.PROCEDURE
    assert "anxiety" not in ents


def test_a_tagged_phrase_never_takes_a_part_s_code_its_words_deny(read: Read) -> None:
    # M81.0 is "Age-related osteoporosis without current pathological fracture", J32.9
    # "Chronic sinusitis, unspecified"
    ents = found(
        read(
            "Assessment: pathological fracture due to osteoporosis (disorder). "
            "Acute bacterial sinusitis (disorder). Viral sinusitis (disorder)."
        )
    )
    fracture = ents["pathological fracture due to osteoporosis"]
    assert fracture.source == "semantic-tag:disorder"
    assert "M81.0" in codes(fracture)
    assert "M81.0" not in {c.code for c in fracture.selected_codes}
    assert "J32.9" not in {c.code for c in ents["acute bacterial sinusitis"].selected_codes}
    assert "J32.9" in {c.code for c in ents["viral sinusitis"].selected_codes}


def test_drug_with_strength_is_a_medication_lab_without_is_a_test(read: Read) -> None:
    ents = found(read("Potassium 4.1 today. Vitamin B12 5 MG/ML injection given."))
    assert ents["potassium"].type is EntityType.TEST
    assert ents["vitamin b12"].type is EntityType.MEDICATION


def test_drugs_measured_in_a_specimen_are_tests(read: Read) -> None:
    ents = found(
        read("Plasma norepinephrine was 468 pg/mL; carnitine levels were low. Carnitine 1 g daily.")
    )
    assert ents["plasma norepinephrine"].type is EntityType.TEST
    assert ents["plasma norepinephrine"].codes == []
    assert (ents["plasma norepinephrine"].value or {}).get("value") == 468
    assert ents["carnitine levels"].type is EntityType.TEST
    assert ents["carnitine"].type is EntityType.MEDICATION


def test_a_result_word_and_a_test_name_are_a_test_in_narrative(read: Read) -> None:
    ents = found(read("Labs showed increased serum creatinine and a low platelet count."))
    assert ents["serum creatinine"].type is EntityType.TEST
    assert ents["platelet count"].type is EntityType.TEST
    assert "increased serum creatinine" not in ents
    # In an assessment it is a problem statement, and keeps its code.
    ents = found(read("Assessment and Plan:\nCreatinine elevated, likely prerenal."))
    assert ents["creatinine elevated"].type is EntityType.PROBLEM


def test_latin_plurals_find_their_singular_when_it_is_known() -> None:
    known = {"diverticulum", "embolus", "varix", "stenosis", "fistula"}
    assert _singular("diverticula", 4, known) == "diverticulum"
    assert _singular("emboli", 4, known) == "embolus"
    assert _singular("varices", 4, known) == "varix"
    assert _singular("stenoses", 4, known) == "stenosis"
    assert _singular("fistulae", 4, known) == "fistula"
    assert _singular("lesions", 4, known) == "lesion"  # the English rule is unchanged
    assert _singular("criteria", 4, known) is None


def test_names_never_cross_list_separators(read: Read) -> None:
    texts = [e.text.lower() for e in read("Labs: calcium, phosphate and PTH.").entities]
    assert "calcium, phosphate" not in texts


def test_headings_are_not_mentions(read: Read) -> None:
    doc = read("Assessment and Plan:\nPneumonia, start antibiotics.")
    assert [e.text for e in doc.entities] == ["Pneumonia", "antibiotics"]
    assert doc.entities[0].section == "assessment_plan"


def test_existing_entities_are_kept(nlp: Pipeline) -> None:
    doc = ClinicalDocument(id="n1", source=SOURCE, original_text="HTN and DM2")
    doc.entities = [Entity("T1", 0, 3, "HTN", EntityType.PROBLEM, source="targets")]
    nlp.run(doc)
    assert [e.id for e in doc.entities] == ["T1", "E1"]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\x00\x01\x02 \ufffd\ufffd garbage \x7f",
        "Пациент с гипертонией; 高血压; مرض السكري",
        "(((((((((((( HTN " * 200,
        "a " * 20_000,
        "HbA1c 8.2% " * 2_000 + "\x0b\x0c",
    ],
)
def test_any_input_is_handled(read: Read, text: str) -> None:
    doc = read(text)
    for entity in doc.entities:
        assert 0 <= entity.start < entity.end <= len(doc.text)
        assert entity.text == doc.text[entity.start : entity.end]


def test_stage_pickles_small_and_rebuilds_its_index(settings: Settings) -> None:
    stage = ExtractStage(ExtractOptions(), settings)
    data = pickle.dumps(stage)
    assert len(data) < 2_000_000
    clone = pickle.loads(data)
    assert clone._index is None
    doc = ClinicalDocument(id="n1", source=SOURCE, original_text="hx HTN")
    SentencesStage(SentencesStage.Options(), settings).process(doc)
    clone.process(doc)
    assert [e.text for e in doc.entities] == ["HTN"]


def test_windows_read_word_by_word_give_the_keys_of_each_window(
    settings: Settings, repo_root: Path
) -> None:
    # _keys_from skips windows that cannot be names; what it keeps must be _window_keys's
    stage = ExtractStage(ExtractOptions(), settings)
    notes = [
        (repo_root / "examples" / "progress-note.txt").read_text("utf-8"),
        "Oesophageal mass, secondary corneal oedema and tumour associated pain; renal stones, "
        "corneal ulcers, pancreatic cysts and sun allergies; mellitus diabetes type 2 with "
        "diabetic nephropathy; failure heart congestive; haemorrhage of the colon.",
    ]
    windows = 0
    for text in notes:
        doc = ClinicalDocument(id="n1", source=SOURCE, original_text=text)
        SentencesStage(SentencesStage.Options(), settings).process(doc)
        scan = _Scan(stage, doc, document_words(doc))
        for i in range(len(scan.words)):
            limit = scan.span_limit(i, stage.opts.max_words)
            keyed = scan._keys_from(i, limit)
            for length in range(2, limit + 1):
                assert keyed.get(length, []) == scan._window_keys(i, length), (i, length)
                windows += 1
    assert windows > 500


def test_unknown_options_are_refused() -> None:
    with pytest.raises(ValueError, match="extra"):
        ExtractOptions.model_validate({"max_word": 3})


def test_ventilator_and_pressure_readings_are_no_diseases(read: Read) -> None:
    # tidal volume, right atrial and pulmonary artery diastolic pressures on an ICU note
    doc = read(
        "Vented on PS 15/5 with VT's 450-500, decrease her VT to 650 if VT >350. "
        "PAP 50/18, wedge 17, RA 12-15. PAD 22-26."
    )
    assert not [e for e in doc.entities if e.text.upper() in ("VT", "VT'S", "RA", "PAD")]


def test_ambiguous_abbreviations_of_diseases_still_count_with_support(read: Read) -> None:
    ents = found(read("Had 90 sec of witnessed VT with syncope. PAD with claudication."))
    assert "I47.20" in codes(ents["vt"])
    assert "I73.9" in codes(ents["pad"])


@pytest.mark.parametrize(
    "text",
    [
        "ESKD on PD",
        "Pt on PD, cloudy effluent, c/f peritonitis.",
        "PD",
        # Parkinson's drugs elsewhere in the note do not outweigh dialysis words beside it
        "Started on levodopa. ESKD on PD.",
        # ropinirole and pramipexole treat restless legs too, common on dialysis
        "ESRD on PD, ropinirole for RLS.",
        "PD catheter site clean, on pramipexole.",
    ],
)
def test_pd_without_parkinson_s_words_is_no_parkinson_s_disease(read: Read, text: str) -> None:
    """ "PD" is as often peritoneal dialysis (review12 A6: "ESKD on PD" was G20.A1)."""
    assert not any(c.code.startswith("G20") for e in read(text).entities for c in e.codes)


@pytest.mark.parametrize(
    "text",
    [
        "PD on carbidopa-levodopa.",
        "PD on ropinirole.",
        "History of PD with tremor.",
        # a case report that names levodopa once and "PD" again far from it
        "Diagnosed with PD at 49. Started on levodopa. Good symptom control of PD.",
    ],
)
def test_pd_with_parkinson_s_words_is_parkinson_s_disease(read: Read, text: str) -> None:
    pd = [e for e in read(text).entities if e.text == "PD"]
    assert pd
    assert all("G20.A1" in codes(e) for e in pd)


def test_cp_is_chest_pain_and_never_cerebral_palsy_without_context(read: Read) -> None:
    ents = found(read("Pt txr to floor with CP radiating to the left arm."))
    every = {c.code for c in ents["cp"].codes}
    assert "R07.9" in every
    assert not every & {"G80.9", "HP:0100021"}
    assert "cp" not in found(read("Spastic CP since birth, GMFCS level III."))


def test_an_abbreviation_one_source_calls_ambiguous_wants_context_in_every_source(
    read: Read,
) -> None:
    # "PDA" is also the posterior descending artery; HPO lists it plainly
    doc = read("Cath: RCA 90% occluded at the PDA and PLB.")
    assert "pda" not in found(doc)
    ents = found(read("Premature infant with a PDA treated with indomethacin."))
    assert "Q25.0" in codes(ents["pda"])


def test_ms_needs_a_supporting_word(read: Read) -> None:
    assert "ms" not in found(read("Will follow MS/hypothermia carefully."))
    assert "G35.D" in codes(found(read("MS, relapsing-remitting, on ocrelizumab."))["ms"])


def test_stop_phrases_never_make_an_entity(read: Read) -> None:
    doc = read(
        "Using all accessory muscles to breathe; sats falling with activity. Pt unresponsive, "
        "mouthing words. L RAD A-line."
    )
    assert not {"accessory muscles", "falling", "unresponsive", "mouthing", "rad"} & set(found(doc))


def test_tb_and_asd_in_their_other_senses(read: Read) -> None:
    doc = read(
        "AST 40, ALT 52, TB 1.2. Latent TB, completed isoniazid. Secundum ASD, plan closure."
    )
    ents = found(doc)
    assert "tb" not in ents or "A15.9" not in codes(ents["tb"])
    assert "Z22.7" in codes(ents["latent tb"])
    assert "asd" not in ents  # an atrial septal defect here, not autism (F84.0)


def test_a_rule_that_needs_support_has_no_against_words() -> None:
    from note2fhir.extract.lexicon import AmbiguityRule  # noqa: PLC0415

    with pytest.raises(ValueError, match="never reads its against words"):
        AmbiguityRule(needs_support=True, against=["mental"])


def test_rls_is_restless_legs_syndrome(read: Read) -> None:
    """Index: Restless legs (syndrome) G25.81."""
    ents = found(read("ESRD on PD, ropinirole for RLS. Restless legs at night."))
    assert codes(ents["rls"])[0] == "G25.81"
    assert codes(ents["restless legs"])[0] == "G25.81"
