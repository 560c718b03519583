"""Decisions of the submit path that need no server: payload, state classification, logging commands."""
from __future__ import annotations

from pathlib import Path

import pytest

from medallion.azure.livy import (
    LAYER_JOBS,
    BatchSpec,
    Outcome,
    StaticTokenCredential,
    ado_escape_property,
    ado_group,
    ado_logissue,
    ado_set_output,
    batches_url,
    build_payload,
    classify,
    neutralize_log_line,
    workspace_endpoint,
)
from medallion.cli import build_parser
from medallion.errors import ConfigError

ROOT = "abfss://artifacts@acct.dfs.core.windows.net/medallion/20261126.1"


def test_payload_for_a_layer_matches_the_spec_fields() -> None:
    spec = BatchSpec(artifact_root=ROOT + "/", layer="silver", pipeline="orders", environment="dev",
                     executor_size="Medium", executors=3, conf={"spark.sql.shuffle.partitions": "64"},
                     tags={"build": "42"})
    payload = build_payload(spec)
    assert payload == {
        "name": "medallion-orders-silver-dev",
        "file": f"{ROOT}/jobs/silver_job.py",
        "pyFiles": [f"{ROOT}/medallion-0.1.0-py3-none-any.whl"],
        "archives": [f"{ROOT}/conf.zip#conf"],
        "args": ["--pipeline", "conf/pipelines/orders.yaml", "--env", "dev", "--conf-dir", "conf"],
        "conf": {"spark.sql.shuffle.partitions": "64"},
        "driverMemory": "56g",
        "driverCores": 8,
        "executorMemory": "56g",
        "executorCores": 8,
        "numExecutors": 3,
        "tags": {"medallion.pipeline": "orders", "medallion.layer": "silver",
                 "medallion.environment": "dev", "build": "42"},
    }


@pytest.mark.parametrize(
    ("pipeline", "expected"),
    [("orders", "conf/pipelines/orders.yaml"),
     ("pipelines/orders.yaml", "conf/pipelines/orders.yaml"),
     ("conf/pipelines/orders.yaml", "conf/pipelines/orders.yaml")],
)
def test_pipeline_argument_is_a_path_inside_the_conf_archive(pipeline: str, expected: str) -> None:
    spec = BatchSpec(artifact_root=ROOT, layer="gold", pipeline=pipeline, environment="prod")
    assert build_payload(spec)["args"][1] == expected
    assert build_payload(spec)["name"] == "medallion-orders-gold-prod"


def test_check_runs_the_check_job_with_the_layer_arguments() -> None:
    payload = build_payload(BatchSpec(artifact_root=ROOT, layer="check", pipeline="orders", environment="test"))
    assert payload["file"] == f"{ROOT}/jobs/check_job.py"
    assert payload["args"] == ["--pipeline", "conf/pipelines/orders.yaml", "--env", "test", "--conf-dir", "conf"]
    assert (payload["name"], payload["tags"]["medallion.layer"]) == ("medallion-orders-check-test", "check")


def test_every_submit_layer_has_a_job_file_in_the_repo() -> None:
    repo = Path(__file__).resolve().parents[2]
    assert all((repo / job).is_file() for job in LAYER_JOBS.values())
    for layer in LAYER_JOBS:
        args = build_parser().parse_args(["submit", "--pool", "p", "--layer", layer, "--pipeline", "orders",
                                          "--env", "dev", "--artifact-root", ROOT])
        assert args.layer == layer


@pytest.mark.parametrize(
    "change", [{"layer": "platinum"}, {"executor_size": "Huge"}, {"executors": 0}, {"artifact_root": " "}]
)
def test_bad_specs_are_configuration_errors(change: dict) -> None:
    values = {"artifact_root": ROOT, "layer": "bronze", "pipeline": "orders", "environment": "dev", **change}
    with pytest.raises(ConfigError):
        build_payload(BatchSpec(**values))


@pytest.mark.parametrize(
    ("state", "result", "outcome"),
    [
        ("not_started", "Uncertain", Outcome.RUNNING),
        ("starting", None, Outcome.RUNNING),
        ("running", "Uncertain", Outcome.RUNNING),
        ("recovering", None, Outcome.RUNNING),
        ("busy", None, Outcome.RUNNING),
        ("shutting_down", None, Outcome.RUNNING),
        ("success", "Succeeded", Outcome.SUCCEEDED),
        ("success", None, Outcome.SUCCEEDED),
        ("success", "Failed", Outcome.FAILED),
        ("dead", "Failed", Outcome.FAILED),
        ("killed", "Cancelled", Outcome.FAILED),
        ("error", None, Outcome.FAILED),
        ("DEAD", None, Outcome.FAILED),
    ],
)
def test_classify(state: str, result: str | None, outcome: Outcome) -> None:
    assert classify({"id": 1, "state": state, "result": result}) is outcome


def test_urls() -> None:
    assert workspace_endpoint("ws1") == "https://ws1.dev.azuresynapse.net"
    assert batches_url("https://ws1.dev.azuresynapse.net/", "pool1") == (
        "https://ws1.dev.azuresynapse.net/livyApi/versions/2019-11-01-preview/sparkPools/pool1/batches"
    )
    with pytest.raises(ConfigError):
        batches_url("https://x", "a/b")


def test_logging_commands() -> None:
    assert ado_set_output("batchId", "17") == "##vso[task.setvariable variable=batchId;isOutput=true]17"
    assert ado_logissue("error", "50% done\nthen failed") == (
        "##vso[task.logissue type=error]50%AZP25 done%0Athen failed"
    )
    assert ado_escape_property("a;b]c") == "a%3Bb%5Dc"
    with pytest.raises(ValueError):
        ado_logissue("info", "x")


def test_job_log_lines_cannot_inject_logging_commands() -> None:
    lines = ado_group("log", ["ok", "##vso[task.setvariable variable=x]pwned", "##[endgroup]", "tail\n"])
    assert lines[0] == "##[group]log" and lines[-1] == "##[endgroup]"
    assert lines[1:-1] == ["ok", "# #vso[task.setvariable variable=x]pwned", "# #[endgroup]", "tail"]
    assert neutralize_log_line("plain") == "plain"


def test_static_token_is_not_shown_by_repr() -> None:
    credential = StaticTokenCredential("s3cr3t")
    assert "s3cr3t" not in repr(credential)
    assert "s3cr3t" not in repr(credential.get_token("scope"))
    assert credential.get_token("scope").token == "s3cr3t"
