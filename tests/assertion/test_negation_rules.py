"""Negation and uncertainty rule classes in ``context_rules.yaml``, one parametrised case per
class and its counter-example: qualified evidence phrases, straddling triggers, post-triggers,
refusals, inability, list items that state a present finding, and pseudo-triggers."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from note2fhir.assertion.context import unit_context
from note2fhir.assertion.rules import load_index
from note2fhir.document import Entity
from note2fhir.text.segment import tokenize

NONE: set[str] = set()
NEGATED = {"negated"}
UNCERTAIN = {"uncertain"}
Annotate = Callable[..., dict[str, Entity]]


def flags(entity: Entity) -> set[str]:
    """The assertion flags that are set, with ``differential``."""
    assertion = entity.assertion
    found = {name for name, value in assertion.as_flags().items() if value}
    if assertion.differential:
        found.add("differential")
    return found


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A qualifier between "no" and "evidence" ("reported" would end the scope).
        (
            "There was no reported evidence of [[pulmonary hypertension]].",
            {"pulmonary hypertension": NEGATED},
        ),
        ("No clinical or laboratory evidence of [[hepatitis]].", {"hepatitis": NEGATED}),
        # "c/o" alone ends a scope; after a denial it is part of the trigger
        ("no c/o [[sob]], sat 95%.", {"sob": NEGATED}),
        ("PT DENIED C/O [[DIZZINESS]].", {"DIZZINESS": NEGATED}),
        ("No c/o of [[nausea]] or [[vomiting]].", {"nausea": NEGATED, "vomiting": NEGATED}),
        ("Pt c/o [[sob]].", {"sob": NONE}),
        ("Genes revealed no reported [[pathogenic variants]].", {"pathogenic variants": NEGATED}),
        # "signs suggestive of" is uncertain alone, negated after "no".
        (
            "Biopsy showed no signs suggesting [[myocarditis]] or [[granulomas]].",
            {"myocarditis": NEGATED, "granulomas": NEGATED},
        ),
        (
            "Sections showed features suggestive of [[adenocarcinoma]].",
            {"adenocarcinoma": UNCERTAIN},
        ),
        # Exclusion by a result is negation; exclusion as a purpose is a differential.
        ("Normal troponin, thereby ruling out [[ACS]].", {"ACS": NEGATED}),
        (
            "After exclusion of [[infection]] by culture, [[steroids]] were started.",
            {"infection": NEGATED, "steroids": NONE},
        ),
        ("CT angiography for exclusion of [[PE]].", {"PE": {"uncertain", "differential"}}),
        # "not on", candidacy, active-voice perfect, inability.
        ("He was not on any [[anticoagulation]].", {"anticoagulation": NEGATED}),
        ("Not on a stable dose of [[levothyroxine]].", {"levothyroxine": NONE}),
        ("He is not a candidate for [[surgery]].", {"surgery": NEGATED}),
        ("Deemed a poor candidate for [[transplantation]].", {"transplantation": NEGATED}),
        ("The clinicians had not detected any [[murmur]].", {"murmur": NEGATED}),
        ("He has not developed [[seizures]].", {"seizures": NEGATED}),
        ("Echocardiography could not detect [[thrombus]].", {"thrombus": NEGATED}),
        ("The tumor was solitary and not accompanied by [[metastases]].", {"metastases": NEGATED}),
        ("Furosemide failed to increase [[diuresis]].", {"diuresis": NEGATED}),
        ("He failed to respond to [[steroids]].", {"steroids": NONE}),
        # Post-triggers.
        ("A [[lumbar puncture]] was not initially performed.", {"lumbar puncture": NEGATED}),
        ("[[Transfusion]] was not necessary.", {"Transfusion": NEGATED}),
        ("Further [[radiation]] was not received.", {"radiation": NEGATED}),
        ("Signs of [[heart failure]] were absent.", {"heart failure": NEGATED}),
        ("[[Molecular analysis]] was unavailable.", {"Molecular analysis": NEGATED}),
        ("[[HBV DNA]] was undetectable.", {"HBV DNA": NONE}),
        ("[[Fundus]] could not be visualized.", {"Fundus": NEGATED}),
        # Refusals and cancellations.
        ("[[Surgery]] was offered, but she declined.", {"Surgery": NEGATED}),
        (
            "[[Pain]] improved but she declined further [[physiotherapy]].",
            {"Pain": NONE, "physiotherapy": NEGATED},
        ),
        ("[[IVIG]] was suggested but refused by the parents.", {"IVIG": NEGATED}),
        ("The [[operation]] was cancelled.", {"operation": NEGATED}),
        ("[[Troponin]] peaked and declined.", {"Troponin": NONE}),
        ("[[Vaccination]] was offered and refused.", {"Vaccination": NEGATED}),
        # A history trigger right after the negation does not end it.
        (
            "She did not have a history of [[coagulopathy]].",
            {"coagulopathy": {"negated", "historical"}},
        ),
        ("No preceding history of [[trauma]].", {"trauma": {"negated", "historical"}}),
        (
            "No rash, nor did he have a history of [[hypotension]].",
            {"hypotension": {"negated", "historical"}},
        ),
        # "or a history of" goes on with the negation; "and a history of" starts anew.
        (
            "She did not have a history of [[CAPD]] or a history of [[renal disease]].",
            {"CAPD": {"negated", "historical"}, "renal disease": {"negated", "historical"}},
        ),
        (
            "No known allergies and a history of [[CAD]].",
            {"CAD": {"historical"}},
        ),
        # The organism belongs to the infection: "with" does not end the negation there.
        ("No evidence for infection with [[CMV]].", {"CMV": NEGATED}),
        ("No [[fever]], with [[cough]] since Monday.", {"fever": NEGATED, "cough": NONE}),
        # "negative for" rules out problems (tests: test_measured_tests.py).
        (
            "Negative for [[chest pain]], [[SOB]]. Cultures were negative for [[MRSA]].",
            {"chest pain": NEGATED, "SOB": NEGATED, "MRSA": NEGATED},
        ),
        # A measured value ends the negation: it is a result, not an absent finding.
        (
            "No [[renal disease]]: creatinine 1.23 mg/dL, [[BUN]] 16 mg/dL.",
            {"renal disease": NEGATED, "BUN": NONE},
        ),
    ],
)
def test_negation_classes(annotate: Annotate, text: str, expected: dict[str, set[str]]) -> None:
    found = annotate(text)
    assert {name: flags(found[name]) for name in expected} == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A list item that states a present finding ends the negation.
        (
            "No rubs, [[elevated]] [[jugular venous distention]], no [[edema]].",
            {"elevated": NONE, "jugular venous distention": NONE, "edema": NEGATED},
        ),
        (
            "Without [[effusion]] and preserved [[ejection fraction]].",
            {"effusion": NEGATED, "ejection fraction": NONE},
        ),
        ("No sign of hemolysis, markedly elevated [[CRP]].", {"CRP": NONE}),
        # ... but a plain list goes on.
        (
            "No [[fever]], [[chills]], or [[weight loss]].",
            {"fever": NEGATED, "chills": NEGATED, "weight loss": NEGATED},
        ),
    ],
)
def test_present_findings_end_a_negated_list(
    annotate: Annotate, text: str, expected: dict[str, set[str]]
) -> None:
    found = annotate(text)
    assert {name: flags(found[name]) for name in expected} == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "[[Increased]] free T4 and [[low]] free serum carnitine.",
            {"Increased": NONE, "low": NONE},
        ),
        ("Remained [[seizure]] free.", {"seizure": NEGATED}),
        (
            "Weight rose without changing the dose of his [[pancreatic enzymes]].",
            {"pancreatic enzymes": NONE},
        ),
        ("There was no apparent increase in [[stool frequency]].", {"stool frequency": NONE}),
        ("No further worsening of [[pain]].", {"pain": NONE}),
        ("No contraindication to [[anticoagulation]].", {"anticoagulation": NONE}),
        ("Without known contraindications for [[heparin]].", {"heparin": NONE}),
        ("Lack of response to [[mirtazapine]].", {"mirtazapine": NONE}),
        ("Gastritis with/without [[peptic ulcers]].", {"peptic ulcers": NONE}),
        ("Steroids for no greater than 14 days for [[asthma]].", {"asthma": NONE}),
        ("No [[fever]] for more than 14 days.", {"fever": NEGATED}),
    ],
)
def test_pseudo_triggers(annotate: Annotate, text: str, expected: dict[str, set[str]]) -> None:
    found = annotate(text)
    assert {name: flags(found[name]) for name in expected} == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[[Appendicitis]] could not be entirely ruled out.", {"Appendicitis": UNCERTAIN}),
        ("We cannot completely exclude [[PE]].", {"PE": UNCERTAIN}),
        ("Rash presumed to be due to [[varicella]].", {"varicella": UNCERTAIN}),
        ("Thrombocytopenia thought secondary to [[sepsis]].", {"sepsis": UNCERTAIN}),
        ("The lesion was considered as an [[abscess]].", {"abscess": UNCERTAIN}),
        ("[[Malignancy]] remains unclear.", {"Malignancy": UNCERTAIN}),
        (
            "Under the working diagnosis of [[sarcoidosis]], steroids were given.",
            {"sarcoidosis": UNCERTAIN},
        ),
        # A confirmed diagnosis is not a hedge.
        (
            "Under the diagnosis of [[adenovirus pneumonia]], we treated.",
            {"adenovirus pneumonia": NONE},
        ),
        # A word part ("non-", "-free") ends no other category's scope.
        (
            "Interstitial [[pneumonia]] versus non-cardiogenic [[edema]].",
            {"pneumonia": {"uncertain", "differential"}, "edema": {"uncertain", "differential"}},
        ),
    ],
)
def test_uncertainty_classes(annotate: Annotate, text: str, expected: dict[str, set[str]]) -> None:
    found = annotate(text)
    assert {name: flags(found[name]) for name in expected} == expected


def test_a_trigger_straddling_the_start_of_a_mention_modifies_it(annotate: Annotate) -> None:
    found = annotate("No [[signs of infection]]. Without [[signs for heart failure]].")
    assert flags(found["signs of infection"]) == NEGATED
    assert flags(found["signs for heart failure"]) == NEGATED
    cue = found["signs of infection"].assertion.cues[0]
    assert cue.rule == "negated.pre"


def test_a_trigger_inside_a_mention_still_does_not() -> None:
    index = load_index()
    norms = [t.norm for t in tokenize("no signs of infection")]
    # The mention starts with the trigger: it names the absence itself.
    assert unit_context(index, norms, [(0, 4)]).hits == [[]]
    # The mention starts inside the trigger: the trigger began before it.
    (hits,) = unit_context(index, norms, [(1, 4)]).hits
    assert [(h.category, h.direction) for h in hits] == [("negated", "forward")]
    # A mention wholly inside the trigger is not in its scope.
    assert unit_context(index, norms, [(1, 2)]).hits == [[]]


def test_a_backward_trigger_straddling_the_end_of_a_mention_modifies_it() -> None:
    index = load_index()
    norms = [t.norm for t in tokenize("fever was ruled out")]
    (hits,) = unit_context(index, norms, [(0, 2)]).hits
    assert [(h.category, h.direction, h.match.rule.id) for h in hits] == [
        ("negated", "backward", "negated.post")
    ]
    # Ending exactly where the trigger ends is not straddling: the trigger is inside.
    assert unit_context(index, norms, [(1, 4)]).hits == [[]]
