"""Open drug lexicon from drug_named_entity_recognition's bundled ``drug_ner_dictionary.pkl.bz2``.

The package is not imported: importing it unpickles ``~/.omop_cache.pkl`` from the home
folder, and its functions call web services.  Its dictionary is read here with an unpickler that
refuses every global, so the file can only yield plain dicts, lists and strings: it cannot run
code.

Each kept canonical drug becomes ``drug:<canonical>`` (a medication) named as the package names
it; the package's variants become ``brand`` or ``synonym`` terms.

Codes — only DrugBank ids are attached, and only after checks:

* **DrugBank** (``DB00331``) under :data:`DRUGBANK`, ``https://go.drugbank.com/drugs``.  HL7
  Terminology (THO) defines no DrugBank code system; this is the issuer's own URL for its drug
  pages, the form most FHIR users adopt.  Ids must look like ``DB`` + 5 digits and belong to one
  drug only; :data:`ANCHOR_DRUGBANK_IDS` must all match, or the build stops.  A spot check of
  107 common drugs found 6 ids of a related ester or isomer instead of the drug
  (:data:`REJECTED_DRUGBANK_IDS`, dropped): expect a few percent of the rest to be wrong the
  same way, so treat these codes as a cross-reference, not as the medication's coding.
* **MeSH is not loaded**: the package's ``mesh_id`` is the drug's *pharmacological action*,
  not the drug — aspirin and acetaminophen share D058633 (Antipyretics), metformin and insulin
  D007004 (Hypoglycemic Agents), and 557 ids are shared by several drugs (D007155, Immunologic
  Factors, by 129).  THO's MeSH system would be ``https://www.nlm.nih.gov/mesh``.
* **MedlinePlus ids are not loaded**: they name web monographs, not a code system, and several
  point at other monographs than the drug's usual one (aspirin a621021, not a682878).

Curation — what the package data needs before it can face clinical notes:

* Only drugs with a DrugBank, MedlinePlus, NHS or Wikipedia-drug-page record are kept; entries
  known only from MeSH are enzymes, receptors, proteins and classes ("sgot" → aspartate
  aminotransferases, "hba1" → glycated hemoglobin), which would turn lab results into drugs.
* Allergen extracts (pollen, dander, venom ...), foods (:data:`EXCLUDED_FOODS`) and lab
  analytes (:data:`EXCLUDED_ANALYTES`) are dropped: "allergic to shrimp" is no medication.
* Variants are dropped when listed in :data:`EXCLUDED_VARIANTS` (common or clinical words:
  "caps", "paps", "luminal"; wrong mappings: "dmpa" → zytron, "phospholipids" → omega-3), when
  their normalised form is shorter than :data:`MIN_TERM_LENGTH` ("[he]" would become "he"), when
  they hold non-Latin letters that normalisation would erase ("ifn-γ" → "ifn") or wiki markup.
* A drug's own name is indexed only if the package lists it as a variant — the package
  withholds one-word names such as "water", "glucose", "potassium", "creatinine" — or if it is
  in :data:`WITHHELD_DRUG_NAMES` (estradiol, adenosine, nicotine ...).

Licence: the package is MIT (Fast Data Science).  Its data, as the package states, comes from
DrugBank open data (CC0 1.0), MedlinePlus, the NHS website, MeSH (NLM) and Wikipedia
(CC BY-SA 3.0 / GFDL).
"""

from __future__ import annotations

import bz2
import importlib.metadata
import importlib.util
import logging
import pickle
import re
import unicodedata
from collections import defaultdict
from pathlib import Path
from typing import Any

from note2fhir.document import EntityType
from note2fhir.terminology.normalize import normalize
from terminology.writer import ArtifactWriter, SourceCounts, SourceWriter

log = logging.getLogger(__name__)

SOURCE = "drugs"
PACKAGE = "drug-named-entity-recognition"
DRUGBANK = "https://go.drugbank.com/drugs"
"""No canonical (THO) URI exists for DrugBank; the issuer's drug-page URL stands in."""

LICENSE = (
    "drug_named_entity_recognition: MIT (Fast Data Science). Data as stated by the package:"
    " DrugBank open data (CC0 1.0), MedlinePlus, NHS website, MeSH (NLM), Wikipedia"
    " (CC BY-SA 3.0 / GFDL)."
)

