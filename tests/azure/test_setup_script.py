"""scripts/setup-azure-environment.sh: shellcheck-clean, and idempotent against a fake `az` that records calls."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "setup-azure-environment.sh"
SETTINGS = {
    "MEDALLION_ENV": "dev", "RESOURCE_GROUP": "rg-medallion-dev", "LOCATION": "westeurope",
    "STORAGE_ACCOUNT": "stmedalliondev", "WORKSPACE": "syn-medallion-dev", "POOL": "medallion35",
    "SP_APP_ID": "11111111-2222-3333-4444-555555555555", "AGENT_IP_START": "203.0.113.0",
    "AGENT_IP_END": "203.0.113.255", "ADO_ORG": "https://dev.azure.com/contoso", "ADO_PROJECT": "medallion",
}


def test_the_script_is_shellcheck_clean() -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck not installed (Debian: apt-get install -y shellcheck)")
    done = subprocess.run([shellcheck, "--severity=style", str(SCRIPT)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


def _run(tmp_path: Path, **overrides: str) -> tuple[subprocess.CompletedProcess[str], dict]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "az").write_text(f"#!/bin/sh\nexec '{sys.executable}' '{Path(__file__).parent / 'fake_az.py'}' \"$@\"\n")
    (bin_dir / "az").chmod(0o755)
    state = tmp_path / "az-state.json"
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "FAKE_AZ_STATE": str(state), "HOME": str(tmp_path),
           **SETTINGS, **overrides}
    done = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120)
    return done, json.loads(state.read_text()) if state.exists() else {}


def _writes(calls: list[list[str]]) -> list[str]:
    return [" ".join(c[:5]) for c in calls
            if c[-1:] != ["exists"] and any(w in c for w in ("create", "update", "POST"))]


def test_a_first_run_sets_up_everything_and_a_second_changes_nothing(tmp_path: Path) -> None:
    first, state = _run(tmp_path)
    assert first.returncode == 0, first.stderr
    writes = _writes(state["calls"])
    for expected in ("group create", "storage account create", "storage fs create --name artifacts",
                     "storage fs create --name lake", "synapse workspace create", "synapse spark pool create",
                     "synapse workspace firewall-rule create"):
        assert any(w.startswith(expected) for w in writes), (expected, writes)
    rule = next(c for c in state["calls"] if c[:4] == ["synapse", "workspace", "firewall-rule", "create"])
    assert rule[rule.index("--start-ip-address") + 1] == "203.0.113.0"
    assert rule[rule.index("--end-ip-address") + 1] == "203.0.113.255"
    granted = {(r[1], r[2].rsplit("/", 1)[-1]) for r in state["roles"]}
    assert granted == {("Storage Blob Data Contributor", "artifacts"), ("Storage Blob Data Contributor", "lake"),
                       ("Synapse Compute Operator", "medallion35"), ("Synapse Monitoring Operator", "")}
    assert [c["type"]["name"] for c in state["checks"]] == ["ExclusiveLock"]
    assert state["checks"][0]["resource"] == {"type": "environment", "id": "7"}

    calls_before = len(state["calls"])
    second, state = _run(tmp_path)
    assert second.returncode == 0, second.stderr
    assert _writes(state["calls"][calls_before:]) == []  # idempotent: it looked, found everything, changed nothing
    assert "already granted" in second.stderr and "has its Exclusive lock check" in second.stderr


def test_a_moved_agent_range_updates_the_rule_and_a_wrong_pool_fails(tmp_path: Path) -> None:
    first, _ = _run(tmp_path)
    assert first.returncode == 0, first.stderr
    moved, state = _run(tmp_path, AGENT_IP_START="198.51.100.7", AGENT_IP_END="198.51.100.7")
    assert moved.returncode == 0, moved.stderr
    assert any(c[:4] == ["synapse", "workspace", "firewall-rule", "update"] and "198.51.100.7" in c
               for c in state["calls"])
    state["resources"]["synapse spark pool:medallion35"]["sparkVersion"] = "3.4"
    (tmp_path / "az-state.json").write_text(json.dumps(state))
    wrong, _ = _run(tmp_path)
    assert wrong.returncode == 1
    assert "Spark pool medallion35 runs Spark 3.4; medallion needs 3.5" in wrong.stderr


def test_a_missing_setting_is_named_before_any_call(tmp_path: Path) -> None:
    done, state = _run(tmp_path, SP_APP_ID="")
    assert done.returncode != 0 and "SP_APP_ID" in done.stderr
    assert state.get("calls", []) == []
