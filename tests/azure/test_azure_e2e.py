"""End to end, as the pipeline runs it: build the wheel and its dependency archive, publish them through
the ADLS stand-in, then preflight -> bronze -> silver -> gold -> check for two datasets (every file in
conf/pipelines, as `medallion datasets` lists them), each layer running the datasets in parallel batches
through the strict Livy stand-in: real spark-submit with Delta, on a pool Python that has pyspark and
delta but not pydantic, PyYAML or tenacity, with tokens checked for audience and expiry.

Ten spark-submit runs with Delta, two at a time: the only such test in this folder.
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


def test_preflight_layers_and_checks_for_two_datasets_through_the_synapse_stand_in(
        tmp_path, built_wheel, built_deps, spark, capsys) -> None:
    expected = json.loads(EXPECTED.read_text())
    storage = tmp_path / "adls"
    (storage / "acct" / "artifacts").mkdir(parents=True)
    landing, lake = tmp_path / "landing", tmp_path / "lake"
    shutil.copytree(LANDING / "orders", landing / "orders")
    shutil.copytree(LANDING / "orders", landing / "returns")

    conf = tmp_path / "conf"
    shutil.copytree(REPO / "conf", conf)
    for other in (conf / "pipelines").glob("*.yaml"):  # this test's project: orders and its copy, returns
        if other.name != "orders.yaml":
            other.unlink()
    _second_dataset(conf)
    (conf / "env" / "e2e.yaml").write_text(
        f"name: e2e\nlanding_root: {landing}\nlakehouse_root: {lake}\n"
        "spark:\n  spark.sql.shuffle.partitions: \"2\"\n"
    )
    assert run_cli(["datasets", "--conf-dir", str(conf), "--ado"]) == 0
    out = capsys.readouterr().out
    assert '##vso[task.setvariable variable=matrix;isOutput=true]{"orders":{"dataset":"orders"},' \
           '"returns":{"dataset":"returns"}}' in out
    datasets = out.strip().splitlines()[-2:]
    assert datasets == ["orders", "returns"]

    files = collect_artifacts(built_wheel, REPO / "jobs", conf, built_deps)
    root = publish_artifacts("abfss://artifacts@acct.dfs.core.windows.net/medallion", "e2e.1", files,
                             credential=FakeCredential(), transport=DfsStandIn(storage).transport())

    env = {**os.environ, TOKEN_ENV: TOKEN, "PYTHONPATH": str(REPO)}
    env.pop("TF_BUILD", None)
    with SynapseLivyStandIn(storage, submit_args=LOCAL_SUBMIT_ARGS + DELTA_SUBMIT_ARGS,
                            work_root=tmp_path / "work") as livy:
        for job in JOBS:
            running = {
                name: subprocess.Popen(
                    [sys.executable, "-m", "medallion", "submit", "--endpoint", livy.url, "--pool", "pool1",
                     "--layer", job, "--pipeline", name, "--env", "e2e", "--artifact-root", root,
                     "--wheel", built_wheel.name, "--poll-seconds", "1", "--timeout-minutes", "10", "--ado"],
                    env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                for name in datasets
            }
            for name, process in running.items():
                output, _ = process.communicate(timeout=900)
                assert process.returncode == 0, f"{job} {name} failed:\n{output[-6000:]}"
        assert len(livy.batches) == len(JOBS) * len(datasets)
        for batch in livy.batches.values():
            assert batch.state == "success"
            assert batch.request["archives"] == [f"{root}/conf.zip#conf", f"{root}/deps.zip#deps"]
            assert batch.request["pyFiles"] == [f"{root}/{built_wheel.name}"]
            assert (batch.workdir / "deps" / "pydantic").is_dir()  # YARN-style: extracted next to the driver
        assert not livy.refused

    for name, gold_table in (("orders", "daily_revenue"), ("returns", "daily_returns")):
        bronze = spark.read.format("delta").load(str(lake / "bronze" / name))
        assert bronze.count() == expected["bronze"]["rows"]
        assert bronze.where("_corrupt_record is not null").count() == expected["bronze"]["rows_corrupt"]

        silver = spark.read.format("delta").load(str(lake / "silver" / name))
        table = expected["silver"]["table"]
        row = silver.selectExpr("count(*) as n", "cast(sum(amount) as string) as amount",
                                "min(order_id) as lo", "max(order_id) as hi").first()
        assert (row["n"], row["amount"], row["lo"], row["hi"]) == (
            table["rows"], table["amount_sum"], table["min_order_id"], table["max_order_id"])

        gold = spark.read.format("delta").load(str(lake / "gold" / gold_table))
        daily = expected["gold"]["daily_revenue"]
        g = gold.selectExpr("count(*) as n", "sum(orders) as orders",
                            "cast(sum(revenue) as string) as revenue").first()
        assert (g["n"], g["orders"], g["revenue"]) == (daily["rows"], daily["orders"], daily["revenue"])
