"""Mentions that no dictionary names, found by the shape of the words.

* **Head words.**  "cytogenetic analysis", "bone marrow biopsy", "decongestive therapy",
  "diastolic dysfunction": a head word from the lexicon's ``word_rules.heads`` makes an entity
  together with up to ``max_modifiers`` words right before it.  The phrase stops at function
  words, ``modifier_stops`` (verbs, quantifiers), punctuation, numbers and words another match
  already covers.
* **Passive procedures.**  "The catheter was removed", "the tumour was completely resected":
  a listed past participle after a form of "be" is a procedure; "the resected specimen" is
  not.
* **Word endings.**  "parathyroidectomy" is a procedure, "tenosynovitis" a problem and
  "cholangiography" a test whether or not a vocabulary lists the word.
* **Abbreviations a note defines.**  Case reports define their own short forms:
  "hepatocellular carcinoma (HCC)" makes every later "HCC" a mention of that carcinoma.  The
  short form's letters must appear in order in the long form, its first letter starting a word
  (the Schwartz–Hearst test), so "(Figure 2)" or "(n = 4)" define nothing.

Each rule looks at a word and a bounded number of its neighbours, so a note is read in linear
time.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass

from note2fhir.document import EntityType
from note2fhir.extract.lexicon import WordRules
from note2fhir.extract.words import Word

_DEFINED = re.compile(r"[ \t]{0,2}\([ \t]?([A-Za-z][A-Za-z0-9-]{1,11})[ \t]?\)")
_DEFINED_ANYWHERE = re.compile(r"\([ \t]?([A-Za-z][A-Za-z0-9-]{1,11})[ \t]?\)")
_GLUE = frozenset(" \t-")


@dataclass(frozen=True, slots=True)
class RuleHit:
    """Words ``[first, last)`` that a rule makes an entity of ``type``; ``rule`` says which."""

    first: int
    last: int
    type: EntityType
    rule: str


class WordRuleIndex:
    """The lexicon's word rules, indexed for constant-time checks per word."""

    def __init__(self, rules: WordRules) -> None:
        self.rules = rules
        self.heads: dict[str, tuple[EntityType, bool]] = {}
        for head_rule in rules.heads:
            for head in head_rule.heads | head_rule.alone:
                self.heads.setdefault(head, (head_rule.type, head in head_rule.alone))
        self.endings: dict[str, tuple[EntityType, int]] = {}
        for suffix_rule in rules.suffixes:
            for ending in suffix_rule.endings:
                self.endings.setdefault(ending, (suffix_rule.type, suffix_rule.min_stem))
        self.lengths = sorted({len(e) for e in self.endings}, reverse=True)
        # Every listed ending ends with one of these, so most words are ruled out by one look-up.
        shortest = min(self.lengths, default=0)
        self.tails = frozenset(e[-shortest:] for e in self.endings) if shortest else frozenset()
        self.shortest = shortest

    def head(self, word: str) -> tuple[EntityType, bool] | None:
        """The type a head word makes and whether it counts alone, or None."""
        return self.heads.get(word)

    def suffix(self, word: str) -> tuple[EntityType, str] | None:
        """The type a word's ending names and the ending ("thyroidectomy" → procedure,
        "ectomy"), or None; the longest listed ending wins."""
        if (
            not self.shortest
            or word[-self.shortest :] not in self.tails
            or word in self.rules.suffix_exceptions
            or not word.isalpha()
        ):
            return None
        for n in self.lengths:
            if len(word) <= n:
                continue
            found = self.endings.get(word[-n:])
            if found is not None and len(word) - n >= found[1]:
                return found[0], word[-n:]
        return None


def rule_hits(
    text: str,
    words: list[Word],
    singular: list[str | None],
    covered: list[bool],
    function_words: frozenset[str],
    stop_terms: frozenset[str],
    index: WordRuleIndex,
    vocabulary: set[str],
) -> list[RuleHit]:
    """Head-word phrases and words with a telling ending among the uncovered words.

    ``singular`` holds each word's singular, if it is a plural; ``function_words`` never join a
    phrase and ``stop_terms`` never make an entity by their ending; a verb form ("-ed", "-ing")
    joins a phrase only when some name in ``vocabulary`` uses it ("dilated", not "resumed").
    """
    rules, heads = index.rules, index.heads
    out: list[RuleHit] = []
    for k, w in enumerate(words):
        if covered[k]:
            continue
        word = w.text
        head = heads.get(word) or heads.get(singular[k] or "")
        if head is not None:
            kind, alone = head
            first = k
            while (
                first > 0
                and k - first < rules.max_modifiers
                and _modifier(text, words, covered, first - 1, function_words, rules, vocabulary)
            ):
                first -= 1
            if first < k or alone:
                out.append(RuleHit(first, k + 1, kind, f"head word '{word}'"))
            continue
        if word in rules.passive_procedures:
            if _after_auxiliary(words, k, rules.passive_auxiliaries):
                out.append(RuleHit(k, k + 1, EntityType.PROCEDURE, f"passive '{word}'"))
            continue
        if word in stop_terms:
            continue
        ending = index.suffix(word)
        if ending is None and singular[k]:
            ending = index.suffix(singular[k] or "")
        if ending is not None:
            out.append(RuleHit(k, k + 1, ending[0], f"ending '-{ending[1]}'"))
    return out


