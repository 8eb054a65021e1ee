"""Names in running text (vocatives, speakers, lists, ...) and the clinical words and
organisations those rules must leave alone."""

from __future__ import annotations

import pytest

from note2fhir.deid.detect import Detector
from note2fhir.deid.lexicons import load_lexicons, load_rules


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector(load_rules(), load_lexicons())


def spans(detector: Detector, text: str, phi_type: str | None = None) -> list[str]:
    return [
        text[d.start : d.end]
        for d in detector.detect(text, budget_s=5)
        if phi_type is None or d.type == phi_type
    ]


def names(detector: Detector, text: str) -> list[str]:
    return spans(detector, text, "NAME")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Warrane, can I please speak to your boss?", ["Warrane"]),
        ("Cora, could you call the pharmacy?", ["Cora"]),
        ("Don't go to town, Derrick!", ["Derrick"]),
        ("Lasix, please give 40 mg now.", []),
        ("However, I think the pain is better.", []),
        ("Is it worse, Doctor?", []),
    ],
)
def test_vocatives(detector: Detector, text: str, expected: list[str]) -> None:
    assert names(detector, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('Zuzana: "Who are you?"', ["Zuzana"]),
        ('mika: "who are you?"', ["mika"]),
        ("Nicole: Remember me?", ["Nicole"]),
        ('Plan: "continue current regimen"', []),
        ("Skin: Intact, no breakdown.", []),
        ("Neuro: Alert and oriented.", []),
    ],
)
def test_speaker_labels(detector: Detector, text: str, expected: list[str]) -> None:
    assert names(detector, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Misty's daughter called back.", ["Misty"]),
        ("tracy: \"i'm roberto's daughter\".", ["tracy", "roberto"]),
        ("I would like to remove my kid Lukas from the will.", ["Lukas"]),
        ("The patient's daughter called back.", []),
        ("Her mother-in-law's sister visited.", []),
    ],
)
def test_relatives_and_their_owners(detector: Detector, text: str, expected: list[str]) -> None:
    assert names(detector, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Tomomi is from Xignite.", ["Tomomi"]),
        ("Zoe Young from Flightaware is the keynote speaker.", ["Zoe Young"]),
        ("Sputum from ETT sent for culture.", []),
        ("Drainage from JP was serous.", []),
    ],
)
def test_person_from_organisation(detector: Detector, text: str, expected: list[str]) -> None:
    assert names(detector, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Henry Manninen listed his top songs.", ["Henry Manninen"]),
        ("We need to add Ryan P Costa as guardian.", ["Ryan P Costa"]),
        ("Tom I. Holzman spoke first.", ["Tom I. Holzman"]),
        ("Name:    Martim A Pereira\nAddress: unknown", ["Martim A Pereira"]),
        ("I'm Katie E Miles, originally from Spain.", ["Katie E Miles"]),
        ("Dyan van Gijn will be talking.", ["Dyan van Gijn"]),
        ("See Carevue for ABGs.", []),
        ("Checked Vitamin D Level today.", []),
        ("Features of Cornelia de Lange syndrome.", []),
    ],
)
def test_given_names_and_surnames(detector: Detector, text: str, expected: list[str]) -> None:
    assert names(detector, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("my name is vitoria", ["vitoria"]),
        ("everyone calls me borna", ["borna"]),
        ("What's your last name? Boyle", ["Boyle"]),
        ("her name is unknown", []),
        ("Call me if the pain is worse.", []),
    ],
)
def test_strong_name_cues(detector: Detector, text: str, expected: list[str]) -> None:
    assert names(detector, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "They had 6: Gaetane, Hannah, Anthony, Derek, Anna and Andrew.",
            ["Gaetane", "Hannah", "Anthony", "Derek", "Anna", "Andrew"],
        ),
        ("Our 3 founders: Morrison, Rogers and Torres.", ["Morrison", "Rogers", "Torres"]),
        (
            "they had 6: silvana, adam, christopher, kristina, chad and caleb.",
            ["silvana", "adam", "christopher", "kristina", "chad", "caleb"],
        ),
        ("Marrero and Murphy were precision engineers.", ["Marrero", "Murphy"]),
        ("Given Tylenol, Lasix and Heparin overnight.", []),
        ("Cards and Renal were consulted.", []),
    ],
)
def test_lists_of_names(detector: Detector, text: str, expected: list[str]) -> None:
    assert names(detector, text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "A 56-year-old African American man presented with diarrhea.",
        "A suture (Ethicon Inc., a Johnson & Johnson company; Somerville, NJ) was placed.",
        "Optic nerve OCT (Stratus; Carl Zeiss GmbH, Jena, Germany) was performed.",
        "A thromboelastometry (ROTEM, Pentapharm Co., Munich, Germany) was performed.",
        "Identified by the API 20 Strep System (bioMerieux, Marcy l'Etoile, France).",
        "She presented to the R Adams Cowley Shock Trauma Center for evaluation.",
        "Exudates as well as Purtscher’s flecken compatible with Purtscher’s retinopathy.",
        "Joint position sense was intact but Romberg's was positive.",
        "For gait ataxia, physiotherapy with Frenkel's exercise was initiated.",
    ],
)
def test_case_report_words_are_no_names(detector: Detector, text: str) -> None:
    assert names(detector, text) == []


