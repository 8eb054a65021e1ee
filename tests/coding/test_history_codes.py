"""History codes: a historical mention of an acute event gets the code of its history."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import simple_icd_10_cm as cm

from note2fhir.coding.history import load_history_rules
from note2fhir.document import ClinicalDocument, Entity
from note2fhir.terminology.schema import ICD10CM
from note2fhir.terminology.store import TerminologyStore

Run = Callable[[str], ClinicalDocument]


def icd(doc: ClinicalDocument, text: str) -> list[str]:
    """Selected ICD-10-CM codes of the mention ``text``."""
    entity: Entity = next(e for e in doc.entities if e.text == text)
    return [c.code for c in entity.selected_codes if c.system == ICD10CM]


def test_every_rule_is_the_release_s_own_excludes_note(store: TerminologyStore) -> None:
    """Each rule's history code exists, in the store and in the release, and is named by an
    Excludes note of each acute category or names the acute condition in its own title or
    inclusion terms (never a code from memory)."""
    for rule in load_history_rules().rules:
        assert cm.is_valid_item(rule.history)
        assert store.concept(f"icd10cm:{rule.history}") is not None
        assert (rule.excludes_note is None) != (rule.history_names is None)
        if rule.history_names is not None:
            own = [cm.get_description(rule.history), *cm.get_inclusion_term(rule.history)]
            assert any(rule.history_names in words for words in own)
            continue
        for category in rule.acute:
            notes = cm.get_excludes1(category) + cm.get_excludes2(category)
            assert rule.excludes_note in notes, category


def test_an_old_mi_is_i25_2(run: Run) -> None:
    doc = run("PMH: CAD, S/P MI 1992; HTN.")
    assert icd(doc, "MI") == ["I25.2"]
    mi = next(e for e in doc.entities if e.text == "MI")
    assert "I21.9" in [c.code for c in mi.codes if not c.selected]  # kept for coders


@pytest.mark.parametrize(
    ("text", "mention"),
    [
        ("HPI: s/p MI in 2001.", "MI"),
        ("PMH: remote MI, HTN.", "MI"),
        ("PMH: CAD W AMI '81.", "AMI"),
        ("PMH: CAD W AMI 7/81.", "AMI"),
    ],
)
def test_an_old_mi_by_its_year_or_cue(run: Run, text: str, mention: str) -> None:
    assert icd(run(text), mention) == ["I25.2"]


@pytest.mark.parametrize(
    ("text", "mention", "code"),
    [
        ("Prior PE 2019.", "PE", "Z86.711"),  # I26 Excludes2
        ("History of DVT.", "DVT", "Z86.718"),
        ("Remote hx of TB, treated.", "TB", "Z86.11"),
    ],
)
def test_a_past_thrombosis_or_tuberculosis_is_its_history(
    run: Run, text: str, mention: str, code: str
) -> None:
    """review16 D29: the acute code stayed for a history the note dates or calls old."""
    assert icd(run(text), mention) == [code]


@pytest.mark.parametrize(
    ("text", "mention"),
    [
        # an admission for the cath after an MI: weeks, not years, so still I21
        ("Admitted from rehab for cath s/p MI. Cath showed 80% LCX.", "MI"),
        ("PMH: S/P MI x2 (2/21, 4/21), S/P stent.", "MI"),
        ("Chest pain, r/o MI.", "MI"),
        ("PMH: CAD. Acute MI today with troponin 5.", "Acute MI"),
        ("Admitted with an NSTEMI.", "NSTEMI"),
    ],
)
def test_a_current_or_possible_mi_keeps_its_acute_code(run: Run, text: str, mention: str) -> None:
    assert icd(run(text), mention)[0].startswith("I21")


@pytest.mark.parametrize(
    ("text", "mention"),
    [
        ("PMH: stroke 2004, HTN, DM2.", "stroke"),
        ("PMH: remote stroke, HTN.", "stroke"),
    ],
)
def test_an_old_stroke_is_z86_73(run: Run, text: str, mention: str) -> None:
    assert icd(run(text), mention) == ["Z86.73"]


def test_an_old_stroke_with_its_deficits_selects_neither_code(run: Run) -> None:
    """Z86.73 says "without residual deficits", which the note contradicts; I63.9 (acute)
    is wrong too, so both stay for coders."""
    doc = run("PMH: stroke 2004 with residual left hemiparesis.")
    cva = next(e for e in doc.entities if e.text == "stroke")
    assert icd(doc, "stroke") == []
    assert {"I63.9", "Z86.73"} <= {c.code for c in cva.codes}


@pytest.mark.parametrize(
    "text",
    ["PMH: stroke 2010 without residual deficits.", "PMH: stroke 2004. Admitted with weakness."],
)
def test_denied_or_later_deficits_keep_z86_73(run: Run, text: str) -> None:
    assert icd(run(text), "stroke") == ["Z86.73"]


def test_an_acute_stroke_keeps_its_code(run: Run) -> None:
    assert icd(run("Acute stroke today, tPA given."), "stroke") == ["I63.9"]


def test_a_former_smoker_is_z87_891(run: Run) -> None:
    assert icd(run("She was a former cigarette smoker."), "smoker") == ["Z87.891"]


def test_a_prior_smoker_who_smokes_now_is_f17(run: Run) -> None:
    assert icd(run("Prior smoker, now smokes 3 cigarettes a day."), "smoker") == ["F17.200"]


def test_a_smoker_is_f17(run: Run) -> None:
    assert icd(run("Smoker, 1 ppd."), "Smoker") == ["F17.200"]


@pytest.mark.parametrize(
    ("text", "mention", "code"),
    [
        ("PMH: HTN, CVA/TIA 2004.", "TIA", "Z86.73"),
        ("She had a history of viral meningitis eight years prior.", "viral meningitis", "Z86.61"),
        ("PMH: h/o TIA on plavix.", "TIA", "Z86.73"),
        ("History of transient global amnesia 2015.", "transient global amnesia", "G45.4"),
    ],
)
def test_old_tia_and_meningitis(run: Run, text: str, mention: str, code: str) -> None:
    assert icd(run(text), mention) == [code]


def test_an_old_gestational_diabetes_is_its_history(run: Run) -> None:
    """Z86.32 names "conditions classifiable to O24.4-"; a current one is O24.419."""
    assert icd(run("History of gestational diabetes."), "gestational diabetes") == ["Z86.32"]
    assert icd(run("Gestational diabetes, diet controlled."), "Gestational diabetes") == ["O24.419"]


_CLASSIFIABLE = "Conditions classifiable to "


def _in_range(category: str, ranges: str) -> bool:
    """Whether an ICD-10-CM category ("C18") lies in a note's ranges ("C19-C21", "C50.-")."""
    for part in ranges.split(","):
        low, _, high = part.strip().removesuffix(".-").partition("-")
        if low <= category <= (high or low):
            return True
    return False


