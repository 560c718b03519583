"""Fixtures for the Azure delivery tests: credentials, stand-ins and a published-artifact layout."""
from __future__ import annotations

import shutil
import subprocess
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




@pytest.fixture(scope="session")
def built_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`python -m build --wheel` on a copy of the sources (build/ and *.egg-info stay out of the work tree)."""
    source = tmp_path_factory.mktemp("source")
    for name in ("setup.py", "pyproject.toml", "setup.cfg", "MANIFEST.in", "README.md"):
        if (REPO / name).exists():
            shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / "medallion", source / "medallion", ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("dist")
    command = [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(source)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:  # no local setuptools/wheel: let build make its isolated environment
        done = subprocess.run([c for c in command if c != "--no-isolation"], capture_output=True, text=True,
                              timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    (built,) = out.glob("medallion-*.whl")
    return built


@pytest.fixture(scope="session")
def built_deps(built_wheel: Path) -> Path:
    """`medallion deps` for the pool's platform (pip with --platform/--only-binary, from PyPI or pip's cache)."""
    from medallion.azure.bundle import build_dependency_archive

    out = built_wheel.parent / "deps.zip"
    build_dependency_archive(built_wheel, out)
    return out
