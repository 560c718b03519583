"""`medallion submit` (the path Submit-SynapseSparkJob.ps1 calls) against the strict Synapse stand-in.

Each test runs one batch through the stand-in with its plain-Python runner (the batch's file run by the
pool's Python, which has pyspark but none of our dependencies; no JVM: these jobs never start Spark). Covered: success with the conf and deps archives and the wheel in place; the
driver's stderr from the history endpoint on failure (issue 10 item 3); tokens that expire mid-poll
(item 4); cancel on timeout, SIGTERM, a refused token and transient poll errors (item 5); the wheel name
passed along, never rebuilt (item 8).
"""
from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from medallion.azure.commands import TOKEN_ENV
from tests.azure.helpers import TOKEN, WHEEL, FakeCredential, lay_out_artifacts, make_token, run_cli

pytestmark = pytest.mark.timeout(240)
REPO = Path(__file__).resolve().parents[2]
BATCHES = "/livyApi/versions/2019-11-01-preview/sparkPools/pool1/batches"

OK_JOB = '''
import os, sys
import standin_marker, standin_dep
assert os.path.isfile("conf/pipelines/orders.yaml"), os.listdir(".")
print("job args:", " ".join(sys.argv[1:]))
print("wheel:", standin_marker.MARK, "| deps:", standin_dep.DEP)
print("##vso[task.setvariable variable=injected]yes")
'''
IMPORTS_DEP_JOB = '''
import standin_dep
print("deps:", standin_dep.DEP)
'''
POOL_LACKS_JOB = '''
import importlib.util, sys
missing = [m for m in ("pydantic", "yaml", "tenacity") if importlib.util.find_spec(m) is None]
present = [m for m in ("pyspark", "delta") if importlib.util.find_spec(m) is not None]
print("missing:", ",".join(missing), "present:", ",".join(present))
sys.exit(0 if missing == ["pydantic", "yaml", "tenacity"] and present == ["pyspark", "delta"] else 5)
'''
FAILING_JOB = '''
import sys
print("loading orders ...")
sys.stderr.write("Traceback (most recent call last):\\nValueError: amount is not a number\\n")
sys.exit(3)
'''
SLOW_JOB = '''
import time
print("working ...", flush=True)
time.sleep({seconds})
print("done", flush=True)
'''


@pytest.fixture
def submit_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    monkeypatch.delenv("TF_BUILD", raising=False)
    for name in ("SYSTEM_ACCESSTOKEN", "AZURESUBSCRIPTION_SERVICE_CONNECTION_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BUILD_BUILDID", "4711")


def _argv(livy, root: str, layer: str, *extra: str) -> list[str]:
    return ["submit", "--endpoint", livy.url, "--pool", "pool1", "--layer", layer, "--pipeline", "orders",
            "--env", "dev", "--artifact-root", root, "--wheel", WHEEL, "--poll-seconds", "0.3", *extra]


def _last(livy):  # noqa: ANN202
    return livy.batches[max(livy.batches)]


def _stdout(batch) -> list[str]:  # noqa: ANN001
    return (batch.workdir / "driver.stdout").read_text().splitlines()


# --------------------------------------------------------------------------- the happy path, item 1


def test_success_runs_the_job_with_the_conf_and_deps_archives_and_the_wheel(livy, submit_env, capsys) -> None:
    root = lay_out_artifacts(livy.storage_root, "ok", {"bronze_job.py": OK_JOB})
    code = run_cli(_argv(livy, root, "bronze", "--ado", "--tag", "team=data"))
    out = capsys.readouterr().out
    batch = _last(livy)
    assert code == 0, out + "\n".join(batch.log)
    assert f"##vso[task.setvariable variable=batchId;isOutput=true]{batch.id}" in out.splitlines()
    assert batch.state == "success" and batch.result == "Succeeded"
    assert batch.request["archives"] == [f"{root}/conf.zip#conf", f"{root}/deps.zip#deps"]
    assert batch.request["conf"]["spark.yarn.appMasterEnv.PYTHONPATH"] == "deps"
    assert batch.request["conf"]["spark.executorEnv.PYTHONPATH"] == "deps"
    assert "job args: --pipeline conf/pipelines/orders.yaml --env dev --conf-dir conf" in _stdout(batch)
    assert "wheel: from the wheel | deps: from deps.zip" in _stdout(batch)
    assert not any("job args" in line for line in batch.log)  # the batch's log is the launcher's only
    assert batch.request["tags"]["team"] == "data" and batch.request["tags"]["ado.buildId"] == "4711"
    assert "succeeded" in out.splitlines()[-1]
    assert "##vso[task.setvariable variable=injected" not in out


