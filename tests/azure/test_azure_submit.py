"""`medallion submit` (the path Submit-SynapseSparkJob.ps1 calls) against the local Synapse stand-in.

Each test runs one real spark-submit (no Delta), so they stay few: success with the conf archive and
the wheel in place, a failing job (log shown, exit 1), and a timeout (batch cancelled, exit 1).
"""
from __future__ import annotations

import json
import logging

import pytest

from medallion.azure.commands import TOKEN_ENV
from tests.azure.helpers import TOKEN, lay_out_artifacts, run_cli

pytestmark = pytest.mark.timeout(180)

OK_JOB = '''
import os, sys
import standin_marker
assert os.path.isfile("conf/pipelines/orders.yaml"), os.listdir(".")
print("job args:", " ".join(sys.argv[1:]))
print("wheel:", standin_marker.MARK)
print("##vso[task.setvariable variable=injected]yes")
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
time.sleep(300)
'''


@pytest.fixture
def submit_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    monkeypatch.delenv("TF_BUILD", raising=False)
    monkeypatch.setenv("BUILD_BUILDID", "4711")


def _argv(livy, root: str, layer: str, *extra: str) -> list[str]:
    return ["submit", "--endpoint", livy.url, "--pool", "pool1", "--layer", layer, "--pipeline", "orders",
            "--env", "dev", "--artifact-root", root, "--poll-seconds", "0.3", *extra]


def test_success_runs_the_job_with_the_conf_archive_and_the_wheel(livy, submit_env, capsys) -> None:
    root = lay_out_artifacts(livy.storage_root, "ok", {"bronze_job.py": OK_JOB})
    code = run_cli(_argv(livy, root, "bronze", "--ado", "--tag", "team=data"))
    out = capsys.readouterr().out
    assert code == 0, out
    batch = livy.batches[max(livy.batches)]
    assert f"##vso[task.setvariable variable=batchId;isOutput=true]{batch.id}" in out.splitlines()
    assert batch.state == "success" and batch.result == "Succeeded"
    assert "job args: --pipeline conf/pipelines/orders.yaml --env dev --conf-dir conf" in batch.log
    assert "wheel: from the wheel" in batch.log
    assert batch.request["tags"]["team"] == "data" and batch.request["tags"]["ado.buildId"] == "4711"
    assert "succeeded" in out.splitlines()[-1]
    assert "pwned" not in out and "##vso[task.setvariable variable=injected" not in out


def test_failed_job_shows_its_log_and_exits_1(livy, submit_env, capsys, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    root = lay_out_artifacts(livy.storage_root, "bad", {"silver_job.py": FAILING_JOB})
    code = run_cli(_argv(livy, root, "silver", "--ado"))
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert code == 1
    start = next(i for i, line in enumerate(lines) if line.startswith("##[group]Log of Synapse batch"))
    end = lines.index("##[endgroup]", start)
    shown = lines[start + 1:end]
    assert "loading orders ..." in shown
    assert "ValueError: amount is not a number" in shown
    assert any(line.startswith("##vso[task.logissue type=error]") and "ended in state dead" in line
               for line in lines[end:])
    assert TOKEN not in captured.out + captured.err + caplog.text


def test_failed_job_in_json_output(livy, submit_env, capsys) -> None:
    root = lay_out_artifacts(livy.storage_root, "bad-json", {"gold_job.py": FAILING_JOB})
    code = run_cli(_argv(livy, root, "gold", "--no-ado", "--output", "json"))
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 1
    assert report["state"] == "dead" and report["result"] == "Failed" and report["outcome"] == "failed"
    assert "ValueError: amount is not a number" in report["log"]


def test_timeout_cancels_the_batch(livy, submit_env, capsys) -> None:
    root = lay_out_artifacts(livy.storage_root, "slow", {"bronze_job.py": SLOW_JOB})
    code = run_cli(_argv(livy, root, "bronze", "--ado", "--timeout-minutes", "0.12"))
    out = capsys.readouterr().out
    assert code == 1
    batch = livy.batches[max(livy.batches)]
    assert ("DELETE", f"/livyApi/versions/2019-11-01-preview/sparkPools/pool1/batches/{batch.id}") in livy.requests
    assert livy.wait(batch.id, 30) == "killed"
    assert batch.result == "Cancelled"
    assert batch.process is not None and batch.process.poll() is not None
    assert "did not finish within 0.12 minutes" in out and "cancelled" in out
    assert "##vso[task.logissue type=error]" in out


def test_bad_arguments_exit_2_before_any_request(livy, submit_env, capsys) -> None:
    before = len(livy.requests)
    assert run_cli(_argv(livy, "abfss://artifacts@acct.dfs.core.windows.net/x", "bronze",
                         "--executor-size", "Huge")) == 2
    assert run_cli(["submit", "--pool", "pool1", "--layer", "gold", "--pipeline", "orders", "--env", "dev",
                    "--artifact-root", "abfss://a@b.dfs.core.windows.net/x"]) == 2
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
    assert ("GET", f"/livyApi/versions/2019-11-01-preview/sparkPools/pool1/batches/{max(livy.batches)}/log") in livy.requests
