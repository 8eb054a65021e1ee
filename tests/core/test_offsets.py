"""Offset maps: identity, building, composing, and properties of random rewrites."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from note2fhir.offsets import OffsetMap, OffsetMapBuilder


def test_identity_maps_every_span_to_itself() -> None:
    omap = OffsetMap.identity(10)
    assert omap.is_identity
    assert omap.span(2, 7) == (2, 7)
    assert omap.span(0, 10) == (0, 10)


def test_replace_maps_inner_offsets_to_the_whole_original_piece() -> None:
    original = "a &amp; b"
    builder = OffsetMapBuilder()
    builder.copy(original, 0, 2)
    builder.replace("&", 2, 7)
    builder.copy(original, 7, 9)
    text, omap = builder.build(len(original))
    assert text == "a & b"
    assert omap.span(2, 3) == (2, 7)
    assert omap.span(4, 5) == (8, 9)
    assert omap.span(0, 5) == (0, 9)
    assert not omap.is_identity


def test_dropped_original_text_is_skipped() -> None:
    original = "<b>chest pain</b>"
    builder = OffsetMapBuilder()
    builder.replace("", 0, 3)
    builder.copy(original, 3, 13)
    text, omap = builder.build(len(original))
    assert text == "chest pain"
    assert omap.span(0, 10) == (3, 13)
    assert original[slice(*omap.span(6, 10))] == "pain"


def test_pieces_out_of_order_are_refused() -> None:
    builder = OffsetMapBuilder()
    builder.copy("abcdef", 3, 5)
    try:
        builder.copy("abcdef", 0, 2)
    except ValueError:
        return
    raise AssertionError("expected ValueError")


def test_composition_maps_through_both_rewrites() -> None:
    original = "Pt <i>John</i> has HTN"
    first = OffsetMapBuilder()
    first.copy(original, 0, 3)
    first.replace("", 3, 6)
    first.copy(original, 6, 10)
    first.replace("", 10, 14)
    first.copy(original, 14, len(original))
    reduced, map1 = first.build(len(original))
    assert reduced == "Pt John has HTN"
    second = OffsetMapBuilder()
    second.copy(reduced, 0, 3)
    second.replace("[NAME]", 3, 7)
    second.copy(reduced, 7, len(reduced))
    masked, map2 = second.build(len(reduced))
    assert masked == "Pt [NAME] has HTN"
    both = map1.then(map2)
    assert original[slice(*both.span(3, 9))] == "John"
    htn = masked.index("HTN")
    assert original[slice(*both.span(htn, htn + 3))] == "HTN"


@st.composite
def rewrites(draw: st.DrawFn) -> tuple[str, str, OffsetMap]:
    """A random original text and a random left-to-right rewrite of it."""
    original = draw(st.text(min_size=0, max_size=60))
    builder = OffsetMapBuilder()
    pos = 0
    while pos < len(original):
        step = draw(st.integers(1, max(1, len(original) - pos)))
        if draw(st.booleans()):
            builder.copy(original, pos, pos + step)
        else:
            builder.replace(draw(st.text(max_size=4)), pos, pos + step)
        pos += step
    text, omap = builder.build(len(original))
    return original, text, omap


@settings(max_examples=150, deadline=None)
@given(rewrites(), st.data())
def test_spans_map_monotonically_inside_the_original(
    case: tuple[str, str, OffsetMap], data: st.DataObject
) -> None:
    original, text, omap = case
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, len(text)))
    o_start, o_end = omap.span(start, end)
    assert 0 <= o_start <= o_end <= len(original)
    for seg in omap.segments:
        if seg.copy:
            assert text[seg.work_start : seg.work_end] == original[seg.orig_start : seg.orig_end]


@settings(max_examples=100, deadline=None)
@given(rewrites(), st.data())
def test_composed_map_equals_mapping_twice(
    case: tuple[str, str, OffsetMap], data: st.DataObject
) -> None:
    _, text, first = case
    builder = OffsetMapBuilder()
    pos = 0
    while pos < len(text):
        step = data.draw(st.integers(1, len(text) - pos))
        if data.draw(st.booleans()):
            builder.copy(text, pos, pos + step)
        else:
            builder.replace("X", pos, pos + step)
        pos += step
    newer, second = builder.build(len(text))
    both = first.then(second)
    start = data.draw(st.integers(0, len(newer)))
    end = data.draw(st.integers(start, len(newer)))
    if end > start:
        mid = second.span(start, end)
        if mid[1] > mid[0]:
            assert both.span(start, end) == first.span(*mid)


def test_working_span_inverts_a_rewrite() -> None:
    original = "Pt John Smith has HTN"
    builder = OffsetMapBuilder()
    builder.copy(original, 0, 3)
    builder.replace("[NAME]", 3, 13)
    builder.copy(original, 13, len(original))
    text, omap = builder.build(len(original))
    assert text == "Pt [NAME] has HTN"
    htn = original.index("HTN")
    start, end = omap.working_span(htn, htn + 3)
    assert text[start:end] == "HTN"
    assert text[slice(*omap.working_span(3, 13))] == "[NAME]"
    assert text[slice(*omap.working_span(8, 13))] == "[NAME]"  # inside a replaced piece


@settings(max_examples=150, deadline=None)
@given(rewrites(), st.data())
def test_working_span_round_trips_copied_text(
    case: tuple[str, str, OffsetMap], data: st.DataObject
) -> None:
    _, text, omap = case
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, len(text)))
    o_start, o_end = omap.span(start, end)
    w_start, w_end = omap.working_span(o_start, o_end)
    assert 0 <= w_start <= w_end <= len(text)
    assert (w_start <= start and end <= w_end) or end == start
