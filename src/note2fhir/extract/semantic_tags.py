"""Problem-list items printed as SNOMED CT fully specified names: "stress (finding)",
"chronic kidney disease stage 3 (disorder)".  The tag says what the phrase before it is even
when no dictionary knows the wording ("full-time employment (finding)")."""

from __future__ import annotations

import re
from dataclasses import dataclass

from note2fhir.document import ClinicalDocument, EntityType
from note2fhir.extract.lexicon import ClinicalLexicon
from note2fhir.extract.words import Word

_TAG = re.compile(r"\(([a-z][a-z /-]{2,30})\)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class TaggedPhrase:
    """Words ``[first, last)`` before a semantic tag, the tag and the entity type it implies."""

    first: int
    last: int
    tag: str
    type: EntityType


def tagged_phrases(
    doc: ClinicalDocument, words: list[Word], lexicon: ClinicalLexicon
) -> list[TaggedPhrase]:
    """Every phrase that ends right before a known semantic tag."""
    if not lexicon.semantic_tags or "(" not in doc.text:
        return []
    starts = {w.start: i for i, w in enumerate(words)}
    found: list[TaggedPhrase] = []
    for match in _TAG.finditer(doc.text):
        tag = match.group(1).lower()
        kind = lexicon.semantic_tags.get(tag)
        if kind is None:
            continue
        tag_word = starts.get(match.start(1))
        if tag_word is None or tag_word == 0:
            continue
        last = tag_word  # exclusive: words before the tag
        # A stacked tag ("severe anxiety (panic) (finding)") keeps the words in parentheses.
        first = _phrase_start(doc, words, last, lexicon)
        if first is not None:
            found.append(TaggedPhrase(first, last, tag, kind))
    return found


def _phrase_start(
    doc: ClinicalDocument, words: list[Word], last: int, lexicon: ClinicalLexicon
) -> int | None:
    sentence = words[last - 1].sentence
    first = last - 1
    limit = max(0, last - lexicon.tag_phrase_max_words)
    while first > limit:
        previous = words[first - 1]
        if previous.sentence != sentence or _opens(words, first - 1, lexicon):
            break
        between = doc.text[previous.end : words[first].start]
        if any(ch in ",;:.\n" for ch in between):
            break
        first -= 1
    if _opens(words, first, lexicon):
        return None
    return first


def _opens(words: list[Word], i: int, lexicon: ClinicalLexicon) -> bool:
    """Does ``words[i]`` open a tagged phrase: an opener, but "of" only after a head such as
    "history" ("history of tubal ligation", not "transplantation of kidney")?"""
    text = words[i].text
    if text != "of":
        return text in lexicon.tag_phrase_openers
    return i > 0 and words[i - 1].text in lexicon.tag_phrase_of_heads
