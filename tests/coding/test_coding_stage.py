"""The ``coding`` stage over extracted mentions and caller-given targets."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from note2fhir.coding.billable import BillableCheck
from note2fhir.coding.stage import CodingOptions
from note2fhir.document import ClinicalDocument, Entity, SourceRef, TargetSpan
from note2fhir.pipeline import Pipeline
from note2fhir.settings import Settings, load_settings
from note2fhir.terminology.schema import HPO, ICD10CM, SNOMED_CT, UMLS
from note2fhir.terminology.store import RELATED_MAX_SCORE, TerminologyStore

ARTIFACT = "default"
SOURCE = SourceRef(
    "DocumentReference", "n1", "DocumentReference/n1", "DocumentReference.content[0].attachment"
)


Read = Callable[[str], ClinicalDocument]


def by_text(doc: ClinicalDocument) -> dict[str, Entity]:
    return {e.text.lower(): e for e in doc.entities}


def chosen(entity: Entity, system: str = ICD10CM) -> list[str]:
    return [c.code for c in entity.selected_codes if c.system == system]


def test_billable_leaf_codes(store: TerminologyStore) -> None:
    check = BillableCheck(store.folder)
    assert check("I10")
    assert check("E11.21")
    assert not check("E11")
    assert not check("E11.2")
    assert not check("X99.999")


def test_abbreviation_gets_its_code(read: Read) -> None:
    ents = by_text(read("hx HTN, on lisinopril"))
    assert chosen(ents["htn"]) == ["I10"]
    assert ents["lisinopril"].selected_codes[0].system == "https://go.drugbank.com/drugs"


def test_combination_title_selects_the_specific_code(read: Read) -> None:
    entity = by_text(read("Type 2 diabetes with diabetic nephropathy."))[
        "type 2 diabetes with diabetic nephropathy"
    ]
    assert chosen(entity) == ["E11.21"]
    alternatives = [c.code for c in entity.codes if not c.selected]
    assert "E11.9" in alternatives


def test_category_is_never_selected(read: Read) -> None:
    entity = by_text(read("Diabetes, diet controlled."))["diabetes"]
    # the guideline default (I.C.4.a.2) is chosen; the category E11 stays an alternative
    assert chosen(entity) == ["E11.9"]
    assert "E11" in [c.code for c in entity.codes if not c.selected]


def test_hpo_concept_brings_its_cross_codes(read: Read) -> None:
    entity = by_text(read("Ataxia noted."))["ataxia"]
    systems = {c.system for c in entity.selected_codes}
    assert {HPO, UMLS} <= systems
    hpo = chosen(entity, HPO)[0]
    cross = [c for c in entity.selected_codes if c.system in {UMLS, SNOMED_CT}]
    assert cross and all(f"[hpo:{hpo}]" in c.reason for c in cross)
    assert len(chosen(entity, SNOMED_CT)) <= 1
    assert chosen(entity) == ["R27.0"]


def test_lexicon_tests_stay_uncoded(read: Read) -> None:
    entity = by_text(read("CBC pending."))["cbc"]
    assert entity.codes == []


def test_targets_are_looked_up(settings: Settings) -> None:
    pipeline = Pipeline.from_settings(
        load_settings(
            terminology_dir=settings.terminology_dir,
            terminology_artifact=ARTIFACT,
            pipeline=["sections", "sentences", "targets", "coding"],
        )
    )
    text = "Known essential hypertension."
    doc = ClinicalDocument(id="n1", source=SOURCE, original_text=text)
    start = text.index("essential")
    doc.targets = [TargetSpan(start, start + len("essential hypertension"))]
    pipeline.run(doc)
    assert chosen(doc.entities[0]) == ["I10"]
    assert "looked up by the coding stage" in doc.entities[0].selected_codes[0].reason


def test_unknown_options_are_refused() -> None:
    with pytest.raises(ValueError, match="extra"):
        CodingOptions.model_validate({"min_scor": 0.9})


def test_a_category_brings_its_unspecified_default(read: Read) -> None:
    entity = by_text(read("Nystagmus noted."))["nystagmus"]
    assert chosen(entity) == ["H55.00"]  # "Unspecified nystagmus", under the category H55.0
    default = next(c for c in entity.codes if c.code == "H55.00")
    assert default.display == "Unspecified nystagmus"
    # the title "Unspecified nystagmus" names it too; the category stays an alternative
    assert {"H55.0", "H55.00"} <= {c.code for c in entity.codes}


@pytest.mark.parametrize(
    ("code", "default"),
    [
        ("I50.3", "I50.30"),
        ("J96.0", "J96.00"),  # "..., unspecified whether with hypoxia or hypercapnia"
        ("R11", "R11.2"),  # "Nausea with vomiting, unspecified"
        ("N04", "N04.9"),  # "... with unspecified morphologic changes"
        ("F15.9", None),  # F15.99 "... with unspecified stimulant-induced disorder"
        ("E11", None),  # E11.8 "... with unspecified complications"
        ("K25", None),  # with or without hemorrhage or perforation is the note's to say
    ],
)
def test_no_default_that_names_a_complication(
    store: TerminologyStore, code: str, default: str | None
) -> None:
    check = BillableCheck(store.folder)
    found = check.unspecified_default(code, store_title(store, code))
    assert (found[0] if found else None) == default


def store_title(store: TerminologyStore, code: str) -> str:
    concept = store.concept(f"icd10cm:{code}")
    assert concept is not None
    return concept.preferred


def test_no_default_when_the_classification_names_none(read: Read) -> None:
    # K29.8 splits into with / without bleeding: that is the note's to say
    entity = by_text(read("Duodenitis on endoscopy."))["duodenitis"]
    assert chosen(entity) == []
    assert [c.code for c in entity.codes if c.system == ICD10CM] == ["K29.8"]


def test_a_related_synonym_never_selects_a_code_by_itself() -> None:
    assert CodingOptions().min_score > RELATED_MAX_SCORE


def test_a_one_word_related_synonym_never_reaches_the_selection_threshold(
    store: TerminologyStore,
) -> None:
    # HPO lists "Dizziness" as a related synonym of Vertigo; "Type 2 diabetes mellitus" of
    # several words is a paraphrase and keeps its exact score
    vertigo = next(c for c in store.candidates("dizziness") if c.concept_id == "hpo:HP:0002321")
    assert vertigo.term_type == "synonym-related"
    assert vertigo.score <= RELATED_MAX_SCORE
    t2dm = next(
        c for c in store.candidates("type 2 diabetes mellitus") if c.concept_id == "hpo:HP:0005978"
    )
    assert t2dm.score > RELATED_MAX_SCORE
