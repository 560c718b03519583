"""The dependency archive (issue 10 item 1) and the preflight batch (item 2) through the strict stand-ins.

The stand-in's pool Python has pyspark and delta only, so these batches import pydantic, PyYAML and
tenacity from the published ``deps.zip`` or not at all. Three spark-submit runs without Delta.
"""
from __future__ import annotations

import shutil
import uuid
import zipfile
from pathlib import Path

import pytest

from medallion.azure.commands import TOKEN_ENV
from medallion.azure.storage import collect_artifacts, publish_artifacts
from tests.azure.helpers import TOKEN, FakeCredential, run_cli
from tests.standins.adls_dfs import DfsStandIn
from tests.standins.synapse_livy import DELTA_SUBMIT_ARGS, LOCAL_SUBMIT_ARGS, SynapseLivyStandIn

pytestmark = pytest.mark.timeout(600)
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def livy(livy_spark):  # noqa: ANN001, ANN201 - the preflight job starts Spark: real spark-submit batches
    return livy_spark


def test_the_dependency_archive_holds_the_wheels_requirements_for_the_pool(built_wheel: Path,
                                                                            built_deps: Path) -> None:
    with zipfile.ZipFile(built_deps) as archive:
        names = archive.namelist()
    tops = {n.split("/", 1)[0] for n in names}
    assert {"pydantic", "pydantic_core", "yaml", "tenacity"} <= tops
    assert not any(t == "medallion" or t.startswith("medallion-") for t in tops)  # the wheel travels on pyFiles
    assert not any(t == "bin" for t in tops)
    # compiled for the pool: CPython 3.11 on Linux x86_64
    assert any(n.startswith("pydantic_core/") and "cpython-311-x86_64-linux-gnu" in n for n in names)


def _publish(livy, built_wheel: Path, built_deps: Path, tmp_path: Path, env_text: str) -> str:
    conf = tmp_path / "conf"
    shutil.copytree(REPO / "conf", conf)
    (conf / "env" / "pf.yaml").write_text(env_text)
    files = collect_artifacts(built_wheel, REPO / "jobs", conf, built_deps)
    return publish_artifacts("abfss://artifacts@acct.dfs.core.windows.net/medallion", f"pf-{uuid.uuid4().hex[:8]}",
                             files, credential=FakeCredential(), transport=DfsStandIn(livy.storage_root).transport())


def _preflight(livy, root: str, wheel: str, *extra: str) -> list[str]:
    return ["submit", "--endpoint", livy.url, "--pool", "pool1", "--layer", "preflight", "--pipeline", "orders",
            "--env", "pf", "--artifact-root", root, "--wheel", wheel, "--poll-seconds", "0.5", "--no-ado", *extra]


@pytest.fixture
def token_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    monkeypatch.delenv("TF_BUILD", raising=False)


@pytest.fixture(scope="module")
def delta_livy(tmp_path_factory: pytest.TempPathFactory):
    """A Synapse stand-in whose batches have Delta, as a Synapse 3.5 pool does (one spark-submit with Delta)."""
    root = tmp_path_factory.mktemp("adls-delta")
    with SynapseLivyStandIn(root, submit_args=(*LOCAL_SUBMIT_ARGS, *DELTA_SUBMIT_ARGS), work_root=root / "_work") as server:
        yield server


def test_preflight_imports_everything_and_probes_storage(delta_livy, built_wheel, built_deps, tmp_path, token_env,
                                                        capsys) -> None:
    livy = delta_livy
    landing, lake = tmp_path / "landing", tmp_path / "lake"
    shutil.copytree(REPO / "data" / "landing" / "orders", landing / "orders")
    root = _publish(livy, built_wheel, built_deps, tmp_path, f"name: pf\nlanding_root: {landing}\nlakehouse_root: {lake}\n")
    code = run_cli(_preflight(livy, root, built_wheel.name))
    batch = livy.batches[max(livy.batches)]
    stdout = (batch.workdir / "driver.stdout").read_text()
    assert code == 0, capsys.readouterr().out + stdout
    for dist in ("pyspark", "delta-spark", "pydantic", "PyYAML", "tenacity", "Jinja2", "MarkupSafe", "medallion"):
        assert f"preflight: {dist} " in stdout
    for dist in ("pyspark", "delta-spark", "pydantic", "PyYAML", "tenacity", "Jinja2", "MarkupSafe"):
        assert f"preflight: executor imports {dist} from " in stdout  # issue 23: on an executor too
    assert "/deps/pydantic/__init__.py" in stdout  # imported from the shipped archive, not the pool
    assert "executor imports Jinja2 from " in stdout and "/deps/jinja2/__init__.py" in stdout
    assert f"landing {landing}/orders: 3 entries readable" in stdout
    assert "preflight: wrote and deleted" in stdout and not any((lake / "_preflight").glob("probe-*"))
    assert "preflight: Delta session extension io.delta.sql.DeltaSparkSessionExtension and catalog configured" in stdout
    assert f"preflight: wrote and read back the Delta table {lake}/_preflight/delta-" in stdout
    assert not any((lake / "_preflight").glob("delta-*"))
    assert "preflight: storage is accessed as " in stdout  # the identity, printed (docs: "Which identity ...")


def test_preflight_without_the_archive_names_the_missing_package(livy, built_wheel, built_deps, tmp_path, token_env,
                                                                 capsys) -> None:
    root = _publish(livy, built_wheel, built_deps, tmp_path, "name: pf\nlanding_root: /x\nlakehouse_root: /y\n")
    code = run_cli(_preflight(livy, root, built_wheel.name, "--no-deps"))
    out = capsys.readouterr().out
    assert code == 1
    summary = out.strip().splitlines()[-1]
    assert "preflight: FAILED missing Python packages: pydantic" in summary and "PyYAML" in summary
    assert "tenacity" in summary and "deps.zip" in summary


def test_preflight_names_the_storage_path_and_identity_that_were_refused(livy, built_wheel, built_deps, tmp_path,
                                                                         token_env, capsys) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the lakehouse should be")
    root = _publish(livy, built_wheel, built_deps, tmp_path,
                    f"name: pf\nlanding_root: {tmp_path}/landing\nlakehouse_root: {blocker}/lakehouse\n")
    code = run_cli(_preflight(livy, root, built_wheel.name))
    out = capsys.readouterr().out
    assert code == 1
    failed = next(line for line in out.splitlines() if "preflight: FAILED cannot write" in line)
    assert f"{blocker}/lakehouse/_preflight/probe-" in failed
    assert " as " in failed and "(Spark user)" in failed
    assert f"landing {tmp_path}/landing/orders does not exist yet" in out