def test_the_pool_python_has_pyspark_and_delta_but_none_of_our_dependencies(livy, submit_env, capsys) -> None:
    root = lay_out_artifacts(livy.storage_root, "pool", {"bronze_job.py": POOL_LACKS_JOB})
    code = run_cli(_argv(livy, root, "bronze", "--no-ado", "--no-deps"))
    assert code == 0, capsys.readouterr().out + "\n".join(_stdout(_last(livy)))
    assert "missing: pydantic,yaml,tenacity present: pyspark,delta" in _stdout(_last(livy))


def test_without_the_deps_archive_the_job_cannot_import_its_dependencies(livy, submit_env, capsys) -> None:
    """Item 1: before, the payload had no deps archive and no PYTHONPATH; the pool cannot import them."""
    root = lay_out_artifacts(livy.storage_root, "nodeps", {"bronze_job.py": IMPORTS_DEP_JOB})
    assert run_cli(_argv(livy, root, "bronze", "--no-ado", "--no-deps")) == 1
    out = capsys.readouterr().out
    assert "ModuleNotFoundError: No module named 'standin_dep'" in out
    assert run_cli(_argv(livy, root, "bronze", "--no-ado")) == 0, capsys.readouterr().out


# --------------------------------------------------------------------------- item 3: driver stderr


