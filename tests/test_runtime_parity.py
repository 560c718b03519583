"""The same sample gives the same tables on Spark 3.5 + Delta 3.2 and Spark 4.1 + Delta 4.2.

``medallion run --all --env local`` on the bundled sample (orders and customers, then gold), on whichever
runtime is installed, must reproduce ``tests/golden/sample_tables.json`` exactly: every table's columns and
Spark types, its row count, and its rows (in full up to 300 rows: gold, dead letters with their failed
rules; as a digest of the sorted rows above). CI runs this file in both venvs (``.ci/run``), so
both runtimes are held to one file. Regenerate it (only on purpose, and review the diff) with
``MEDALLION_REGEN_GOLDEN=1 python -m pytest tests/test_runtime_parity.py``.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pyspark
import pytest
from delta.tables import DeltaTable
from parity_helpers import snapshot
from pyspark.sql import SparkSession

from medallion.cli import main

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden" / "sample_tables.json"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(ROOT / "conf", tmp_path / "conf")
    shutil.copytree(ROOT / "data" / "landing", tmp_path / "data" / "landing")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _run_all(capsys: pytest.CaptureFixture[str]) -> dict:
    rc = main(["run", "--all", "--env", "local", "--output", "json"])
    out = capsys.readouterr().out.strip()
    assert rc == 0, out
    return json.loads(out)


@pytest.mark.e2e
@pytest.mark.delta
@pytest.mark.runtimes
@pytest.mark.timeout(1800)  # two datasets end to end on a loaded 2-core machine
def test_sample_gives_the_golden_tables_on_this_runtime(
    spark: SparkSession, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _run_all(capsys)
    actual = snapshot(spark, project / ".lakehouse", project)
    regen = os.environ.get("MEDALLION_REGEN_GOLDEN")  # "1": the golden file; another value: a path to write
    target = GOLDEN if regen == "1" else Path(regen) if regen else None
    if target is not None:
        target.write_text(json.dumps(actual, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    golden = json.loads((target or GOLDEN).read_text(encoding="utf-8"))
    assert sorted(actual) == sorted(golden), f"tables differ on Spark {pyspark.__version__}"
    for table in golden:
        assert actual[table]["columns"] == golden[table]["columns"], f"{table}: columns on Spark {pyspark.__version__}"
        assert actual[table]["count"] == golden[table]["count"], f"{table}: row count on Spark {pyspark.__version__}"
        assert actual[table]["rows"] == golden[table]["rows"], f"{table}: rows on Spark {pyspark.__version__}"
    # written on either runtime, every table stays readable by any Delta reader (Synapse Spark 3.5,
    # Synapse serverless SQL): Delta 4 enables no reader feature by default
    for table in golden:
        detail = DeltaTable.forPath(spark, str(project / ".lakehouse" / table)).detail().first()
        assert detail["minReaderVersion"] == 1, (table, detail["minReaderVersion"], detail["tableFeatures"])
    # the sample exercises what ANSI mode would change: dead letters from failed casts exist
    dlq = golden["silver/orders_dlq"]
    assert dlq["count"] and any("order_id_present" in json.dumps(row) for row in dlq["rows"]), \
        "the sample's dead letters do not include a failed cast: the parity test would prove little"
