"""`publish_artifacts` against the ADLS Gen2 (DFS) stand-in, through the real azure-storage-file-datalake SDK."""
from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import pytest

from medallion.azure.credentials import token_claims
from medallion.azure.storage import PublishError, collect_artifacts, parse_abfss, publish_artifacts
from medallion.errors import ConfigError
from tests.azure.helpers import run_cli

REPO = Path(__file__).resolve().parents[2]
TARGET = "abfss://artifacts@acct.dfs.core.windows.net/medallion"


@pytest.fixture
def files(tmp_path: Path) -> dict[str, bytes]:
    wheel = tmp_path / "medallion-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("medallion/__init__.py", "")
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    for layer in ("bronze", "silver", "gold"):
        (jobs / f"{layer}_job.py").write_text(f"# {layer}\n")
    (jobs / "__pycache__").mkdir()
    (jobs / "__pycache__" / "x.pyc").write_bytes(b"\0")
    conf = tmp_path / "conf"
    (conf / "pipelines").mkdir(parents=True)
    (conf / "env").mkdir()
    (conf / "pipelines" / "orders.yaml").write_text("dataset: orders\n")
    (conf / "env" / "dev.yaml").write_text("name: dev\n")
    deps = tmp_path / "deps.zip"
    with zipfile.ZipFile(deps, "w") as archive:
        archive.writestr("yaml/__init__.py", "")
    return collect_artifacts(wheel, jobs, conf, deps)


def test_collect_artifacts(files: dict[str, bytes]) -> None:
    assert sorted(files) == [
        "conf.zip", "conf/env/dev.yaml", "conf/pipelines/orders.yaml", "deps.zip", "jobs/bronze_job.py",
        "jobs/gold_job.py", "jobs/silver_job.py", "manifest.json", "medallion-0.1.0-py3-none-any.whl",
    ]
    with zipfile.ZipFile(io.BytesIO(files["conf.zip"])) as archive:
        assert sorted(archive.namelist()) == ["env/dev.yaml", "pipelines/orders.yaml"]
        assert archive.read("pipelines/orders.yaml") == b"dataset: orders\n"
    manifest = json.loads(files["manifest.json"])["files"]
    assert manifest["conf.zip"] == hashlib.sha256(files["conf.zip"]).hexdigest()


def test_repository_jobs_and_conf_are_publishable(tmp_path: Path) -> None:
    wheel = tmp_path / "medallion-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"PK\x05\x06" + b"\0" * 18)
    files = collect_artifacts(wheel, REPO / "jobs", REPO / "conf")
    assert {"jobs/bronze_job.py", "jobs/silver_job.py", "jobs/gold_job.py", "conf/pipelines/orders.yaml"} <= set(files)


def test_publish_uploads_to_staging_then_renames_into_place(dfs, credential, files) -> None:
    root = publish_artifacts(TARGET, "20261126.3", files, credential=credential, transport=dfs.transport())
    assert root == f"{TARGET}/20261126.3"
    folder = dfs.root / "acct" / "artifacts" / "medallion" / "20261126.3"
    for name, data in files.items():
        assert (folder / name).read_bytes() == data, name
    assert sorted(p.name for p in folder.parent.iterdir()) == ["20261126.3"]  # no staging left behind

    mutations = dfs.mutations()
    final = "/artifacts/medallion/20261126.3"
    rename = mutations[-1]
    assert rename.method == "PUT" and rename.path == final and "x-ms-rename-source" in rename.headers
    staging = rename.headers["x-ms-rename-source"].split("?")[0]
    assert staging.startswith("/artifacts/medallion/_staging-20261126.3-")
    # every write before the rename went to the staging folder; the final folder was never written to
    assert all(c.path.startswith(staging) for c in mutations[:-1])
    assert not any(c.path.startswith(final) for c in mutations[:-1])
    uploads = [c.path for c in mutations if c.method == "PATCH" and c.query.get("action") == "flush"]
    assert uploads[-1].endswith("/manifest.json")  # the manifest is written last
    assert len(uploads) == len(files)
    tokens = {c.headers.get("authorization", "").removeprefix("Bearer ") for c in dfs.calls}
    assert {token_claims(t).get("aud") for t in tokens} == {"https://storage.azure.com"}
    assert credential.scopes and credential.scopes[0] == ("https://storage.azure.com/.default",)


