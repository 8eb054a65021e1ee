"""One validated settings object: defaults, then a TOML or YAML file, then environment.

Every setting can be given as ``NOTE2FHIR_<NAME>`` (``NOTE2FHIR_FHIR_BASE_URL``); a settings
file is named by ``--config`` or ``NOTE2FHIR_CONFIG``.  Unknown keys in a file are an error,
so a typo never silently falls back to a default.  Per-stage options live under
``[stages.<name>]`` and are validated by the stage itself when the pipeline is built.
"""

from __future__ import annotations

import os
import tomllib
from contextvars import ContextVar
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import platformdirs
import yaml
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from note2fhir.errors import ErrorCode, Note2FhirError, validation_fields

CONFIG_ENV = "NOTE2FHIR_CONFIG"
DEFAULT_PIPELINE = [
    "deid",
    "sections",
    "sentences",
    "extract",
    "targets",
    "results",
    "assertion",
    "medication",
    "relations",
    "coding",
]

_CONFIG_PATH: ContextVar[Path | None] = ContextVar("note2fhir_config_path", default=None)

COMMA_LIST_FIELDS = ("pipeline", "fetch_allowed_hosts", "api_tokens", "api_jwt_algorithms")
"""List settings that also accept ``a,b,c`` (handy in environment variables)."""


def split_comma_list(value: Any) -> Any:
    """``"a, b"`` → ``["a", "b"]``; a JSON list string or any other value is left as it is."""
    if isinstance(value, str) and not value.lstrip().startswith("["):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


BundleType = Literal["collection", "transaction", "document"]
MedicationResource = Literal["MedicationStatement", "MedicationRequest"]


