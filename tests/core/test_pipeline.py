"""The stage registry and the pipeline builder's checks."""

from __future__ import annotations

import pickle

import pytest
from pydantic import BaseModel, ConfigDict

from note2fhir.document import ClinicalDocument, SourceRef
from note2fhir.errors import ErrorCode, Note2FhirError
from note2fhir.pipeline import LAYERS, Pipeline, Stage, check_order, registered_stages
from note2fhir.settings import load_settings

SOURCE = SourceRef(
    "DocumentReference", "n1", "DocumentReference/n1", "DocumentReference.content[0].attachment"
)


def make_doc(text: str = "PMH: HTN") -> ClinicalDocument:
    return ClinicalDocument(id="n1", source=SOURCE, original_text=text)


class NeedsEntities(Stage):
    name = "needs-entities"
    requires = frozenset({"entities"})
    assigns = frozenset({"assertions"})


class RewritesText(Stage):
    name = "rewrites-text"
    assigns = frozenset({"text", "phi"})


class Explodes(Stage):
    name = "explodes"

    def process(self, doc: ClinicalDocument) -> None:
        raise KeyError(doc.text)  # the message would carry note text


def test_registry_names_snapshot() -> None:
    """Renaming a stage breaks every settings file that names it: rename on purpose only."""
    assert sorted(registered_stages()) == [
        "assertion",
        "coding",
        "deid",
        "extract",
        "medication",
        "relations",
        "results",
        "sections",
        "sentences",
        "targets",
    ]


def test_every_registered_stage_declares_known_layers() -> None:
    for cls in registered_stages().values():
        assert cls.requires <= set(LAYERS)
        assert cls.assigns <= set(LAYERS)


def test_order_missing_a_requirement_is_refused_with_a_hint() -> None:
    with pytest.raises(Note2FhirError) as info:
        check_order([NeedsEntities])
    assert info.value.code is ErrorCode.PIPELINE_INVALID
    assert "requires entities" in info.value.message
    assert "targets" in info.value.message  # a stage that assigns entities is suggested


def test_text_rewrite_after_span_layers_is_refused() -> None:
    sections = registered_stages()["sections"]
    with pytest.raises(Note2FhirError, match="rewrites the text"):
        check_order([sections, RewritesText])
    check_order([RewritesText, sections])


def test_unknown_stage_name_is_refused() -> None:
    settings = load_settings(pipeline=["sections", "no-such-stage"])
    with pytest.raises(Note2FhirError, match="unknown stage 'no-such-stage'"):
        Pipeline.from_settings(settings)


def test_options_for_a_stage_not_in_the_pipeline_are_refused() -> None:
    settings = load_settings(pipeline=["sections"], stages={"targets": {}})
    with pytest.raises(Note2FhirError, match="not in the pipeline"):
        Pipeline.from_settings(settings)


def test_unknown_stage_option_is_refused() -> None:
    settings = load_settings(pipeline=["sections"], stages={"sections": {"bogus": 1}})
    with pytest.raises(Note2FhirError, match="options of stage 'sections': bogus"):
        Pipeline.from_settings(settings)


def test_stage_options_are_validated_models() -> None:
    class Opts(BaseModel):
        model_config = ConfigDict(extra="forbid")
        threshold: float = 0.5

    class WithOptions(Stage):
        name = "with-options"
        Options = Opts

    stage = WithOptions(Opts.model_validate({"threshold": 0.9}), load_settings())
    assert stage.options.threshold == 0.9  # type: ignore[attr-defined]


def test_run_marks_layers_and_is_reusable() -> None:
    pipeline = Pipeline.from_settings(load_settings())
    first = pipeline.run(make_doc("PMH: HTN\nPlan: follow up"))
    second = pipeline.run(make_doc("Meds: aspirin"))
    assert {"sections", "entities"} <= first.layers
    assert [s.name for s in first.sections] == ["past_medical_history", "plan"]
    assert [s.name for s in second.sections] == ["medications"]


def test_a_failing_stage_reports_its_name_not_the_note() -> None:
    pipeline = Pipeline([Explodes(Stage.Options(), load_settings())])
    results = list(pipeline.run_many([make_doc("Jane Roe has HTN"), make_doc("ok")]))
    assert all(isinstance(r, Note2FhirError) for r in results)
    err = results[0]
    assert isinstance(err, Note2FhirError)
    assert err.code is ErrorCode.STAGE_FAILED
    assert "explodes" in err.message and "KeyError" in err.message
    assert "Jane" not in err.one_line()


def test_pipeline_and_documents_pickle() -> None:
    """Stages and documents must travel to worker processes (bulk, Spark)."""
    pipeline = Pipeline.from_settings(load_settings())
    doc = pipeline.run(make_doc("FH: mother with breast cancer"))
    clone = pickle.loads(pickle.dumps(pipeline))
    assert clone.names == pipeline.names
    again = pickle.loads(pickle.dumps(doc))
    assert again.sections == doc.sections
    assert again.original_span(0, 2) == (0, 2)
