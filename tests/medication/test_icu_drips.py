"""ICU drips: "gtt" after a drug is an intravenous infusion, and a comma ends a drug's sig (a
dose before the next drug's name after a comma is the earlier drug's)."""

from __future__ import annotations

from collections.abc import Callable

from note2fhir.document import ClinicalDocument

Read = Callable[[str], ClinicalDocument]


def attrs(doc: ClinicalDocument, name: str) -> dict[str, object]:
    entity = next(e for e in doc.entities if e.text == name)
    return entity.medication.as_dict() if entity.medication else {}


def test_a_gtt_is_an_intravenous_infusion(read: Read) -> None:
    doc = read("Remains on [[M:neo]] gtt at 40 mcg/min, [[M:dopa]] at 5 mcg/kg/min.")
    neo, dopa = attrs(doc, "neo"), attrs(doc, "dopa")
    assert neo["text"] == "gtt at 40 mcg/min"
    assert neo["form"] == "infusion"
    assert dopa["text"] == "5 mcg/kg/min"


def test_drops_stay_drops(read: Read) -> None:
    doc = read("[[M:Timolol]] 0.5% 1 gtt OU bid.")
    assert attrs(doc, "Timolol")["dose_unit"] == "[drp]"


def test_a_slash_between_products_ends_the_earlier_ones_sig(read: Read) -> None:
    """A combination product line: each insulin keeps its own strength, past the words of its
    name ("regular, human")."""
    doc = read(
        "[[M:insulin isophane]], human 70 unt/ml / [[M:insulin]], regular, human 30 unt/ml "
        "injectable suspension"
    )
    assert attrs(doc, "insulin isophane")["strength"] == "70 units/mL"
    assert attrs(doc, "insulin")["strength"] == "30 units/mL"


def test_salt_words_keep_the_strength(read: Read) -> None:
    doc = read("[[M:doxylamine]] succinate 0.417 mg/ml oral solution")
    assert attrs(doc, "doxylamine")["strength"] == "0.417 mg/mL"
    doc = read("[[M:nitrofurantoin]], macrocrystals 50 mg oral capsule")
    assert attrs(doc, "nitrofurantoin")["strength"] == "50 mg"