def _after_auxiliary(words: list[Word], k: int, auxiliaries: frozenset[str]) -> bool:
    """Whether word ``k`` follows a form of "be" in its sentence, perhaps with one adverb
    between ("was removed", "were completely resected")."""
    sentence = words[k].sentence
    j = k - 1
    if j >= 0 and words[j].sentence == sentence and words[j].text.endswith("ly"):
        j -= 1
    return j >= 0 and words[j].sentence == sentence and words[j].text in auxiliaries


def _modifier(
    text: str,
    words: list[Word],
    covered: list[bool],
    j: int,
    function_words: frozenset[str],
    rules: WordRules,
    vocabulary: set[str],
) -> bool:
    """Whether word ``j`` can open the phrase of the head after it: same sentence, only a
    space or hyphen between, not covered, and a content word."""
    word, after = words[j].text, words[j + 1]
    if (
        covered[j]
        or words[j].sentence != after.sentence
        or not _GLUE.issuperset(text[words[j].end : after.start])
    ):
        return False
    return (
        not word.isdigit()
        and any(ch.isalpha() for ch in word)
        and word not in function_words
        and word not in rules.modifier_stops
        and len(word) > 1
        and (not word.endswith(("ed", "ing")) or word in vocabulary)
    )


def defined_short_form(text: str, end: int) -> tuple[str, int, int] | None:
    """``(short form, start, end)`` when ``text[end:]`` opens with a parenthesised short form
    ("hepatocellular carcinoma (HCC)"), or None.  Its letters are checked separately."""
    match = _DEFINED.match(text, end)
    if match is None:
        return None
    short = match.group(1)
    letters = [ch for ch in short if ch.isalpha()]
    upper = sum(ch.isupper() for ch in letters)
    if len(letters) < 2 or (upper < 2 and upper * 2 < len(letters)):
        return None
    return short, match.start(1), match.end(1)


def defined_elsewhere(
    text: str, words: list[Word], mentions: dict[int, str], covered: list[bool]
) -> dict[str, tuple[int, str]]:
    """Short forms the note defines with words that are no mention ("primary care physician
    (PCP)"): the lower-cased short form → (the offset from which it means that, the long
    form), so that the store's meaning of "PCP" (pneumocystis, phencyclidine) is not put on
    it.

    ``mentions`` maps the end offset of each chosen mention to its text: a short form that
    mention spells out is the mention's own (see ``defined_abbreviations``); ``covered`` marks
    the words inside mentions, and a long form holding one is left alone ("forced expiratory
    volume in 1 second (FEV1)").  The long form
    is the nearest run of at most ``len(short) + 5`` words before the parenthesis in the same
    sentence that the short form spells out (Schwartz & Hearst, 2003) and whose first word
    starts with the short form's first letter.
    """
    found: dict[str, tuple[int, str]] = {}
    ends = [w.end for w in words]
    for match in _DEFINED_ANYWHERE.finditer(text):
        short = match.group(1)
        letters = [ch for ch in short if ch.isalpha()]
        if len(letters) < 2 or sum(ch.isupper() for ch in letters) * 2 < len(letters):
            continue
        before = bisect_right(ends, match.start()) - 1
        if before < 0:
            continue
        mention = mentions.get(words[before].end)
        if mention is not None and long_form_explains(short, mention):
            continue
        sentence = words[before].sentence
        head = short[0].lower()
        lowest = max(0, before + 1 - (len(short) + 5))
        for k in range(before, lowest - 1, -1):
            if words[k].sentence != sentence:
                break
            long = text[words[k].start : words[before].end]
            if long[0].lower() == head and long_form_explains(short, long):
                if not any(covered[k : before + 1]):
                    found.setdefault(short.lower(), (match.start(), long))
                break
    return found


def long_form_explains(short: str, long: str) -> bool:
    """Whether ``long`` can be spelt out by ``short`` (Schwartz & Hearst, 2003): every letter or
    digit of the short form appears in order, right to left, and its first one starts a word.

    >>> long_form_explains("HCC", "hepatocellular carcinoma")
    True
    >>> long_form_explains("Fig", "gram-positive cocci")
    False

    A Latin short form gives the initials of two or three words in reverse order: "myotonic
    dystrophy (DM)" is dystrophia myotonica.

    >>> long_form_explains("DM", "myotonic dystrophy")
    True
    """
    s, lf = short.lower(), long.lower()
    if len(s) >= len(lf) or s == lf:
        return False
    words = lf.replace("-", " ").split()
    if 2 <= len(words) <= 3 and s == "".join(w[0] for w in reversed(words)):
        return True
    i, j = len(s) - 1, len(lf) - 1
    while i >= 0:
        ch = s[i]
        if not ch.isalnum():
            i -= 1
            continue
        while j >= 0 and (lf[j] != ch or (i == 0 and j > 0 and lf[j - 1].isalnum())):
            j -= 1
        if j < 0:
            return False
        i -= 1
        j -= 1
    return True
