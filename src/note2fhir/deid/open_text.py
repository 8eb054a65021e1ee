"""Person names in running text written by or to people: patient-portal messages, transcribed
dialogue, letters.  The cues are linguistic, not templates, and hold in clinical notes too:

- a vocative: "Warrane, can I please speak to ...", "Don't go to town, Derrick!";
- a speaker's label before a quoted or spoken line: ``Zuzana: "Who are you?"``;
- the owner of a relative: "Misty's daughter", "roberto's wife";
- a person from an organisation: "Tomomi is from Xignite", "Jen from PT called";
- a given name and a surname no list knows, with or without a middle initial ("Henry
  Manninen", "Ryan P Costa") or name particles ("Dyan van Gijn");
- a word after the strongest name cues, whatever its case ("my name is vitoria", "What's your
  last name? Boyle");
- the other members of a list of names ("Gaetane, Hannah, Anthony, Derek, Anna and Andrew").

Every rule leaves the words of the protected clinical vocabulary, the cue and unit words and the
words before an eponym's head ("Cornelia de Lange syndrome") alone.
"""

from __future__ import annotations

import sys
from bisect import bisect_right
from collections.abc import Iterator
from typing import TYPE_CHECKING

from note2fhir.deid.tokens import (
    Tok,
    after_cues,
    base,
    cues_by_last_word,
    gap,
    is_initial,
    same_line,
    unpossessed,
)

if TYPE_CHECKING:
    from note2fhir.deid.detect import Detection, Detector

_OPENERS = frozenset({".", "!", "?", '"', "“"})
"""Tokens after which a sentence or an utterance opens."""
_QUOTES = frozenset({'"', "“", "'", "‘"})
_LIST_JOINS = frozenset({"and", "&"})
_SUBJECT_VERBS = frozenset(
    {"are", "were", "have", "had", "will", "would", "can", "could", "said", "say", "told",
     "asked", "agreed", "decided", "spoke", "met", "came", "went"}
)  # fmt: skip
"""Verbs after two names that are the subject of their sentence ("Park and Mann were")."""