def test_shape_names_outside_organisations_stay(detector: Detector) -> None:
    assert names(detector, "Carl Zeiss came to visit.") == ["Carl Zeiss"]
    assert names(detector, "Romberg's wife called.") == ["Romberg"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Patient swabbed on the 5th day of illness.", []),
        ("On the 7th post-operative day she walked.", []),
        ("Cultures drawn on the 11th.", ["11th"]),
        ("Her visual acuity was 6/18 in both eyes.", []),
        ("Seen in clinic on 6/18 for follow up.", ["6/18"]),
        ("Mitotic count (4/50 HPF) was low.", []),
    ],
)
def test_counted_ordinals_and_scores_are_no_dates(
    detector: Detector, text: str, expected: list[str]
) -> None:
    assert spans(detector, text, "DATE") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Testing (Life Technologies, Carlsbad, CA) was negative.", []),
        ("A catheter (Boston Scientific, Natick, MA, USA) was engaged.", []),
        ("He was in class II (New York Heart Association).", []),
        ("She lives in Carlsbad, CA with her son.", ["Carlsbad"]),
        ("He moved to New York last year.", ["New York"]),
    ],
)
def test_manufacturer_places(detector: Detector, text: str, expected: list[str]) -> None:
    assert spans(detector, text, "LOCATION") == expected


def test_url_leaves_closing_punctuation(detector: Detector) -> None:
    text = "See the Web site at www.neurology.org). Next sentence."
    assert spans(detector, text, "URL") == ["www.neurology.org"]
    text = "See https://en.wikipedia.org/wiki/Foo_(bar) for more."
    assert spans(detector, text, "URL") == ["https://en.wikipedia.org/wiki/Foo_(bar)"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # given names of other countries that the US Census lists lack (Faker's locales)
        ("Sunniva is very reliable.", ["Sunniva"]),
        ("Why is Natasja so impulsive?", ["Natasja"]),
        ("I want to add Edvard Petrussen as a beneficiary.", ["Edvard Petrussen"]),
        ("The true gender of Aimée has been under debate.", ["Aimée"]),
        ("He's injured, but Virpi just has to get laid.", ["Virpi"]),
        ("the true gender of frederikke has been under debate", ["frederikke"]),
    ],
)
def test_names_of_other_countries(detector: Detector, text: str, expected: list[str]) -> None:
    assert names(detector, text) == expected


@pytest.mark.parametrize(
    "text",
    [
        # a Census surname is no given name, however Portugal spells it
        "Molecular heterogeneity of classical and Duarte galactosemia.",
        # a country is no given name; a short or lower-case science word neither
        "Highest in Ireland and western Scotland.",
        "Nebulin and titin expression in Duchenne muscular dystrophy.",
        "Markedly raised IgE without eosinophilia.",
        "After speaking with wife, 14 french foley placed with good drainage.",
    ],
)
def test_names_of_other_countries_leave_words(detector: Detector, text: str) -> None:
    assert names(detector, text) == []


def test_world_names_come_from_faker_locales() -> None:
    """Every name added to the Census lists is in a Faker person provider (the named source),
    in Latin script, 4 letters or more, and no English word."""
    import faker.providers.person.da_DK as danish  # noqa: PLC0415
    import faker.providers.person.is_IS as icelandic  # noqa: PLC0415

    lex = load_lexicons()
    assert "natasja" in lex.world_given and "Natasja" in danish.Provider.first_names
    assert "sunniva" in lex.world_given and "Sunniva" in icelandic.Provider.first_names
    assert not lex.world_given & lex.first_names
    assert not lex.world_surnames & lex.surnames
    assert not (lex.world_given | lex.world_surnames) & lex.english
    assert min(map(len, lex.world_given | lex.world_surnames)) >= 4
    assert "ireland" not in lex.world_given and "duarte" not in lex.world_given
