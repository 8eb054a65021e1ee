"""Stages, the stage registry and the pipeline that runs them over documents.

A stage is a named unit that reads and extends a :class:`ClinicalDocument`.  It declares the
annotation layers it ``requires`` and those it ``assigns``; :class:`Pipeline` refuses an order
in which some stage would run before the layers it needs exist (a negation stage placed before
the entity extractor would otherwise silently do nothing).

Stages are registered by name with :func:`register_stage`; third-party packages can add stages
through the ``note2fhir.stages`` entry-point group.  A stage is built from its options (a
pydantic model with unknown keys forbidden) and the global settings, once per process; it must
keep no per-document state, so that it pickles and runs in worker processes.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable, Iterator
from importlib.metadata import entry_points
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from note2fhir.document import ClinicalDocument
from note2fhir.errors import ErrorCode, Note2FhirError, validation_fields
from note2fhir.settings import Settings

log = logging.getLogger(__name__)

LAYERS: dict[str, str] = {
    "text": "the working text (every document starts with it)",
    "targets": "caller-given spans that must become entities",
    "phi": "protected health information spans (de-identification)",
    "sections": "note sections with their normalised names",
    "tokens": "word, number and punctuation tokens with normalised forms",
    "sentences": "sentence-like units (sentences, list items, headings, template lines)",
    "entities": "problem, medication, test and procedure mentions",
    "assertions": "negated / uncertain / hypothetical / historical / family status",
    "attributes": "medication dose, route, frequency, duration; test values",
    "results": "stated results of test mentions, with their own spans",
    "relations": "treats, causes, reveals links between entities",
    "codes": "ranked code candidates per entity",
}
"""Every layer name a stage may require or assign, with what it holds."""

BASE_LAYERS = frozenset({"text", "targets"})
"""Layers every document has before the first stage runs."""

BUILTIN_STAGE_MODULES = (
    "note2fhir.deid.stage",
    "note2fhir.sections.stage",
    "note2fhir.text.stage",
    "note2fhir.extract.dictionary",
    "note2fhir.extract.targets",
    "note2fhir.results.stage",
    "note2fhir.assertion.stage",
    "note2fhir.medication.stage",
    "note2fhir.relations.stage",
    "note2fhir.coding.stage",
)
"""Modules whose import registers the stages that ship with note2fhir."""

ENTRY_POINT_GROUP = "note2fhir.stages"


class NoOptions(BaseModel):
    """Options of a stage that takes none; any key is an error."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Stage:
    """Base class of every stage.

    Subclasses set ``name``, ``requires``, ``assigns`` and optionally ``Options`` (a pydantic
    model with ``extra="forbid"``), and implement :meth:`process`.
    """

    name: ClassVar[str] = ""
    requires: ClassVar[frozenset[str]] = frozenset()
    assigns: ClassVar[frozenset[str]] = frozenset()
    Options: ClassVar[type[BaseModel]] = NoOptions

    def __init__(self, options: BaseModel, settings: Settings) -> None:
        self.options = options
        self.settings = settings

    def process(self, doc: ClinicalDocument) -> None:
        """Read and extend ``doc`` in place."""
        raise NotImplementedError


_REGISTRY: dict[str, type[Stage]] = {}


StageClass = TypeVar("StageClass", bound=type[Stage])


def register_stage(cls: StageClass) -> StageClass:
    """Class decorator: register a stage under ``cls.name``; layer names are checked."""
    if not cls.name:
        raise TypeError(f"{cls.__qualname__} has no stage name")
    unknown = (cls.requires | cls.assigns) - set(LAYERS)
    if unknown:
        raise TypeError(f"stage {cls.name} declares unknown layers: {sorted(unknown)}")
    existing = _REGISTRY.get(cls.name)
    if existing is not None and existing is not cls:
        raise TypeError(f"stage name {cls.name} is registered twice")
    _REGISTRY[cls.name] = cls
    return cls


_loaded = False


def registered_stages() -> dict[str, type[Stage]]:
    """All known stages by name: the built-in ones and those of installed plugins."""
    global _loaded  # noqa: PLW0603 - the registry is filled once per process, on first use
    if not _loaded:
        for module in BUILTIN_STAGE_MODULES:
            importlib.import_module(module)
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            register_stage(ep.load())
        _loaded = True
    return dict(_REGISTRY)


