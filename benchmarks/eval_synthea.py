"""End to end on Synthea bulk NDJSON: condition and medication recall/precision of ``process``.

Usage::

    python benchmarks/eval_synthea.py [--limit N] [--pipeline ...] [--no-peer] [--save DIR]
        [--data DIR]

For each DocumentReference of ``synthea-bulk-10`` (all 1,215 by default; ``--limit N`` keeps
the first N in file order) the gold is the Condition and MedicationRequest resources of the
same encounter whose display is found in the note: each coding display and ``code.text``
(``medicationCodeableConcept`` for medications), whole and without a trailing semantic tag
such as " (disorder)", case-insensitively, first occurrence (as the shared
``make_synthea_input.py``).

note2fhir runs through its library API (reader → pipeline → Bundle builder, as ``note2fhir
process``).  A gold item is found when a Condition (MedicationStatement or MedicationRequest)
whose ``derivation-reference`` points at that DocumentReference overlaps its span.

* recall: found / gold;
* precision: mentions (one per derivation-reference) overlapping a gold span of their kind /
  all mentions.  Synthea notes name more than the encounter's gold (the history list, the
  medication list), so this is a floor; "patient precision" also accepts a mention that
  overlaps any occurrence of a display of ANY of the patient's Conditions (MedicationRequests);
* refuted: found conditions whose overlapping Conditions are all refuted (the shared scorer's
  count; Synthea states them affirmatively, so it must be 0), and found medications whose
  MedicationStatements are all ``not-taken``.

The peer (QuickUMLS + negspacy, ``baseline_peer.py``) runs on the same note text: its problem
matches stand for Conditions and its medication matches for medications; recall only, and how
many found items it negated (its precision columns are shown for reference).

``--save DIR`` writes ``gold.jsonl`` (the shared ``make_synthea_input.py`` gold format) and
``bundles.ndjson`` (note2fhir's Bundles), which the shared ``score_synthea.py`` reads.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from benchmarks.harness import (
    OurSystem,
    add_system_args,
    attribution,
    command_line,
    load_peer,
    markdown_table,
)

DERIVATION_URL = "http://hl7.org/fhir/StructureDefinition/derivation-reference"
KIND_OF_RESOURCE = {
    "Condition": "condition",
    "MedicationStatement": "medication",
    "MedicationRequest": "medication",
}
PEER_KIND = {"problem": "condition", "medication": "medication"}
KINDS = ("condition", "medication")
_TAG = re.compile(r"\s*\([^()]*\)\s*$")


# --- reading -----------------------------------------------------------------------------------


def read_ndjson(folder: Path, resource_type: str) -> Iterator[dict[str, Any]]:
    """Resources of one type from ``<Type>*.ndjson`` files, in file order."""
    for path in sorted(folder.glob(f"{resource_type}*.ndjson")):
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    yield json.loads(line)


def last_id(reference: str) -> str:
    """``Encounter/abc`` or ``urn:uuid:abc`` → ``abc``."""
    return reference.rsplit("/", 1)[-1].rsplit(":", 1)[-1]


def note_text(doc: dict[str, Any]) -> str | None:
    """The first base64 ``text/plain`` attachment of a DocumentReference, decoded."""
    for content in doc.get("content", []):
        attachment = content.get("attachment", {})
        if "data" in attachment and attachment.get("contentType", "").startswith("text/plain"):
            try:
                return base64.b64decode(attachment["data"]).decode("utf-8", "replace")
            except (binascii.Error, ValueError):
                return None
    return None


def displays(resource: dict[str, Any]) -> list[str]:
    """Names a resource may appear under: each display and the text, whole and without a
    trailing tag; longer than two characters, first seen first.

    >>> displays({"resourceType": "Condition", "code": {"text": "Sepsis (disorder)"}})
    ['Sepsis (disorder)', 'Sepsis']
    """
    key = "code" if resource.get("resourceType") == "Condition" else "medicationCodeableConcept"
    concept = resource.get(key, {})
    names = [c.get("display", "") for c in concept.get("coding", [])] + [concept.get("text", "")]
    found: list[str] = []
    for name in (n.strip() for n in names):
        if name:
            found += [name, _TAG.sub("", name)]
    return [n for n in dict.fromkeys(found) if len(n) > 2]


def locate(text: str, names: list[str]) -> tuple[int, int, str] | None:
    """The first occurrence of the first name found in ``text`` (case-insensitive)."""
    for name in names:
        match = re.search(re.escape(name), text, flags=re.IGNORECASE)
        if match:
            return match.start(), match.end(), name
    return None


def all_occurrences(text: str, names: list[str]) -> list[tuple[int, int]]:
    """Every case-insensitive occurrence of every name."""
    return [
        m.span() for name in names for m in re.finditer(re.escape(name), text, flags=re.IGNORECASE)
    ]


@dataclass(frozen=True, slots=True)
class GoldItem:
    """An encounter resource located in its note."""

    kind: str
    display: str
    start: int
    end: int


@dataclass(slots=True)
class Note:
    """One DocumentReference, its text, its gold and the patient-wide known spans."""

    resource: dict[str, Any]
    text: str
    gold: list[GoldItem]
    unlocated: int
    known: dict[str, list[tuple[int, int]]] = field(default_factory=dict)

    @property
    def id(self) -> str:
        """The DocumentReference id."""
        return str(self.resource["id"])


def read_notes(folder: Path, limit: int | None = None) -> list[Note]:
    """DocumentReferences with a text note, each with its encounter's located gold."""
    by_encounter: dict[str, list[dict[str, Any]]] = {}
    by_patient: dict[tuple[str, str], dict[str, None]] = {}  # (patient, kind) -> names
    for rtype in ("Condition", "MedicationRequest"):
        for res in read_ndjson(folder, rtype):
            encounter = last_id(res.get("encounter", {}).get("reference", ""))
            by_encounter.setdefault(encounter, []).append(res)
            patient = last_id(res.get("subject", {}).get("reference", ""))
            names = by_patient.setdefault((patient, KIND_OF_RESOURCE[rtype]), {})
            names.update(dict.fromkeys(displays(res)))
    notes: list[Note] = []
    for doc in read_ndjson(folder, "DocumentReference"):
        if limit is not None and len(notes) >= limit:
            break
        text = note_text(doc)
        if not text or not doc.get("id"):
            continue
        encounters = doc.get("context", {}).get("encounter", [])
        encounter = last_id(encounters[0].get("reference", "")) if encounters else ""
        gold, unlocated = [], 0
        for res in by_encounter.get(encounter, []):
            hit = locate(text, displays(res))
            if hit is None:
                unlocated += 1
            else:
                gold.append(GoldItem(KIND_OF_RESOURCE[res["resourceType"]], hit[2], hit[0], hit[1]))
        note = Note(doc, text, gold, unlocated)
        patient = last_id(doc.get("subject", {}).get("reference", ""))
        for kind in KINDS:
            note.known[kind] = all_occurrences(text, list(by_patient.get((patient, kind), {})))
        notes.append(note)
    return notes


