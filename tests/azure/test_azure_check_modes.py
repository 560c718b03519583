"""Item 7 of issue 10: `medallion check` after BronzeOnly / SilverOnly / GoldOnly checks the layers that ran.

Before, `check` demanded every declared table and a run-log record of every layer, so a first BronzeOnly run
on a fresh environment failed its checks on silver and gold tables that were not meant to exist yet.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytestmark = [pytest.mark.delta, pytest.mark.timeout(600)]
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def conf(tmp_path: Path) -> Path:
    landing, lake = tmp_path / "landing", tmp_path / "lake"
    shutil.copytree(REPO / "data" / "landing" / "orders", landing / "orders")
    conf = tmp_path / "conf"
    shutil.copytree(REPO / "conf", conf)
    (conf / "env" / "modes.yaml").write_text(f"name: modes\nlanding_root: {landing}\nlakehouse_root: {lake}\n")
    return conf


def test_check_after_bronze_only_checks_bronze(spark, conf: Path, capsys) -> None:
    from medallion.cli import main

    base = ["--pipeline", "orders.yaml", "--env", "modes", "--conf-dir", str(conf)]
    assert main(["run", "--layer", "bronze", *base]) == 0
    capsys.readouterr()
    assert main(["check", *base]) == 1  # every layer: silver and gold were never meant to run
    assert "silver/orders" in capsys.readouterr().out
    assert main(["check", "--layers", "bronze", *base]) == 0, capsys.readouterr().out
    out = capsys.readouterr().out
    assert "exists:bronze/orders" in out and "silver/" not in out and "gold/" not in out
    with pytest.raises(SystemExit) as bad:
        main(["check", "--layers", "bronze,platinum", *base])
    assert bad.value.code == 2
