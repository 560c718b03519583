"""The small Azure subcommands that need no server: datasets (the job matrix), deps and cancel arguments."""
from __future__ import annotations

import json
from pathlib import Path

from tests.azure.helpers import run_cli


def _conf(tmp_path: Path, *names: str) -> Path:
    (tmp_path / "conf" / "pipelines").mkdir(parents=True)
    for name in names:
        (tmp_path / "conf" / "pipelines" / name).write_text("dataset: x\n")
    return tmp_path / "conf"


def test_datasets_are_every_pipeline_file_or_the_ones_named(tmp_path: Path, capsys) -> None:
    conf = _conf(tmp_path, "orders.yaml", "returns.yml", "click-stream.yaml", "README.md")
    assert run_cli(["datasets", "--conf-dir", str(conf), "--ado"]) == 0
    out = capsys.readouterr().out.splitlines()
    matrix = json.loads(out[0].split("]", 1)[1])
    assert out[0].startswith("##vso[task.setvariable variable=matrix;isOutput=true]")
    assert matrix == {"click_stream": {"dataset": "click-stream"}, "orders": {"dataset": "orders"},
                      "returns": {"dataset": "returns"}}
    assert out[-3:] == ["click-stream", "orders", "returns"]
    assert run_cli(["datasets", "--conf-dir", str(conf), "--select", "returns, orders", "--no-ado",
                    "--output", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == ["returns", "orders"]


def test_unknown_datasets_and_an_empty_folder_are_configuration_errors(tmp_path: Path, capsys) -> None:
    conf = _conf(tmp_path, "orders.yaml")
    assert run_cli(["datasets", "--conf-dir", str(conf), "--select", "orders nope", "--ado"]) == 2
    assert "unknown dataset(s) ['nope']" in capsys.readouterr().out
    assert run_cli(["datasets", "--conf-dir", str(tmp_path / "missing"), "--no-ado"]) == 2


def test_deps_refuses_what_is_not_a_wheel(tmp_path: Path, capsys) -> None:
    (tmp_path / "medallion-0.1.0.tar.gz").write_bytes(b"")
    assert run_cli(["deps", "--wheel", str(tmp_path / "medallion-0.1.0.tar.gz"), "--ado"]) == 2
    assert run_cli(["deps", "--dist-dir", str(tmp_path), "--no-ado"]) == 2  # no wheel in there


def test_cancel_without_a_batch_id_does_nothing_and_a_bad_id_is_refused(capsys) -> None:
    base = ["cancel", "--endpoint", "http://127.0.0.1:9", "--pool", "pool1", "--no-ado"]
    assert run_cli([*base, "--batch-id", ""]) == 0
    assert run_cli([*base, "--batch-id", "$(submit.batchId)"]) == 0
    assert run_cli([*base, "--batch-id", "12; rm -rf /"]) == 2
