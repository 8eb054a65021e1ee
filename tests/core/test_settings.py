"""Settings: defaults, file, environment, validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from note2fhir.errors import ErrorCode, Note2FhirError
from note2fhir.settings import load_settings


def test_defaults() -> None:
    settings = load_settings()
    assert settings.pipeline[0] == "deid"
    assert settings.pipeline[-1] == "coding"
    assert settings.bundle_type == "collection"
    assert settings.fhir_bearer_token is None


def test_toml_file_then_environment_override(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "note2fhir.toml"
    config.write_text(
        'bundle_type = "transaction"\nfhir_base_url = "http://fhir.local/r4/"\n[stages.sections]\n',
        encoding="utf-8",
    )
    settings = load_settings(config)
    assert settings.bundle_type == "transaction"
    assert settings.fhir_base_url == "http://fhir.local/r4"
    monkeypatch.setenv("NOTE2FHIR_BUNDLE_TYPE", "document")
    monkeypatch.setenv("NOTE2FHIR_FETCH_ALLOWED_HOSTS", "a.local, b.local")
    settings = load_settings(config)
    assert settings.bundle_type == "document"
    assert settings.fetch_allowed_hosts == ["a.local", "b.local"]


def test_yaml_file(tmp_path: Path) -> None:
    config = tmp_path / "settings.yaml"
    config.write_text("pipeline: [sections]\nmax_attachment_bytes: 1000\n", encoding="utf-8")
    settings = load_settings(config)
    assert settings.pipeline == ["sections"]
    assert settings.max_attachment_bytes == 1000


def test_config_named_by_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "s.toml"
    config.write_text('bundle_type = "document"\n', encoding="utf-8")
    monkeypatch.setenv("NOTE2FHIR_CONFIG", str(config))
    assert load_settings().bundle_type == "document"


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("bundel_type = 'document'\n", "bundel_type"),
        ("bundle_type = 'zip'\n", "bundle_type"),
        ("max_attachment_bytes = -1\n", "max_attachment_bytes"),
        ("this is = = not toml", "not valid TOML"),
    ],
)
def test_bad_settings_name_the_setting(tmp_path: Path, content: str, fragment: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(content, encoding="utf-8")
    with pytest.raises(Note2FhirError) as info:
        load_settings(config)
    assert info.value.code is ErrorCode.SETTINGS_INVALID
    assert fragment in info.value.message


def test_token_is_secret_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTE2FHIR_FHIR_BEARER_TOKEN", "s3cr3t-token")
    settings = load_settings()
    assert settings.fhir_bearer_token is not None
    assert settings.fhir_bearer_token.get_secret_value() == "s3cr3t-token"
    assert "s3cr3t" not in repr(settings)


def test_fixed_clock_needs_an_offset() -> None:
    assert load_settings(clock="2026-03-01T09:30:00-05:00").clock is not None
    with pytest.raises(Note2FhirError, match="clock"):
        load_settings(clock="2026-03-01T09:30:00")