class Settings(BaseSettings):
    """Everything that can be configured, with documented defaults."""

    model_config = SettingsConfigDict(env_prefix="NOTE2FHIR_", extra="forbid", frozen=True)

    pipeline: list[str] = Field(
        default_factory=lambda: list(DEFAULT_PIPELINE),
        description="Stage names in the order they run.",
    )
    stages: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Options per stage name, checked by each stage."
    )
    data_dir: Path = Field(
        default_factory=lambda: Path(platformdirs.user_data_dir("note2fhir")),
        description="Where terminology artifacts and other built data live.",
    )
    terminology_dir: Path | None = Field(
        None,
        description="Folder holding terminology artifacts; unset means <data_dir>/terminology "
        "(see terminology_path).",
    )
    terminology_artifact: str = Field(
        "default",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        description="Name of the artifact (a sub-folder of the terminology folder) to read; "
        "'default' is the open build, made automatically on first use.",
    )
    terminology_auto_rebuild: bool = Field(
        True,
        description="Rebuild the open 'default' artifact once when this installation would "
        "build it differently (after an upgrade); turn off where several versions share one "
        "terminology folder or the folder is read-only (a warning is logged instead).",
    )
    approximate_min_similarity: float = Field(
        0.8,
        gt=0,
        le=1,
        description="Lowest cosine similarity (character trigrams) an approximate terminology "
        "match needs: 0.8 accepts 'hypertenson' for 'hypertension'.",
    )
    candidate_limit: int = Field(
        10, gt=0, description="How many ranked code candidates a lookup returns at most."
    )
    bundle_type: BundleType = Field(
        "collection", description="Output Bundle type: collection, transaction or document."
    )
    medication_resource: MedicationResource = Field(
        "MedicationStatement",
        description="Resource type of the medications a note lists: MedicationStatement "
        "(FHIR's resource for a reported medication) or MedicationRequest (intent plan, "
        "reported; for US Core consumers, which profile no MedicationStatement).",
    )
    identifier_system: str = Field(
        "urn:ietf:rfc:3986",
        description="System of the identifier every generated resource carries; the value "
        "is a urn:uuid derived from the source document, resource kind and span.",
    )
    fhir_base_url: str | None = Field(
        None, description="FHIR server that relative attachment urls (Binary/123) resolve to."
    )
    fhir_bearer_token: SecretStr | None = Field(
        None, description="Bearer token sent when fetching attachment urls."
    )
    fetch_timeout_s: float = Field(30.0, gt=0, description="Timeout for fetching a url.")
    fetch_allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Hosts that absolute attachment urls may point to, besides the FHIR base "
        "URL's host; '*' allows any (not advised for a service: server-side request forgery).",
    )
    max_attachment_bytes: int = Field(
        20_000_000, gt=0, description="Largest attachment (decoded bytes) that is processed."
    )
    log_level: str = Field("INFO", description="Python logging level name.")
    deid_secret: SecretStr | None = Field(
        None,
        description="Secret key (16+ characters) for de-identification surrogates and date "
        "shifts (HMAC); required for the deid stage's surrogate and shift_dates modes.",
    )
    deid_allow_ephemeral_secret: bool = Field(
        False,
        description="Development only: without deid_secret, use a random per-process secret "
        "(surrogates and date shifts then differ between runs) instead of refusing to run.",
    )
    clock: datetime | None = Field(
        None,
        description="A fixed processing time (ISO 8601 with offset) for reproducible output "
        "(Composition.date, Provenance.recorded); unset means now.",
    )
    # --- service: subscriptions, durable queue and write-back (service/queue.py, worker.py) ---
    source_fhir_base_url: str | None = Field(
        None,
        description="FHIR server that id-only and empty subscription notifications are read "
        "from; unset means fhir_base_url.",
    )
    target_fhir_base_url: str | None = Field(
        None,
        description="FHIR server the results are written to as transactions with conditional "
        "creates; unset means the source server.",
    )
    source_fhir_bearer_token: SecretStr | None = Field(
        None, description="Bearer token for the source server; unset means fhir_bearer_token."
    )
    target_fhir_bearer_token: SecretStr | None = Field(
        None, description="Bearer token for the target server; unset means fhir_bearer_token."
    )
    smart_client_id: str | None = Field(
        None,
        description="SMART Backend Services client id; when set (with smart_token_url and a "
        "private key), FHIR servers without a static bearer token get client-credentials "
        "access tokens.",
    )
    smart_token_url: str | None = Field(None, description="SMART token endpoint.")
    smart_private_key_path: Path | None = Field(
        None, description="PEM private key (RSA for RS384, EC P-384 for ES384) signing assertions."
    )
    smart_private_key: SecretStr | None = Field(
        None, description="The PEM private key itself, instead of smart_private_key_path."
    )
    smart_algorithm: Literal["RS384", "ES384"] = Field(
        "RS384", description="Signing algorithm of the client assertion."
    )
    smart_key_id: str | None = Field(None, description="'kid' header of the client assertion.")
    smart_scope: str = Field(
        "system/DocumentReference.read system/DiagnosticReport.read system/Binary.read "
        "system/*.write",
        description="Scopes asked for with client credentials.",
    )
    fhir_timeout_s: float = Field(
        30.0, gt=0, description="Timeout for each request to the source and target servers."
    )
    subscription_path: str = Field(
        "/subscription",
        pattern=r"^/[A-Za-z0-9/_-]*$",
        description="Path of the subscription (rest-hook) endpoint.",
    )
    subscription_criteria: str = Field(
        "DocumentReference",
        description="Search run on the source server when an empty notification arrives "
        "(resources updated since the last one are queued).",
    )
    queue_url: str | None = Field(
        None,
        description="Durable work queue: sqlite:///path (default <data_dir>/queue.sqlite3).",
    )
    writeback_worker: bool = Field(
        True, description="Drain the queue in each service worker process."
    )
    writeback_max_attempts: int = Field(
        8, ge=1, description="Attempts before a job moves to the dead-letter table."
    )
    writeback_backoff_base_s: float = Field(
        2.0, gt=0, description="First retry delay; doubles each attempt, with jitter."
    )
    writeback_backoff_max_s: float = Field(
        600.0, gt=0, description="Longest retry delay, also the cap on a honoured Retry-After."
    )
    writeback_lease_s: float = Field(
        300.0,
        gt=0,
        description="Visibility timeout: a claimed job whose worker died is retried after it.",
    )
    writeback_poll_s: float = Field(
        1.0, gt=0, description="How often an idle worker looks for due jobs."
    )
    # --- service: HTTP API, inbound auth, limits and serving (service/app.py, deploy/) ---
    api_tokens: list[SecretStr] = Field(
        default_factory=list,
        description="Static bearer tokens the service accepts (NOTE2FHIR_API_TOKENS=a,b).",
    )
    api_jwks: str | None = Field(
        None,
        description="JWKS that signs accepted JWT bearer tokens: a file path, or an https URL "
        "fetched at start-up and cached.",
    )
    api_jwt_issuer: str | None = Field(None, description="Required 'iss' of JWT bearer tokens.")
    api_jwt_audience: str | None = Field(None, description="Required 'aud' of JWT bearer tokens.")
    api_jwt_algorithms: list[str] = Field(
        default_factory=lambda: ["RS256", "RS384", "ES256", "ES384"],
        description="Signature algorithms accepted for JWT bearer tokens.",
    )
    api_jwt_scope: str | None = Field(
        None,
        description="A scope every JWT must grant (in 'scope' or 'scp'); a valid token "
        "without it gets 403.",
    )
    api_auth_disabled: bool = Field(
        False,
        description="Accept requests without a token (local testing only); without it and "
        "without tokens or a JWKS the service refuses to start.",
    )
    metrics_public: bool = Field(
        False, description="Serve /metrics without a bearer token (for an in-cluster scraper)."
    )
    max_request_bytes: int = Field(
        10_000_000, gt=0, description="Largest request body the service reads (413 above)."
    )
    service_host: str = Field("127.0.0.1", description="Address `note2fhir serve` binds.")
    service_port: int = Field(8080, gt=0, lt=65536, description="Port `note2fhir serve` binds.")
    service_workers: int = Field(
        2, gt=0, description="gunicorn worker processes; each holds one pipeline."
    )
    service_timeout_s: int = Field(
        120, gt=0, description="gunicorn worker timeout: a request running longer is killed."
    )

    @property
    def terminology_path(self) -> Path:
        """The terminology folder: ``terminology_dir``, or ``<data_dir>/terminology``."""
        return self.terminology_dir or self.data_dir / "terminology"

    @property
    def terminology_artifact_path(self) -> Path:
        """The folder of the artifact the library reads (``<terminology_path>/<artifact>``)."""
        return self.terminology_path / self.terminology_artifact

    @field_validator("fhir_base_url", "source_fhir_base_url", "target_fhir_base_url")
    @classmethod
    def _strip_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value

    @field_validator("clock")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.utcoffset() is None:
            raise ValueError("clock needs a UTC offset, e.g. 2026-03-01T09:30:00-05:00")
        return value

    @field_validator(*COMMA_LIST_FIELDS, mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        return split_comma_list(value)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Precedence: explicit arguments, environment, settings file, defaults."""
        return (
            init_settings,
            _CommaListEnvSource(settings_cls),
            _FileSource(settings_cls, _CONFIG_PATH.get() or os.environ.get(CONFIG_ENV)),
        )


class _CommaListEnvSource(EnvSettingsSource):
    """Environment source that also accepts ``a,b,c`` for list settings."""

    def prepare_field_value(
        self, field_name: str, field: FieldInfo, value: Any, value_is_complex: bool
    ) -> Any:
        if field_name in COMMA_LIST_FIELDS:
            value = split_comma_list(value)
            if isinstance(value, list):
                return value
        return super().prepare_field_value(field_name, field, value, value_is_complex)


class _FileSource(PydanticBaseSettingsSource):
    """Reads the TOML or YAML settings file, when one is named."""

    def __init__(self, settings_cls: type[BaseSettings], path: str | Path | None) -> None:
        super().__init__(settings_cls)
        self._data = read_settings_file(Path(path)) if path else {}

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._data)


def read_settings_file(path: Path) -> dict[str, Any]:
    """Parse a ``.toml`` or ``.yaml``/``.yml`` settings file into a dict."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise Note2FhirError(
            ErrorCode.SETTINGS_INVALID, reason=f"cannot read {path}: {exc.strerror}"
        ) from None
    try:
        if path.suffix.lower() == ".toml":
            data: Any = tomllib.loads(raw.decode("utf-8"))
        elif path.suffix.lower() in {".yaml", ".yml"}:
            data = yaml.safe_load(raw) or {}
        else:
            raise Note2FhirError(
                ErrorCode.SETTINGS_INVALID, reason=f"{path} must end in .toml, .yaml or .yml"
            )
    except (tomllib.TOMLDecodeError, yaml.YAMLError, UnicodeDecodeError):
        raise Note2FhirError(
            ErrorCode.SETTINGS_INVALID, reason=f"{path} is not valid TOML/YAML"
        ) from None
    if not isinstance(data, dict):
        raise Note2FhirError(ErrorCode.SETTINGS_INVALID, reason=f"{path} is not a mapping")
    return data


def load_settings(config: Path | None = None, **overrides: Any) -> Settings:
    """Build the settings from defaults, ``config`` (or ``NOTE2FHIR_CONFIG``), environment
    and ``overrides``; a bad value raises a catalogue error naming the setting."""
    token = _CONFIG_PATH.set(config)
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise Note2FhirError(ErrorCode.SETTINGS_INVALID, reason=validation_fields(exc)) from None
    finally:
        _CONFIG_PATH.reset(token)
