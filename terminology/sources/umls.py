"""UMLS Metathesaurus loader (RRF from a MetamorphoSys ``META`` folder), and a QuickUMLS index.

The UMLS is licensed content: nothing of it ships with note2fhir.  The user points the build at
their own installation, e.g. ``2025AA/META`` holding:

* ``MRCONSO.RRF`` (required): one atom a line, 18 fields + trailing ``|``::

      C0020538|ENG|P|L0020538|PF|S0061951|Y|A0066000||||MSH|MH|D006973|Hypertension|0|N|256|

* ``MRSTY.RRF`` (required): the semantic types (TUIs) of each CUI, ``CUI|TUI|STN|STY|ATUI|CVF|``.
* ``MRSAB.RRF`` (optional): source versions, for the provenance header.
* ``release.dat`` (optional, beside or above ``META``): ``umls.release.name=2025AA``.

``MRREL.RRF`` is not read: hierarchies come from the source loaders (SNOMED CT, ICD-10-CM), and
the relations the linker needs (CUI → ICD-10-CM) follow from the atoms of one CUI.

Each CUI becomes a concept ``umls:<CUI>`` whose

* preferred name is the best atom of the first language (English first): TS=P, STT=PF, ISPREF=Y;
* terms are the other kept strings, once per normalised form, ``term_type`` = the atom's TTY
  (``PT``, ``SY``, ``AB`` ...), the best-ranked atom's TTY where several share a form;
* codes are the CUI (UMLS system) and, per atom of a source with a canonical FHIR system
  (SNOMEDCT_US, ICD10CM, ICD10PCS, RXNORM, LNC, HPO), its code with that source's preferred
  string as display.  ICD-10 block ranges ("I10-I16") are not codes and are skipped;
* entity type comes from its TUIs through ``terminology/semantic_types.yaml``; ``semantic_type``
  holds the sorted TUIs joined by commas (``T047,T191``);
* crosswalks: CUI → each ICD-10-CM code of the same CUI, relation ``same-concept``.

Atoms are kept when their language is asked for, their SAB is in ``sources`` (all when None) and
SUPPRESS is ``N`` (``O`` obsolete, ``E`` editor-suppressed and ``Y`` suppressible are dropped).

Memory stays bounded whatever the release size: MRCONSO is streamed and grouped by CUI (the
release is sorted by CUI; an unsorted subset still loads, each CUI's first group naming it), and
MRSTY is held as one sorted ``array`` of 8-byte keys (about 30 MB for the 3.4 M CUIs of a full
release) instead of a dict of strings.
"""

from __future__ import annotations

import logging
import pickle
import re
import unicodedata
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from importlib import import_module
from itertools import groupby
from pathlib import Path
from typing import Any, Final

from note2fhir.terminology.normalize import normalize
from note2fhir.terminology.schema import HPO, ICD10CM, ICD10PCS, LOINC, RXNORM, SNOMED_CT, UMLS
from terminology.semantic_types import SemanticTypeTable, load_semantic_types
from terminology.writer import ArtifactWriter, SourceWriter

log = logging.getLogger(__name__)

SOURCE_NAME: Final = "umls"
LICENSE: Final = (
    "UMLS Metathesaurus: used under the user's own licence (UMLS Metathesaurus License "
    "Agreement, including the restrictions it places on individual sources); not redistributed "
    "with note2fhir."
)

MRCONSO_FIELDS: Final = 18
MRSTY_FIELDS: Final = 6
MRSAB_FIELDS: Final = 25

# MRCONSO columns (RXNCONSO has the same layout).
(CUI, LAT, TS, LUI, STT, SUI, ISPREF, AUI, SAUI, SCUI, SDUI, SAB, TTY, CODE, STR, SRL, SUPPRESS,
 CVF) = range(MRCONSO_FIELDS)  # fmt: skip

SAB_SYSTEMS: Final[dict[str, str]] = {
    "SNOMEDCT_US": SNOMED_CT,
    "ICD10CM": ICD10CM,
    "ICD10PCS": ICD10PCS,
    "RXNORM": RXNORM,
    "LNC": LOINC,
    "HPO": HPO,
}
"""Sources whose atoms contribute a code (in its canonical FHIR system) besides their string."""

