"""`medallion submit --target fabric` and `medallion cancel --target fabric` against the strict Fabric stand-in.

Artifacts live in a lakehouse's Files area in OneLake. Every batch but one runs through the stand-in's
plain-Python runner (no JVM): submit and poll to success, the Environment item's packages, failure with
the driver's stderr from Fabric's monitoring API, cancel on timeout and by `medallion cancel`, refused
tokens (wrong audience, no workspace role). One test publishes the built wheel and deps.zip to OneLake and
runs the preflight job with the real spark-submit (the only JVM start here).
"""
from __future__ import annotations

import base64
import json
import re
import shutil
import uuid
from pathlib import Path

import pytest
import requests

from medallion.azure import cli_common
from medallion.azure.fabric import FABRIC_SCOPE, FabricLivyClient
from medallion.azure.storage import collect_artifacts, publish_artifacts
from tests.azure.helpers import WHEEL, FakeCredential, lay_out_artifacts, make_token, run_cli
from tests.azure.test_azure_submit import FAILING_JOB, OK_JOB
from tests.standins.adls_dfs import DfsStandIn
from tests.standins.fabric_livy import FabricLivyStandIn

pytestmark = pytest.mark.timeout(300)
REPO = Path(__file__).resolve().parents[2]
WS = "0f5c2e4a-1b2c-4d3e-8f90-a1b2c3d4e5f6"
LH = "7a8b9c0d-1e2f-4a3b-9c4d-5e6f7a8b9c0d"
ENV_ID = "c0ffee00-1234-4abc-8def-0123456789ab"
ONELAKE = "onelake.dfs.fabric.microsoft.com"
MEMBER = "00000000-0000-0000-0000-0000000000aa"  # the oid in tests.azure.helpers.make_token's tokens
BATCHES = f"/v1/workspaces/{WS}/lakehouses/{LH}/livyapi/versions/2023-12-01/batches"

ENV_JOB = '''
import env_pkg
print("environment:", env_pkg.WHERE)
'''
SLOW_JOB = '''
import time
print("working ...", flush=True)
time.sleep(120)
'''


def _onelake_artifacts(root: Path, version: str, jobs: dict[str, str]) -> str:
    """lay_out_artifacts' folder moved into the lakehouse's Files; its abfss:// URI in OneLake."""
    lay_out_artifacts(root, version, jobs)
    files = root / "onelake" / WS / "medallion.Lakehouse" / "Files" / "medallion"
    files.mkdir(parents=True, exist_ok=True)
    shutil.move(root / "acct" / "artifacts" / "medallion" / version, files / version)
    return f"abfss://{WS}@{ONELAKE}/medallion.Lakehouse/Files/medallion/{version}"


