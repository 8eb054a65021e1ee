"""Family-history codes: a relative's condition is the patient's Z80-Z84 family history."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import simple_icd_10_cm as cm

from note2fhir.coding.family import (
    LETTER_CATEGORIES,
    TITLE_NOTE,
    FamilyCodes,
    category_key,
    load_family_rules,
    parse_entry,
    relative_codes,
)
from note2fhir.document import ClinicalDocument, Entity
from note2fhir.terminology.schema import ICD10CM
from note2fhir.terminology.store import TerminologyStore

Run = Callable[[str], ClinicalDocument]
_CLASSIFIABLE = ("Conditions classifiable to ", "Conditions classifiable elsewhere in ")


def _ranges(note: str) -> list[tuple[str, str]]:
    """The category ranges of a "Conditions classifiable to ..." note."""
    body = next(note.removeprefix(p) for p in _CLASSIFIABLE if note.startswith(p))
    out = []
    for part in body.split(","):
        low, _, high = part.strip().removesuffix(".-").partition("-")
        out.append((low, high or low))
    return out


def _covered(code: str, ranges: list[tuple[str, str]]) -> bool:
    """Whether a note's ranges take ``code`` (a category, or a code under a dotted bound)."""
    return any(code.startswith(a) if "." in a else a <= code[:3] <= b[:3] for a, b in ranges)


def _ancestors(code: str) -> list[str]:
    """``code`` and its ancestors up to its category."""
    chain = [code]
    while len(chain[-1]) > 3:
        chain.append(cm.get_parent(chain[-1]))
    return chain


def icd(doc: ClinicalDocument, text: str) -> list[str]:
    """Selected ICD-10-CM codes of the mention ``text``."""
    entity: Entity = next(e for e in doc.entities if e.text == text)
    return [c.code for c in entity.selected_codes if c.system == ICD10CM]


def test_every_rule_is_the_release_s_own_inclusion_note(store: TerminologyStore) -> None:
    """Each family code is billable, in the store, and takes the relative's conditions by
    its own or its parent's inclusion note; a child picked for a site names it, as does the
    title of every condition it takes (never a code from memory)."""
    for rule in load_family_rules().rules:
        assert cm.is_valid_item(rule.family) and cm.is_leaf(rule.family), rule.family
        assert store.concept(f"icd10cm:{rule.family}") is not None
        if rule.note == TITLE_NOTE:
            title = cm.get_description(rule.family).lower()
            for entry in rule.relative:
                assert cm.is_leaf(entry), entry
                assert title == "family history of " + cm.get_description(entry).lower(), entry
            continue
        owners = [c for c in _ancestors(rule.family) if rule.note in cm.get_inclusion_term(c)]
        assert owners, rule.family
        ranges = _ranges(rule.note)
        for entry in rule.relative:
            low, high, _ = parse_entry(entry)
            # a range may end where the note's does, on a category the US release lacks (I64)
            assert cm.is_valid_item(low), entry
            assert cm.is_valid_item(high) or high in {b for _, b in ranges}, entry
            assert all(_covered(c, ranges) for c in (low, high)), entry
            if rule.site is not None:
                assert rule.site in cm.get_description(low).lower(), entry
        if rule.site is not None:
            assert rule.site in cm.get_description(rule.family).lower()
        elif owners[0] != rule.family:  # a parent's child that takes the rest: "other"
            assert "other" in cm.get_description(rule.family).lower(), rule.family


@pytest.mark.parametrize(
    ("relative", "family"),
    [
        ("C50.919", "Z80.3"),
        ("C56.9", "Z80.41"),
        ("C57.00", "Z80.44"),  # the fallopian tube before the genital organs' rest
        ("C55", "Z80.49"),
        ("C18.9", "Z80.0"),
        ("E11.9", "Z83.3"),
        ("E78.01", "Z83.42"),
        ("E78.5", "Z83.438"),
        ("E03.9", "Z83.49"),
        ("I10", "Z82.49"),
        ("I63.9", "Z82.3"),
        ("I46.9", "Z82.49"),
        ("M17.9", "Z82.61"),
        ("F10.20", "Z81.1"),
        ("F32.A", "Z81.8"),
        ("G30.9", "Z82.0"),
        ("Q61.3", "Z82.71"),
        ("K63.5", "Z83.719"),
        ("D13.91", "Z83.72"),  # by its title: no inclusion note takes D13.91
        ("K50.90", "Z83.79"),
        ("C4A.9", "Z80.8"),  # Merkel cell carcinoma: C40-C49 in the tabular's order
        ("C7A.00", "Z80.8"),
    ],
)
def test_the_most_specific_rule_wins(store: TerminologyStore, relative: str, family: str) -> None:
    entry = FamilyCodes(load_family_rules(), store).code_for(relative)
    assert entry is not None and entry.rule.family == family


def test_a_code_no_note_takes_has_no_family_code(store: TerminologyStore) -> None:
    codes = FamilyCodes(load_family_rules(), store)
    assert codes.code_for("R51.9") is None  # symptoms have no family-history code


def test_categories_keep_the_tabular_order() -> None:
    """The categories of each letter sort by :func:`category_key` as the tabular lists them
    (a range never spans letters), the letter categories ("C4A" after C43) included."""
    categories = [c for c in cm.get_all_codes(False) if cm.is_category(c)]
    categories = list(dict.fromkeys(categories))
    for letter in {c[0] for c in categories}:
        keys = [category_key(c) for c in categories if c[0] == letter]
        assert keys == sorted(keys) and len(set(keys)) == len(keys), letter
    assert {c for c in categories if c[2].isalpha()} == set(LETTER_CATEGORIES)


@pytest.mark.parametrize(
    ("text", "mention", "code", "own"),
    [
        ("Family history of breast cancer in her mother.", "breast cancer", "Z80.3", "C50.919"),
        ("FH: DM, HTN.", "DM", "Z83.3", "E11.9"),
        ("FH: DM, HTN.", "HTN", "Z82.49", "I10"),
        ("Her father died of prostate cancer.", "prostate cancer", "Z80.42", "C61"),
        ("Mother had cancer.", "cancer", "Z80.9", "C80.1"),
    ],
)
def test_a_relative_s_condition_is_the_patient_s_family_history(
    run: Run, text: str, mention: str, code: str, own: str
) -> None:
    doc = run(text)
    assert icd(doc, mention) == [code]
    entity = next(e for e in doc.entities if e.text == mention)
    assert own in [c.code for c in entity.codes if not c.selected]  # kept for coders
    # the FamilyMemberHistory keeps the relative's own code
    assert [c.code for c in relative_codes(entity) if c.system == ICD10CM] == [own]


@pytest.mark.parametrize(
    ("text", "mention"),
    [
        ("No family history of CAD.", "CAD"),
        ("History of breast cancer.", "breast cancer"),  # the patient's own
        ("Social: pt's wife has a form of dementia.", "dementia"),  # no blood relative
        ("FH: step-father - alcoholism.", "alcoholism"),
        ("Adoptive mother with breast cancer.", "breast cancer"),
        ("Mother-in-law with DM.", "DM"),
        ("Family history: wife with breast cancer.", "breast cancer"),
        ("Husband's mother had Alzheimer's disease.", "Alzheimer's disease"),
        ("Family history: Pt is unaware of any heart disease.", "heart disease"),
    ],
)
def test_a_denied_or_own_condition_gets_no_family_code(run: Run, text: str, mention: str) -> None:
    assert not any(
        c.startswith(("Z80", "Z81", "Z82", "Z83", "Z84")) for c in icd(run(text), mention)
    )
