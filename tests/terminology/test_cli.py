"""``note2fhir terminology build | info | search`` through click's test runner."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from note2fhir.cli import main
from note2fhir.terminology.store import TerminologyStore
from terminology.build import OPEN_SOURCES


def _run(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(main, ["terminology", *args], env=env, catch_exceptions=False)


@pytest.fixture
def env(small_artifact: Path) -> dict[str, str]:
    """Point the CLI at the session's small artifact."""
    return {
        "NOTE2FHIR_TERMINOLOGY_DIR": str(small_artifact.parent),
        "NOTE2FHIR_TERMINOLOGY_ARTIFACT": small_artifact.name,
    }


def test_search(env: dict[str, str]) -> None:
    result = _run(env, "search", "HTN")
    assert result.exit_code == 0, result.stderr
    first = result.stdout.splitlines()[0]
    assert "icd10cm I10" in first
    assert "1.00" in first
    assert "exact: abbreviation 'HTN'" in first


def test_search_json_system_type_and_limit(env: dict[str, str]) -> None:
    result = _run(env, "search", "diabetes mellitus type 2", "--json", "--limit", "2")
    found = json.loads(result.stdout)
    assert len(found) == 2
    assert found[0]["codes"][0]["code"].startswith("E11")
    assert found[0]["reason"].startswith("same words, other order")
    uri = "http://hl7.org/fhir/sid/icd-10-cm"
    by_uri = json.loads(_run(env, "search", "CHF", "--system", uri, "--json").stdout)
    assert by_uri[0]["codes"][0]["code"] == "I50.9"
    none = _run(env, "search", "CHF", "--type", "medication")
    assert none.exit_code == 0
    assert none.stdout == ""
    assert "no candidates" in none.stderr


def test_search_marks_ambiguous_abbreviations(env: dict[str, str]) -> None:
    result = _run(env, "search", "PE", "--limit", "1")
    assert "[ambiguous]" in result.stdout


def test_search_unknown_system_is_a_one_line_error(env: dict[str, str]) -> None:
    result = _run(env, "search", "CHF", "--system", "icd9")
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "unknown code system 'icd9'" in result.stderr


def test_info(env: dict[str, str], small_artifact: Path) -> None:
    result = _run(env, "info")
    assert result.exit_code == 0, result.stderr
    assert f"artifact: {small_artifact}" in result.stdout
    assert "icd10cm: 2026 (April 1, 2026 release) (released 2026-04-01)" in result.stdout
    assert "licence: ICD-10-CM is in the public domain" in result.stdout
    data = json.loads(_run(env, "info", "--json").stdout)
    assert [s["name"] for s in data["sources"]] == ["icd10cm", "curated"]
    assert data["sources"][0]["concepts"] == 98_186


def test_info_without_artifact(tmp_path: Path) -> None:
    result = _run({"NOTE2FHIR_TERMINOLOGY_DIR": str(tmp_path)}, "info")
    assert result.exit_code == 2
    assert "TERMINOLOGY_MISSING" in result.stderr
    assert not (tmp_path / "default").exists()  # info never builds


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--umls", "/no/such/META"], "umls: /no/such/META is not an existing folder"),
        (["--loinc", "/no/such/Loinc.csv"], "loinc: /no/such/Loinc.csv is not an existing file"),
        (["--name", "../elsewhere"], "must be a plain folder name"),
    ],
)
def test_build_bad_path_is_a_one_line_error(tmp_path: Path, args: list[str], fragment: str) -> None:
    result = _run({"NOTE2FHIR_TERMINOLOGY_DIR": str(tmp_path)}, "build", *args)
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert fragment in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.full_build
def test_build_the_open_default_then_search(tmp_path: Path) -> None:
    """The one test that builds the whole open default (every open builder installed)."""
    env = {"NOTE2FHIR_TERMINOLOGY_DIR": str(tmp_path)}
    result = _run(env, "build")
    assert result.exit_code == 0, result.stderr
    assert "icd10cm: 98,186 concepts" in result.stderr
    assert f"artifact: {tmp_path / 'default'}" in result.stdout
    installed = [
        s
        for s in OPEN_SOURCES
        if s == "curated" or importlib.util.find_spec(f"terminology.sources.{s}") is not None
    ]
    info = TerminologyStore.open(tmp_path / "default").info()
    assert sorted(s["name"] for s in info["sources"]) == sorted(installed)
    search = _run(env, "search", "heart attack", "--system", "icd10cm", "--limit", "1")
    assert "icd10cm I21.9" in search.stdout
