"""Fixtures shared by every test package.

The whole test session reads ONE open terminology artifact, built on first use into pytest's
cache folder (keyed by the open recipe: a hash of the builders and the source packages'
versions, so a changed builder rebuilds it; the first build takes about 25 s).
``NOTE2FHIR_TERMINOLOGY_DIR`` points there for the session, so CLI and service tests
(subprocesses included) never build into the user's data folder.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from note2fhir.document import ClinicalDocument, EntityType, SourceRef, TargetSpan
from note2fhir.pipeline import Pipeline
from note2fhir.settings import Settings, load_settings
from note2fhir.terminology import schema
from note2fhir.terminology.store import TerminologyStore
from terminology.build import build_artifact
from terminology.recipe import open_recipe

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
ARTIFACT = "default"
SOURCE = SourceRef(
    "DocumentReference", "n1", "DocumentReference/n1", "DocumentReference.content[0].attachment"
)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The team's evaluation data beside the clone; tests using it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present beside the repository")
    return SHARED_DATA


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root (for the README's sample files)."""
    return REPO_ROOT


@pytest.fixture(scope="session", autouse=True)
def _session_terminology_dir(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    """Point every test (and subprocess) at the cached test terminology folder."""
    name = f"n2f-open-terminology-{open_recipe()}"
    cache = getattr(request.config, "cache", None)
    folder = cache.mkdir(name) if cache is not None else tmp_path_factory.mktemp(name)
    patch = pytest.MonkeyPatch()
    patch.setenv("NOTE2FHIR_TERMINOLOGY_DIR", str(folder))
    patch.setenv("NOTE2FHIR_TERMINOLOGY_ARTIFACT", ARTIFACT)
    yield folder
    patch.undo()


@pytest.fixture(scope="session")
def terminology_dir(_session_terminology_dir: Path) -> Path:
    """The folder holding the built ``default`` open artifact."""
    if not (_session_terminology_dir / ARTIFACT / schema.DB_FILE).is_file():
        build_artifact(_session_terminology_dir / ARTIFACT, name=ARTIFACT)
    return _session_terminology_dir


@pytest.fixture(scope="session")
def store(terminology_dir: Path) -> Iterator[TerminologyStore]:
    """The test artifact, opened read-only."""
    with TerminologyStore.open(terminology_dir / ARTIFACT) as opened:
        yield opened


@pytest.fixture(scope="session")
def settings(terminology_dir: Path) -> Settings:
    """Settings that read the test artifact."""
    return load_settings(terminology_dir=terminology_dir, terminology_artifact=ARTIFACT)


@pytest.fixture(scope="session")
def nlp(settings: Settings) -> Pipeline:
    """sections → sentences → extract → coding."""
    return Pipeline.from_settings(
        load_settings(
            terminology_dir=settings.terminology_dir,
            terminology_artifact=ARTIFACT,
            pipeline=["sections", "sentences", "extract", "coding"],
        )
    )


@pytest.fixture
def read(nlp: Pipeline) -> Callable[[str], ClinicalDocument]:
    """Run sections → sentences → extract → coding over a note."""

    def run(text: str) -> ClinicalDocument:
        return nlp.run(ClinicalDocument(id="n1", source=SOURCE, original_text=text))

    return run


_MARK = re.compile(r"\[\[([MPTX]):(.*?)\]\]", re.DOTALL)
_MARK_TYPES = {
    "M": EntityType.MEDICATION,
    "P": EntityType.PROBLEM,
    "T": EntityType.TEST,
    "X": EntityType.PROCEDURE,
}


def marked_document(marked: str) -> ClinicalDocument:
    """A document whose targets are the inline marks of ``marked``: ``[[M:metoprolol]]``
    (M medication, P problem, T test, X procedure), so stage tests need no extractor."""
    text = ""
    targets = []
    pos = 0
    for match in _MARK.finditer(marked):
        text += marked[pos : match.start()]
        start = len(text)
        text += match.group(2)
        targets.append(TargetSpan(start, len(text), _MARK_TYPES[match.group(1)]))
        pos = match.end()
    text += marked[pos:]
    doc = ClinicalDocument(id="n1", source=SOURCE, original_text=text)
    doc.targets = targets
    return doc


@pytest.fixture(scope="session")
def mark() -> Callable[[str], ClinicalDocument]:
    """:func:`marked_document`, for tests that run stages themselves."""
    return marked_document
