"""note2fhir: clinical notes in FHIR resources → coded FHIR R4."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("note2fhir")
except PackageNotFoundError:  # pragma: no cover - running from an uninstalled tree
    __version__ = "0.0.0"

__all__ = ["__version__"]
