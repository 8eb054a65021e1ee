"""The result vocabulary of ``results.yaml``, parsed into token-tuple phrase tables."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from note2fhir.resources.loader import load_data_file
from note2fhir.text.segment import tokenize

Phrase = tuple[str, ...]


class ResultWords(BaseModel):
    """The contents of ``results.yaml`` (unknown keys are an error)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int
    after: list[str]
    before: list[str]
    before_for: list[str]
    before_of: list[str]
    standalone: list[str]
    verbs: list[str]
    verb_fillers: list[str]
    measurement_units: list[str]
    modifiers: list[str]
    links: list[str]
    max_link_words: int = Field(4, ge=0, le=8)
    stop_words: list[str]


def load_result_words() -> ResultWords:
    """The packaged result vocabulary."""
    return load_data_file("results.yaml", ResultWords)


def phrase_key(text: str) -> Phrase:
    """The normalised word tokens of a phrase; hyphens do not count ("non-reactive" and
    "non reactive" are the same phrase)."""
    return tuple(t.norm for t in tokenize(text) if t.norm != "-")


class PhraseTable:
    """Phrases keyed by their first word, longest first, for matching at a token."""

    def __init__(self, phrases: list[str]) -> None:
        table: dict[str, list[Phrase]] = {}
        for phrase in phrases:
            key = phrase_key(phrase)
            if key:
                table.setdefault(key[0], []).append(key)
        self.table = {k: sorted(set(v), key=lambda p: (-len(p), p)) for k, v in table.items()}
        self.longest = max((len(p) for v in self.table.values() for p in v), default=0)

    def __contains__(self, phrase: Phrase) -> bool:
        return phrase in self.table.get(phrase[0], ()) if phrase else False

    def match(self, norms: list[str], at: int) -> int:
        """How many of ``norms[at:]`` the longest phrase starting there covers (0: none)."""
        for phrase in self.table.get(norms[at], ()) if at < len(norms) else ():
            if tuple(norms[at : at + len(phrase)]) == phrase:
                return len(phrase)
        return 0