def test_existing_version_is_kept_unless_overwrite(dfs, credential, files) -> None:
    older = {**files, "jobs/bronze_job.py": b"# an older bronze\n"}
    older["manifest.json"] = b'{"files": {"older": "1"}}'
    publish_artifacts(TARGET, "1.0", older, credential=credential, transport=dfs.transport())
    folder = dfs.root / "acct" / "artifacts" / "medallion" / "1.0"
    (folder / "stale.txt").write_text("from an older upload")
    with pytest.raises(ConfigError, match="already exists with other content"):
        publish_artifacts(TARGET, "1.0", files, credential=credential, transport=dfs.transport())
    assert (folder / "stale.txt").exists()

    publish_artifacts(TARGET, "1.0", files, credential=credential, transport=dfs.transport(), overwrite=True)
    assert not (folder / "stale.txt").exists()
    assert (folder / "manifest.json").read_bytes() == files["manifest.json"]
    assert sorted(p.name for p in folder.parent.iterdir()) == ["1.0"]  # the replaced copy is gone


def test_republishing_identical_artifacts_is_a_success_that_changes_nothing(dfs, credential, files) -> None:
    """Item 6: before, a re-run of Publish (same build, same bytes) was refused without --overwrite."""
    root = publish_artifacts(TARGET, "7", files, credential=credential, transport=dfs.transport())
    before = len(dfs.mutations())
    assert publish_artifacts(TARGET, "7", files, credential=credential, transport=dfs.transport()) == root
    assert publish_artifacts(TARGET, "7", files, credential=credential, transport=dfs.transport(),
                             overwrite=True) == root
    assert len(dfs.mutations()) == before  # nothing uploaded, renamed or deleted


def test_overwrite_restores_the_old_version_when_the_second_rename_fails(dfs, credential, files) -> None:
    """Item 6: before, the old copy was left under _replaced-... and {version} was gone."""
    older = {**files, "jobs/bronze_job.py": b"# the version that runs today\n", "manifest.json": b"{}"}
    publish_artifacts(TARGET, "8", older, credential=credential, transport=dfs.transport())
    dfs.fail_rename(2)  # 1: old version aside (succeeds), 2: new version into place (fails)
    with pytest.raises(PublishError, match="the previous version is back in place"):
        publish_artifacts(TARGET, "8", files, credential=credential, transport=dfs.transport(), overwrite=True)
    base = dfs.root / "acct" / "artifacts" / "medallion"
    assert sorted(p.name for p in base.iterdir()) == ["8"]  # no _replaced-*, no _staging-*
    assert (base / "8" / "jobs" / "bronze_job.py").read_bytes() == b"# the version that runs today\n"
    renames = [c for c in dfs.calls if "x-ms-rename-source" in c.headers]
    assert [c.status for c in renames] == [201, 201, 403, 201]  # publish, aside, (refused), back


def test_failed_upload_leaves_nothing_in_place(dfs, credential, files) -> None:
    def refuse_jobs(method: str, path: str, query: dict[str, str]):  # noqa: ANN202
        if method == "PATCH" and path.endswith("/jobs/silver_job.py"):
            return 403, "AuthorizationPermissionMismatch"
        return None

    dfs.fail = refuse_jobs
    with pytest.raises(PublishError, match="20261126.4"):
        publish_artifacts(TARGET, "20261126.4", files, credential=credential, transport=dfs.transport())
    base = dfs.root / "acct" / "artifacts" / "medallion"
    assert list(base.iterdir()) == []  # neither the version folder nor the staging folder
    assert not any(c.path.endswith("/20261126.4") and c.method == "PUT" for c in dfs.calls)


@pytest.mark.parametrize(
    "uri",
    ["https://acct.dfs.core.windows.net/x", "abfss://Artifacts@acct.dfs.core.windows.net/x",
     "abfss://artifacts@acct.blob.core.windows.net/x", "abfss://artifacts@acct.dfs.core.windows.net/a/../b"],
)
def test_bad_targets(uri: str) -> None:
    with pytest.raises(ConfigError):
        parse_abfss(uri)


def test_parse_abfss() -> None:
    location = parse_abfss("abfss://artifacts@acct.dfs.core.windows.net/medallion/")
    assert (location.filesystem, location.account, location.path) == ("artifacts", "acct", "medallion")
    assert location.account_url == "https://acct.dfs.core.windows.net"
    assert location.uri("7") == "abfss://artifacts@acct.dfs.core.windows.net/medallion/7"


def test_bad_version_names(dfs, credential, files) -> None:
    for version in ("../x", "a/b", ""):
        with pytest.raises(ConfigError):
            publish_artifacts(TARGET, version, files, credential=credential, transport=dfs.transport())
    assert dfs.calls == []


def test_cli_reports_a_missing_wheel_with_exit_2(tmp_path: Path, capsys) -> None:
    code = run_cli(["publish", "--target", TARGET, "--version", "1", "--dist-dir", str(tmp_path), "--ado"])
    assert code == 2
    assert "##vso[task.logissue type=error]" in capsys.readouterr().out