DISPLAY_TTYS: Final[dict[str, tuple[str, ...]]] = {
    "SNOMEDCT_US": ("PT", "FN", "SY"),
    "ICD10CM": ("PT", "HT"),
    "ICD10PCS": ("PT", "HT"),
    "RXNORM": ("SCD", "SBD", "GPCK", "BPCK", "SCDC", "SBDC", "IN", "PIN", "MIN", "BN", "PSN"),
    "LNC": ("LC", "DN", "LN"),
    "HPO": ("PT", "SY"),
}
"""Per source, the term types whose string is the code's display, best first (LOINC: the long
common name, as FHIR ``Coding.display`` usually carries it)."""

COMMIT_EVERY: Final = 20_000
"""Concepts written between commits (bounds the SQLite journal in memory)."""

_RANGE_SYSTEMS = frozenset({ICD10CM, ICD10PCS})
_CUI_NUMBER = re.compile(r"C\d{7}")
_UMLS_VERSION = re.compile(r"(?:19|20)\d\dA[AB]")


class RRFFormatError(ValueError):
    """A line of an RRF file does not have the number of fields its table has."""


def split_rrf(line: str, n_fields: int, *, file: str = "RRF", line_no: int = 0) -> list[str]:
    """Split one ``|``-delimited RRF line into exactly ``n_fields`` values.

    RRF lines end with a ``|`` after the last field; a line without it is accepted too.  Any
    other count raises :class:`RRFFormatError` naming the file and line.

    >>> split_rrf("C0020538|T047|B2.2.1.2.1|Disease or Syndrome|AT17683839|256|\\n", 6)
    ['C0020538', 'T047', 'B2.2.1.2.1', 'Disease or Syndrome', 'AT17683839', '256']
    """
    parts = line.rstrip("\r\n").split("|")
    if len(parts) == n_fields + 1 and parts[-1] == "":
        parts.pop()
    elif len(parts) != n_fields:
        found = len(parts) - 1 if parts[-1] == "" else len(parts)
        raise RRFFormatError(
            f"{file} line {line_no}: expected {n_fields} '|'-separated fields, found {found}"
        )
    return parts


def iter_rrf(path: Path, n_fields: int) -> Iterator[list[str]]:
    """Stream the rows of an RRF file (UTF-8; blank lines skipped), one list of fields each."""
    with path.open(encoding="utf-8", errors="replace", newline="\n") as handle:
        for line_no, line in enumerate(handle, 1):
            if line.strip():
                yield split_rrf(line, n_fields, file=path.name, line_no=line_no)


# --- the release folder ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UmlsRelease:
    """The files of one Metathesaurus installation, and its version."""

    mrconso: Path
    mrsty: Path
    mrsab: Path | None
    version: str
    release_date: str | None


def find_umls_release(folder: Path) -> UmlsRelease:
    """Locate MRCONSO/MRSTY/MRSAB in ``folder`` (or its ``META/``) and read the release version.

    The version comes from ``release.dat`` (beside or above the RRF files), else a folder name
    like ``2025AA``, else the newest insertion version in MRSAB, else ``unknown``.
    """
    meta = folder / "META" if not (folder / "MRCONSO.RRF").is_file() else folder
    mrconso, mrsty, mrsab = meta / "MRCONSO.RRF", meta / "MRSTY.RRF", meta / "MRSAB.RRF"
    for required in (mrconso, mrsty):
        if not required.is_file():
            raise FileNotFoundError(f"UMLS: {required.name} not found in {folder} (or its META/)")
    version, release_date = _release_dat(meta)
    if version is None:
        version = next(
            (m.group(0) for p in (meta, *meta.parents) if (m := _UMLS_VERSION.search(p.name))),
            None,
        )
    if version is None and mrsab.is_file():
        inserted = [row[9] for row in iter_rrf(mrsab, MRSAB_FIELDS) if row[21] == "Y" and row[9]]
        version = max(inserted, default=None)
    return UmlsRelease(
        mrconso, mrsty, mrsab if mrsab.is_file() else None, version or "unknown", release_date
    )


