"""The bundled sample as a project of its own under ``tmp_path``, and the CLI's JSON summary of a run.

:func:`sample_project` copies ``conf/`` and the orders landing files, adds keys to the local env file
(``notify=...``, ``lineage=...``) and makes the copy the working directory; :func:`run_json` runs the
orders pipeline in-process and returns its exit code and ``--output json`` object.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from medallion.cli import main

ROOT = Path(__file__).resolve().parents[1]


def sample_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **env_keys: Any) -> Path:
    shutil.copytree(ROOT / "conf", tmp_path / "conf", dirs_exist_ok=True)
    if not (tmp_path / "data").exists():
        shutil.copytree(ROOT / "data" / "landing" / "orders", tmp_path / "data" / "landing" / "orders")
    env = yaml.safe_load((tmp_path / "conf/env/local.yaml").read_text())
    env.update(env_keys)
    (tmp_path / "conf/env/local.yaml").write_text(yaml.safe_dump(env))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run_json(capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, dict[str, Any]]:
    rc = main(["run", "--pipeline", "conf/pipelines/orders.yaml", "--env", "local", "--output", "json", *extra])
    return rc, json.loads(capsys.readouterr().out.strip())
