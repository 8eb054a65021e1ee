"""Reduce an HTML or XHTML note to plain text, keeping a map back to the markup.

The reduction is a single left-to-right scan (no backtracking regular expressions), so a
hostile or broken document costs time linear in its length.  Tags, comments, declarations
and processing instructions vanish; ``<script>``, ``<style>`` and ``<head>`` vanish with their
contents; a block-level tag becomes one newline and a table cell a tab; character references
become the character they name.  Whitespace is kept as it is, so every copied run of text
maps one to one onto the markup.  Malformed markup never fails: a ``<`` that opens no tag is
text.

>>> text, omap = html_to_text("<p>BP&nbsp;120/80</p><p>No &lt;acute&gt; distress</p>")
>>> text
'BP 120/80\\nNo <acute> distress\\n'
>>> omap.span(2, 3)
(5, 11)
"""

from __future__ import annotations

import html

from note2fhir.offsets import OffsetMap, OffsetMapBuilder

BLOCK_TAGS = frozenset(
    {
        "address", "article", "aside", "blockquote", "body", "br", "caption", "center",
        "dd", "details", "dialog", "dir", "div", "dl", "dt", "fieldset", "figcaption",
        "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hgroup",
        "hr", "html", "legend", "li", "main", "menu", "nav", "ol", "p", "pre", "section",
        "summary", "table", "tbody", "tfoot", "thead", "title", "tr", "ul",
    }
)  # fmt: skip
"""Tags that start or end a line of rendered text."""

CELL_TAGS = frozenset({"td", "th"})
"""Table cells: a tab separates a cell from the one before it on the same row."""

SKIPPED_TAGS = frozenset({"script", "style", "head"})
"""Elements whose content is not part of the note."""

_MAX_REFERENCE = 40
"""Longest character reference looked at (``&CounterClockwiseContourIntegral;`` is 33)."""

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_:.")
_REFERENCE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789#")
_SPACE = frozenset(" \t\n\r\f")
_NBSP = "\xa0"


class _Finder:
    """``str.find`` with a memory of each needle's last answer.

    The scan asks for "the next ``>`` after here" again and again; remembering the answer
    (valid until the scan passes it) keeps the whole reduction linear even for inputs such as
    ten thousand ``<`` with no ``>``.
    """

    def __init__(self, haystack: str) -> None:
        self._haystack = haystack
        self._cache: dict[str, tuple[int, int]] = {}

    def find(self, needle: str, pos: int) -> int:
        cached = self._cache.get(needle)
        if cached is not None:
            searched_from, found = cached
            if searched_from <= pos and (found == -1 or pos <= found):
                return found
        found = self._haystack.find(needle, pos)
        self._cache[needle] = (pos, found)
        return found