# --- our output --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Mention:
    """One derivation-reference of an output resource: kind, span, refuted."""

    kind: str
    start: int
    end: int
    refuted: bool


def mentions(bundle: dict[str, Any], doc_id: str) -> list[Mention]:
    """Condition/medication mentions of a Bundle that point at DocumentReference ``doc_id``."""
    found = []
    for entry in bundle.get("entry", []):
        res = entry.get("resource", {})
        kind = KIND_OF_RESOURCE.get(res.get("resourceType", ""))
        if kind is None:
            continue
        if kind == "condition":
            codings = res.get("verificationStatus", {}).get("coding", [{}])
            refuted = codings[0].get("code") == "refuted"
        else:
            refuted = res.get("status") == "not-taken"
        for ext in res.get("extension", []):
            if ext.get("url") != DERIVATION_URL:
                continue
            parts = {x.get("url"): x for x in ext.get("extension", [])}
            ref = parts.get("reference", {}).get("valueReference", {}).get("reference", "")
            offset = parts.get("offset", {}).get("valueInteger")
            length = parts.get("length", {}).get("valueInteger")
            if last_id(ref) == doc_id and offset is not None and length is not None:
                found.append(Mention(kind, offset, offset + length, refuted))
    return found


def run_ours(ours: OurSystem, note: Note, bundles: IO[str] | None = None) -> list[Mention] | None:
    """Read the DocumentReference, run the pipeline, build the Bundle; its mentions.  The
    Bundle is written to ``bundles`` (NDJSON) when given."""
    from note2fhir.errors import Note2FhirError  # noqa: PLC0415

    found: list[Mention] = []
    for doc in ours.engine.read_resource(note.resource, location=f"DocumentReference {note.id}"):
        if isinstance(doc, Note2FhirError):
            return None
        try:
            ours.engine.pipeline.run(doc)
            bundle = ours.engine.bundle(doc)
        except Note2FhirError:
            return None
        found += mentions(bundle, note.id)
        if bundles is not None:
            bundles.write(json.dumps(bundle) + "\n")
    return found


def gold_record(note: Note) -> dict[str, Any]:
    """The note's gold in the shared ``make_synthea_input.py`` format."""
    gold = [
        {"kind": g.kind, "display": g.display, "start": g.start, "end": g.end} for g in note.gold
    ]
    return {"id": note.id, "text": note.text, "gold": gold, "unlocated": note.unlocated}


# --- scoring -----------------------------------------------------------------------------------


