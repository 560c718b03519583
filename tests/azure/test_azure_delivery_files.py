"""Static checks of the delivery files: Azure Pipelines YAML against the schema, PowerShell syntax."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
YAML_FILES = sorted((REPO / "azure-pipelines").rglob("*.yml"))
PWSH_FILES = sorted(p for p in REPO.rglob("*.ps*1") if p.suffix in (".ps1", ".psm1") and ".git" not in p.parts)


def test_delivery_files_exist() -> None:
    names = {p.relative_to(REPO).as_posix() for p in YAML_FILES + PWSH_FILES}
    assert {
        "azure-pipelines/azure-pipelines.yml",
        "scripts/Submit-SynapseSparkJob.ps1",
        "scripts/Publish-MedallionArtifacts.ps1",
        "scripts/MedallionDelivery.psm1",
    } <= names
    assert any(n.startswith("azure-pipelines/templates/") for n in names)
    assert any(n.startswith("scripts/tests/") and n.endswith(".Tests.ps1") for n in names)


def _check_jsonschema() -> list[str]:
    exe = shutil.which("check-jsonschema")
    return [exe] if exe else [sys.executable, "-m", "check_jsonschema"]


def test_azure_pipelines_yaml_is_schema_valid() -> None:
    assert len(YAML_FILES) >= 2
    command = [*_check_jsonschema(), "--regex-variant", "python", "--builtin-schema", "vendor.azure-pipelines",
               "--data-transform", "azure-pipelines", *map(str, YAML_FILES)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def _parser():  # noqa: ANN202
    tree_sitter = pytest.importorskip("tree_sitter")
    tree_sitter_pwsh = pytest.importorskip("tree_sitter_pwsh")
    return tree_sitter.Parser(tree_sitter.Language(tree_sitter_pwsh.language()))


def _problems(node, out: list[str]) -> list[str]:  # noqa: ANN001
    if node.type == "ERROR" or node.is_missing:
        kind = "MISSING" if node.is_missing else "ERROR"
        out.append(f"{kind} at line {node.start_point[0] + 1}: {node.text[:80]!r}")
    for child in node.children:
        _problems(child, out)
    return out


@pytest.mark.parametrize("path", PWSH_FILES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_powershell_parses(path: Path) -> None:
    tree = _parser().parse(path.read_bytes())
    assert _problems(tree.root_node, []) == []


def test_the_parse_check_catches_broken_powershell() -> None:
    tree = _parser().parse(b"function Get-X {\n  if ($a -eq ) {\n")
    assert _problems(tree.root_node, [])


@pytest.mark.parametrize("name", ["Submit-SynapseSparkJob.ps1", "Publish-MedallionArtifacts.ps1",
                                  "MedallionDelivery.psm1"])
def test_scripts_are_strict(name: str) -> None:
    text = (REPO / "scripts" / name).read_text()
    assert "Set-StrictMode -Version Latest" in text
    assert "$ErrorActionPreference = 'Stop'" in text


def test_no_secret_in_yaml() -> None:
    for path in YAML_FILES:
        text = path.read_text().lower()
        for word in ("password:", "secret:", "clientsecret", "accountkey", "sig="):
            assert word not in text, f"{path}: {word}"
