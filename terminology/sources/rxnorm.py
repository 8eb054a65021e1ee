"""RxNorm loader: the full monthly release in RRF (``RxNorm_full_MMDDYYYY/rrf``).

RxNorm's full release includes content of other sources under their own licences; only the
``SAB=RXNORM`` rows (public domain NLM content) are read, and the user supplies the release.

* ``RXNCONSO.RRF`` (required; the 18-field MRCONSO layout): each RXCUI with an unsuppressed
  (SUPPRESS=N) RXNORM atom of term type IN, PIN, MIN, BN, SCDC, SBDC, SCD, SBD, GPCK or BPCK
  becomes ``rxnorm:<RXCUI>``, a medication, ``semantic_type`` = its TTY, with its RXCUI under the
  RxNorm system.  Its other RXNORM atoms (SY synonyms, TMSY tall-man synonyms, PSN prescribable
  names) become terms, ``term_type`` = the TTY.
* ``RXNREL.RRF`` (optional; ``RXCUI1|RXAUI1|STYPE1|REL|RXCUI2|RXAUI2|STYPE2|RELA|RUI|SRUI|SAB|
  SL|DIR|RG|SUPPRESS|CVF``): RXNORM concept-to-concept rows between loaded concepts become
  crosswalks.  RRF relations read right to left, "RXCUI2 RELA RXCUI1": the row
  ``6809||CUI|RO|861007||CUI|has_ingredient|...`` says 861007 (metformin hydrochloride 500 MG Oral
  Tablet) has ingredient 6809 (metformin), stored as 861007 → 6809 ``has-ingredient``.  Rows with
  SUPPRESS O, E or Y are skipped (RXNREL leaves SUPPRESS empty on many rows: kept).
* ``RXNSAB.RRF`` (optional): the RXNORM source version, when the folder name gives none.

The version is the release date from the folder name ``RxNorm_full_03032025`` → ``2025-03-03``.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Final

from note2fhir.document import EntityType
from note2fhir.terminology.normalize import normalize
from note2fhir.terminology.schema import RXNORM
from terminology.sources.umls import CUI as RXCUI
from terminology.sources.umls import (
    MRCONSO_FIELDS,
    MRSAB_FIELDS,
    SAB,
    STR,
    SUPPRESS,
    TTY,
    iter_rrf,
)
from terminology.writer import ArtifactWriter

log = logging.getLogger(__name__)

SOURCE_NAME: Final = "rxnorm"
LICENSE: Final = (
    "RxNorm: NLM's RXNORM content is public domain; the release also carries content of other "
    "sources under their own licences, which this loader does not read.  The user supplies the "
    "release; it is not redistributed with note2fhir."
)
RXNREL_FIELDS: Final = 16

CONCEPT_TTYS: Final[dict[str, int]] = {
    "IN": 1,
    "PIN": 2,
    "MIN": 2,
    "BN": 2,
    "SCDC": 3,
    "SBDC": 4,
    "SCD": 5,
    "SBD": 6,
    "GPCK": 6,
    "BPCK": 7,
}
"""Term types that make a concept, with their specificity (a branded dose form is more specific
than an ingredient); earlier in this order wins when one RXCUI has several."""

SYNONYM_TTYS: Final = frozenset({"SY", "TMSY", "PSN"})

RELATIONS: Final[dict[str, str]] = {
    "has_ingredient": "has-ingredient",
    "ingredient_of": "ingredient-of",
    "has_ingredients": "has-ingredient",
    "ingredients_of": "ingredient-of",
    "has_precise_ingredient": "has-precise-ingredient",
    "precise_ingredient_of": "precise-ingredient-of",
    "has_part": "has-part",
    "part_of": "part-of",
    "has_form": "has-form",
    "form_of": "form-of",
    "consists_of": "consists-of",
    "constitutes": "constituent-of",
    "tradename_of": "brand-of",
    "has_tradename": "has-brand",
    "contains": "contains",
    "contained_in": "contained-in",
}
"""RxNorm RELA → crosswalk relation ("Glucophage" tradename_of "metformin" → ``brand-of``)."""

_FOLDER_DATE = re.compile(r"RxNorm_full_(?:prescribe_)?(\d{2})(\d{2})(\d{4})")
_SUPPRESSED = frozenset({"O", "E", "Y"})
# RXNREL columns.
_RXCUI1, _STYPE1, _RXCUI2, _STYPE2, _RELA, _REL_SAB, _REL_SUPPRESS = 0, 2, 4, 6, 7, 10, 14


def find_rxnorm_files(folder: Path) -> tuple[Path, Path | None, Path | None]:
    """RXNCONSO (required), RXNREL and RXNSAB in ``folder``, its ``rrf/``, or the ``rrf/`` of
    the one ``RxNorm_full_*`` folder inside it."""
    candidates = [folder, folder / "rrf", *sorted(folder.glob("RxNorm_full_*/rrf"))[:1]]
    rrf = next((c for c in candidates if (c / "RXNCONSO.RRF").is_file()), None)
    if rrf is None:
        raise FileNotFoundError(f"RxNorm: RXNCONSO.RRF not found in {folder} (or its rrf/)")
    rel, sab = rrf / "RXNREL.RRF", rrf / "RXNSAB.RRF"
    return rrf / "RXNCONSO.RRF", rel if rel.is_file() else None, sab if sab.is_file() else None


def rxnorm_version(folder: Path, rxnsab: Path | None) -> tuple[str, str | None]:
    """``(version, release date)`` from ``RxNorm_full_MMDDYYYY``, else RXNSAB's SVER."""
    for part in (folder.resolve(), *folder.resolve().parents):
        match = _FOLDER_DATE.search(part.name)
        if match:
            month, day, year = match.groups()
            return f"{year}-{month}-{day}", f"{year}-{month}-{day}"
    if rxnsab is not None:
        for row in iter_rrf(rxnsab, MRSAB_FIELDS):
            if row[3] == "RXNORM" and row[21] == "Y" and row[6]:
                return row[6], None
    return "unknown", None