@dataclass(slots=True)
class KindCounts:
    """Recall, precision and refuted counts of one kind."""

    gold: int = 0
    found: int = 0
    found_refuted: int = 0
    mentions: int = 0
    mentions_on_gold: int = 0
    mentions_on_known: int = 0

    def recall(self) -> float:
        """Found gold / gold."""
        return self.found / self.gold if self.gold else 0.0

    def precision(self) -> float:
        """Mentions on an encounter gold span / mentions."""
        return self.mentions_on_gold / self.mentions if self.mentions else 0.0

    def patient_precision(self) -> float:
        """Mentions on any of the patient's displays / mentions."""
        return self.mentions_on_known / self.mentions if self.mentions else 0.0


def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def score_note(note: Note, found: list[Mention], counts: dict[str, KindCounts]) -> None:
    """Add one note's gold and mentions to the counts."""
    for item in note.gold:
        c = counts[item.kind]
        c.gold += 1
        hits = [
            m
            for m in found
            if m.kind == item.kind and _overlaps((m.start, m.end), (item.start, item.end))
        ]
        if hits:
            c.found += 1
            c.found_refuted += all(m.refuted for m in hits)
    for m in found:
        c = counts[m.kind]
        c.mentions += 1
        span = (m.start, m.end)
        c.mentions_on_gold += any(
            g.kind == m.kind and _overlaps(span, (g.start, g.end)) for g in note.gold
        )
        c.mentions_on_known += any(_overlaps(span, k) for k in note.known.get(m.kind, ()))


def peer_mentions(peer: Any, note: Note) -> list[Mention]:
    """The peer's problem/medication matches as mentions (refuted = negated)."""
    output = peer.annotate({"id": note.id, "text": note.text})
    return [
        Mention(PEER_KIND[e["type"]], e["start"], e["end"], bool(e["assertion"]["negated"]))
        for e in output["entities"]
        if e["type"] in PEER_KIND
    ]


def main() -> None:
    """Run note2fhir (and the peer) over the Synthea notes; print Markdown tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, help="first N DocumentReferences (default: all)")
    parser.add_argument("--save", type=Path, help="write gold.jsonl and bundles.ndjson here")
    add_system_args(parser, peer="QuickUMLS")
    args = parser.parse_args()

    folder = args.data / "synthea-bulk-10"
    if not folder.is_dir():
        raise SystemExit(f"data not found: {folder} (give --data or set NOTE2FHIR_EVAL_DATA)")
    notes = read_notes(folder, args.limit)
    ours = OurSystem.from_args(args)
    peer = load_peer(args.workdir, not args.no_peer)

    ours_counts = {k: KindCounts() for k in KINDS}
    failed = 0
    with contextlib.ExitStack() as stack:
        bundles = None
        if args.save:
            args.save.mkdir(parents=True, exist_ok=True)
            with (args.save / "gold.jsonl").open("w", encoding="utf-8") as out:
                out.writelines(json.dumps(gold_record(n)) + "\n" for n in notes)
            bundles = stack.enter_context(
                (args.save / "bundles.ndjson").open("w", encoding="utf-8")
            )
        started = time.perf_counter()
        for note in notes:
            found = run_ours(ours, note, bundles)
            failed += found is None
            score_note(note, found or [], ours_counts)
        ours_seconds = time.perf_counter() - started
    peer_counts = {k: KindCounts() for k in KINDS}
    peer_seconds = 0.0
    if peer is not None:
        started = time.perf_counter()
        for note in notes:
            score_note(note, peer_mentions(peer, note), peer_counts)
        peer_seconds = time.perf_counter() - started

    print("# End to end on Synthea notes\n")
    print(f"command: `{command_line()}`\n")
    print(f"note2fhir pipeline: {' -> '.join(ours.stages)}")
    unlocated = sum(n.unlocated for n in notes)
    print(
        f"{len(notes)} DocumentReferences; gold conditions {ours_counts['condition'].gold}, "
        f"medications {ours_counts['medication'].gold}; encounter resources not found in "
        f"their note: {unlocated}; notes note2fhir failed on: {failed}\n"
    )
    rows: list[list[object]] = []
    for kind in KINDS:
        c = ours_counts[kind]
        rows.append(["note2fhir", kind, c.gold, c.found, c.recall(), c.mentions, c.precision(),
                     c.patient_precision(), c.found_refuted, ours_seconds])  # fmt: skip
    if peer is not None:
        for kind in KINDS:
            c = peer_counts[kind]
            rows.append(["peer", kind, c.gold, c.found, c.recall(), c.mentions, c.precision(),
                         c.patient_precision(), c.found_refuted, peer_seconds])  # fmt: skip
    print(markdown_table(
        ["system", "kind", "gold", "found", "recall", "mentions", "precision",
         "patient precision", "found but refuted", "seconds"],
        rows,
    ))  # fmt: skip
    print("\n(peer: 'found but refuted' = found items whose matches negspacy all negated)")
    print("\n## Data\n")
    print(attribution(folder, "Synthea bulk FHIR sample (10 patients)"))


if __name__ == "__main__":
    main()
