"""Which selected codes changed between two ``note2fhir annotate`` outputs of the same notes.

Usage::

    python benchmarks/code_changes.py BEFORE.ndjson AFTER.ndjson [--top 25]

For reviewing a terminology, lexicon or rule change before it ships: run ``note2fhir
annotate`` over the same notes with the old and the new version, then compare.  A mention is
the same when its document id and span are; results (``role: result``) are left out.  A
mention's code is its first selected code.  The script prints how many mentions carry a
selected code before and after, then the mentions that lost their code, got another one,
gained one, or changed whether they are present (negated, hypothetical or about a family
member), most frequent first, for a coder to read.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.harness import markdown_table

NOT_PRESENT = ("negated", "hypothetical", "family")


@dataclass(frozen=True, slots=True)
class Mention:
    """What a comparison needs of one entity."""

    text: str
    present: bool
    code: str | None


def read_mentions(path: Path) -> dict[tuple[str, int, int], Mention]:
    """The entities of an annotate NDJSON file by (document id, start, end)."""
    found: dict[tuple[str, int, int], Mention] = {}
    for document in _documents(path):
        for entity in document.get("entities", []):
            if entity.get("role") == "result":
                continue
            selected = [c for c in entity.get("codes", []) if c.get("selected")]
            flags = entity.get("assertion", {})
            found[(str(document["id"]), int(entity["start"]), int(entity["end"]))] = Mention(
                text=str(entity["text"]).lower(),
                present=not any(flags.get(flag) for flag in NOT_PRESENT),
                code=str(selected[0]["code"]) if selected else None,
            )
    return found


def _documents(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                yield json.loads(line)


@dataclass
class Changes:
    """Counted differences between two annotate outputs."""

    coded_before: int
    coded_after: int
    lost: Counter[tuple[str, str]]
    changed: Counter[tuple[str, str, str]]
    gained: Counter[tuple[str, str]]
    presence: Counter[tuple[str, bool, bool]]


def compare(
    before: dict[tuple[str, int, int], Mention], after: dict[tuple[str, int, int], Mention]
) -> Changes:
    """Count lost, changed and gained codes and changed presence, mention by mention.

    >>> afib = Mention("afib", True, "I48.91")
    >>> a = {("d", 0, 3): afib, ("d", 5, 7): Mention("vt", True, "I47.20")}
    >>> b = {("d", 0, 3): afib}
    >>> compare(a, b).lost
    Counter({('vt', 'I47.20'): 1})
    """
    changes = Changes(
        coded_before=sum(m.code is not None for m in before.values()),
        coded_after=sum(m.code is not None for m in after.values()),
        lost=Counter(),
        changed=Counter(),
        gained=Counter(),
        presence=Counter(),
    )
    for key, old in before.items():
        new = after.get(key)
        if old.code is not None and (new is None or new.code is None):
            changes.lost[(old.text, old.code)] += 1
        elif old.code is not None and new is not None and new.code != old.code:
            changes.changed[(old.text, old.code, str(new.code))] += 1
        if new is not None and new.present != old.present:
            changes.presence[(old.text, old.present, new.present)] += 1
    for key, new in after.items():
        old_mention = before.get(key)
        if new.code is not None and (old_mention is None or old_mention.code is None):
            changes.gained[(new.text, new.code)] += 1
    return changes


def main() -> None:
    """Print the comparison as Markdown."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--top", type=int, default=25, help="rows per table")
    args = parser.parse_args()
    changes = compare(read_mentions(args.before), read_mentions(args.after))
    print(
        f"mentions with a selected code: {changes.coded_before} -> {changes.coded_after}; "
        f"lost {sum(changes.lost.values())}, changed {sum(changes.changed.values())}, "
        f"gained {sum(changes.gained.values())}, presence changed "
        f"{sum(changes.presence.values())}\n"
    )
    tables: list[tuple[str, list[str], Counter[Any]]] = [
        ("Lost", ["mention", "code before", "n"], changes.lost),
        ("Changed", ["mention", "code before", "code after", "n"], changes.changed),
        ("Gained", ["mention", "code after", "n"], changes.gained),
        ("Presence changed", ["mention", "present before", "present after", "n"], changes.presence),
    ]
    for title, headers, counts in tables:
        rows = [[*key, n] for key, n in counts.most_common(args.top)]
        if rows:
            print(f"## {title}\n\n{markdown_table(headers, rows)}\n")


if __name__ == "__main__":
    main()
