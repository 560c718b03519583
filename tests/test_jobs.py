"""The built wheel: its contents, and the job files run under spark-submit with it on --py-files."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

ROOT = Path(__file__).resolve().parents[1]
DELTA_SUBMIT_ARGS = [
    "--packages", "io.delta:delta-spark_2.12:3.2.1",
    "--conf", "spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension",
    "--conf", "spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog",
]


@pytest.fixture(scope="session")
def wheel(built_wheel: Path) -> Path:
    """The session's one wheel (tests/conftest.py built_wheel)."""
    return built_wheel


def test_wheel_holds_the_package_only(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as whl:
        names = whl.namelist()
        metadata = next(whl.read(n).decode() for n in names if n.endswith(".dist-info/METADATA"))
        entry_points = next(whl.read(n).decode() for n in names if n.endswith(".dist-info/entry_points.txt"))
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top == {"medallion"}, top
    assert "medallion/py.typed" in names
    for asset in ("templates/report.html.j2", "assets/echarts.min.js", "assets/ECHARTS-LICENSE", "assets/report.js"):
        assert f"medallion/report/{asset}" in names, asset
    assert "medallion = medallion.cli:main" in entry_points
    hard = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:") and "extra ==" not in line]
    assert not any("pyspark" in line or "delta-spark" in line for line in hard), hard


def submit_job(spark_submit, job: str, wheel: Path, workdir: Path,  # noqa: ANN001
               *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
    # The job must import medallion from the wheel, not from the source tree.
    env.pop("PYTHONPATH", None)
    cmd = [
        "--master", "local[2]", *DELTA_SUBMIT_ARGS,
        "--conf", "spark.ui.enabled=false", "--conf", "spark.sql.shuffle.partitions=2",
        "--py-files", str(wheel), str(ROOT / "jobs" / job), *args,
    ]
    return spark_submit(cmd, cwd=workdir, env=env)


@pytest.mark.e2e
@pytest.mark.delta
def test_bronze_job_runs_under_spark_submit_with_the_wheel(spark: SparkSession, wheel: Path, tmp_path: Path,
                                                          spark_submit) -> None:  # noqa: ANN001
    shutil.copytree(ROOT / "conf", tmp_path / "conf")
    shutil.copytree(ROOT / "data" / "landing", tmp_path / "data" / "landing")
    expected = json.loads((ROOT / "data/landing/orders.expected.json").read_text())["totals"]

    proc = submit_job(spark_submit, "bronze_job.py", wheel, tmp_path, "--pipeline", "conf/pipelines/orders.yaml", "--env", "local")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "bronze  succeeded" in proc.stdout
    bronze = spark.read.format("delta").load(str(tmp_path / ".lakehouse/bronze/orders"))
    assert bronze.count() == expected["records"]
    assert bronze.where("_corrupt_record IS NOT NULL").count() == expected["corrupt"]

    bad = submit_job(spark_submit, "bronze_job.py", wheel, tmp_path, "--pipeline", "conf/pipelines/orders.yaml", "--env", "nope")
    # spark-submit's PythonRunner merges the driver's stderr into its stdout
    assert bad.returncode == 2
    assert "environment 'nope' not found" in bad.stdout + bad.stderr


@pytest.mark.e2e
def test_output_json_is_exactly_one_object_on_stdout(tmp_path: Path, cli_subprocess) -> None:  # noqa: ANN001
    """The console command in its own process: Ivy's and the JVM's stdout chatter must not reach stdout."""
    shutil.copytree(ROOT / "conf", tmp_path / "conf")
    (tmp_path / "data/landing/orders").mkdir(parents=True)
    (tmp_path / "data/landing/orders/a.json").write_text('{"order_id": 1}\nnot json\n')
    proc = cli_subprocess.run(
        ["run", "--pipeline", "conf/pipelines/orders.yaml", "--env", "local", "--layer", "bronze", "--output", "json"],
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)  # the whole of stdout is one JSON object
    assert report["bronze"]["rows_in"] == 2 and report["bronze"]["rows_corrupt"] == 1


def test_preflight_probes_of_datasets_running_at_once_do_not_break_each_other(spark: SparkSession,
                                                                               tmp_path: Path) -> None:
    """The pipeline starts one preflight per dataset at the same time: each writes and deletes its own probe
    under one lakehouse root; none may remove what another is writing into (it used to delete the folder)."""
    import importlib.util
    from concurrent.futures import ThreadPoolExecutor

    from medallion.config import EnvConfig, load_pipeline

    spec = importlib.util.spec_from_file_location("preflight_job", ROOT / "jobs" / "preflight_job.py")
    preflight = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(preflight)
    env = EnvConfig(name="t", landing_root=str(tmp_path / "landing"), lakehouse_root=str(tmp_path / "lake"))
    pipeline = load_pipeline(ROOT / "conf" / "pipelines" / "orders.yaml")

    def probe_many(_: int) -> list[str]:
        return [problem for _ in range(15) for problem in preflight.probe_storage(spark, env, pipeline)]

    with ThreadPoolExecutor(4) as pool:
        problems = [p for found in pool.map(probe_many, range(4)) for p in found]
    assert problems == []
    assert not list((tmp_path / "lake" / "_preflight").iterdir())
