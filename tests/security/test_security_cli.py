"""The sandbox and the masking through the real CLI: hostile pipelines refused with exit 2 and nothing they
ask for happens; a secret in an env var, in data and in a Spark setting reaches no output, log or audit table.

JVMs are few: one process validates every hostile file (``medallion.cli.main`` per file, one session),
one ``medallion run`` tries the shell attack, one process runs a pipeline holding secrets and writes the report.
"""
from __future__ import annotations

import json
import os
import sys
import uuid
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from hostile import CANARY, SECRET_VAR, cases  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.delta]

FAKE_SECRET = "fakeClientSecret8Q~" + "Zx7" * 11            # the env var's value (client-secret shaped)
FAKE_ACCOUNT_KEY = "K" * 40 + "fakeaccountkey" + "0" * 32 + "=="  # 88 characters, like a storage account key
FAKE_SIG = "sv2026fakesignature0123456789abcdef"           # a SAS signature inside the data


def _conf(tmp_path: Path, pipelines: dict[str, dict], spark: dict[str, str] | None = None) -> Path:
    conf = tmp_path / "conf"
    (conf / "env").mkdir(parents=True)
    (conf / "pipelines").mkdir()
    (tmp_path / "landing" / "orders").mkdir(parents=True, exist_ok=True)
    env = {"name": "t", "landing_root": str(tmp_path / "landing"), "lakehouse_root": str(tmp_path / "lake"),
           "spark": {"spark.master": "local[1]", "spark.sql.shuffle.partitions": "1", **(spark or {})}}
    (conf / "env" / "t.yaml").write_text(yaml.safe_dump(env))
    for name, data in pipelines.items():
        (conf / "pipelines" / f"{name}.yaml").write_text(yaml.safe_dump(data))
    return conf


def _env() -> dict[str, str]:
    return {**os.environ, SECRET_VAR: FAKE_SECRET, "AZURE_STORAGE_KEY": FAKE_ACCOUNT_KEY,
            "MEDALLION_SPARK_LOG_LEVEL": "INFO"}


def _leaks(text: str) -> list[str]:
    return [s for s in (FAKE_SECRET, FAKE_ACCOUNT_KEY, FAKE_SIG) if s in text]


def test_every_hostile_pipeline_is_refused_by_validate(tmp_path: Path, jvm_subprocess) -> None:
    token = uuid.uuid4().hex
    hostile = cases(token)
    conf = _conf(tmp_path, {case_id: data for case_id, data, _, _ in hostile})
    script = (
        "import sys, json, io, contextlib\nfrom medallion.cli import main\nout = {}\n"
        f"for name in {[c[0] for c in hostile]!r}:\n"
        "    err, std = io.StringIO(), io.StringIO()\n"
        "    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(std):\n"
        f"        code = main(['validate', '--pipeline', '{conf}/pipelines/' + name + '.yaml', '--env', 't',"
        f" '--conf-dir', '{conf}'])\n"
        "    out[name] = [code, err.getvalue() + std.getvalue()]\n"
        "print('RESULTS' + json.dumps(out))\n"
    )
    (tmp_path / "script.py").write_text(script, encoding="utf-8")
    done = jvm_subprocess(tmp_path / "script.py", timeout=900, env=_env(), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.split("RESULTS", 1)[1])
    for case_id, _, key, construct in hostile:
        code, output = results[case_id]
        assert code == 2, (case_id, output)
        assert key in output and construct.lower() in output.lower(), (case_id, output)
        assert "Traceback" not in output, (case_id, output)
    assert not _leaks(done.stdout + done.stderr)
    assert not Path(CANARY.format(token=token)).exists()


def test_shell_attack_through_run_exits_2_and_writes_nothing(tmp_path: Path, cli_subprocess) -> None:
    token = uuid.uuid4().hex
    canary = Path(CANARY.format(token=token))
    transform = next(data for case_id, data, _, _ in cases(token) if case_id == "transform_shell")
    conf = _conf(tmp_path, {"orders": transform})
    (tmp_path / "landing" / "orders" / "a.json").write_text('{"order_id": "1", "updated_at": "2026-01-01", "amount": 1}\n')
    done = cli_subprocess.run(["run", "--pipeline", str(conf / "pipelines" / "orders.yaml"), "--env", "t",
                               "--conf-dir", str(conf), "--output", "json"], timeout=900, env=_env(), cwd=tmp_path)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "TRANSFORM" in done.stderr
    assert not canary.exists()
    assert not (tmp_path / "lake").exists()  # refused before any write: not even bronze


def test_secrets_reach_no_output_log_table_or_report(tmp_path: Path, jvm_subprocess) -> None:
    pipeline = {
        "dataset": "orders",
        "source": {"format": "json", "path": "orders", "source_system": "web"},
        "bronze": {"table": "orders"},
        "silver": {"table": "orders", "keys": ["order_id"], "sequence_by": "updated_at", "columns": {
            "order_id": "cast(order_id as bigint)", "updated_at": "to_timestamp(updated_at)",
            "checked": "case when note like 'boom%' then raise_error(concat('bad row: ', note, ' ', token)) end",
        }},
    }
    conf = _conf(tmp_path, {"orders": pipeline},
                 spark={"spark.hadoop.fs.azure.account.key.acct.dfs.core.windows.net": "${AZURE_STORAGE_KEY}"})
    row = {"order_id": "1", "updated_at": "2026-01-01", "note": f"boom https://a.blob.core.windows.net/c?sv=1&sig={FAKE_SIG}",
           "token": FAKE_SECRET}
    (tmp_path / "landing" / "orders" / "a.json").write_text(json.dumps(row) + "\n")
    script = (
        "import sys\nfrom medallion.cli import main\n"
        f"args = ['--env', 't', '--conf-dir', '{conf}']\n"
        f"code = main(['run', '--pipeline', '{conf}/pipelines/orders.yaml', '--output', 'json', *args])\n"
        f"main(['report', '--pipeline', '{conf}/pipelines/orders.yaml', '--out', '{tmp_path}/report.html', *args])\n"
        "from pyspark.sql import SparkSession\n"
        "spark = SparkSession.getActiveSession()\n"
        f"rows = spark.read.format('delta').load('{tmp_path}/lake/_audit/runs').toJSON().collect()\n"
        "print('RUNLOG' + '\\n'.join(rows))\n"
        "sys.exit(code)\n"
    )
    (tmp_path / "script.py").write_text(script, encoding="utf-8")
    done = jvm_subprocess(tmp_path / "script.py", timeout=900, env=_env(), cwd=tmp_path)
    assert done.returncode == 1, done.stderr[-3000:]  # silver failed on raise_error: a failed run, not a crash
    run_json, run_log = done.stdout.split("RUNLOG", 1)
    assert "bad row" in run_log  # the failure is recorded...
    assert not _leaks(run_log), run_log  # ...masked in the run log's error column
    assert not _leaks(run_json), run_json
    assert not _leaks(done.stderr), [line for line in done.stderr.splitlines() if _leaks(line)]
    report = (tmp_path / "report.html").read_text()
    assert "orders" in report
    assert not _leaks(report)