MIN_TERM_LENGTH = 4
"""Shortest normalised variant kept; shorter ones ("he", "nf", "ala") are pronouns or
abbreviations of something else once normalisation has stripped their symbols."""

ANCHOR_DRUGBANK_IDS = {
    "metformin": "DB00331",
    "lisinopril": "DB00722",
    "aspirin": "DB00945",
    "furosemide": "DB00695",
    "metoprolol": "DB00264",
    "atorvastatin": "DB01076",
    "acetaminophen": "DB00316",
    "warfarin": "DB00682",
    "prednisone": "DB00635",
    "heparin": "DB01109",
}
"""Well-known DrugBank ids; a data file that disagrees with any of them is refused."""

REJECTED_DRUGBANK_IDS = {
    "estradiol": "DB13956",  # estradiol is DB00783; DB13956 is one of its esters
    "testosterone": "DB13946",  # testosterone is DB00624
    "levetiracetam": "DB11868",  # levetiracetam is DB01202
    "mirtazapine": "DB06678",  # mirtazapine is DB00370
    "propranolol": "DB03322",  # propranolol is DB00571
    "verapamil": "DB14063",  # verapamil is DB00661
}
"""Ids found wrong by a spot check of 107 common drugs (the package keeps the id of a related
ester or isomer); dropped, never corrected, while the data still holds them."""

EXCLUDED_VARIANTS = frozenset({
    # Common or clinical words that are not the drug in a note.
    "caps", "tris", "hops", "oats", "paps", "luminal", "edta", "peth", "sdma", "adma",
    "colgate", "sone",
    # Wrong mappings in the package data.
    "dmpa",           # mapped to zytron (a herbicide); in notes it is depot medroxyprogesterone
    "phospholipids",  # mapped to omega-3 fatty acids
    "penem",          # a class, mapped to meropenem
    "vicks", "midol",  # multi-product brands mapped to one ingredient
    "melana",         # MART-1 antigen; in notes a misspelling of melena
    "ns 2",           # reproxalap's code name; "1/2 NS" is half-normal saline in notes
})  # fmt: skip
"""Normalised variants never indexed."""

EXCLUDED_ANALYTES = frozenset({
    "homocysteine", "procalcitonin", "thyroglobulin", "leptin", "aldosterone", "serotonin",
    "kynurenine", "neopterin", "porphobilinogen", "fibronectins", "symmetric dimethylarginine",
    "n,n-dimethylarginine", "phosphatidyl ethanol", "3-(cyclohexylamino)propanesulfonic acid",
    "3-(n-morpholino)propanesulfonic acid", "butyrylcholinesterase",
})  # fmt: skip
"""Canonical keys of lab analytes and laboratory reagents that carry a DrugBank id."""

EXCLUDED_FOODS = frozenset({
    "water", "sea salt", "rice", "rice bran", "wheat", "wheat bran", "oat", "bean",
    "kidney bean", "lima bean", "mung bean", "string bean", "black-eyed pea", "chickpea",
    "lentil", "cashew", "cashew fruit", "brazil nut", "black walnut", "english walnut", "pecan",
    "hazelnut", "pistachio", "honey", "cocoa", "coffee bean", "arabica coffee bean", "tea leaf",
    "egg white", "egg yolk", "cow milk", "skim milk", "goat milk", "whey", "lactalbumin",
    "shrimp", "northern brown shrimp", "lobster", "oyster", "tuna", "catfish", "flounder",
    "white fish", "beef liver", "lamb", "poultry", "black pepper", "white pepper", "red pepper",
    "bird pepper", "green bell pepper", "red bell pepper", "mustard greens", "mustard seed",
    "white mustard seed", "horseradish", "honeydew melon", "muskmelon", "kale", "beet", "sage",
    "peach", "pumpkin", "avocado", "blackberry", "blueberry", "grapefruit", "pomegranate",
    "yeast", "soot", "elm", "cotton",
})  # fmt: skip
"""Canonical keys of foods and environmental exposures: allergy substances, not medicines."""

WITHHELD_DRUG_NAMES = frozenset({
    "estradiol", "estriol", "estrone", "progesterone", "testosterone", "diethylstilbestrol",
    "adenosine", "acetylcholine", "nicotine", "caffeine", "oxytocin", "procaine", "thrombin",
    "tubocurarine", "thiamine", "riboflavin", "niacin", "senna", "menthol", "capsaicin",
    "glucosamine", "mannitol", "charcoal", "allantoin", "ipecac", "lindane", "podophyllotoxin",
    "petrolatum", "lanolin", "kaolin", "antipyrine", "tuberculin", "gramicidin", "hemin",
    "dihydrotachysterol", "desoxycorticosterone", "valerian", "echinacea",
})  # fmt: skip
"""One-word drug names the package does not list as variants but notes use for the drug."""

