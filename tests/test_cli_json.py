"""Issue 11.10: under ``--output json`` a run always prints exactly one JSON object, and names the first cause."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from medallion.cli import main
from medallion.errors import first_cause

ROOT = Path(__file__).resolve().parents[1]


def _project(tmp_path: Path, lakehouse_root: str) -> Path:
    conf = tmp_path / "conf"
    (conf / "env").mkdir(parents=True)
    shutil.copytree(ROOT / "conf" / "pipelines", conf / "pipelines")
    (conf / "env" / "t.yaml").write_text(f"name: t\nlanding_root: {tmp_path / 'landing'}\nlakehouse_root: {lakehouse_root}\n")
    return conf


def _one_object(out: str) -> dict[str, object]:
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected exactly one JSON line on stdout, got: {out!r}"
    return json.loads(lines[0])


def test_first_cause_is_the_start_of_the_chain() -> None:
    try:
        try:
            raise PermissionError("lakehouse root is read-only")
        except PermissionError as err:
            raise RuntimeError("could not write the run log") from err
    except RuntimeError as outer:
        assert first_cause(outer) == "PermissionError: lakehouse root is read-only"
    java = RuntimeError("An error occurred\nCaused by: a.B: follow-on\n\tat x\nCaused by: java.io.IOException: Mkdirs failed\n")
    assert first_cause(java) == "java.io.IOException: Mkdirs failed"


def test_config_error_under_json_is_one_object(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = _project(tmp_path, str(tmp_path / "lake"))
    code = main(["run", "--pipeline", "orders.yaml", "--env", "missing", "--conf-dir", str(conf), "--output", "json"])
    out = _one_object(capsys.readouterr().out)
    assert code == 2 and out["status"] == "failed" and out["exit_code"] == 2
    assert "missing" in str(out["error"])


@pytest.mark.delta
def test_unusable_lakehouse_root_under_json_is_one_object_naming_the_cause(
    spark: SparkSession, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the lakehouse root should be")
    (tmp_path / "landing" / "orders").mkdir(parents=True)
    (tmp_path / "landing" / "orders" / "a.json").write_text('{"order_id": "1"}\n')
    conf = _project(tmp_path, str(blocker / "lake"))
    code = main(["run", "--pipeline", "orders.yaml", "--env", "t", "--conf-dir", str(conf), "--layer", "bronze",
                 "--output", "json"])
    out = _one_object(capsys.readouterr().out)
    assert code == 1 and out["status"] == "failed"
    assert "not-a-dir" in str(out["cause"]) or "Not a directory" in str(out["cause"]) or "exists" in str(out["cause"])
