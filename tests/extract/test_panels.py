"""The reader of test results written after disease names (``extract/panels.py``)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from note2fhir.extract.lexicon import load_lexicon
from note2fhir.extract.panels import names_its_test

PANEL = load_lexicon().not_problems.panel_names


def named(text: str, name: str) -> bool:
    start = text.index(name)
    return names_its_test(text, start, start + len(name), PANEL)


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("HIV was negative.", "HIV"),
        ("COVID/flu negative.", "COVID"),
        ("COVID/flu A/flu B/RSV negative.", "COVID"),
        ("PE/DVT negative.", "PE"),  # any slash list before a negative result
        ("COVID and flu negative.", "COVID"),
        ("COVID, flu, RSV all negative.", "COVID"),
        ("COVID/flu pos.", "COVID"),
        ("Flu/COVID pending", "Flu"),
        ("COVID pending", "COVID"),
        ("Hep B, Hep C, HIV negative", "Hep B"),
    ],
)
def test_a_name_before_its_result_names_the_test(text: str, name: str) -> None:
    assert named(text, name)


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("HIV positive on HAART.", "HIV"),  # a positive result alone may state the disease
        ("Sepsis/bacteremia, positive blood cultures.", "Sepsis"),
        ("Pneumonia and HIV negative.", "Pneumonia"),
        ("74M w/ COVID positive", "COVID"),
        ("The tumor was negative for ER.", "tumor"),
        ("Pneumonia pending workup.", "Pneumonia"),  # no panel name
    ],
)
def test_a_name_whose_result_may_be_its_own_stays(text: str, name: str) -> None:
    assert not named(text, name)


@settings(max_examples=300, deadline=None)
@given(
    before=st.text(alphabet="abcAB /,&-:()", max_size=60),
    after=st.text(alphabet="abcAB /,&-:()negativposd", max_size=200),
)
def test_any_text_around_a_name_reads_without_error(before: str, after: str) -> None:
    text = before + "COVID" + after
    start = len(before)
    assert names_its_test(text, start, start + 5, PANEL) in (True, False)
