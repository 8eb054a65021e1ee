"""Word rules and abbreviations a note defines: mentions no dictionary names."""

from __future__ import annotations

from collections.abc import Callable

from note2fhir.document import ClinicalDocument, Entity, EntityType
from note2fhir.extract.lexicon import load_lexicon
from note2fhir.extract.rules import WordRuleIndex, defined_short_form, long_form_explains

Read = Callable[[str], ClinicalDocument]


def found(doc: ClinicalDocument) -> dict[str, Entity]:
    return {e.text.lower(): e for e in doc.entities}


def test_head_words_take_the_words_before_them(read: Read) -> None:
    ents = found(
        read(
            "Mitochondrial DNA analysis was normal. She underwent decongestive therapy for "
            "diastolic dysfunction."
        )
    )
    assert ents["mitochondrial dna analysis"].type is EntityType.TEST
    assert ents["mitochondrial dna analysis"].source == "rule:head word 'analysis'"
    assert ents["decongestive therapy"].type is EntityType.PROCEDURE
    assert ents["diastolic dysfunction"].type is EntityType.PROBLEM


def test_head_word_phrases_stop_at_verbs_and_quantifiers(read: Read) -> None:
    ents = found(read("She resumed treatment. Further evaluation was planned."))
    assert "resumed treatment" not in ents
    assert "treatment" not in ents  # a bare head needs a word before it
    assert "further evaluation" not in ents


def test_word_endings_name_the_type(read: Read) -> None:
    ents = found(read("After parathyroidectomy she developed tenosynovitis; cholangiography."))
    assert ents["parathyroidectomy"].type is EntityType.PROCEDURE
    assert ents["tenosynovitis"].type is EntityType.PROBLEM
    assert ents["cholangiography"].type is EntityType.TEST


def test_suffix_exceptions_and_stems() -> None:
    index = WordRuleIndex(load_lexicon().word_rules)
    assert index.suffix("appendectomy") == (EntityType.PROCEDURE, "ectomy")
    assert index.suffix("diagnosis") is None
    assert index.suffix("program") is None
    assert index.suffix("ectomy") is None  # no stem


def test_a_defined_abbreviation_is_a_mention_wherever_it_is_written(read: Read) -> None:
    doc = read(
        "He had lipoid pneumonia (LP) and cardiomyopathy (CMP). "
        "The LP resolved. CMP worsened. Two LPs were seen."
    )
    # "LP" alone is a lumbar puncture; here the note defined it as a pneumonia.
    lp = [e for e in doc.entities if e.text.startswith("LP")]
    assert len(lp) == 3
    assert all(e.type is EntityType.PROBLEM for e in lp)
    assert lp[1].source == "abbreviation:defined as 'lipoid pneumonia'"
    cmp = [e for e in doc.entities if e.text == "CMP"]
    assert cmp and all(e.type is EntityType.PROBLEM for e in cmp)


def test_a_definition_does_not_reach_back(read: Read) -> None:
    doc = read("An LP was done. Later lipoid pneumonia (LP) was found. The LP resolved.")
    lp = [e for e in doc.entities if e.text == "LP"]
    assert all(e.source.startswith("abbreviation:defined") for e in lp[1:])
    assert not lp[0].source.startswith("abbreviation:defined")


def test_short_forms_must_spell_the_long_form() -> None:
    assert long_form_explains("HCC", "hepatocellular carcinoma")
    assert long_form_explains("EGD", "esophagogastroduodenoscopy")
    assert not long_form_explains("Fig", "gram-positive cocci")
    assert not long_form_explains("CT", "ct")
    assert defined_short_form("carcinoma (HCC) was", 9) == ("HCC", 11, 14)
    assert defined_short_form("carcinoma (n = 4)", 9) is None
    assert defined_short_form("carcinoma (figure)", 9) is None


def test_a_participle_after_be_is_a_procedure(read: Read) -> None:
    ents = found(
        read(
            "The catheter was removed and the tumour was completely resected. "
            "The resected specimen was 3 cm."
        )
    )
    assert ents["removed"].type is EntityType.PROCEDURE
    assert ents["removed"].source == "rule:passive 'removed'"
    assert ents["resected"].type is EntityType.PROCEDURE
    resected = [e for e in read("The resected specimen was 3 cm.").entities]
    assert all(e.text != "resected" for e in resected)


def test_a_defined_short_form_replaces_another_meaning_of_the_same_kind(read: Read) -> None:
    doc = read("Atrial septal defect (ASD) was found. The ASD was closed.")
    asd = [e for e in doc.entities if e.text == "ASD"]
    assert len(asd) == 2
    for entity in asd:  # not autism spectrum disorder (F84.0), the store's other meaning
        assert "defined as 'Atrial septal defect'" in entity.source
        assert "F84.0" not in {c.code for c in entity.codes}


def test_a_short_form_defined_as_no_mention_keeps_no_store_meaning(read: Read) -> None:
    # "pneumonitis" would keep "PCP" as pneumocystis (B59) but for the definition
    doc = read(
        "Labs by the primary care physician (PCP) were normal. The PCP suspected pneumonitis. "
        "Her Child-Pugh (CP) score was 8."
    )
    assert not [e for e in doc.entities if e.text in ("PCP", "CP")]
    assert [e.text for e in read("The PCP suspected pneumonitis.").entities if e.text == "PCP"]


def test_a_definition_that_agrees_with_the_store_keeps_the_mention(read: Read) -> None:
    doc = read("Forced expiratory volume in 1 second (FEV1) was 1.2 L. FEV1 improved.")
    assert len([e for e in doc.entities if e.text == "FEV1"]) == 2


def test_pcp_needs_a_word_of_the_disease(read: Read) -> None:
    doc = read(
        "Follow up with PCP in 2 weeks. HIV well controlled per his PCP, CD4 650. "
        "Bactrim DS for PCP prophylaxis. Hx of PCP, pneumocystis on BAL."
    )
    pcp = [e for e in doc.entities if e.text == "PCP"]
    assert [e.start for e in pcp] == [doc.text.index("PCP, pneumocystis")]
    assert "B59" in {c.code for c in pcp[0].codes}
    ppx = next(e for e in doc.entities if e.text == "PCP prophylaxis")
    assert ppx.type is EntityType.MEDICATION


def test_a_store_match_named_like_the_long_form_keeps_its_codes(read: Read) -> None:
    doc = read("Basal cell carcinoma (BCC) of the nose. The BCC was excised.")
    bcc = [e for e in doc.entities if e.text == "BCC"]
    assert len(bcc) == 2
    assert all("C44.91" in {c.code for c in e.codes} for e in bcc)


def test_a_store_match_sharing_the_long_form_s_words_keeps_its_code(read: Read) -> None:
    doc = read("Chronic myelogenous leukemia (CML) in chronic phase. CML was treated.")
    cml = [e for e in doc.entities if e.text == "CML"]
    assert len(cml) == 2
    assert all("C92.10" in {c.code for c in e.selected_codes} for e in cml)