def test_each_personal_history_of_cancer_names_its_primary() -> None:
    """A Z85 rule's acute categories are those its history code's inclusion note makes
    classifiable to it, or, where it has no note, their site is the one its title names."""
    rules = [r for r in load_history_rules().rules if r.history.startswith("Z85")]
    assert len(rules) >= 20
    for rule in rules:
        assert rule.history_names is not None and cm.is_leaf(rule.history)
        if rule.history_names.startswith(_CLASSIFIABLE):
            ranges = rule.history_names.removeprefix(_CLASSIFIABLE)
            assert all(_in_range(c, ranges) for c in rule.acute), rule
            continue
        site = cm.get_description(rule.history).split(" neoplasm of ")[1]
        for category in rule.acute:
            title = cm.get_description(category)
            assert title.startswith("Malignant neoplasm of "), category
            stems = {w[:4] for w in title.lower().split() if len(w) >= 5}
            assert stems & {w[:4] for w in site.lower().split() if len(w) >= 5}, category
        assert rule.still_with, rule  # a treatment or spread named after it keeps the C code


@pytest.mark.parametrize(
    ("text", "mention", "code"),
    [
        ("History of colon cancer.", "colon cancer", "Z85.038"),
        ("Remote history of melanoma, HTN.", "melanoma", "Z85.820"),
        ("Prior bladder cancer.", "bladder cancer", "Z85.51"),
        ("PMH: h/o basal cell carcinoma.", "basal cell carcinoma", "Z85.828"),
        ("Active smoker, history of breast cancer.", "breast cancer", "Z85.3"),
        ("History of cancer.", "cancer", "Z85.9"),
        # surgery or surveillance of something else is no treatment of the cancer
        (
            "History of prostate cancer s/p prostatectomy 2010, scheduled for cataract surgery.",
            "prostate cancer",
            "Z85.46",
        ),
    ],
)
def test_an_old_cancer_is_its_personal_history(
    run: Run, text: str, mention: str, code: str
) -> None:
    doc = run(text)
    assert icd(doc, mention) == [code]
    entity = next(e for e in doc.entities if e.text == mention)
    assert any(c.code.startswith("C") and not c.selected for c in entity.codes)  # for coders


