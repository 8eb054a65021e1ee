"""The ``results`` stage: each test the extractor found gets the results stated around it,
as ``doc.results`` with their own spans ("troponin was **elevated**", "**normal** ECG").

A test without a value from the extractor takes the first result found as its ``value``, so
its Observation carries it.  A document with caller ``targets`` gets no results: those spans
are the caller's, and evaluation on gold spans must not see extra ones.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from note2fhir.document import ClinicalDocument, EntityType, Result
from note2fhir.extract.lexicon import load_lexicon
from note2fhir.extract.values import ValueReader
from note2fhir.pipeline import Stage, register_stage
from note2fhir.results.finder import LIST_RULE, ResultFinder, SentenceWords, first_token_at
from note2fhir.results.words import load_result_words
from note2fhir.settings import Settings


class ResultsOptions(BaseModel):
    """Options of the ``results`` stage."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    before: bool = Field(True, description='Read adjectives before a test ("elevated troponin").')
    standalone: bool = Field(
        True,
        description='Read results after a reporting verb with no test found ("gait was normal").',
    )
    measurements: bool = Field(
        True, description='Read numbers with a measurement unit anywhere ("SpO2 was 98%").'
    )
    set_values: bool = Field(
        True, description="Give a test without a value the first result found as its value."
    )


@register_stage
class ResultsStage(Stage):
    """Find the stated results of test mentions."""

    name = "results"
    requires = frozenset({"entities", "sentences"})
    assigns = frozenset({"results", "attributes"})
    Options = ResultsOptions

    def __init__(self, options: BaseModel, settings: Settings) -> None:
        super().__init__(options, settings)
        self.finder = ResultFinder(load_result_words(), ValueReader(load_lexicon()))

    def process(self, doc: ClinicalDocument) -> None:
        """Assign ``doc.results`` and fill missing test values."""
        opts = self.options
        assert isinstance(opts, ResultsOptions)
        tests = [e for e in doc.entities if e.type is EntityType.TEST and e.source != "targets"]
        if doc.targets or not doc.sentences or (not tests and not opts.standalone):
            doc.results = []
            return
        owner = _owners(doc)
        test_ids = frozenset(e.id for e in tests)
        cache: dict[int, SentenceWords] = {}
        results: list[Result] = []
        taken: set[tuple[int, int]] = set()
        # spans taken, by sentence: every result lies inside its sentence, so an overlap
        # check needs only that sentence's (a document-wide scan was quadratic)
        taken_in: dict[int, list[tuple[int, int]]] = {}
        for entity in tests:
            # an offset before the first sentence reads the first
            index = doc.sentence_at(entity.start, or_before=True) or 0
            words = cache.get(index)
            if words is None:
                words = cache[index] = _sentence_words(doc, index, owner, test_ids)
            found = self.finder.around(doc.text, words, entity.id, entity.start, entity.end)
            for hit in found:
                if hit.rule == "before" and not opts.before:
                    continue
                if (hit.start, hit.end) in taken and hit.rule != LIST_RULE:
                    continue
                taken.add((hit.start, hit.end))
                taken_in.setdefault(index, []).append((hit.start, hit.end))
                results.append(Result(hit.start, hit.end, entity.id, hit.value, hit.rule))
                if entity.value is None and opts.set_values:
                    entity.value = dict(hit.value)
        if opts.standalone:
            by_id = {e.id: e for e in doc.entities}
            for index in range(len(doc.sentences)):
                words = cache.get(index)
                if words is None:
                    words = cache[index] = _sentence_words(doc, index, owner, test_ids)
                loose = self.finder.standalone_results(words)
                if opts.measurements:
                    loose += self.finder.measurements(doc.text, words)
                spans = taken_in.setdefault(index, [])
                for hit, near in loose:
                    if any(s < hit.end and hit.start < e for s, e in spans):
                        continue
                    spans.append((hit.start, hit.end))
                    results.append(Result(hit.start, hit.end, near, hit.value, hit.rule))
                    test = by_id.get(near) if near is not None else None
                    if (
                        hit.rule == "standalone"
                        and test is not None
                        and test.type is EntityType.TEST
                        and test.value is None
                        and opts.set_values
                    ):
                        test.value = dict(hit.value)
        doc.results = sorted(results, key=lambda r: (r.start, r.end))


def _owners(doc: ClinicalDocument) -> list[str | None]:
    """For each token of the document, the id of the entity covering it (or None)."""
    owner: list[str | None] = [None] * len(doc.tokens)
    for entity in doc.entities:
        i = first_token_at(doc.tokens, entity.start)
        if i and doc.tokens[i - 1].end > entity.start:
            i -= 1  # a token that starts before the entity and runs into it
        while i < len(doc.tokens) and doc.tokens[i].start < entity.end:
            owner[i] = entity.id
            i += 1
    return owner


def _sentence_words(
    doc: ClinicalDocument, index: int, owner: list[str | None], tests: frozenset[str]
) -> SentenceWords:
    sentence = doc.sentences[index]
    first, last = sentence.first_token, sentence.last_token
    tokens = doc.tokens[first:last]
    norms = [t.norm for t in tokens]
    owners = owner[first:last]
    if "-" in norms:  # rare: filter only then
        keep = [i for i, norm in enumerate(norms) if norm != "-"]
        tokens = [tokens[i] for i in keep]
        norms = [norms[i] for i in keep]
        owners = [owners[i] for i in keep]
    return SentenceWords(tokens=tokens, norms=norms, owner=owners, end=sentence.end, tests=tests)