def _release_dat(meta: Path) -> tuple[str | None, str | None]:
    for candidate in (meta / "release.dat", meta.parent / "release.dat"):
        if candidate.is_file():
            values = dict(
                line.split("=", 1)
                for line in candidate.read_text(encoding="utf-8", errors="replace").splitlines()
                if "=" in line and not line.startswith("#")
            )
            name = values.get("umls.release.name", "").strip() or None
            return name, _iso_date(values.get("umls.release.date", "").strip())
    return None, None


def _iso_date(text: str) -> str | None:
    """``20250505`` or ``2025-05-05`` → ``2025-05-05``; anything else → None."""
    digits = text.replace("-", "")
    if len(digits) == 8 and digits.isdigit():
        return f"{digits[:4]}-{digits[4:6]}-{digits[6:]}"
    return None


def source_versions(mrsab: Path | None, sabs: set[str]) -> dict[str, str]:
    """Current version (SVER, else VSAB) of each root source in ``sabs`` listed in MRSAB."""
    if mrsab is None:
        return {}
    found = {}
    for row in iter_rrf(mrsab, MRSAB_FIELDS):
        rsab, curver = row[3], row[21]
        if rsab in sabs and curver == "Y":
            found[rsab] = row[6] or row[2]
    return found


# --- MRSTY -------------------------------------------------------------------------------------


class CuiSemanticTypes:
    """CUI → its TUIs for every CUI in MRSTY, in about 8 bytes a CUI.

    Each key packs the CUI's number and the id of its (interned) TUI combination; lookups
    bisect the sorted array.  CUIs not of the usual ``C`` + 7 digits form go to a small dict.

    >>> types = CuiSemanticTypes()
    >>> types.add("C0020538", ["T047"])
    >>> types.finish()
    >>> types.lookup("C0020538"), types.lookup("C0000000")
    (('T047',), ())
    """

    _SHIFT: Final = 16

    def __init__(self) -> None:
        self._keys = array("Q")
        self._combos: list[tuple[str, ...]] = []
        self._combo_ids: dict[tuple[str, ...], int] = {}
        self._other: dict[str, set[str]] = {}
        self._sorted = True

    @classmethod
    def from_mrsty(cls, path: Path) -> CuiSemanticTypes:
        """Read MRSTY.RRF (rows of one CUI are adjacent in a release; order is not relied on)."""
        types = cls()
        for cui, rows in groupby(iter_rrf(path, MRSTY_FIELDS), key=lambda row: row[0]):
            types.add(cui, [row[1] for row in rows])
        types.finish()
        return types

    def add(self, cui: str, tuis: Sequence[str]) -> None:
        """Record ``tuis`` for ``cui`` (call :meth:`finish` after the last one)."""
        if _CUI_NUMBER.fullmatch(cui) is None:
            self._other.setdefault(cui, set()).update(tuis)
            return
        combo = tuple(sorted(set(tuis)))
        combo_id = self._combo_ids.get(combo)
        if combo_id is None:
            combo_id = len(self._combos)
            if combo_id >= 1 << self._SHIFT:
                raise ValueError("MRSTY: more distinct semantic type combinations than expected")
            self._combo_ids[combo] = combo_id
            self._combos.append(combo)
        key = int(cui[1:]) << self._SHIFT | combo_id
        if self._keys and key < self._keys[-1]:
            self._sorted = False
        self._keys.append(key)

    def finish(self) -> None:
        """Sort the keys if MRSTY was not in CUI order."""
        if not self._sorted:
            self._keys = array("Q", sorted(self._keys))
            self._sorted = True

    def lookup(self, cui: str) -> tuple[str, ...]:
        """The sorted TUIs of ``cui``; empty when MRSTY has no row for it."""
        if _CUI_NUMBER.fullmatch(cui) is None:
            return tuple(sorted(self._other.get(cui, ())))
        number = int(cui[1:])
        i = bisect_left(self._keys, number << self._SHIFT)
        found: set[str] = set()
        mask = (1 << self._SHIFT) - 1
        while i < len(self._keys) and self._keys[i] >> self._SHIFT == number:
            found.update(self._combos[self._keys[i] & mask])
            i += 1
        return tuple(sorted(found))

    def __len__(self) -> int:
        return len(self._keys) + len(self._other)


