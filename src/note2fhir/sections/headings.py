"""The section heading table and the matcher built from it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from note2fhir.resources.loader import load_data_file

SECTIONS_FILE = "sections.yaml"


class SectionKind(BaseModel):
    """One kind of section: its name, display title, heading variants, implied assertion."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z_]+$")
    title: str
    headings: list[str] = Field(min_length=1)
    implies: Literal["historical", "family"] | None = None


class SectionTable(BaseModel):
    """The versioned contents of ``sections.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int
    sections: list[SectionKind]


@dataclass(frozen=True, slots=True)
class HeadingMatch:
    """A heading found in a text: where it starts, where its heading text ends, its kind."""

    start: int
    heading_end: int
    kind: SectionKind


class HeadingMatcher:
    """Finds section headings at the start of lines.

    A heading is one of the known variants, optionally after markdown hashes or a list number,
    followed by a colon, a dash or the end of the line (after a full stop, as case reports
    title their parts: ``Medical History.``): ``PMH: HTN, DM2``, ``# Medications``,
    ``ASSESSMENT AND PLAN``.  ``Plan to discharge tomorrow`` is not a heading.
    """

    def __init__(self, table: SectionTable) -> None:
        self.table = table
        self._by_heading: dict[str, SectionKind] = {}
        for kind in table.sections:
            for heading in kind.headings:
                key = _normalise(heading)
                if key in self._by_heading:
                    raise ValueError(f"heading {heading!r} is listed twice in {SECTIONS_FILE}")
                self._by_heading[key] = kind
        # Longest variants first so "past medical history" wins over "history".
        variants = sorted(self._by_heading, key=len, reverse=True)
        alternation = "|".join(re.escape(v).replace(r"\ ", r"[ \t]+") for v in variants)
        self._pattern = re.compile(
            r"^[ \t]*(?:\#{1,6}[ \t]*|\d{1,2}[.)][ \t]+|[*\-][ \t]+)?"
            rf"(?P<heading>{alternation})[ \t]*(?::|-[ \t]|\.?[ \t]*$)",
            re.IGNORECASE | re.MULTILINE,
        )

    @classmethod
    def default(cls) -> HeadingMatcher:
        """The matcher for the packaged heading table."""
        return cls(load_data_file(SECTIONS_FILE, SectionTable))

    def find(self, text: str) -> list[HeadingMatch]:
        """Every heading in ``text``, in order."""
        found = []
        for match in self._pattern.finditer(text):
            kind = self._by_heading[_normalise(match.group("heading"))]
            found.append(HeadingMatch(match.start("heading"), match.end("heading"), kind))
        return found


def _normalise(heading: str) -> str:
    return " ".join(heading.lower().split())