class OpenTextNames:
    """The rules above, for one :class:`~note2fhir.deid.detect.Detector` (its word sets)."""

    def __init__(self, det: Detector) -> None:
        self.det = det
        rules = det.rules
        self.vocative_next = frozenset(w.lower() for w in rules.vocative_next)
        self.particles = frozenset(w.lower() for w in rules.name_particles)
        # running text names people of every country: the Census lists and Faker's locales
        self.given = det.lex.first_names | det.lex.world_given
        self.surnames = det.lex.surnames | det.lex.world_surnames
        self.strong_cues = cues_by_last_word(rules.strong_name_cues)
        s = det._sets
        self.not_person = (
            s["not_names"]
            | s["credentials"]
            | s["relatives"]
            | s["titles"]
            | s["roles"]
            | s["facility_single"]
            | s["facility_prefixes"]
            | s["value_context"]
            | s["eponym_heads"]
        )

    # -- word tests ------------------------------------------------------------------------

    def person_word(self, tok: Tok) -> bool:
        """May ``tok`` (its possessive ending aside) be a person's name given a cue: a word no
        list knows, or a Census given name even when it is also a word ("Cora", "Mary"), but
        no protected, cue, unit or place word?"""
        low = base(tok.low)
        det = self.det
        if (
            not tok.alpha
            or len(low) < 2
            or "-" in low
            or low in self.not_person
            or low in det.protected
            or not tok.text[1:].replace("'", "").replace("’", "").islower()
        ):
            return False
        if low in self.given:
            return True
        return not det.common(low) and not det._is_place_word(low)

    def _opens(self, text: str, tokens: list[Tok], i: int) -> bool:
        """Does ``tokens[i]`` open the text, a line or a sentence?"""
        if i == 0:
            return True
        prev = tokens[i - 1]
        return not same_line(text, prev.end, tokens[i].start) or prev.text in _OPENERS

    def _eponym_after(self, tokens: list[Tok], k: int) -> bool:
        """Is ``tokens[k]`` an eponym's head ("de Lange syndrome")?"""
        return k < len(tokens) and tokens[k].low in self.det._sets["eponym_heads"]

    # -- rules -----------------------------------------------------------------------------

    def find(self, text: str, tokens: list[Tok]) -> Iterator[Detection]:
        """The names these rules find in a note in mixed case."""
        from note2fhir.deid.detect import Detection  # noqa: PLC0415 - a cycle otherwise

        det = self.det
        strong_ends = self._strong_cue_ends(tokens)
        for i, tok in enumerate(tokens):
            if not tok.alpha:
                continue
            if i in strong_ends:
                end = self._after_strong_cue(text, tokens, i)
                if end is not None:
                    yield Detection(tok.start, tokens[end].end, "NAME", "name-cue")
                    continue
            colon = i + 1 < len(tokens) and tokens[i + 1].text == ":"
            if colon and self._speaker(text, tokens, i):
                yield Detection(tok.start, tok.end, "NAME", "speaker")
                continue
            if tok.title and self._vocative(text, tokens, i):
                yield Detection(tok.start, tok.end, "NAME", "vocative")
                continue
            if tok.low.endswith(("'s", "’s")) and self._owns_relative(text, tokens, i):
                begin = det._extend(tokens, i, False, -1)
                yield Detection(tokens[begin].start, tok.end - 2, "NAME", "relative-owner")
                continue
            if not tok.title:
                continue
            end = self._given_surname(text, tokens, i)
            if end is None:
                end = self._with_particles(text, tokens, i)
            if end is not None:
                yield Detection(tok.start, unpossessed(tokens[end]), "NAME", "name-shape")
                continue
            end = self._from_organisation(text, tokens, i)
            if end is not None:
                yield Detection(tok.start, tokens[end].end, "NAME", "from-organisation")

    def _strong_cue_ends(self, tokens: list[Tok]) -> set[int]:
        """Indexes of the tokens right after a strong name cue ("my name is", "call me",
        "last name?"), punctuation after the cue skipped."""
        return after_cues(tokens, self.strong_cues, skip_is=False)

    def _after_strong_cue(self, text: str, tokens: list[Tok], i: int) -> int | None:
        """The last token of the name after a strong cue: words in lower case that no list
        knows ("vitoria", "borna jerković", "hyuuma t. maida"), or a capitalised Census name
        of the protected list ("Boyle")."""
        det = self.det
        tok = tokens[i]
        low = tok.low
        if tok.title and tok.text.isalpha():
            census = low in self.given or low in self.surnames
            if census and low in det.protected and low not in self.not_person:
                return det._extend(tokens, i, False, 1, lax=True)
            return None
        if not self._unknown_lower(tok):
            return None
        last = i
        k = i + 1
        while k < len(tokens) and k - i <= 4 and same_line(text, tokens[last].end, tokens[k].start):
            nxt = tokens[k]
            if gap(tokens, k - 1, k) > 1:
                break
            if nxt.text == "." and len(tokens[k - 1].text) == 1:
                k += 1
                continue
            initial = nxt.alpha and len(nxt.text) == 1 and nxt.text not in {"a", "i"}
            if initial and k + 1 < len(tokens):
                k += 1
                continue
            if not self._unknown_lower(nxt):
                break
            last = k
            k += 1
        return last

    def _unknown_lower(self, tok: Tok) -> bool:
        low = tok.low
        return (
            tok.alpha
            and tok.text.islower()
            and len(low) >= 3
            and "-" not in low
            and low not in self.not_person
            and low not in self.det.protected
            and not self.det.common(low)
        )

    def _speaker(self, text: str, tokens: list[Tok], i: int) -> bool:
        """A speaker's label: one word at the start of a line, a colon and a quoted line
        (``Zuzana: "Who are you?"``, ``tracy:"i'm ..."``), or a Census given name that is no
        word before a spoken sentence ("Nicole: Remember me, Mary?")."""
        n = len(tokens)
        tok = tokens[i]
        if i + 2 >= n or tokens[i + 1].text != ":" or gap(tokens, i, i + 1) != 0:
            return False
        line_start = text.rfind("\n", 0, tok.start) + 1
        if text[line_start : tok.start].strip(" \t>"):
            return False
        said = tokens[i + 2]
        if not same_line(text, tok.end, said.start):
            return False
        if said.text in _QUOTES:
            if tok.text.islower():
                return self._unknown_lower(tok) or tok.low in self.given
            return tok.title and self.person_word(tok)
        return said.title and self.det._given(tok)

    def _vocative(self, text: str, tokens: list[Tok], i: int) -> bool:
        """A person addressed: "Warrane, can I ...", "Kuba, please ..." at a sentence start,
        or ", Derrick!" / ", Mary?" at a sentence end."""
        n = len(tokens)
        if not self.person_word(tokens[i]) or tokens[i].low.endswith(("'s", "’s")):
            return False
        if (
            i + 2 < n
            and tokens[i + 1].text == ","
            and tokens[i + 2].low in self.vocative_next
            and same_line(text, tokens[i].end, tokens[i + 2].start)
            and self._opens(text, tokens, i)
        ):
            return True
        return (
            i > 0
            and i + 1 < n
            and tokens[i - 1].text == ","
            and tokens[i + 1].text in {"!", "?"}
            and gap(tokens, i, i + 1) == 0
            and same_line(text, tokens[i - 1].end, tokens[i].start)
        )

    def _owns_relative(self, text: str, tokens: list[Tok], i: int) -> bool:
        """The owner of a relative: "Misty's daughter", "roberto's wife"."""
        if i + 1 >= len(tokens) or gap(tokens, i, i + 1) != 1:
            return False
        if tokens[i + 1].low not in self.det._sets["relatives"]:
            return False
        tok = tokens[i]
        if tok.text.islower():
            low = base(tok.low)
            return (
                len(low) >= 3
                and "-" not in low
                and low not in self.not_person
                and not self.det.common(low)
            )
        return tok.title and self.person_word(tok) and same_line(text, tok.end, tokens[i + 1].start)

    def _given_surname(self, text: str, tokens: list[Tok], i: int) -> int | None:
        """A capitalised Census given name, even one that is also a word, then a capitalised
        word no list knows, or a middle initial and a Census surname ("Henry Manninen", "Tom
        I. Holzman", "Ryan P Costa"); the index of the surname."""
        det = self.det
        tok = tokens[i]
        if tok.low not in self.given or not self.person_word(tok):
            return None
        j = i + 1
        if (
            j >= len(tokens)
            or gap(tokens, i, j) != 1
            or not same_line(text, tok.end, tokens[j].start)
        ):
            return None
        k = j
        initial = is_initial(tokens, j)
        if initial:
            k = j + 2 if j + 1 < len(tokens) and tokens[j + 1].text == "." else j + 1
            if k >= len(tokens) or gap(tokens, k - 1, k) > 1:
                return None
        last = tokens[k]
        if not last.title or self._eponym_after(tokens, k + 1):
            return None
        if det._plain_word(last):
            # a given name that is also a word must be one web2 lists as a name ("See
            # Carevue" is an instruction) unless a middle initial follows it
            return (
                k if initial or not det.common(tok.low) or tok.low in det.lex.proper_given else None
            )
        surname = base(last.low)
        if (
            initial
            and last.text.isalpha()
            and surname in self.surnames
            and surname not in det.protected
            and surname not in self.not_person
        ):
            return k
        return None

    def _with_particles(self, text: str, tokens: list[Tok], i: int) -> int | None:
        """A name with particles: "Dyan van Gijn", "Maika van de Noort" (a capitalised name
        word, one or two particles in lower case, a capitalised word); the last index."""
        tok = tokens[i]
        if i + 1 >= len(tokens) or tokens[i + 1].low not in self.particles:
            return None
        if not self.person_word(tok) or tok.low.endswith(("'s", "’s")):
            return None
        k = i + 1
        while (
            k < len(tokens)
            and k - i <= 2
            and tokens[k].low in self.particles
            and tokens[k].text.islower()
            and gap(tokens, k - 1, k) == 1
        ):
            k += 1
        if k == i + 1 or k >= len(tokens) or gap(tokens, k - 1, k) != 1:
            return None
        last = tokens[k]
        if (
            not last.title
            or not last.text.replace("'", "").replace("’", "").isalpha()
            or not same_line(text, tok.end, last.start)
            or base(last.low) in self.not_person
            or base(last.low) in self.det.protected
            or self._eponym_after(tokens, k + 1)
        ):
            return None
        return k

    def _from_organisation(self, text: str, tokens: list[Tok], i: int) -> int | None:
        """A person from an organisation at a sentence start: "Tomomi is from Xignite", "Zoe
        Young from Flightaware", "Jen from PT called"; the index of the name's last token."""
        det = self.det
        tok = tokens[i]
        if not self._opens(text, tokens, i) or not self.person_word(tok):
            return None
        end = det._extend(tokens, i, False, 1)
        j = end + 1
        if j < len(tokens) and tokens[j].low in {"is", "was"}:
            j += 1
        if j + 1 >= len(tokens) or tokens[j].low != "from":
            return None
        org = tokens[j + 1]
        if not org.alpha or org.text.islower() or not same_line(text, tok.end, org.start):
            return None
        return end

    # -- lists -----------------------------------------------------------------------------

    def listed(self, text: str, tokens: list[Tok], found: list[Detection]) -> Iterator[Detection]:
        """The other members of a list of names ("Gaetane, Hannah, Anthony, Derek, Anna and
        Andrew"; "they had 6: silvana, adam, christopher, kristina, chad and caleb"): single
        words parted by commas, the last after "and", on one line, one of them found as a
        name already (two in lower case)."""
        from note2fhir.deid.detect import Detection  # noqa: PLC0415 - a cycle otherwise

        names = sorted((d.start, d.end) for d in found if d.type == "NAME")
        n = len(tokens)
        i = 0
        while i < n:
            # a list goes on with a comma or "and" after its first word
            if i + 2 >= n or (tokens[i + 1].text != "," and tokens[i + 1].low not in _LIST_JOINS):
                i += 1
                continue
            members = self._list_at(text, tokens, i)
            if len(members) < 3 and not self._pair_subject(text, tokens, members):
                i += 1
                continue
            i = members[-1] + 1
            found_here = sum(_inside(names, tokens[k]) for k in members)
            lower = tokens[members[0]].text.islower()
            if lower and found_here < 2:
                continue
            census = sum(self._census_name(tokens[k]) for k in members)
            if not lower and found_here == 0 and census < 2 and len(members) > 2:
                continue
            for k in members:
                if _inside(names, tokens[k]) or not self._list_member(tokens[k], lower):
                    continue
                yield Detection(tokens[k].start, tokens[k].end, "NAME", "name-list")

    def _list_at(self, text: str, tokens: list[Tok], i: int) -> list[int]:
        """Indexes of the words of a list "A, B, C and D" (or "A, B, and C") that starts at
        ``tokens[i]``: all capitalised or all in lower case; empty when there is none."""
        first = tokens[i]
        title = first.title
        if not first.alpha or not (title or first.text.islower()):
            return []
        members = [i]
        k = i
        n = len(tokens)
        while k + 2 < n:
            sep = tokens[k + 1]
            nxt = k + 2
            joined = sep.low in _LIST_JOINS
            if sep.text == "," and tokens[nxt].low in _LIST_JOINS:
                nxt += 1
                joined = True
            elif sep.text != "," and not joined:
                return []
            if nxt >= n or not same_line(text, tokens[k].end, tokens[nxt].start):
                return []
            cand = tokens[nxt]
            if not cand.alpha or not (cand.title if title else cand.text.islower()):
                return []
            members.append(nxt)
            k = nxt
            if joined:
                return members
        return []

    def _pair_subject(self, text: str, tokens: list[Tok], members: list[int]) -> bool:
        """Two people as the subject of a sentence: "Marrero and Murphy were ...", "Park and
        Mann have ..." (capitalised, at the sentence start, a verb after)."""
        if len(members) != 2 or not self._opens(text, tokens, members[0]):
            return False
        after = members[1] + 1
        if after >= len(tokens) or tokens[after].low not in _SUBJECT_VERBS:
            return False
        pair = [tokens[k] for k in members]
        return any(self._census_name(t) for t in pair) and all(
            t.title and (self.person_word(t) or self._list_member(t, False)) for t in pair
        )

    def _census_name(self, tok: Tok) -> bool:
        """A capitalised Census name that is no English word ("Morrison", "Torres")."""
        low = tok.low
        return (
            tok.title
            and (low in self.given or low in self.surnames)
            and not self.det.common(low)
            and low not in self.not_person
            and low not in self.det.protected
        )

    def _list_member(self, tok: Tok, lower: bool) -> bool:
        if lower:
            low = tok.low
            return (
                low in self.given and low not in self.not_person and low not in self.det.protected
            ) or self._unknown_lower(tok)
        return self.person_word(tok) or (
            tok.title
            and tok.low in self.surnames
            and tok.low not in self.not_person
            and tok.low not in self.det.protected
        )


def _inside(spans: list[tuple[int, int]], tok: Tok) -> bool:
    """Is ``tok`` inside one of the ``spans`` (sorted, not overlapping)?"""
    k = bisect_right(spans, (tok.start, sys.maxsize)) - 1
    return k >= 0 and spans[k][0] <= tok.start and tok.end <= spans[k][1]