class _Reducer:
    """One reduction: the markup, its ASCII-lowercased twin and the builder."""

    def __init__(self, markup: str) -> None:
        self.markup = markup
        # ASCII-only lowering keeps every offset the same (str.lower can change lengths).
        self.lower = markup.translate(_ASCII_LOWER)
        self.find = _Finder(markup).find
        self.find_lower = _Finder(self.lower).find
        self.out = OffsetMapBuilder()
        self.last = ""
        """The last character written to the working text ("" at the start)."""
        self.quotes_reliable = True
        """False once a tag's quoted attribute never closed: tags then end at the next '>'."""

    def run(self) -> tuple[str, OffsetMap]:
        markup = self.markup
        n = len(markup)
        pos = 0
        while pos < n:
            lt = self.find("<", pos)
            amp = self.find("&", pos)
            stop = min((p for p in (lt, amp) if p != -1), default=n)
            if stop > pos:
                self.copy(pos, stop)
                pos = stop
                continue
            pos = self.reference(pos) if markup[pos] == "&" else self.tag(pos)
        return self.out.build(n)

    # -- output -------------------------------------------------------------------------

    def copy(self, start: int, end: int) -> None:
        if end > start:
            self.out.copy(self.markup, start, end)
            self.last = self.markup[end - 1]

    def replace(self, text: str, start: int, end: int) -> None:
        self.out.replace(text, start, end)
        if text:
            self.last = text[-1]

    # -- character references -------------------------------------------------------------

    def reference(self, pos: int) -> int:
        """Handle the ``&`` at ``pos``; return where scanning goes on."""
        markup = self.markup
        end = pos + 1
        limit = min(len(markup), pos + 1 + _MAX_REFERENCE)
        while end < limit and markup[end] in _REFERENCE_CHARS:
            end += 1
        if end < len(markup) and markup[end] == ";":
            end += 1
        reference = markup[pos:end]
        value = html.unescape(reference) if end > pos + 1 else reference
        if value == reference:
            self.copy(pos, pos + 1)
            return pos + 1
        self.replace(value.replace(_NBSP, " "), pos, end)
        return end

    # -- markup ---------------------------------------------------------------------------

    def tag(self, pos: int) -> int:
        """Handle the ``<`` at ``pos``; return where scanning goes on."""
        markup = self.markup
        n = len(markup)
        nxt = markup[pos + 1] if pos + 1 < n else ""
        if nxt == "!":
            if markup.startswith("<!--", pos):
                close = self.find("-->", pos + 2)
                if close != -1:
                    self.replace("", pos, close + 3)
                    return close + 3
            elif markup.startswith("<![CDATA[", pos):
                close = self.find("]]>", pos + 9)
                inner_end = n if close == -1 else close
                self.replace("", pos, pos + 9)
                self.copy(pos + 9, inner_end)
                self.replace("", inner_end, min(n, inner_end + 3))
                return min(n, inner_end + 3)
            return self.declaration(pos)
        if nxt == "?":
            return self.declaration(pos)
        name_start = pos + 2 if nxt == "/" else pos + 1
        if name_start >= n or not ("a" <= self.lower[name_start] <= "z"):
            self.copy(pos, pos + 1)  # "a < b", "<5 mg": a lone '<' is text
            return pos + 1
        name_end = name_start
        while name_end < n and self.lower[name_end] in _NAME_CHARS:
            name_end += 1
        end = self.tag_end(name_end)
        if end == -1:
            self.copy(pos, pos + 1)
            return pos + 1
        name = self.lower[name_start:name_end].rpartition(":")[2]
        closing = nxt == "/"
        self_closing = markup[end - 1] == "/" and end - 1 >= name_end
        if not closing and not self_closing and name in SKIPPED_TAGS:
            return self.skip_element(pos, end + 1, name)
        self.block(name, closing, pos, end + 1)
        return end + 1

    def declaration(self, pos: int) -> int:
        """``<!DOCTYPE ...>``, ``<?xml ...?>`` and unclosed comments: drop up to '>'."""
        close = self.find(">", pos)
        if close == -1:
            self.copy(pos, pos + 1)
            return pos + 1
        self.replace("", pos, close + 1)
        return close + 1

    def tag_end(self, pos: int) -> int:
        """Index of the '>' closing the tag whose attributes start at ``pos``, or -1.

        A quoted attribute value may hold '>' (``title="a > b"``).  If a quote never closes,
        quotes are ignored for the rest of the document, so no input makes this quadratic.
        """
        markup = self.markup
        gt = self.find(">", pos)
        if gt == -1 or not self.quotes_reliable:
            return gt
        scan = pos
        while True:
            gt = self.find(">", scan)
            if gt == -1:
                break
            eq = markup.find("=", scan, gt)
            if eq == -1:
                return gt
            value = eq + 1
            while value < gt and markup[value] in _SPACE:
                value += 1
            if value >= gt or markup[value] not in "\"'":
                scan = value
                continue
            close = self.find(markup[value], value + 1)
            if close == -1:
                break
            scan = close + 1
        self.quotes_reliable = False
        return self.find(">", pos)

    def skip_element(self, start: int, content: int, name: str) -> int:
        """Drop ``<name ...>`` at ``start`` with its content and end tag."""
        close = self.find_lower("</" + name, content)
        if name == "head":
            body = self.find_lower("<body", content)
            if close == -1 or (body != -1 and body < close):
                if body == -1:  # no end at all: keep the content rather than lose the note
                    self.replace("", start, content)
                    return content
                self.replace("", start, body)
                return body
        if close == -1:  # an unclosed script or style runs to the end, as in a browser
            self.replace("", start, len(self.markup))
            return len(self.markup)
        gt = self.find(">", close)
        end = len(self.markup) if gt == -1 else gt + 1
        self.replace("", start, end)
        return end

    def block(self, name: str, closing: bool, start: int, end: int) -> None:
        """Replace a tag by what it means for the layout of the text."""
        if name == "br" or (name in BLOCK_TAGS and self.last not in ("", "\n")):
            self.replace("\n", start, end)
        elif name in CELL_TAGS and not closing and self.last not in ("", "\n", "\t"):
            self.replace("\t", start, end)
        else:
            self.replace("", start, end)


def html_to_text(markup: str) -> tuple[str, OffsetMap]:
    """Reduce ``markup`` (text/html or application/xhtml+xml) to plain text.

    Returns the text and its map onto ``markup``: a discharge summary sent as
    ``<p>Dx:&nbsp;CHF</p>`` reads ``"Dx: CHF\\n"``, and the span of ``CHF`` maps back to its
    place inside the ``<p>``.
    """
    return _Reducer(markup).run()
