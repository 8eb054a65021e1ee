"""Curated ICD-10-CM terms of nursing notes and case reports, read in context."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from note2fhir.document import ClinicalDocument
from note2fhir.terminology.schema import ICD10CM

Read = Callable[[str], ClinicalDocument]


def icd(doc: ClinicalDocument) -> dict[str, list[str]]:
    return {e.text: [c.code for c in e.selected_codes if c.system == ICD10CM] for e in doc.entities}


@pytest.mark.parametrize(
    ("text", "mention", "code"),
    [
        ("ADMITTED FOR MENTAL STATUS CHANGES POST FALL.", "MENTAL STATUS CHANGES", "R41.82"),
        ("A diagnosis of congenital complete heart block was made.",
         "congenital complete heart block", "Q24.6"),
        ("SEVERE SEPTIC SHOCK.", "SEPTIC SHOCK", "R65.21"),
        ("HEPARIN STARTED FOR RUE DVT.", "RUE DVT", "I82.621"),
        ("+CDIFF COLITIS.", "CDIFF COLITIS", "A04.72"),
        ("EKG-CHB W JUNCTIONAL ESCAPE RHYTHM.", "CHB", "I44.2"),
        ("Problems: severe anxiety (panic) (finding), stress (finding).",
         "severe anxiety (panic)", "F41.0"),
        ("Episode of flash pulmonary edema overnight.", "flash pulmonary edema", "J81.0"),
        ("Influenza B positive.", "Influenza B", "J10.1"),
        # review16 D17 and a reader's D2: type 2 MI (I.C.9.e.5), streptococcal pharyngitis,
        # recurrent C. diff, restless legs
        ("# Type 2 MI", "Type 2 MI", "I21.A1"),
        ("Type II NSTEMI due to demand.", "Type II NSTEMI", "I21.A1"),
        ("Strep pharyngitis.", "Strep pharyngitis", "J02.0"),
        ("Recurrent C. diff colitis.", "Recurrent C. diff colitis", "A04.71"),
        ("Restless legs at night.", "Restless legs", "G25.81"),
        ("H. flu pneumonia.", "H. flu pneumonia", "J14"),
        ("PMH: steroid-induced diabetes, ESRD.", "steroid-induced diabetes", "E09.9"),
        ("PMH: type II diabetes mellitus.", "type II diabetes mellitus", "E11.9"),
        ("EKG showing only sinus brady.", "sinus brady", "R00.1"),
        ("HR 70 AV paced with occ PVC's.", "PVC", "I49.3"),
        ("Exam: acromegaly.", "acromegaly", "E22.0"),
        ("MRI: pituitary macroadenoma.", "pituitary macroadenoma", "D35.2"),
        ("Complains of polyarthralgia.", "polyarthralgia", "M25.50"),
        ("Minimal wheeze noted.", "wheeze", "R06.2"),
        ("Incontinent of stool x2.", "Incontinent of stool", "R15.9"),
        ("A recurrence of his pancreatic cancer.", "pancreatic cancer", "C25.9"),
        ("Revealed a 3.8-cm anaplastic thyroid cancer.", "thyroid cancer", "C73"),
        ("PMH: ESRD and testicular cancer.", "testicular cancer", "C62.90"),
        ("Consistent with a T2 rectal carcinoma.", "rectal carcinoma", "C20"),
        ("He was diagnosed with right lung carcinoma.", "lung carcinoma", "C34.90"),
        ("History of gall bladder cancer.", "gall bladder cancer", "C23"),
        ("psoriasis. psoriatic arthritis.", "psoriatic arthritis", "L40.50"),
        ("presenting with disorder of kidney due to diabetes mellitus (disorder).",
         "disorder of kidney due to diabetes mellitus", "E11.29"),
        ("Papillary thyroid carcinoma, s/p thyroidectomy.", "Papillary thyroid carcinoma", "C73"),
    ],
)  # fmt: skip
def test_curated_terms(read: Read, text: str, mention: str, code: str) -> None:
    assert icd(read(text))[mention] == [code]


def test_chb_in_a_hepatitis_context_is_no_heart_block(read: Read) -> None:
    doc = read("Entecavir 0.5 mg was started for chemoprophylaxis of CHB.")
    assert "CHB" not in icd(doc)


def test_pica_the_artery_is_no_eating_disorder(read: Read) -> None:
    doc = read("Angiography showed a dissecting aneurysm of the left PICA.")
    assert "PICA" not in [e.text for e in doc.entities if e.type.value == "problem"]
