"""The ``annotate`` JSON Lines contract: one object per document, offsets into the ORIGINAL
attachment text.  Evaluation scripts read this; keep it stable and only ever add keys.

.. code-block:: json

   {"id": "note-1", "source": {...}, "text_length": 1234,
    "sections": [{"start": 0, "end": 120, "name": "history_present_illness", "title": "..."}],
    "entities": [{"id": "E1", "role": "mention", "start": 10, "end": 20, "text": "chest pain",
                  "type": "problem", "section": "history_present_illness",
                  "assertion": {"negated": true, "uncertain": false, "hypothetical": false,
                                "historical": false, "family": false},
                  "attributes": {}, "codes": [{"system": "...", "code": "...",
                                               "display": "...", "score": 0.9}]}],
    (a stated result is an entity too: {"id": "R30", "role": "result", "of": "E3",
     "type": "test", "start": 30, "end": 38, "text": "elevated", ...})
    "relations": [{"type": "treats", "source": "E2", "target": "E1"}],
    "phi": [{"start": 0, "end": 8, "type": "NAME"}]}
"""

from __future__ import annotations

from typing import Any

from note2fhir.document import Assertion, ClinicalDocument, Entity, Result


def document_annotations(doc: ClinicalDocument) -> dict[str, Any]:
    """The ``annotate`` object of a processed document."""
    return {
        "id": doc.id,
        "source": {
            "resourceType": doc.source.resource_type,
            "id": doc.source.resource_id,
            "reference": doc.source.reference,
            "path": doc.source.attachment_path,
            "contentType": doc.source.content_type,
        },
        "text_length": len(doc.original_text),
        "sections": [
            dict(zip(("start", "end"), doc.original_span(s.start, s.end), strict=True))
            | {"name": s.name, "title": s.title}
            for s in doc.sections
        ],
        "entities": [_entity(doc, ent) for ent in doc.entities]
        + [_result_entity(doc, res) for res in doc.results],
        "relations": [
            {"type": r.type, "source": r.source, "target": r.target, "rule": r.rule}
            for r in doc.relations
        ],
        "phi": [
            dict(zip(("start", "end"), doc.original_span(p.start, p.end), strict=True))
            | {"type": p.type}
            for p in doc.phi
        ],
    }


def _entity(doc: ClinicalDocument, ent: Entity) -> dict[str, Any]:
    start, end = doc.original_span(ent.start, ent.end)
    attributes: dict[str, Any] = {}
    if ent.medication is not None:
        attributes.update(ent.medication.as_dict())
    if ent.value is not None:
        attributes["value"] = ent.value
    return {
        "id": ent.id,
        "role": "mention",
        "start": start,
        "end": end,
        "text": doc.text[ent.start : ent.end],
        "type": ent.type.value,
        "section": ent.section,
        "source": ent.source,
        "assertion": ent.assertion.as_flags()
        | {"differential": ent.assertion.differential, "relative": ent.assertion.relative},
        "assertion_cues": [
            {"category": c.category, "rule": c.rule} | ({"detail": c.detail} if c.detail else {})
            for c in ent.assertion.cues
        ],
        "attributes": attributes,
        "codes": [
            {
                "system": c.system,
                "code": c.code,
                "display": c.display,
                "score": round(c.score, 4),
                "selected": c.selected,
                "reason": c.reason,
            }
            for c in ent.codes
        ],
    }


def _result_entity(doc: ClinicalDocument, res: Result) -> dict[str, Any]:
    """A stated result as an entity of type ``test`` with ``role`` ``result`` (``of`` names
    its test), so span scorers that count results as tests (MACCROBAT's ``Lab_value``) see
    it; the test's own entry already carries the value."""
    test = doc.entity(res.entity) if res.entity is not None else None
    start, end = doc.original_span(res.start, res.end)
    flags = test.assertion.as_flags() if test is not None else Assertion().as_flags()
    section = doc.section_at(res.start)
    return {
        "id": f"R{res.start}",
        "role": "result",
        "of": res.entity,
        "start": start,
        "end": end,
        "text": doc.text[res.start : res.end],
        "type": "test",
        "section": section.name if section is not None else None,
        "source": f"results:{res.rule}",
        "assertion": flags,
        "assertion_cues": [],
        "attributes": {"value": res.value},
        "codes": [],
    }