@pytest.mark.parametrize(
    ("text", "mention"),
    [
        ("History of breast cancer, currently on tamoxifen.", "breast cancer"),
        ("History of metastatic breast cancer.", "breast cancer"),
        ("History of stage IV breast cancer.", "breast cancer"),
        ("History of breast cancer on Arimidex.", "breast cancer"),
        ("History of prostate cancer on ADT.", "prostate cancer"),
        ("History of prostate cancer on Eligard.", "prostate cancer"),
        ("History of metastatic, ER-positive breast cancer.", "breast cancer"),
        ("History of stage IVA breast cancer.", "breast cancer"),
        ("History of lung cancer with brain metastases.", "lung cancer"),
        ("PMH: breast cancer, HTN.", "breast cancer"),  # no word says it is over
        ("Breast cancer diagnosed last month.", "Breast cancer"),
    ],
)
def test_a_treated_spread_or_current_cancer_keeps_its_code(
    run: Run, text: str, mention: str
) -> None:
    assert icd(run(text), mention)[0].startswith("C")


@pytest.mark.parametrize(
    ("text", "mention", "code"),
    [
        # a treatment said to be over is no current treatment (guideline I.C.2.d)
        (
            "History of breast cancer s/p mastectomy, completed chemo 2015, no evidence of "
            "recurrence.",
            "breast cancer",
            "Z85.3",
        ),
        ("History of prostate cancer s/p radiation (2008)", "prostate cancer", "Z85.46"),
        ("History of breast cancer s/p XRT 2010.", "breast cancer", "Z85.3"),
        # no cue calls it old, but the note says it was removed and when, or that none is left
        ("PMH: colon cancer s/p hemicolectomy 2010", "colon cancer", "Z85.038"),
        ("Breast cancer s/p lumpectomy and radiation in 2012, NED", "Breast cancer", "Z85.3"),
        (
            "Breast cancer s/p mastectomy and chemo, no evidence of disease.",
            "Breast cancer",
            "Z85.3",
        ),
    ],
)
def test_a_cancer_whose_treatment_is_over_is_its_personal_history(
    run: Run, text: str, mention: str, code: str
) -> None:
    assert icd(run(text), mention) == [code]


@pytest.mark.parametrize(
    ("text", "mention"),
    [
        ("History of breast cancer, receiving chemo.", "breast cancer"),
        ("History of breast cancer s/p mastectomy, now on chemo.", "breast cancer"),
        ("History of breast cancer, completed cycle 2 of chemo.", "breast cancer"),
        ("History of breast cancer s/p lumpectomy, scheduled for radiation.", "breast cancer"),
        ("Colon cancer s/p hemicolectomy 2010, now with liver mets.", "Colon cancer"),
        # removed, but nothing says when or that none is left
        ("Breast cancer s/p lumpectomy 2012.", "Breast cancer"),
        # a biopsy removes nothing; surgery of something else is no treatment of it
        ("Breast cancer s/p biopsy 2024, NED", "Breast cancer"),
        ("PMH: breast cancer, s/p knee surgery 2010", "breast cancer"),
        # a treatment before the surgery to come, or one that goes on
        ("Breast cancer s/p neoadjuvant chemo 2025, awaiting mastectomy.", "Breast cancer"),
        ("Breast cancer s/p lumpectomy 2021 on letrozole.", "Breast cancer"),
    ],
)
def test_a_current_or_unclear_treatment_keeps_the_cancer_code(
    run: Run, text: str, mention: str
) -> None:
    assert icd(run(text), mention)[0].startswith("C")


def test_the_removal_words_read_only_for_cancer(run: Run) -> None:
    """ "s/p lobectomy 2010, NED" says nothing of smoking: the removal words are read only
    for the Z85 rules."""
    assert icd(run("Smoker s/p lobectomy 2010, NED."), "Smoker")[0].startswith("F17")


def test_renal_ca_is_no_cancer_code(run: Run) -> None:
    """ "Renal Ca excretion" is calcium: the curated short forms leave "renal ca" out."""
    doc = run("Renal Ca excretion normal.")
    assert not any(c.code.startswith("C64") for e in doc.entities for c in e.selected_codes)