# --- MRCONSO -----------------------------------------------------------------------------------


def iter_concepts(
    mrconso: Path, languages: Sequence[str], sources: frozenset[str] | None
) -> Iterator[tuple[str, list[list[str]]]]:
    """Yield ``(CUI, kept atoms)`` per run of one CUI: language, SAB, SUPPRESS=N, a string."""
    langs = frozenset(languages)

    def kept(row: list[str]) -> bool:
        return (
            row[LAT] in langs
            and row[SUPPRESS] == "N"
            and (sources is None or row[SAB] in sources)
            and bool(row[STR].strip())
        )

    rows = (row for row in iter_rrf(mrconso, MRCONSO_FIELDS) if kept(row))
    for cui, atoms in groupby(rows, key=lambda row: row[CUI]):
        yield cui, list(atoms)


def _check_languages(languages: Sequence[str]) -> tuple[str, ...]:
    if isinstance(languages, str) or not languages:
        raise ValueError("languages must be a non-empty list of UMLS language codes, e.g. ENG")
    return tuple(languages)


def _preference(languages: Sequence[str]) -> Callable[[tuple[int, list[str]]], tuple[Any, ...]]:
    """Sort key of ``(position, atom)``: English first, then TS=P, STT=PF, ISPREF=Y, file order."""
    rank = {lat: (lat != "ENG", i) for i, lat in enumerate(languages)}

    def key(item: tuple[int, list[str]]) -> tuple[Any, ...]:
        position, atom = item
        return (
            rank[atom[LAT]],
            atom[TS] != "P",
            atom[STT] != "PF",
            atom[ISPREF] != "Y",
            position,
        )

    return key


def _display_rank(atom: list[str]) -> tuple[int, bool, bool]:
    ttys = DISPLAY_TTYS.get(atom[SAB], ())
    tty_rank = ttys.index(atom[TTY]) if atom[TTY] in ttys else len(ttys)
    return (tty_rank, atom[ISPREF] != "Y", atom[TS] != "P")


def _write_concept(
    src: SourceWriter,
    cui: str,
    atoms: list[list[str]],
    tuis: tuple[str, ...],
    table: SemanticTypeTable,
    preference: Callable[[tuple[int, list[str]]], tuple[Any, ...]],
) -> None:
    ranked = [atom for _, atom in sorted(enumerate(atoms), key=preference)]
    preferred = ranked[0][STR].strip()
    cid = src.concept(
        f"umls:{cui}",
        preferred,
        table.entity_type(tuis),
        semantic_type=",".join(tuis) or None,
    )
    src.code(cid, UMLS, cui, preferred)
    seen = {normalize(preferred)}
    for atom in ranked[1:]:
        norm = normalize(atom[STR])
        if norm and norm not in seen:
            seen.add(norm)
            src.term(cid, atom[STR], atom[TTY])
    best: dict[tuple[str, str], list[str]] = {}
    for atom in ranked:
        system = SAB_SYSTEMS.get(atom[SAB])
        code = atom[CODE].strip()
        if system is None or not code or code == "NOCODE":
            continue
        if system in _RANGE_SYSTEMS and "-" in code:
            continue
        current = best.get((system, code))
        if current is None or _display_rank(atom) < _display_rank(current):
            best[(system, code)] = atom
    for (system, code), atom in sorted(best.items()):
        src.code(cid, system, code, atom[STR].strip())
        if system == ICD10CM:
            src.crosswalk(UMLS, cui, ICD10CM, code, "same-concept")