_ALLERGEN = re.compile(
    r"\b(pollen|dander|hair|feather|venom|allergenic extract|house dust|mill dust)\b"
)
_MARKUP = re.compile(r"[{}|<>=\[\]]|template:|draft:|infobox|medical uses of")
_DRUGBANK_ID = re.compile(r"DB\d{5}")


class _PlainDataUnpickler(pickle.Unpickler):
    """Unpickles only built-in containers and scalars: any class or function is refused."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"refusing {module}.{name} in the drug dictionary")


def default_dictionary_path() -> Path:
    """The dictionary shipped inside drug_named_entity_recognition (the package is not run)."""
    return _package_dir("drug_named_entity_recognition") / "drug_ner_dictionary.pkl.bz2"


def _package_dir(package: str) -> Path:
    """Where an installed package's files are, found without importing (running) it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"{package} is not installed; install note2fhir's dependencies")
    return Path(next(iter(spec.submodule_search_locations)))


def read_dictionary(path: Path | None = None) -> dict[str, dict[str, Any]]:
    """Read the package's dictionary: variant → canonicals, canonical → data, variant → data."""
    with bz2.open(path or default_dictionary_path(), "rb") as handle:
        data = _PlainDataUnpickler(handle).load()
    keys = ("drug_variant_to_canonical", "drug_canonical_to_data", "drug_variant_to_variant_data")
    if not isinstance(data, dict) or not all(isinstance(data.get(k), dict) for k in keys):
        raise ValueError("drug dictionary: expected a dict of the three package tables")
    return {k: data[k] for k in keys}


def package_version() -> str:
    """The installed package's version ("2.0.9"), or "unknown"."""
    try:
        return importlib.metadata.version(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def usable_term(text: str) -> bool:
    """Whether a variant may be indexed.

    >>> usable_term("Lipitor"), usable_term("[he]"), usable_term("ifn-γ"), usable_term("caps")
    (True, False, False, False)
    >>> usable_term("c.b.b."), usable_term("b.a.l."), usable_term("5-FU"), usable_term("6-MP")
    (False, False, True, True)
    """
    if _MARKUP.search(text.lower()):
        return False
    stripped = "".join(
        ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch)
    )
    if any(ch.isalpha() and not ch.isascii() for ch in stripped):
        return False
    norm = normalize(text)
    words = norm.split()
    if len(words) > 1 and all(len(w) == 1 and w.isalpha() for w in words):
        return False  # initials ("c.b.b.", "b.a.l."): "b/c" and "b/l" in notes; not "5-fu"
    return len(norm) >= MIN_TERM_LENGTH and norm not in EXCLUDED_VARIANTS


def exclusion_reason(canonical: str, data: dict[str, Any]) -> str | None:
    """Why a canonical drug is left out, or ``None`` when it is kept."""
    if not any(data.get(k) for k in ("drugbank_id", "medline_plus_id", "nhs_url", "wikipedia_url")):
        return "MeSH-only"
    if canonical in EXCLUDED_ANALYTES:
        return "lab analyte"
    if canonical in EXCLUDED_FOODS or _ALLERGEN.search(canonical):
        return "food or allergen"
    if _MARKUP.search(canonical):
        return "markup"
    return None


def check_anchor_ids(canonical_data: dict[str, dict[str, Any]], *, require_all: bool) -> None:
    """Refuse a dictionary whose DrugBank ids disagree with :data:`ANCHOR_DRUGBANK_IDS`.

    ``require_all`` also refuses one that lacks an anchor drug (true for the bundled file).
    """
    wrong = {
        name: canonical_data.get(name, {}).get("drugbank_id")
        for name, expected in ANCHOR_DRUGBANK_IDS.items()
        if (name in canonical_data or require_all)
        and canonical_data.get(name, {}).get("drugbank_id") != expected
    }
    if wrong:
        raise ValueError(f"drug dictionary: unexpected DrugBank ids {sorted(wrong.items())}")


