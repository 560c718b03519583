"""End to end, as the pipeline runs it: build the wheel and its dependency archive, publish them through
the ADLS stand-in, then preflight -> bronze -> silver -> gold -> check through the strict Livy stand-in, on
a pool Python that has pyspark and delta but not pydantic, PyYAML or tenacity, with tokens checked for
audience and expiry.

* one dataset (orders) through real spark-submit with Delta, one batch per job: the batches run the
  layers and the tables they write hold the expected rows — the only such test in this folder;
* two datasets (every file in conf/pipelines, as `medallion datasets` lists them), each job submitted for
  both at once, through the stand-in's plain-Python runner: every batch gets its own dataset's pipeline,
  the wheel on pyFiles and the dependency archive extracted next to the driver, with no JVM started.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from medallion.azure.commands import TOKEN_ENV
from medallion.azure.storage import collect_artifacts, publish_artifacts
from tests.azure.helpers import TOKEN, FakeCredential, run_cli
from tests.standins.adls_dfs import DfsStandIn
from tests.standins.synapse_livy import DELTA_SUBMIT_ARGS, LOCAL_SUBMIT_ARGS, SynapseLivyStandIn

REPO = Path(__file__).resolve().parents[2]
LANDING = REPO / "data" / "landing"
EXPECTED = LANDING / "orders.expected.json"
JOBS = ("preflight", "bronze", "silver", "gold", "check")

pytestmark = [pytest.mark.e2e, pytest.mark.delta, pytest.mark.timeout(1200)]


def _second_dataset(conf: Path) -> None:
    """conf/pipelines/returns.yaml: the orders pipeline under other names, over a copy of its files."""
    text = (conf / "pipelines" / "orders.yaml").read_text()
    for old, new in [("dataset: orders", "dataset: returns"), ("path: orders", "path: returns"),
                     ("table: orders", "table: returns"),  # also dlq_table: orders_dlq -> returns_dlq
                     ("table: daily_revenue", "table: daily_returns")]:
        assert old in text, old
        text = text.replace(old, new)
    (conf / "pipelines" / "returns.yaml").write_text(text)


def _project(tmp_path: Path, *, second: bool) -> tuple[Path, Path, Path]:
    """conf/ (orders, and its copy returns when ``second``), landing and lake folders; returns (conf, landing, lake)."""
    landing, lake = tmp_path / "landing", tmp_path / "lake"
    shutil.copytree(LANDING / "orders", landing / "orders")
    conf = tmp_path / "conf"
    shutil.copytree(REPO / "conf", conf)
    for other in (conf / "pipelines").glob("*.yaml"):  # this test's project: orders (and its copy, returns)
        if other.name != "orders.yaml":
            other.unlink()
    if second:
        shutil.copytree(LANDING / "orders", landing / "returns")
        _second_dataset(conf)
    (conf / "env" / "e2e.yaml").write_text(
        f"name: e2e\nlanding_root: {landing}\nlakehouse_root: {lake}\n"
        "spark:\n  spark.sql.shuffle.partitions: \"2\"\n"
    )
    return conf, landing, lake


def _submit(livy: SynapseLivyStandIn, job: str, name: str, root: str, wheel: Path, env: dict[str, str],
            ) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "medallion", "submit", "--endpoint", livy.url, "--pool", "pool1",
         "--layer", job, "--pipeline", name, "--env", "e2e", "--artifact-root", root,
         "--wheel", wheel.name, "--poll-seconds", "1", "--timeout-minutes", "10", "--ado"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _submit_env() -> dict[str, str]:
    env = {**os.environ, TOKEN_ENV: TOKEN, "PYTHONPATH": str(REPO)}
    env.pop("TF_BUILD", None)
    return env


def _assert_batches(livy: SynapseLivyStandIn, root: str, wheel: Path, count: int) -> None:
    assert len(livy.batches) == count
    for batch in livy.batches.values():
        assert batch.state == "success"
        assert batch.request["archives"] == [f"{root}/conf.zip#conf", f"{root}/deps.zip#deps"]
        assert batch.request["pyFiles"] == [f"{root}/{wheel.name}"]
        assert (batch.workdir / "deps" / "pydantic").is_dir()  # YARN-style: extracted next to the driver
    assert not livy.refused


def test_preflight_layers_and_checks_of_one_dataset_run_under_spark_submit_through_the_synapse_stand_in(
        tmp_path, built_wheel, built_deps, spark) -> None:
    expected = json.loads(EXPECTED.read_text())
    storage = tmp_path / "adls"
    (storage / "acct" / "artifacts").mkdir(parents=True)
    conf, _, lake = _project(tmp_path, second=False)
    files = collect_artifacts(built_wheel, REPO / "jobs", conf, built_deps)
    root = publish_artifacts("abfss://artifacts@acct.dfs.core.windows.net/medallion", "e2e.1", files,
                             credential=FakeCredential(), transport=DfsStandIn(storage).transport())

    with SynapseLivyStandIn(storage, submit_args=LOCAL_SUBMIT_ARGS + DELTA_SUBMIT_ARGS,
                            work_root=tmp_path / "work") as livy:
        for job in JOBS:
            process = _submit(livy, job, "orders", root, built_wheel, _submit_env())
            output, _ = process.communicate(timeout=900)
            assert process.returncode == 0, f"{job} orders failed:\n{output[-6000:]}"
        _assert_batches(livy, root, built_wheel, len(JOBS))

    bronze = spark.read.format("delta").load(str(lake / "bronze" / "orders"))
    assert bronze.count() == expected["bronze"]["rows"]
    assert bronze.where("_corrupt_record is not null").count() == expected["bronze"]["rows_corrupt"]

    silver = spark.read.format("delta").load(str(lake / "silver" / "orders"))
    table = expected["silver"]["table"]
    row = silver.selectExpr("count(*) as n", "cast(sum(amount) as string) as amount",
                            "min(order_id) as lo", "max(order_id) as hi").first()
    assert (row["n"], row["amount"], row["lo"], row["hi"]) == (
        table["rows"], table["amount_sum"], table["min_order_id"], table["max_order_id"])

    gold = spark.read.format("delta").load(str(lake / "gold" / "daily_revenue"))
    daily = expected["gold"]["daily_revenue"]
    g = gold.selectExpr("count(*) as n", "sum(orders) as orders",
                        "cast(sum(revenue) as string) as revenue").first()
    assert (g["n"], g["orders"], g["revenue"]) == (daily["rows"], daily["orders"], daily["revenue"])


# Each job file of the parallel test, run by the pool Python: what the layer's job receives on the pool (its
# arguments, the wheel on pyFiles, the dependency archive on PYTHONPATH, conf.zip as ./conf), loaded and
# validated as `medallion run` loads them before it starts Spark, and recorded for the test.
PROBE_JOB = """
import json, os, sys
from pathlib import Path