def load_umls(
    writer: ArtifactWriter,
    folder: Path,
    *,
    languages: Sequence[str] = ("ENG",),
    sources: Sequence[str] | None = None,
) -> None:
    """Load a UMLS Metathesaurus installation into the artifact as source ``umls``.

    ``folder`` is the ``META`` folder (or the folder holding it); ``languages`` are UMLS LAT
    codes (``ENG``, ``SPA`` ...); ``sources`` restricts the atoms to these SABs (e.g.
    ``["SNOMEDCT_US", "RXNORM", "ICD10CM", "LNC", "MSH"]``), all when None.  A missing MRCONSO or
    MRSTY raises :class:`FileNotFoundError`; a malformed line :class:`RRFFormatError`.

    Example: the CUI C0020538 becomes ``umls:C0020538`` "Hypertension" (problem, T047) with codes
    C0020538 (UMLS), 38341003 (SNOMED CT) and I10 (ICD-10-CM), and a crosswalk C0020538 → I10.
    """
    langs = _check_languages(languages)
    sabs = frozenset(sources) if sources is not None else None
    release = find_umls_release(folder)
    versions = source_versions(release.mrsab, set(SAB_SYSTEMS) | set(sabs or ()))
    if sabs is not None and release.mrsab is not None:
        for missing in sorted(sabs - set(versions)):
            log.warning("UMLS: source %s is not in MRSAB.RRF; no atom of it will be kept", missing)
    description = (
        f"UMLS Metathesaurus {release.version}; languages {','.join(langs)}; "
        f"sources {','.join(sorted(sabs)) if sabs is not None else 'all'}"
    )
    if versions:
        listed = ", ".join(f"{sab} {version}" for sab, version in sorted(versions.items()))
        description += f"; source versions {listed}"
    types = CuiSemanticTypes.from_mrsty(release.mrsty)
    log.info("UMLS: %d CUIs with semantic types", len(types))
    table = load_semantic_types()
    preference = _preference(langs)
    with writer.source(
        SOURCE_NAME,
        version=release.version,
        license=LICENSE,
        description=f"{description}; semantic type table v{table.version}",
        release_date=release.release_date,
    ) as src:
        for n, (cui, atoms) in enumerate(iter_concepts(release.mrconso, langs, sabs), 1):
            _write_concept(src, cui, atoms, types.lookup(cui), table, preference)
            if n % COMMIT_EVERY == 0:
                src.db.commit()
                log.info("UMLS: %d concepts written", n)


# --- QuickUMLS index ---------------------------------------------------------------------------

QUICKUMLS_SIMSTRING_DIR: Final = "umls-simstring.db"
QUICKUMLS_SIMSTRING_FILE: Final = "umls-terms.simstring"
QUICKUMLS_CUISTY_DIR: Final = "cui-semtypes.db"
QUICKUMLS_FLUSH_EVERY: Final = 200_000
"""Distinct terms buffered before they are merged into the key-value store."""


def _nfkd(text: str) -> str:
    # QuickUMLS keys and simstring entries are NFKD-normalised (toolbox.safe_unicode).
    return unicodedata.normalize("NFKD", text)


