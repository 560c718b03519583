"""Static checks of the delivery files: Azure Pipelines YAML against the schema, PowerShell syntax."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.project_files import project_files

REPO = Path(__file__).resolve().parents[2]
YAML_FILES = sorted((REPO / "azure-pipelines").rglob("*.yml"))
PWSH_FILES = project_files(REPO, (".ps1", ".psm1"))  # the project's own: never a venv's Activate.ps1


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


# --------------------------------------------------------------------------- issue 10: what the pipeline promises


def _yaml(name: str) -> dict:
    import yaml

    return yaml.safe_load((REPO / "azure-pipelines" / name).read_text())


def _text(name: str) -> str:
    return (REPO / "azure-pipelines" / name).read_text()


def test_every_batch_job_has_a_named_submit_step_and_a_cleanup_step_on_cancel() -> None:
    """Item 5: before, a cancelled run or a job timeout left the Spark batch running."""
    steps = _yaml("templates/submit-steps.yml")["steps"]
    submit = next(s for s in steps if s.get("name") == "submit")
    assert "Submit-SynapseSparkJob.ps1" in submit["inputs"]["Inline"]
    assert submit["env"]["SYSTEM_ACCESSTOKEN"] == "$(System.AccessToken)"
    cleanup = steps[steps.index(submit) + 1]
    assert "canceled()" in cleanup["condition"]
    assert cleanup["inputs"]["ScriptPath"].endswith("scripts/Stop-SynapseSparkJob.ps1")
    assert "-BatchId '$(submit.batchId)'" in cleanup["inputs"]["ScriptArguments"]
    job = _yaml("templates/synapse-job.yml")["jobs"][0]
    assert int(job["cancelTimeoutInMinutes"]) >= 2  # time for the cleanup step after a cancel


def test_the_wheel_name_and_artifact_root_come_from_publish_outputs() -> None:
    """Item 8: before, the submit steps rebuilt the wheel name from a second version constant."""
    publish = _yaml("templates/deliver-stage.yml")["stages"][0]["jobs"][0]
    steps = publish["strategy"]["runOnce"]["deploy"]["steps"]
    assert any(s.get("name") == "publish" for s in steps) and any(s.get("name") == "plan" for s in steps)
    for template in ("templates/synapse-job.yml", "templates/report-job.yml"):
        variables = _yaml(template)["jobs"][0]["variables"]
        assert variables["wheelName"] == (
            "$[ dependencies.PublishArtifacts.outputs['PublishArtifacts.publish.wheelName'] ]")
        assert variables["artifactRoot"] == (
            "$[ dependencies.PublishArtifacts.outputs['PublishArtifacts.publish.artifactRoot'] ]")
    assert "WheelName      = '$(wheelName)'" in _text("templates/submit-steps.yml")
    # every job that reads Publish's outputs depends on it directly (dependencies needs it; tests/agent checks
    # this on the expanded plan)
    main = _text("azure-pipelines.yml")
    assert _text("templates/deliver-stage.yml").count("- PublishArtifacts\n") >= 8
    assert "Build.BuildNumber)/medallion" not in main and "artifactRoot\n    value" not in main


def test_validate_runs_in_the_build_stage_and_check_knows_the_mode() -> None:
    """Item 7: validate before any publish; the checks cover only the layers the mode ran."""
    build = _text("templates/build-stage.yml")
    assert "medallion validate --all" in build
    assert build.index("medallion validate") < build.index("python -m build --wheel")
    main = _text("templates/deliver-stage.yml")
    for mode, layers in (("FullPipeline", "bronze,silver,gold"), ("BronzeOnly", "bronze"), ("SilverOnly", "silver"),
                         ("GoldOnly", "gold")):
        block = main.split(f"eq(parameters.pipelineMode, '{mode}') }}}}:\n            checkLayers: ", 1)[1]
        assert block.split("\n", 1)[0] == layers, mode
    assert "'--layers','${{ parameters.checkLayers }}'" in _text("templates/synapse-job.yml")


def test_production_safety() -> None:
    """Item 9: no overlapping runs, prod only from main, secrets only through Key Vault."""
    main = _yaml("azure-pipelines.yml")
    assert main["lockBehavior"] == "sequential"
    build = _text("templates/build-stage.yml")
    assert ("${{ if and(eq(parameters.environment, 'prod'), ne(variables['Build.SourceBranch'], "
            "'refs/heads/main')) }}") in build
    assert build.index("Production only from main") < build.index("- checkout: self")
    entries = [e for v in main["variables"] for e in (next(iter(v.values())) if any(k.startswith("${{") for k in v)
                                                      else [v])]
    groups = [v["group"] for v in entries if "group" in v]
    assert [g for g in groups if "secret" in g] == ["medallion-${{ parameters.environment }}-secrets"]
    assert all("value" not in v or "secret" not in v["name"].lower() for v in main["variables"] if "name" in v)
    docs = (REPO / "docs" / "deploy-azure.md").read_text()
    for phrase in ("Exclusive lock", "Branch control", "Link secrets from an Azure Key Vault"):
        assert phrase in docs, phrase


def test_every_dataset_runs_in_parallel_jobs_and_the_report_is_published() -> None:
    job = _yaml("templates/synapse-job.yml")["jobs"][0]
    assert job["strategy"]["matrix"] == (
        "$[ dependencies.PublishArtifacts.outputs['PublishArtifacts.plan.matrix'] ]")
    assert "pipeline: $(dataset)" in _text("templates/synapse-job.yml")
    assert "medallion datasets --conf-dir conf" in _text("templates/deliver-stage.yml")
    report = _yaml("templates/report-job.yml")["jobs"][0]
    assert report["variables"]["reportUri"] == "$(reportRoot)/report-$(Build.BuildId).html"
    steps = report["steps"]
    assert steps[0]["parameters"]["job"] == "report"
    assert "medallion download --source '$(reportUri)'" in steps[1]["inputs"]["inlineScript"]
    assert steps[2]["task"] == "PublishPipelineArtifact@1" and steps[2]["inputs"]["artifact"] == "medallion-report"
    stages = _text("templates/deliver-stage.yml")
    assert "job: preflight" in stages and "template: report-job.yml" in stages
    assert "job: Preflight" in _text("templates/synapse-job.yml")


def test_the_build_ships_the_dependency_archive() -> None:
    build = _text("templates/build-stage.yml")
    assert 'medallion deps --dist-dir "${out}" --out "${out}/deps.zip"' in build
    docs = (REPO / "docs" / "deploy-azure.md").read_text()
    assert "requirements.txt" not in docs  # no manual pool package step remains
