"""Offset maps: how a span of the working text maps back to the original attachment text.

Reducing HTML to text, or replacing a patient name with ``[NAME]``, changes the text that the
NLP stages read.  Every span that leaves the library must still point into the ORIGINAL text
(FHIR ``derivation-reference`` offsets, the ``annotate`` output), so each rewrite records a
piecewise map from the new text to the text it was made from.

A map is a sorted list of segments.  A *copy* segment says "these working characters are the
same characters as that original range"; a *replace* segment says "these working characters
stand for that whole original range" (an HTML entity, a tag turned into a newline, a surrogate
name).  Maps compose, so HTML reduction followed by de-identification still maps to the
original.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Segment:
    """One piece of a map: working ``[work_start, work_end)`` stands for original
    ``[orig_start, orig_end)``; ``copy`` pieces have equal lengths and map character by
    character."""

    work_start: int
    work_end: int
    orig_start: int
    orig_end: int
    copy: bool


@dataclass(slots=True)
class OffsetMap:
    """A monotonic map from working-text offsets to original-text offsets."""

    segments: list[Segment]
    work_length: int
    orig_length: int
    _starts: list[int] = field(default_factory=list, repr=False, compare=False)
    _orig_starts: list[int] = field(default_factory=list, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._starts = [s.work_start for s in self.segments]
        self._orig_starts = [s.orig_start for s in self.segments]

    @classmethod
    def identity(cls, length: int) -> OffsetMap:
        """The map of a text that was not rewritten."""
        segments = [Segment(0, length, 0, length, True)] if length else []
        return cls(segments, length, length)

    @property
    def is_identity(self) -> bool:
        """True when every working offset equals its original offset."""
        return self.work_length == self.orig_length and all(
            s.copy and s.work_start == s.orig_start for s in self.segments
        )

    def _segment_at(self, offset: int) -> Segment | None:
        index = bisect.bisect_right(self._starts, offset) - 1
        if index < 0:
            return None
        return self.segments[index]

    def start(self, offset: int) -> int:
        """Original offset where a span starting at working ``offset`` starts."""
        if offset >= self.work_length:
            return self.orig_length
        seg = self._segment_at(max(offset, 0))
        if seg is None:
            return 0
        if seg.copy:
            return seg.orig_start + (offset - seg.work_start)
        return seg.orig_start

    def end(self, offset: int) -> int:
        """Original offset where a span ending at working ``offset`` (exclusive) ends."""
        if offset <= 0:
            return 0
        if offset > self.work_length:
            return self.orig_length
        seg = self._segment_at(offset - 1)
        if seg is None:
            return 0
        if seg.copy:
            return seg.orig_start + (offset - seg.work_start)
        return seg.orig_end

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Map the working span ``[start, end)`` to the original span it came from."""
        if end <= start:
            point = self.start(start)
            return point, point
        return self.start(start), self.end(end)

    def working_span(self, start: int, end: int) -> tuple[int, int]:
        """The inverse: the working span that stands for original ``[start, end)``.

        Caller-given spans (``targets``) are original offsets; after a rewrite they must be
        found in the working text.  Original text that was dropped maps to the next working
        character; a replaced piece maps to its whole replacement.
        """
        return self._to_working(start, is_end=False), self._to_working(end, is_end=True)

    def _to_working(self, offset: int, *, is_end: bool) -> int:
        if not self.segments:
            return 0
        index = bisect.bisect_right(self._orig_starts, offset - (1 if is_end else 0)) - 1
        if index < 0:
            return 0
        seg = self.segments[index]
        inside = offset <= seg.orig_end if is_end else offset < seg.orig_end
        if not inside:
            return seg.work_end
        if seg.copy:
            return seg.work_start + (offset - seg.orig_start)
        return seg.work_end if is_end else seg.work_start

    def then(self, later: OffsetMap) -> OffsetMap:
        """Compose: ``later`` maps a newer text onto this map's working text; the result
        maps the newer text straight to this map's original text."""
        if later.orig_length != self.work_length:
            raise ValueError("offset maps do not chain: lengths differ")
        segments: list[Segment] = []
        for seg in later.segments:
            if not seg.copy:
                o_start, o_end = self.span(seg.orig_start, seg.orig_end)
                segments.append(Segment(seg.work_start, seg.work_end, o_start, o_end, False))
                continue
            # A copied run may cross several segments of this (earlier) map: split it.
            pos = seg.orig_start
            while pos < seg.orig_end:
                inner = self._segment_at(pos)
                if inner is None:  # pragma: no cover - maps cover their whole text
                    raise ValueError("offset map has a gap")
                run_end = min(seg.orig_end, inner.work_end)
                w_start = seg.work_start + (pos - seg.orig_start)
                w_end = seg.work_start + (run_end - seg.orig_start)
                if inner.copy:
                    o_start = inner.orig_start + (pos - inner.work_start)
                    segments.append(
                        Segment(w_start, w_end, o_start, o_start + (w_end - w_start), True)
                    )
                else:
                    segments.append(
                        Segment(w_start, w_end, inner.orig_start, inner.orig_end, False)
                    )
                pos = run_end
        return OffsetMap(segments, later.work_length, self.orig_length)


class OffsetMapBuilder:
    """Builds a rewritten text and its map piece by piece, left to right over the original.

    >>> b = OffsetMapBuilder()
    >>> b.copy("a &amp; b", 0, 2); b.replace("&", 2, 7); b.copy("a &amp; b", 7, 9)
    >>> text, omap = b.build(9)
    >>> text, omap.span(2, 3)
    ('a & b', (2, 7))
    """

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._segments: list[Segment] = []
        self._work = 0
        self._orig = 0

    def copy(self, original: str, start: int, end: int) -> None:
        """Append ``original[start:end]`` unchanged."""
        if end <= start:
            return
        self._check(start)
        length = end - start
        self._parts.append(original[start:end])
        last = self._segments[-1] if self._segments else None
        if last and last.copy and last.work_end == self._work and last.orig_end == start:
            self._segments[-1] = Segment(
                last.work_start, self._work + length, last.orig_start, end, True
            )
        else:
            self._segments.append(Segment(self._work, self._work + length, start, end, True))
        self._work += length
        self._orig = end

    def replace(self, text: str, start: int, end: int) -> None:
        """Append ``text`` standing for ``original[start:end]`` (either may be empty)."""
        self._check(start)
        if text:
            self._parts.append(text)
            self._segments.append(Segment(self._work, self._work + len(text), start, end, False))
            self._work += len(text)
        self._orig = max(self._orig, end)

    def _check(self, start: int) -> None:
        if start < self._orig:
            raise ValueError("offset map pieces must be appended left to right")

    def build(self, orig_length: int) -> tuple[str, OffsetMap]:
        """Return the rewritten text and its map onto an original of ``orig_length``."""
        return "".join(self._parts), OffsetMap(list(self._segments), self._work, orig_length)