def build_quickumls_index(
    folder: Path,
    out_dir: Path,
    *,
    languages: Sequence[str] = ("ENG",),
    sources: Sequence[str] | None = None,
    lowercase: bool = True,
    normalize_unicode: bool = False,
) -> None:
    """Write a QuickUMLS 1.4 index of the same filtered atoms, without QuickUMLS's installer.

    QuickUMLS's ``install.py`` downloads a spaCy model, reads all of MRSTY into a dict and keeps
    every term in memory; this writes the same files from the streamed, filtered MRCONSO:

    * ``umls-simstring.db/umls-terms.simstring``: simstring (character trigrams) of the terms;
    * ``cui-semtypes.db/cui.unqlite``: term → pickled ``{(CUI, is_preferred)}``;
    * ``cui-semtypes.db/semtypes.unqlite``: CUI → pickled ``{TUI, ...}``;
    * ``language.flag``, ``database_backend.flag`` (``unqlite``) and, as asked,
      ``lowercase.flag`` / ``normalize-unicode.flag``.

    ``QuickUMLS(out_dir)`` then loads it.  QuickUMLS holds one language, so ``languages`` must
    name exactly one.  CUIs without an MRSTY row are left out (QuickUMLS needs their types).
    Needs the ``unqlite`` package (and ``unidecode`` for ``normalize_unicode``); ``out_dir``
    must be empty or absent.
    """
    langs = _check_languages(languages)
    if len(langs) != 1:
        raise ValueError("a QuickUMLS index holds one language; pass exactly one")
    release = find_umls_release(folder)
    try:
        unqlite = import_module("unqlite")
    except ImportError as exc:
        raise RuntimeError(
            "build_quickumls_index needs the 'unqlite' package (pip install unqlite)"
        ) from exc
    transform = _quickumls_transform(lowercase=lowercase, normalize_unicode=normalize_unicode)
    from quickumls_simstring import simstring  # noqa: PLC0415 - a compiled extension

    if out_dir.exists() and any(out_dir.iterdir()):
        raise FileExistsError(f"{out_dir} is not empty; QuickUMLS indexes go into an empty folder")
    (out_dir / QUICKUMLS_SIMSTRING_DIR).mkdir(parents=True)
    (out_dir / QUICKUMLS_CUISTY_DIR).mkdir()
    (out_dir / "language.flag").write_text(langs[0], encoding="utf-8")
    (out_dir / "database_backend.flag").write_text("unqlite", encoding="utf-8")
    if lowercase:
        (out_dir / "lowercase.flag").touch()
    if normalize_unicode:
        (out_dir / "normalize-unicode.flag").touch()

    types = CuiSemanticTypes.from_mrsty(release.mrsty)
    sabs = frozenset(sources) if sources is not None else None
    terms_db = simstring.writer(
        str(out_dir / QUICKUMLS_SIMSTRING_DIR / QUICKUMLS_SIMSTRING_FILE), 3, False, True
    )
    cui_db = unqlite.UnQLite(str(out_dir / QUICKUMLS_CUISTY_DIR / "cui.unqlite"))
    semtypes_db = unqlite.UnQLite(str(out_dir / QUICKUMLS_CUISTY_DIR / "semtypes.unqlite"))
    pending: dict[str, set[tuple[str, int]]] = {}
    skipped = 0
    try:
        for cui, atoms in iter_concepts(release.mrconso, langs, sabs):
            tuis = types.lookup(cui)
            if not tuis:
                skipped += 1
                continue
            first: dict[str, int] = {}
            for atom in atoms:
                text = transform(atom[STR].strip())
                if text and text not in first:
                    first[text] = 1 if atom[ISPREF] == "Y" else 0
            if not first:
                continue
            cui_key = cui.encode("utf-8")
            if not semtypes_db.exists(cui_key):
                semtypes_db.store(cui_key, pickle.dumps(set(tuis)))
            for text, preferred in first.items():
                pending.setdefault(_nfkd(text), set()).add((cui, preferred))
            if len(pending) >= QUICKUMLS_FLUSH_EVERY:
                _flush_quickumls(pending, cui_db, terms_db)
        _flush_quickumls(pending, cui_db, terms_db)
    finally:
        terms_db.close()
        cui_db.close()
        semtypes_db.close()
    if skipped:
        log.warning("QuickUMLS index: %d CUIs without an MRSTY row were left out", skipped)


def _flush_quickumls(pending: dict[str, set[tuple[str, int]]], cui_db: Any, terms_db: Any) -> None:
    """Merge buffered term → CUIs into the store; a term new to the store joins simstring."""
    for term in sorted(pending):
        key = term.encode("utf-8")
        try:
            cuis: set[tuple[str, int]] = pickle.loads(cui_db.fetch(key))
        except KeyError:
            cuis = set()
            terms_db.insert(term)
        cuis |= pending[term]
        cui_db.store(key, pickle.dumps(cuis))
    pending.clear()
    cui_db.commit()  # unqlite keeps uncommitted pages in memory


def _quickumls_transform(*, lowercase: bool, normalize_unicode: bool) -> Callable[[str], str]:
    """The term transform QuickUMLS's installer applies for ``-L`` and ``-U``."""
    unidecode: Callable[[str], str] | None = None
    if normalize_unicode:
        try:
            unidecode = import_module("unidecode").unidecode
        except ImportError as exc:
            raise RuntimeError("normalize_unicode needs the 'unidecode' package") from exc

    def transform(text: str) -> str:
        if lowercase:
            text = text.lower()
        if unidecode is not None:
            text = unidecode(text)
        return text

    return transform