import pydantic, tenacity, yaml  # in deps.zip only: the pool Python has pyspark and delta, nothing else

import medallion
from medallion.cli import build_parser, load_configs

args = sys.argv[1:]
env, pipeline, pipeline_file = load_configs(build_parser().parse_args(["run", *args]))
record = {"job": JOB, "args": args, "cwd": os.getcwd(), "medallion": medallion.__file__,
          "dataset": pipeline.dataset, "env": env.name, "pipeline_file": str(pipeline_file),
          "deps": [m.__file__ for m in (pydantic, tenacity, yaml)]}
(Path(os.environ["PROBE_OUT"]) / f"{JOB}-{pipeline.dataset}.json").write_text(json.dumps(record))
"""


def test_each_job_for_two_datasets_at_once_gets_its_own_pipeline_the_wheel_and_the_dependencies(
        tmp_path, built_wheel, built_deps, capsys) -> None:
    storage = tmp_path / "adls"
    (storage / "acct" / "artifacts").mkdir(parents=True)
    conf, _, _ = _project(tmp_path, second=True)
    assert run_cli(["datasets", "--conf-dir", str(conf), "--ado"]) == 0
    out = capsys.readouterr().out
    assert '##vso[task.setvariable variable=matrix;isOutput=true]{"orders":{"dataset":"orders"},' \
           '"returns":{"dataset":"returns"}}' in out
    datasets = out.strip().splitlines()[-2:]
    assert datasets == ["orders", "returns"]

    jobs = tmp_path / "jobs"
    jobs.mkdir()
    for job in JOBS:
        (jobs / f"{job}_job.py").write_text(f"JOB = {job!r}\n{PROBE_JOB}")
    files = collect_artifacts(built_wheel, jobs, conf, built_deps)
    root = publish_artifacts("abfss://artifacts@acct.dfs.core.windows.net/medallion", "e2e.1", files,
                             credential=FakeCredential(), transport=DfsStandIn(storage).transport())
    probes = tmp_path / "probes"
    probes.mkdir()

    with SynapseLivyStandIn(storage, runner="python", work_root=tmp_path / "work",
                            env={"PROBE_OUT": str(probes)}) as livy:
        for job in JOBS:
            running = {name: _submit(livy, job, name, root, built_wheel, _submit_env()) for name in datasets}
            for name, process in running.items():
                output, _ = process.communicate(timeout=300)
                assert process.returncode == 0, f"{job} {name} failed:\n{output[-6000:]}"
        _assert_batches(livy, root, built_wheel, len(JOBS) * len(datasets))

    for job in JOBS:
        for name in datasets:
            record = json.loads((probes / f"{job}-{name}.json").read_text())
            assert (record["dataset"], record["env"]) == (name, "e2e"), record
            assert record["args"] == ["--pipeline", f"conf/pipelines/{name}.yaml", "--env", "e2e", "--conf-dir",
                                      "conf"], record
            workdir = Path(record["cwd"])
            assert workdir.parent == tmp_path / "work"
            assert record["medallion"].startswith(str(storage)) and built_wheel.name in record["medallion"], record
            assert all(Path(path).is_relative_to(workdir / "deps") or path.startswith("deps/")
                       for path in record["deps"]), record