@pytest.fixture(scope="module")
def fabric(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("onelake")
    environment = root / "_environment"
    (environment / "env_pkg").mkdir(parents=True)
    (environment / "env_pkg" / "__init__.py").write_text("WHERE = 'from the Environment item'\n")
    with FabricLivyStandIn(root, workspaces={WS: {LH}}, environments={ENV_ID: environment}, runner="python",
                           work_root=root / "_work", members={MEMBER}) as server:
        yield server


@pytest.fixture
def credential(monkeypatch: pytest.MonkeyPatch) -> FakeCredential:
    """The CLI's credential: tokens for whatever scope it asks (a wrong scope gives a wrong audience)."""
    issued = FakeCredential()
    monkeypatch.setattr(cli_common, "build_credential", lambda kind, token_env=None: issued)
    monkeypatch.delenv("TF_BUILD", raising=False)
    return issued


def _argv(fabric, root: str, layer: str, *extra: str) -> list[str]:
    return ["submit", "--target", "fabric", "--endpoint", fabric.url, "--workspace-id", WS, "--lakehouse-id", LH,
            "--layer", layer, "--pipeline", "orders", "--env", "dev", "--artifact-root", root, "--wheel", WHEEL,
            "--poll-seconds", "0.3", *extra]


def _last(fabric):  # noqa: ANN202
    return fabric.batches[max(fabric.batches)]


def test_submit_polls_a_fabric_batch_to_success(fabric, credential, capsys) -> None:
    root = _onelake_artifacts(fabric.storage_root, "ok", {"bronze_job.py": OK_JOB})
    code = run_cli(_argv(fabric, root, "bronze", "--ado"))
    out = capsys.readouterr().out
    batch = _last(fabric)
    livy_id = fabric.livy_id(batch)
    assert code == 0, out + "\n".join(batch.log)
    assert f"##vso[task.setvariable variable=batchId;isOutput=true]{livy_id}" in out.splitlines()
    assert ("POST", BATCHES) in fabric.requests and ("GET", f"{BATCHES}/{livy_id}") in fabric.requests
    assert set(credential.scopes) == {(FABRIC_SCOPE,)}
    assert batch.state == "success"
    assert batch.request["file"] == f"{root}/jobs/bronze_job.py"
    assert batch.request["pyFiles"] == [f"{root}/{WHEEL}"]
    assert batch.request["archives"] == [f"{root}/conf.zip#conf", f"{root}/deps.zip#deps"]
    assert batch.request["conf"]["spark.targetLakehouse"] == LH
    assert "spark.fabric.environmentDetails" not in batch.request["conf"]  # the starter pool
    stdout = (batch.workdir / "driver.stdout").read_text().splitlines()
    assert "job args: --pipeline conf/pipelines/orders.yaml --env dev --conf-dir conf" in stdout
    assert "wheel: from the wheel | deps: from deps.zip" in stdout
    assert out.splitlines()[-1].startswith(f"Fabric batch {livy_id} (medallion-orders-bronze-dev) succeeded")
    assert not fabric.refused


def test_an_environment_item_provides_the_packages(fabric, credential, capsys) -> None:
    root = _onelake_artifacts(fabric.storage_root, "env", {"silver_job.py": ENV_JOB})
    assert run_cli(_argv(fabric, root, "silver", "--no-ado", "--no-deps")) == 1  # the starter pool lacks it
    assert "ModuleNotFoundError: No module named 'env_pkg'" in capsys.readouterr().out
    code = run_cli(_argv(fabric, root, "silver", "--no-ado", "--no-deps", "--environment-id", ENV_ID.upper()))
    batch = _last(fabric)
    assert code == 0, capsys.readouterr().out
    assert json.loads(batch.request["conf"]["spark.fabric.environmentDetails"]) == {"id": ENV_ID}
    assert "environment: from the Environment item" in (batch.workdir / "driver.stdout").read_text()


def test_a_failed_batch_shows_the_driver_logs_from_the_monitoring_api(fabric, credential, capsys) -> None:
    root = _onelake_artifacts(fabric.storage_root, "bad", {"gold_job.py": FAILING_JOB})
    code = run_cli(_argv(fabric, root, "gold", "--no-ado"))
    out = capsys.readouterr().out
    batch = _last(fabric)
    livy_id = fabric.livy_id(batch)
    assert code == 1
    assert batch.state == "dead"
    logs = f"/v1/workspaces/{WS}/lakehouses/{LH}/livySessions/{livy_id}/applications/{batch.app_id}/logs"
    assert fabric.requests.count(("GET", logs)) == 2  # stderr and stdout
    assert f"--- Driver stderr of Fabric batch {livy_id}" in out
    assert "loading orders ..." in out  # the driver's stdout
    last = out.splitlines()[-1]
    assert last.startswith(f"Fabric batch {livy_id} ") and "ended in state dead" in last
    assert "Fabric > Monitor" in last and f"appId {batch.app_id}" in last
    driver_logs = out[out.index("--- Driver stderr of"):]  # spark-submit's PythonRunner sends Python's stderr to stdout
    assert "ValueError: amount is not a number" in driver_logs  # fetched from the monitoring API, not the batch's log
    assert not any("ValueError" in line for line in batch.log)


def test_a_timeout_cancels_the_batch(fabric, credential, capsys) -> None:
    root = _onelake_artifacts(fabric.storage_root, "slow", {"bronze_job.py": SLOW_JOB})
    code = run_cli(_argv(fabric, root, "bronze", "--no-ado", "--timeout-minutes", "0.02"))
    out = capsys.readouterr().out
    batch = _last(fabric)
    livy_id = fabric.livy_id(batch)
    assert code == 1
    assert ("DELETE", f"{BATCHES}/{livy_id}") in fabric.requests
    assert fabric.wait(batch.id, timeout=60) == "killed"
    assert "did not finish within 0.02 minutes" in out and "it was cancelled" in out


def test_medallion_cancel_deletes_a_running_fabric_batch(fabric, credential, capsys) -> None:
    root = _onelake_artifacts(fabric.storage_root, "cancel", {"bronze_job.py": SLOW_JOB})
    client = FabricLivyClient(fabric.url, WS, LH, FakeCredential())
    created = client.create({"name": "slow", "file": f"{root}/jobs/bronze_job.py"})
    livy_id = created["id"]
    assert str(uuid.UUID(livy_id)) == livy_id
    assert fabric.wait_for_state(fabric.batch(livy_id).id, "running", timeout=60)
    argv = ["cancel", "--target", "fabric", "--endpoint", fabric.url, "--workspace-id", WS, "--lakehouse-id", LH,
            "--batch-id", livy_id]
    assert run_cli(argv) == 0
    assert capsys.readouterr().out.strip().endswith(f"Fabric batch {livy_id} cancelled")
    assert fabric.wait(fabric.batch(livy_id).id, timeout=60) == "killed"
    assert run_cli(argv) == 0  # a second cancel finds it ended
    assert "already ended (killed)" in capsys.readouterr().out
    assert run_cli([*argv[:-1], "42"]) == 2  # a Synapse-style id is no Fabric batch id


def test_a_token_for_another_audience_is_refused_and_named(fabric, monkeypatch, capsys, caplog) -> None:
    synapse_token = make_token(audience="https://dev.azuresynapse.net")
    monkeypatch.setenv(cli_common.FABRIC_TOKEN_ENV, synapse_token)
    monkeypatch.delenv("SYSTEM_ACCESSTOKEN", raising=False)
    monkeypatch.delenv("TF_BUILD", raising=False)
    before = len(fabric.batches)
    root = _onelake_artifacts(fabric.storage_root, "aud", {"bronze_job.py": OK_JOB})
    code = run_cli(_argv(fabric, root, "bronze", "--no-ado"))
    text = capsys.readouterr().out + caplog.text
    assert code != 0 and len(fabric.batches) == before
    assert "HTTP 401" in text and "audience https://dev.azuresynapse.net" in text
    assert "expected audience https://api.fabric.microsoft.com" in text
    assert synapse_token not in text and "standin-secret" not in text


def _token_for_oid(oid: str) -> str:
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none'})}.{part({'aud': 'https://api.fabric.microsoft.com', 'exp': 4102444800, 'oid': oid})}.x"


def test_an_identity_without_a_workspace_role_gets_403_naming_the_role(fabric, credential, capsys, caplog) -> None:
    response = requests.post(f"{fabric.url}{BATCHES}", json={"name": "x", "file": "abfss://x"}, timeout=10,
                             headers={"Authorization": "Bearer " + _token_for_oid(str(uuid.uuid4()))})
    assert response.status_code == 403 and response.json()["errorCode"] == "InsufficientPrivileges"
    before = len(fabric.batches)
    fabric.members.discard(MEMBER)  # the CLI's identity loses its role
    try:
        root = _onelake_artifacts(fabric.storage_root, "role", {"bronze_job.py": OK_JOB})
        code = run_cli(_argv(fabric, root, "bronze", "--no-ado"))
    finally:
        fabric.members.add(MEMBER)
    text = capsys.readouterr().out + caplog.text
    assert code != 0 and len(fabric.batches) == before
    assert "HTTP 403" in text and "workspace role" in text


def test_injected_faults_reach_the_client_as_the_service_would_send_them(fabric, credential, capsys, caplog) -> None:
    """A 503 on a poll is retried to success; a 403 with the service's body names the role and quotes its code."""
    root = _onelake_artifacts(fabric.storage_root, "faults", {"bronze_job.py": OK_JOB})
    fabric.inject(503, 2, method="GET", path="/batches/")
    assert run_cli(_argv(fabric, root, "bronze", "--no-ado")) == 0
    assert _last(fabric).state == "success"
    fabric.inject(403, 1, method="POST", path="/batches",
                  body={"requestId": "r", "errorCode": "InsufficientPrivileges", "message": "no role"})
    before = len(fabric.batches)
    assert run_cli(_argv(fabric, root, "bronze", "--no-ado")) != 0
    text = capsys.readouterr().out + caplog.text
    assert len(fabric.batches) == before
    assert "HTTP 403" in text and "workspace role" in text and "InsufficientPrivileges" in text


@pytest.mark.parametrize(("path", "body", "status"), [
    (BATCHES.replace("2023-12-01", "2019-11-01-preview"), {"name": "x", "file": "f"}, 404),
    (BATCHES.replace(LH, "99999999-9999-4999-8999-999999999999"), {"name": "x", "file": "f"}, 404),
    (BATCHES, {"name": "x", "file": "f", "artifactId": "a"}, 400),
    (BATCHES, {"name": "x"}, 400),
    (BATCHES, {"name": "x", "file": "f", "conf": {"spark.targetLakehouse": "99999999-9999-4999-8999-999999999999"}}, 400),
    (BATCHES, {"name": "x", "file": "f", "conf": {"spark.fabric.environmentDetails": ENV_ID}}, 400),
    (BATCHES, {"name": "x", "file": "f",
               "conf": {"spark.fabric.environmentDetails": json.dumps({"id": str(uuid.uuid4())})}}, 400),
])
def test_the_stand_in_refuses_what_fabric_refuses(fabric, path: str, body: dict, status: int) -> None:
    token = _token_for_oid(MEMBER)
    response = requests.post(f"{fabric.url}{path}", json=body, headers={"Authorization": f"Bearer {token}"},
                             timeout=10)
    assert response.status_code == status, response.text
    assert response.json()["errorCode"]


def test_fabric_needs_guids_and_publish_to_onelake_needs_the_files_area(fabric, credential, capsys) -> None:
    argv = _argv(fabric, "abfss://x", "bronze", "--no-ado")
    assert run_cli([a if a != LH else "my-lakehouse" for a in argv]) == 2
    assert run_cli([*argv, "--environment-id", "dev-env"]) == 2
    assert run_cli(["publish", "--target", f"abfss://{WS}@{ONELAKE}/medallion.Lakehouse/Tables/x",
                    "--version", "1", "--no-deps", "--no-ado"]) == 2


def test_the_built_wheel_runs_from_onelake_with_spark_submit(tmp_path, built_wheel, built_deps, credential,
                                                            capsys) -> None:
    """The one JVM start: publish the wheel and deps.zip to OneLake, run preflight on the Fabric stand-in."""
    storage = tmp_path / "storage"
    (storage / "onelake" / WS / "medallion.Lakehouse" / "Files").mkdir(parents=True)  # the workspace and lakehouse
    landing, lake = tmp_path / "landing", tmp_path / "lake"
    shutil.copytree(REPO / "data" / "landing" / "orders", landing / "orders")
    conf = tmp_path / "conf"
    shutil.copytree(REPO / "conf", conf)
    (conf / "env" / "fab.yaml").write_text(f"name: fab\nlanding_root: {landing}\nlakehouse_root: {lake}\n")
    files = collect_artifacts(built_wheel, REPO / "jobs", conf, built_deps)
    target = f"abfss://{WS}@{ONELAKE}/medallion.Lakehouse/Files/medallion"
    root = publish_artifacts(target, "fab.1", files, credential=FakeCredential(),
                             transport=DfsStandIn(storage).transport())
    assert (storage / "onelake" / WS / "medallion.Lakehouse" / "Files" / "medallion" / "fab.1" / built_wheel.name).is_file()
    with FabricLivyStandIn(storage, workspaces={WS: {LH}}, work_root=tmp_path / "work") as server:
        code = run_cli(["submit", "--target", "fabric", "--endpoint", server.url, "--workspace-id", WS,
                        "--lakehouse-id", LH, "--layer", "preflight", "--pipeline", "orders", "--env", "fab",
                        "--artifact-root", root, "--wheel", built_wheel.name, "--poll-seconds", "0.5", "--no-ado"])
        batch = server.batches[max(server.batches)]
        stdout = (batch.workdir / "driver.stdout").read_text()
        assert code == 0, capsys.readouterr().out + stdout
        assert not server.refused
    for dist in ("pyspark", "pydantic", "PyYAML", "medallion"):
        assert f"preflight: {dist} " in stdout
    assert "/deps/pydantic/__init__.py" in stdout


def test_the_pipeline_runs_the_same_stages_on_fabric_with_the_fabric_submit_target() -> None:
    import yaml

    main = yaml.safe_load((REPO / "azure-pipelines" / "azure-pipelines.yml").read_text())
    runtime = next(p for p in main["parameters"] if p["name"] == "runtime")
    assert runtime["default"] == "synapse" and runtime["values"] == ["synapse", "fabric"]
    text = (REPO / "azure-pipelines" / "azure-pipelines.yml").read_text()
    assert f"@{ONELAKE}/$(fabricLakehouseId)/Files/medallion" in text
    assert "parameters.runtime" not in text.split("stages:", 1)[1]  # stages do not depend on the runtime
    steps = yaml.safe_load((REPO / "azure-pipelines" / "templates" / "submit-steps.yml").read_text())["steps"]
    by_name = {s.get("name"): s for s in steps}
    assert "ne(variables['medallionRuntime'], 'fabric')" in by_name["submit"]["condition"]
    fabric_submit = by_name["submitFabric"]
    assert "eq(variables['medallionRuntime'], 'fabric')" in fabric_submit["condition"]
    script = fabric_submit["inputs"]["inlineScript"]
    assert "'submit', '--target', 'fabric', '--ado'" in script and "& medallion @arguments" in script
    assert fabric_submit["env"]["SYSTEM_ACCESSTOKEN"] == "$(System.AccessToken)"
    cleanup = steps[steps.index(fabric_submit) + 1]
    assert "canceled()" in cleanup["condition"] and "'fabric')" in cleanup["condition"]
    assert "medallion cancel --target fabric" in cleanup["inputs"]["inlineScript"]
    assert "--batch-id '$(submitFabric.batchId)'" in cleanup["inputs"]["inlineScript"]
    tree_sitter = pytest.importorskip("tree_sitter")
    tree_sitter_pwsh = pytest.importorskip("tree_sitter_pwsh")
    parser = tree_sitter.Parser(tree_sitter.Language(tree_sitter_pwsh.language()))
    for job_arguments in ("", "'--layers','bronze,silver'"):
        text = script.replace("${{ parameters.jobArguments }}", job_arguments)
        tree = parser.parse(re.sub(r"\$\{\{ parameters\.\w+ \}\}", "x", text).encode())
        assert "ERROR" not in str(tree.root_node) and "MISSING" not in str(tree.root_node)
