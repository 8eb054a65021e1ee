"""The ``sentences`` stage: tokens and sentence-like units."""

from __future__ import annotations

from pydantic import BaseModel

from note2fhir.document import ClinicalDocument
from note2fhir.pipeline import Stage, register_stage
from note2fhir.settings import Settings
from note2fhir.text.segment import load_rules, sentence_breaks, sentences, tokenize


@register_stage
class SentencesStage(Stage):
    """Tokenise the working text and split it into units; section headings are boundaries
    when sections are known (run ``sections`` first for that)."""

    name = "sentences"
    assigns = frozenset({"tokens", "sentences"})

    def __init__(self, options: BaseModel, settings: Settings) -> None:
        super().__init__(options, settings)
        self.rules = load_rules()

    def process(self, doc: ClinicalDocument) -> None:
        """Assign ``doc.tokens`` and ``doc.sentences``."""
        tokens = tokenize(doc.text)
        extra = [b for s in doc.sections for b in (s.start, _after_colon(doc.text, s.heading_end))]
        doc.tokens = tokens
        doc.sentences = sentences(
            doc.text, tokens, sentence_breaks(doc.text, tokens, self.rules, extra)
        )


def _after_colon(text: str, heading_end: int) -> int:
    """Where the content after a heading starts: past a ':' or '-' that follows it."""
    pos = heading_end
    while pos < len(text) and text[pos] in " \t":
        pos += 1
    if pos < len(text) and text[pos] in ":-":
        return pos + 1
    return heading_end