def check_order(stages: Iterable[type[Stage]]) -> None:
    """Raise a pipeline error when the order cannot satisfy every stage's requirements."""
    available = set(BASE_LAYERS)
    assigned_by: dict[str, str] = {}
    for cls in stages:
        missing = cls.requires - available
        if missing:
            needed = ", ".join(sorted(missing))
            providers = sorted(name for name, other in _REGISTRY.items() if other.assigns & missing)
            hint = (
                f"; put a stage that assigns it first ({', '.join(providers)})" if providers else ""
            )
            raise Note2FhirError(
                ErrorCode.PIPELINE_INVALID,
                reason=f"stage '{cls.name}' requires {needed}, which no earlier stage "
                f"assigns{hint}",
            )
        if "text" in cls.assigns:
            spans = sorted(set(assigned_by) - {"text"})
            if spans:
                raise Note2FhirError(
                    ErrorCode.PIPELINE_INVALID,
                    reason=f"stage '{cls.name}' rewrites the text after '{assigned_by[spans[0]]}' "
                    f"assigned {spans[0]}; text-rewriting stages (de-identification) run first",
                )
        for layer in cls.assigns:
            assigned_by.setdefault(layer, cls.name)
        available |= cls.assigns


class Pipeline:
    """An ordered, checked list of built stages; build once per process, run on many docs."""

    def __init__(self, stages: list[Stage]) -> None:
        check_order(type(stage) for stage in stages)
        self.stages = stages

    @property
    def names(self) -> list[str]:
        """Stage names in running order."""
        return [stage.name for stage in self.stages]

    @classmethod
    def from_settings(cls, settings: Settings) -> Pipeline:
        """Build the pipeline that ``settings.pipeline`` names, each stage with its options."""
        known = registered_stages()
        classes: list[type[Stage]] = []
        for name in settings.pipeline:
            if name not in known:
                raise Note2FhirError(
                    ErrorCode.PIPELINE_INVALID,
                    reason=f"unknown stage '{name}' (known: {', '.join(sorted(known))})",
                )
            classes.append(known[name])
        for name in settings.stages:
            if name not in settings.pipeline:
                raise Note2FhirError(
                    ErrorCode.PIPELINE_INVALID,
                    reason=f"options are given for stage '{name}', which is not in the pipeline",
                )
        check_order(classes)
        stages: list[Stage] = []
        try:
            for stage_cls in classes:
                stages.append(_build(stage_cls, settings))
        except BaseException:
            # Free the stages built so far here, not while the error unwinds: a compiled
            # simstring reader deallocated with an error pending replaces the clear
            # configuration error with a SystemError.
            stages.clear()
            raise
        return cls(stages)

    def run(self, doc: ClinicalDocument) -> ClinicalDocument:
        """Run every stage on ``doc``; a stage that fails raises ``STAGE_FAILED``.

        Only the exception's class name is kept: its message may quote the note.
        """
        for stage in self.stages:
            try:
                stage.process(doc)
            except Note2FhirError:
                raise
            except Exception as exc:
                log.error(
                    "stage %s failed on document %s: %s",
                    stage.name,
                    doc.source.location or doc.source.reference,
                    type(exc).__name__,
                )
                raise Note2FhirError(
                    ErrorCode.STAGE_FAILED,
                    location=doc.source.location,
                    stage=stage.name,
                    exception=type(exc).__name__,
                ) from None
            doc.layers |= stage.assigns
        return doc

    def run_many(
        self, docs: Iterable[ClinicalDocument | Note2FhirError]
    ) -> Iterator[ClinicalDocument | Note2FhirError]:
        """Run over many documents; a failure is yielded in place of its document and the
        rest go on."""
        for item in docs:
            if isinstance(item, Note2FhirError):
                yield item
                continue
            try:
                yield self.run(item)
            except Note2FhirError as err:
                yield err.at(item.source.location)


def _build(stage_cls: type[Stage], settings: Settings) -> Stage:
    raw: dict[str, Any] = settings.stages.get(stage_cls.name, {})
    try:
        options = stage_cls.Options.model_validate(raw)
    except ValidationError as exc:
        raise Note2FhirError(
            ErrorCode.PIPELINE_INVALID,
            reason=f"options of stage '{stage_cls.name}': {validation_fields(exc)}",
        ) from None
    return stage_cls(options, settings)
