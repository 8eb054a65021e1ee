"""The terminology settings: folder, artifact name and named thresholds."""

from __future__ import annotations

from pathlib import Path

import pytest

from note2fhir.errors import ErrorCode, Note2FhirError
from note2fhir.settings import load_settings


def test_defaults_live_under_the_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTE2FHIR_TERMINOLOGY_DIR", raising=False)  # set for the test session
    monkeypatch.delenv("NOTE2FHIR_TERMINOLOGY_ARTIFACT", raising=False)
    settings = load_settings(data_dir=tmp_path)
    assert settings.terminology_dir is None
    assert settings.terminology_path == tmp_path / "terminology"
    assert settings.terminology_artifact_path == tmp_path / "terminology" / "default"
    assert settings.approximate_min_similarity == 0.8
    assert settings.candidate_limit == 10


def test_environment_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTE2FHIR_TERMINOLOGY_DIR", str(tmp_path / "terms"))
    monkeypatch.setenv("NOTE2FHIR_TERMINOLOGY_ARTIFACT", "umls-2025ab")
    monkeypatch.setenv("NOTE2FHIR_APPROXIMATE_MIN_SIMILARITY", "0.85")
    settings = load_settings()
    assert settings.terminology_artifact_path == tmp_path / "terms" / "umls-2025ab"
    assert settings.approximate_min_similarity == 0.85


@pytest.mark.parametrize(
    ("overrides", "name"),
    [
        ({"terminology_artifact": "../elsewhere"}, "terminology_artifact"),
        ({"approximate_min_similarity": 1.5}, "approximate_min_similarity"),
        ({"candidate_limit": 0}, "candidate_limit"),
    ],
)
def test_bad_values_name_the_setting(overrides: dict[str, object], name: str) -> None:
    with pytest.raises(Note2FhirError) as info:
        load_settings(**overrides)
    assert info.value.code is ErrorCode.SETTINGS_INVALID
    assert name in info.value.message