def _drugbank_ids(kept: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Canonical → DrugBank id, for well-formed, not rejected ids held by one kept drug only."""
    holders: dict[str, list[str]] = defaultdict(list)
    for canonical, data in sorted(kept.items()):
        dbid = data.get("drugbank_id")
        if dbid and REJECTED_DRUGBANK_IDS.get(canonical) == dbid:
            log.info("drugs: DrugBank id %s of %s rejected (spot check)", dbid, canonical)
        elif isinstance(dbid, str) and _DRUGBANK_ID.fullmatch(dbid):
            holders[dbid].append(canonical)
        elif dbid:
            log.warning("drugs: malformed DrugBank id %s for %s dropped", dbid, canonical)
    shared = {dbid: names for dbid, names in holders.items() if len(names) > 1}
    if shared:
        log.warning("drugs: DrugBank ids held by several drugs dropped: %s", shared)
    return {names[0]: dbid for dbid, names in holders.items() if len(names) == 1}


def _add_drug(
    src: SourceWriter,
    canonical: str,
    data: dict[str, Any],
    variants: list[str],
    variant_data: dict[str, Any],
    drugbank_id: str | None,
) -> bool:
    """Write one drug with its usable names; ``False`` when no name survives the filters."""
    preferred = str(data.get("name") or canonical)
    pref_norm = normalize(preferred)
    name_indexed = usable_term(preferred) and (
        canonical in variants or " " in pref_norm or pref_norm in WITHHELD_DRUG_NAMES
    )
    extra = [str(s) for s in data.get("synonyms", ()) if isinstance(s, str)]
    names = sorted(
        {
            (v, "brand" if (variant_data.get(v) or {}).get("is_brand") else "synonym")
            for v in variants
        }
        | {(s, "synonym") for s in extra}
    )
    usable = [(n, t) for n, t in names if usable_term(n) and normalize(n) != pref_norm]
    if not usable and not name_indexed:
        return False
    cid = src.concept(
        f"drug:{canonical}", preferred, EntityType.MEDICATION, add_preferred_term=name_indexed
    )
    for name, term_type in usable:
        src.term(cid, name, term_type)
    if drugbank_id:
        src.code(cid, DRUGBANK, drugbank_id, preferred)
    return True


def load_drugs(writer: ArtifactWriter, dictionary_path: Path | None = None) -> SourceCounts:
    """Load the open drug lexicon as medication concepts with checked DrugBank codes.

    >>> # load_drugs(ArtifactWriter(tmp))  # 'drug:metformin' (Glucophage ...), DrugBank DB00331
    """
    tables = read_dictionary(dictionary_path)
    variant_to_canonical = tables["drug_variant_to_canonical"]
    canonical_data = tables["drug_canonical_to_data"]
    variant_data = tables["drug_variant_to_variant_data"]
    check_anchor_ids(canonical_data, require_all=dictionary_path is None)
    variants: dict[str, list[str]] = defaultdict(list)
    ambiguous = 0
    for variant, canonicals in variant_to_canonical.items():
        if isinstance(canonicals, list) and len(canonicals) == 1 and isinstance(variant, str):
            variants[str(canonicals[0])].append(variant)
        else:
            ambiguous += 1
    dropped: dict[str, int] = defaultdict(int)
    kept: dict[str, dict[str, Any]] = {}
    for canonical, data in canonical_data.items():
        reason = exclusion_reason(canonical, data)
        if reason:
            dropped[reason] += 1
        else:
            kept[canonical] = data
    drugbank = _drugbank_ids(kept)
    version = package_version()
    without_names = 0
    with writer.source(
        SOURCE,
        version=version,
        license=LICENSE,
        description=(
            f"Open drug lexicon of drug_named_entity_recognition {version} (DrugBank, NHS,"
            " MedlinePlus, Wikipedia names), curated for clinical notes; DrugBank ids as codes."
        ),
    ) as src:
        for canonical in sorted(kept):
            added = _add_drug(
                src,
                canonical,
                kept[canonical],
                sorted(variants.get(canonical, ())),
                variant_data,
                drugbank.get(canonical),
            )
            without_names += not added
    log.info(
        "drugs %s: %s drugs kept of %s; dropped %s; %s with no usable name; %s ambiguous variants",
        version, len(kept) - without_names, len(canonical_data), dict(sorted(dropped.items())),
        without_names, ambiguous,
    )  # fmt: skip
    return src.counts