def test_failed_job_shows_the_driver_stderr_from_the_history_endpoint(livy, submit_env, capsys, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    root = lay_out_artifacts(livy.storage_root, "bad", {"silver_job.py": FAILING_JOB})
    code = run_cli(_argv(livy, root, "silver", "--ado", "--workspace", "syn-dev", "--subscription-id", "sub-1",
                         "--resource-group", "rg-1"))
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    batch = _last(livy)
    assert code == 1
    assert not any("ValueError" in line for line in batch.log)  # Livy's log never holds the traceback
    history = f"/sparkhistory/api/v1/sparkpools/pool1/livyid/{batch.id}/applications/{batch.app_id}/driverlog"
    assert ("GET", f"{history}/stderr/") in livy.requests and ("GET", f"{history}/stdout/") in livy.requests
    shown = []
    for title in ("Driver stderr of Synapse batch", "Driver stdout of Synapse batch"):
        start = next(i for i, line in enumerate(lines) if line.startswith(f"##[group]{title}"))
        shown += lines[start + 1:lines.index("##[endgroup]", start)]
    assert "ValueError: amount is not a number" in shown
    issue = next(line for line in lines if line.startswith("##vso[task.logissue type=error]"))
    assert "ended in state dead" in issue and "ValueError: amount is not a number" in issue
    assert batch.app_id in issue
    assert (f"https://web.azuresynapse.net/en/monitoring/sparkapplication/medallion-orders-silver-dev?workspace="
            f"/subscriptions/sub-1/resourceGroups/rg-1/providers/Microsoft.Synapse/workspaces/syn-dev"
            f"&livyId={batch.id}&sparkPoolName=pool1") in issue
    assert TOKEN not in captured.out + captured.err + caplog.text


def test_failed_job_in_json_output(livy, submit_env, capsys) -> None:
    root = lay_out_artifacts(livy.storage_root, "bad-json", {"gold_job.py": FAILING_JOB})
    code = run_cli(_argv(livy, root, "gold", "--no-ado", "--output", "json"))
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 1
    assert report["state"] == "dead" and report["result"] == "Failed" and report["outcome"] == "failed"
    assert "ValueError: amount is not a number" in report["driver_stdout"] + report["driver_stderr"]
    assert "User application exited with status 3" in report["log"]


# --------------------------------------------------------------------------- item 4: tokens


def test_a_handed_over_token_that_expires_mid_poll_is_reported_as_expired(livy, submit_env, monkeypatch,
                                                                          capsys) -> None:
    """Item 4: before, an expired token was reported as a missing role, and the batch kept running."""
    monkeypatch.setenv(TOKEN_ENV, make_token(expires_on=time.time() + 4))
    root = lay_out_artifacts(livy.storage_root, "expiring", {"bronze_job.py": SLOW_JOB.format(seconds=60)})
    code = run_cli(_argv(livy, root, "bronze", "--ado", "--poll-seconds", "1"))
    out = capsys.readouterr().out
    assert code == 1
    issue = next(line for line in out.splitlines() if line.startswith("##vso[task.logissue type=error]"))
    assert "HTTP 401: the access token expired" in issue and "SYSTEM_ACCESSTOKEN" in issue
    assert "Synapse Compute Operator" not in issue
    assert any("IDX10223" in reason for _, _, reason in livy.refused)
    # the expired token cannot cancel either: that is what the pipeline's cleanup step is for
    batch = _last(livy)
    assert "could NOT be cancelled" in issue and batch.state == "running"
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    assert run_cli(["cancel", "--endpoint", livy.url, "--pool", "pool1", "--batch-id", str(batch.id)]) == 0
    assert livy.wait(batch.id, 30) == "killed"


def test_a_renewing_credential_outlives_short_tokens(livy, submit_env, monkeypatch, capsys) -> None:
    """Item 4: tokens of 3 s, a job of ~8 s: the credential is asked again before every request."""
    credential = FakeCredential(lifetime=3)
    monkeypatch.setattr("medallion.azure.cli_common.build_credential", lambda *a, **k: credential)
    root = lay_out_artifacts(livy.storage_root, "renew", {"bronze_job.py": SLOW_JOB.format(seconds=8)})
    refused = len(livy.refused)
    code = run_cli(_argv(livy, root, "bronze", "--no-ado", "--credential", "pipelines", "--poll-seconds", "1"))
    assert code == 0, capsys.readouterr().out
    assert len(livy.refused) == refused
    assert credential.issued >= 5 and {s for s in credential.scopes} == {("https://dev.azuresynapse.net/.default",)}


def test_a_token_for_another_audience_is_reported_as_refused_not_expired(livy, submit_env, monkeypatch,
                                                                         capsys) -> None:
    monkeypatch.setenv(TOKEN_ENV, make_token(audience="https://management.azure.com"))
    before = len(livy.batches)
    code = run_cli(_argv(livy, "abfss://artifacts@acct.dfs.core.windows.net/medallion/x", "bronze", "--ado"))
    out = capsys.readouterr().out
    assert code == 1 and len(livy.batches) == before
    assert "the access token was refused (audience https://management.azure.com" in out
    assert "expired" not in out.split("refused", 1)[1].split("]")[0]


# --------------------------------------------------------------------------- item 5: no orphaned batches


def test_timeout_cancels_the_batch(livy, submit_env, capsys) -> None:
    root = lay_out_artifacts(livy.storage_root, "slow", {"bronze_job.py": SLOW_JOB.format(seconds=300)})
    code = run_cli(_argv(livy, root, "bronze", "--ado", "--timeout-minutes", "0.12"))
    out = capsys.readouterr().out
    assert code == 1
    batch = _last(livy)
    assert ("DELETE", f"{BATCHES}/{batch.id}") in livy.requests
    assert livy.wait(batch.id, 30) == "killed"
    assert batch.result == "Cancelled"
    assert batch.process is not None and batch.process.poll() is not None
    assert "did not finish within 0.12 minutes" in out and "it was cancelled" in out
    assert "##vso[task.logissue type=error]" in out


def test_transient_poll_errors_are_tolerated_until_the_deadline(livy, submit_env, capsys, monkeypatch) -> None:
    """Item 5: before, a few 503s in a row ended the step (and left the batch running)."""
    monkeypatch.setattr("medallion.azure.livy.LivyClient.RETRY_WAIT", 0.05)
    root = lay_out_artifacts(livy.storage_root, "flaky", {"bronze_job.py": SLOW_JOB.format(seconds=4)})
    livy.inject(503, 6, method="GET", path="/batches/")
    code = run_cli(_argv(livy, root, "bronze", "--no-ado", "--output", "json"))
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0, report
    assert report["poll_errors"] >= 1
    assert all(f.remaining == 0 for f in livy.faults)


def test_a_401_mid_poll_is_retried_with_a_fresh_token(livy, submit_env, monkeypatch, capsys) -> None:
    credential = FakeCredential()
    monkeypatch.setattr("medallion.azure.cli_common.build_credential", lambda *a, **k: credential)
    root = lay_out_artifacts(livy.storage_root, "blip", {"bronze_job.py": SLOW_JOB.format(seconds=3)})
    livy.inject(401, 1, method="GET", path="/batches/")
    code = run_cli(_argv(livy, root, "bronze", "--no-ado", "--credential", "pipelines"))
    assert code == 0, capsys.readouterr().out
    assert livy.faults[-1].remaining == 0


def test_a_refused_token_mid_poll_cancels_the_batch(livy, submit_env, monkeypatch, capsys) -> None:
    """Item 5: before, a 401 while polling raised out of the loop and the batch ran on."""
    credential = FakeCredential()
    monkeypatch.setattr("medallion.azure.cli_common.build_credential", lambda *a, **k: credential)
    root = lay_out_artifacts(livy.storage_root, "revoked", {"bronze_job.py": SLOW_JOB.format(seconds=120)})
    livy.inject(401, 2, method="GET", path="/batches/")  # the poll and its retry with a renewed token
    code = run_cli(_argv(livy, root, "bronze", "--ado", "--credential", "pipelines"))
    out = capsys.readouterr().out
    batch = _last(livy)
    assert code == 1
    assert ("DELETE", f"{BATCHES}/{batch.id}") in livy.requests
    assert livy.wait(batch.id, 30) == "killed"
    assert "HTTP 401" in out and "it was cancelled" in out


def test_sigterm_cancels_the_batch(livy, tmp_path, cli_subprocess) -> None:
    """Item 5: the agent stops the step (pipeline cancelled, job timeout) with SIGTERM; the batch must go."""
    root = lay_out_artifacts(livy.storage_root, "sigterm", {"bronze_job.py": SLOW_JOB.format(seconds=300)})
    env = {**os.environ, TOKEN_ENV: TOKEN, "PYTHONPATH": str(REPO)}
    env.pop("TF_BUILD", None)
    before = set(livy.batches)
    process = cli_subprocess.popen(_argv(livy, root, "bronze", "--ado"),
                                   env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        new = set(livy.batches) - before
        if new and livy.batches[max(new)].state == "running":
            break
        time.sleep(0.2)
    (batch_id,) = set(livy.batches) - before
    assert livy.batches[batch_id].state == "running"
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM, out + err
    assert ("DELETE", f"{BATCHES}/{batch_id}") in livy.requests
    assert livy.wait(batch_id, 30) == "killed"
    assert "SIGTERM" in out and "cancelled" in out


def test_cancel_command_deletes_a_running_batch_and_ignores_a_missing_id(livy, submit_env, capsys) -> None:
    """The pipeline's cleanup step (condition: canceled()) runs `medallion cancel --batch-id $(submit.batchId)`."""
    root = lay_out_artifacts(livy.storage_root, "orphan", {"bronze_job.py": SLOW_JOB.format(seconds=300)})
    livy_batch = livy.create("pool1", {"name": "orphan", "file": f"{root}/jobs/bronze_job.py",
                                       "pyFiles": [f"{root}/{WHEEL}"]})
    assert livy.wait_for_state(livy_batch.id, "running", 120)
    base = ["cancel", "--endpoint", livy.url, "--pool", "pool1"]
    assert run_cli([*base, "--batch-id", str(livy_batch.id)]) == 0
    assert livy.wait(livy_batch.id, 30) == "killed"
    assert run_cli([*base, "--batch-id", str(livy_batch.id)]) == 0  # already ended: nothing to do
    assert run_cli([*base, "--batch-id", "$(submit.batchId)"]) == 0  # never set: no batch was created
    assert "already ended" in capsys.readouterr().out


# --------------------------------------------------------------------------- item 8 and arguments


def test_the_wheel_name_must_come_from_publish(livy, submit_env, capsys) -> None:
    """Item 8: before, submit rebuilt the wheel name from medallion.__version__ when --wheel was absent."""
    before = len(livy.requests)
    argv = _argv(livy, "abfss://artifacts@acct.dfs.core.windows.net/x", "bronze")
    del argv[argv.index("--wheel"):argv.index("--wheel") + 2]
    with pytest.raises(SystemExit) as exit_info:
        run_cli(argv)
    assert exit_info.value.code == 2
    assert run_cli(_argv(livy, "abfss://a@acct.dfs.core.windows.net/x", "bronze")[:-2] + ["--wheel", "x.tar.gz"]) == 2
    assert len(livy.requests) == before


def test_bad_arguments_exit_2_before_any_request(livy, submit_env, capsys) -> None:
    before = len(livy.requests)
    assert run_cli(_argv(livy, "abfss://artifacts@acct.dfs.core.windows.net/x", "bronze",
                         "--executor-size", "Huge")) == 2
    assert run_cli(["submit", "--pool", "pool1", "--layer", "gold", "--pipeline", "orders", "--env", "dev",
                    "--artifact-root", "abfss://a@b.dfs.core.windows.net/x", "--wheel", WHEEL]) == 2
    assert len(livy.requests) == before


def test_unknown_pool_is_reported(livy, submit_env, capsys) -> None:
    argv = _argv(livy, "abfss://artifacts@acct.dfs.core.windows.net/x", "bronze")
    argv[argv.index("pool1")] = "nopool"
    assert run_cli(argv + ["--ado"]) == 1
    out = capsys.readouterr().out
    assert "HTTP 404" in out and "SparkPoolNotFound" in out


def test_log_lines_come_from_the_batch_when_the_log_endpoint_is_not_served(livy, submit_env, capsys) -> None:
    livy.serve_log_endpoint = False
    try:
        code = run_cli(_argv(livy, "abfss://artifacts@acct.dfs.core.windows.net/medallion/never-published",
                             "bronze", "--no-ado"))
    finally:
        livy.serve_log_endpoint = True
    out = capsys.readouterr().out
    assert code == 1
    assert "never-published/conf.zip does not exist" in out
    assert ("GET", f"{BATCHES}/{max(livy.batches)}/log") in livy.requests
