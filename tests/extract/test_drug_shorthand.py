"""ICU nursing notes' drug short forms (``drug_shorthand`` in the lexicon), brands the drug
dictionary lacks (``drug_brands``) and combination brands (``combination_drugs``)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from note2fhir.document import ClinicalDocument, EntityType

Read = Callable[[str], ClinicalDocument]
DRUGBANK = "https://go.drugbank.com/drugs"


@pytest.mark.parametrize(
    ("text", "mention", "code"),
    [
        ("STARTED ON FLAGYL AND VANCO.", "VANCO", "DB00512"),
        ("beginning po amio tonight", "amio", "DB01118"),
        ("ntg gtt started at 2.5mcg", "ntg", "DB00727"),
        ("K REPLETED WITH 80 MEQ KCL.", "KCL", "DB00761"),
        ("Pt received 2mg MSO4 for severe R foot pain.", "MSO4", "DB00295"),
        ("MEDICATED W MS04 2-4MG PRN.", "MS04", "DB00295"),
        ("NGT placed to give meds.. ASA and Cozaar.", "ASA", "DB00945"),
        ("also on asa and lipitor.", "asa", "DB00945"),
        ("1 ml epoetin alfa 4000 unt/ml injection [epogen]", "epoetin alfa", "DB00016"),
        ("held at 12 pm to give synthroid 2 hours later.", "synthroid", "DB00451"),
        ("on dilantin qhs. neuro on consult.", "dilantin", "DB00252"),
        ("Keflex 500 mg qid x 7 days.", "Keflex", "DB00567"),
        ("colace 100 mg bid", "colace", "DB11089"),
        (
            "She received pegylated granulocyte colony-stimulating factor.",
            "pegylated granulocyte colony-stimulating factor",
            "DB00019",
        ),
    ],
)
def test_icu_drug_short_forms(read: Read, text: str, mention: str, code: str) -> None:
    doc = read(text)
    entity = next(e for e in doc.entities if e.text.lower() == mention.lower())
    assert entity.type is EntityType.MEDICATION
    assert [c.code for c in entity.selected_codes if c.system == DRUGBANK] == [code]


@pytest.mark.parametrize(
    "text", ["ASA class II, airway Mallampati 2.", "ASA 1  ASA 2", "ASA 3+", "ASA III patient."]
)
def test_asa_physical_status_is_no_drug(read: Read, text: str) -> None:
    assert all(e.text != "ASA" for e in read(text).entities)


@pytest.mark.parametrize(
    ("text", "mention", "code"),
    [
        ("BP REMAINS LABILE, ATTEMPTED TO WEAN DOPA, DOPA AT 12MCG/KG.", "DOPA", "DB00988"),
        ("CV: Remains on neo gtt, able to slowly titrate it.", "neo", "DB00388"),
        ("CONTINUES TO NEED LEVO FOR BP.", "LEVO", "DB00368"),
        ("Given 500cc NS bolus with good effect.", "NS", "DB09153"),
        ("Versed 2 mg iv prn agitation.", "Versed", "DB00683"),
        ("Remains on Amio, Levo, Neo, Vasopressin.", "Levo", "DB00368"),
    ],
)
def test_icu_pressor_short_forms(read: Read, text: str, mention: str, code: str) -> None:
    entity = next(e for e in read(text).entities if e.text == mention)
    assert [c.code for c in entity.selected_codes if c.system == DRUGBANK] == [code]


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("AFEBRILE-PO LEVO/IV VANCO CONTINUE.", "levo"),  # levofloxacin
        ("On IV Levo, Vanco and flagyl.", "levo"),
        ("Started on L-dopa for parkinsonism.", "dopa"),
        ("Neo-adjuvant chemotherapy was given.", "neo"),
        ('nS: "I want to go home."', "ns"),
    ],
)
def test_the_other_drug_of_a_short_form_makes_no_pressor(read: Read, text: str, word: str) -> None:
    assert all(e.text.lower() != word for e in read(text).entities)


@pytest.mark.parametrize(
    ("text", "mention"),
    [
        ("Percocet 1-2 tabs q4h prn pain.", "Percocet"),
        ("Gave Tylenol #3 1 tab po.", "Tylenol #3"),
        ("Tylenol with codeine at night.", "Tylenol with codeine"),
        ("Augmentin 875 mg bid x 7 days.", "Augmentin"),
        ("Home meds: Sinemet, Vicodin.", "Vicodin"),
    ],
)
def test_combination_brands_are_uncoded_medications(read: Read, text: str, mention: str) -> None:
    """A brand of two drugs is one medication with no code: one ingredient's code would name
    only part of it (Tylenol #3 is no plain acetaminophen)."""
    entity = next(e for e in read(text).entities if e.text == mention)
    assert entity.type is EntityType.MEDICATION
    assert entity.selected_codes == []


def test_a_chemoradiation_procedure_is_no_medication(read: Read) -> None:
    """A problem list's procedure title holds a drug class: "combined chemotherapy and
    radiation therapy (procedure)" is one procedure, no MedicationStatement of chemotherapy."""
    doc = read("- combined chemotherapy and radiation therapy (procedure)")
    assert [(e.text, e.type) for e in doc.entities] == [
        ("combined chemotherapy and radiation therapy", EntityType.PROCEDURE)
    ]


@pytest.mark.parametrize(
    ("text", "drug"),
    [
        ("Total carnitine of 41.3 μmol/L.", "carnitine"),
        ("Vanco trough 15 this am.", "vanco"),
        ("24-hour norepinephrine 468 μg (normal range: 23-105).", "norepinephrine"),
        ("The isolate was sensitive to penicillin and vancomycin but resistant to clindamycin.",
         "vancomycin"),
    ],
)  # fmt: skip
def test_an_analyte_or_a_susceptibility_is_no_medication(read: Read, text: str, drug: str) -> None:
    assert all(
        e.type is not EntityType.MEDICATION for e in read(text).entities if drug in e.text.lower()
    )


@pytest.mark.parametrize(
    ("text", "drug"),
    [
        ("Hypertension resistant to amlodipine and lisinopril.", "amlodipine"),
        ("Blood cultures grew MRSA; started vancomycin.", "vancomycin"),
        ("budesonide 0.25 mg/ml inhalation suspension", "budesonide"),
        ("Heparin 100 u/ml flush.", "heparin"),
        ("Potassium chloride 2 mmol/ml.", "potassium chloride"),
        ("Isolated systolic hypertension resistant to amlodipine.", "amlodipine"),
        (
            "Cultures grew E. coli sensitive to ciprofloxacin, switched to ciprofloxacin.",
            "ciprofloxacin",
        ),
        ("BCX GREW MSSA SENSITIVE TO CEFAZOLIN, ON CEFAZOLIN 2 GM Q8H", "cefazolin"),
        ("HOME MEDS: ASA 81, ATENOLOL 50", "asa"),
        ("PT REFUSED ASA, I WILL TRY AGAIN LATER", "asa"),
        ("ASA stopped for grade 2 GI bleed.", "asa"),
    ],
)
def test_a_drug_given_beside_such_words_stays(read: Read, text: str, drug: str) -> None:
    assert any(
        e.type is EntityType.MEDICATION for e in read(text).entities if e.text.lower() == drug
    )