def load_rxnorm(writer: ArtifactWriter, folder: Path) -> None:
    """Load an RxNorm full release (RRF) into the artifact as source ``rxnorm``.

    Example: RXCUI 6809 becomes ``rxnorm:6809`` "metformin" (IN, medication), and 861007
    "metformin hydrochloride 500 MG Oral Tablet" (SCD) gets a crosswalk 861007 → 6809
    ``has-ingredient``.
    """
    conso, rel, sab = find_rxnorm_files(folder)
    version, release_date = rxnorm_version(conso.parent, sab)
    # First pass: each RXCUI's concept atom (best TTY, first in file order).
    main: dict[int, tuple[str, str]] = {}
    for row in iter_rrf(conso, MRCONSO_FIELDS):
        tty = row[TTY]
        if row[SAB] != "RXNORM" or row[SUPPRESS] != "N" or tty not in CONCEPT_TTYS:
            continue
        rxcui = _number(row[RXCUI])
        if rxcui is None:
            continue
        current = main.get(rxcui)
        if current is None or _order(tty) < _order(current[0]):
            main[rxcui] = (tty, row[STR].strip())
    with writer.source(
        SOURCE_NAME,
        version=version,
        license=LICENSE,
        description=f"RxNorm full release {version} (SAB=RXNORM atoms and relationships)",
        release_date=release_date,
    ) as src:
        cids: dict[int, int] = {}
        for rxcui in sorted(main):
            tty, name = main[rxcui]
            cid = src.concept(
                f"rxnorm:{rxcui}",
                name,
                EntityType.MEDICATION,
                semantic_type=tty,
                specificity=CONCEPT_TTYS[tty],
            )
            src.code(cid, RXNORM, str(rxcui), name)
            cids[rxcui] = cid
        src.db.commit()
        # Second pass: synonyms of the loaded concepts.
        for row in iter_rrf(conso, MRCONSO_FIELDS):
            tty = row[TTY]
            if row[SAB] != "RXNORM" or row[SUPPRESS] != "N":
                continue
            if tty not in SYNONYM_TTYS and tty not in CONCEPT_TTYS:
                continue
            rxcui = _number(row[RXCUI])
            if rxcui is None or rxcui not in cids:
                continue
            if normalize(row[STR]) != normalize(main[rxcui][1]):
                src.term(cids[rxcui], row[STR], tty)
        src.db.commit()
        if rel is None:
            log.warning("RxNorm: no RXNREL.RRF beside RXNCONSO.RRF; no ingredient crosswalks")
            return
        for row in iter_rrf(rel, RXNREL_FIELDS):
            relation = RELATIONS.get(row[_RELA])
            if (
                relation is None
                or row[_REL_SAB] != "RXNORM"
                or row[_REL_SUPPRESS] in _SUPPRESSED
                or row[_STYPE1] != "CUI"
                or row[_STYPE2] != "CUI"
            ):
                continue
            first, second = _number(row[_RXCUI1]), _number(row[_RXCUI2])
            if first in cids and second in cids:
                src.crosswalk(RXNORM, str(second), RXNORM, str(first), relation)


def _number(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() else None


def _order(tty: str) -> int:
    return _TTY_ORDER[tty]


_TTY_ORDER: Final = {tty: i for i, tty in enumerate(CONCEPT_TTYS)}
