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
    """A Synapse stand-in without Delta (fast spark-submit) over a module-wide storage root."""
    root = tmp_path_factory.mktemp("adls")
    with SynapseLivyStandIn(root, submit_args=LOCAL_SUBMIT_ARGS, work_root=root / "_work") as server:
        yield server


