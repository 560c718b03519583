"""Fixtures for the Azure delivery tests: credentials, stand-ins and a published-artifact layout."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # the stand-ins are imported as tests.standins.* whatever the pytest rootdir
    sys.path.insert(0, str(REPO))

pytest.importorskip("azure.storage.filedatalake", reason="install medallion[dev] for the Azure tests")

from tests.azure.helpers import FakeCredential  # noqa: E402
from tests.standins.adls_dfs import DfsStandIn  # noqa: E402
from tests.standins.synapse_livy import LOCAL_SUBMIT_ARGS, SynapseLivyStandIn  # noqa: E402


@pytest.fixture
def credential() -> FakeCredential:
    return FakeCredential()


@pytest.fixture
def storage_root(tmp_path: Path) -> Path:
    root = tmp_path / "adls"
    (root / "acct" / "artifacts").mkdir(parents=True)
    return root


@pytest.fixture
def dfs(storage_root: Path) -> DfsStandIn:
    return DfsStandIn(storage_root)


@pytest.fixture(scope="module")
def livy(tmp_path_factory: pytest.TempPathFactory):
    """A Synapse stand-in over a module-wide storage root that runs each batch's file with the pool's plain
    Python (no JVM): the protocol (tokens, 401/403, states, timeouts, cancel, logs) without spark-submit."""
    root = tmp_path_factory.mktemp("adls")
    with SynapseLivyStandIn(root, runner="python", work_root=root / "_work") as server:
        yield server


@pytest.fixture(scope="module")
def livy_spark(tmp_path_factory: pytest.TempPathFactory):
    """A Synapse stand-in without Delta that runs batches with real spark-submit (slow tier)."""
    root = tmp_path_factory.mktemp("adls")
    with SynapseLivyStandIn(root, submit_args=LOCAL_SUBMIT_ARGS, work_root=root / "_work") as server:
        yield server


@pytest.fixture(scope="session")
def built_deps(built_wheel: Path) -> Path:
    """`medallion deps` for the pool's platform (pip with --platform/--only-binary, from PyPI or pip's cache):
    built once per run beside the run's one wheel, by the first xdist worker that needs it, under a lock."""
    from filelock import FileLock

    from medallion.azure.bundle import build_dependency_archive

    out = built_wheel.parent / "deps.zip"
    with FileLock(built_wheel.parent / "deps.lock"):
        if not out.is_file():
            partial = out.with_name("deps.partial.zip")
            build_dependency_archive(built_wheel, partial)
            partial.replace(out)
    return out
