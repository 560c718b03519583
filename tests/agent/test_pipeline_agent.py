"""The pipeline as the agent runs it: expanded per pipelineMode, references resolved, Build's bash steps run.

The Build stage runs once per test session (one JVM: `medallion validate --all`); its expansion is shown
to be the same for every pipelineMode, so that one run stands for all five. Steps whose real work is out
of scope here run through stand-ins on PATH, recorded: `python -m pip install` (the venv already has
medallion[dev]), `python -m pytest` (runs tests/agent/test_expressions.py with the step's own arguments,
not the whole suite again), `medallion deps` (needs the package index; writes an empty deps.zip).
Everything else (ruff, `medallion datasets`/`validate`, `python -m build`) runs for real.
"""
from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import pytest

from tests.agent.expand import ExpansionError, Plan, expand_pipeline
from tests.agent.references import check_plan, documented_groups
from tests.agent.run import HostedAgent, JobResult, hosted_variables, image_variables

REPO = Path(__file__).resolve().parents[2]
PIPELINE = REPO / "azure-pipelines" / "azure-pipelines.yml"
DOCS = REPO / "docs" / "deploy-azure.md"
OLD_BUILD_STAGE = Path(__file__).parent / "fixtures" / "build-stage-before-issue-23.yml"
MODES = ["FullPipeline", "BronzeOnly", "SilverOnly", "GoldOnly", "ValidationOnly"]
BIN = Path(sys.executable).parent


def _plan(path: Path = PIPELINE, *, branch: str = "refs/heads/main", **parameters: object) -> Plan:
    return expand_pipeline(path, dict(parameters), {"Build.SourceBranch": branch, "Build.Reason": "Manual"})


def _documented_flow() -> dict[str, list[str]]:
    """The table of docs/deploy-azure.md section 4: mode -> stages, with the Deliver stage's jobs in []."""
    out: dict[str, list[str]] = {}
    for mode, flow in re.findall(r"^\| `(\w+)`[^|]*\| (.+?) \|$", DOCS.read_text(encoding="utf-8"), re.M):
        if flow.startswith("Build only"):
            out[mode] = ["Build"]
            continue
        stages, _, jobs = flow.partition("[")
        names = [n.strip() for n in stages.split("→")]
        out[mode] = names + [re.sub(r"\s*\(.*", "", j).strip() for j in jobs.split("]")[0].split("→")]
    return out


def _variables(plan: Plan, work: Path, environment: str, branch: str = "refs/heads/main") -> dict[str, str]:
    groups = documented_groups(DOCS)
    values = {**hosted_variables(work, branch=branch), **image_variables()}
    for entry in plan.variables:
        if "group" in entry:
            values.update(groups.get(entry["group"], {}))
        else:
            values[entry["name"]] = str(entry["value"])
    return values


@pytest.mark.parametrize("mode", MODES)
def test_the_expanded_stages_are_what_the_docs_say(mode: str) -> None:
    plan = _plan(pipelineMode=mode)
    flow = [s.name for s in plan.stages]
    if mode != "ValidationOnly":
        deliver = plan.stage("Deliver")
        flow += ["Publish" if j.name == "PublishArtifacts" else j.name for j in deliver.jobs]
        # each job waits for the one before it (no layer runs beside the layer it reads) and for Publish
        for before, after in zip(deliver.jobs, deliver.jobs[1:], strict=False):
            assert before.name in after.depends_on and "PublishArtifacts" in after.depends_on, after.name
    assert flow == _documented_flow()[mode]


def test_everything_that_touches_the_lake_is_one_stage_on_the_locked_environment() -> None:
    """The environment's exclusive lock is per stage: one stage holds it for the whole run."""
    plan = _plan(pipelineMode="FullPipeline", environment="test")
    assert [s.name for s in plan.stages] == ["Build", "Deliver"]
    deliver = plan.stage("Deliver")
    assert deliver.body["lockBehavior"] == "sequential" and plan.root["lockBehavior"] == "sequential"
    (deployment,) = [j for j in deliver.jobs if j.deployment]
    assert deployment.body["environment"] == "medallion-test"
    assert not any(j.deployment for s in plan.stages if s.name != "Deliver" for j in s.jobs)
    assert "holds for the whole `Deliver` stage" in DOCS.read_text(encoding="utf-8")


@pytest.mark.parametrize("environment", ["dev", "test", "prod"])
@pytest.mark.parametrize("mode", MODES)
def test_every_macro_and_output_reference_resolves(mode: str, environment: str) -> None:
    plan = _plan(pipelineMode=mode, environment=environment, datasets=["orders"])
    predefined = set(hosted_variables(Path("/w"))) | set(image_variables())
    assert check_plan(plan, REPO, documented_groups(DOCS), predefined, {"dataset"}) == []


def test_the_reference_check_catches_a_step_that_sets_no_output(tmp_path: Path) -> None:
    copy = tmp_path / "azure-pipelines"
    shutil.copytree(PIPELINE.parent, copy)
    publish = copy / "templates" / "deliver-stage.yml"
    publish.write_text(publish.read_text(encoding="utf-8").replace("name: plan\n", "name: plans\n"))
    synapse = copy / "templates" / "synapse-job.yml"
    synapse.write_text(synapse.read_text(encoding="utf-8").replace("$(dataset)", "$(datset)"))
    plan = _plan(copy / "azure-pipelines.yml", pipelineMode="BronzeOnly")
    problems = "\n".join(check_plan(plan, REPO, documented_groups(DOCS), set(hosted_variables(Path("/w"))),
                                    {"dataset"}))
    assert "has no step named plan" in problems
    assert "undefined $(datset)" in problems
    report = copy / "templates" / "report-job.yml"
    report.write_text(report.read_text(encoding="utf-8").replace("      - PublishArtifacts\n", "", 1))
    plan = _plan(copy / "azure-pipelines.yml", pipelineMode="BronzeOnly")
    problems = "\n".join(check_plan(plan, REPO, documented_groups(DOCS), set(hosted_variables(Path("/w"))),
                                    {"dataset"}))
    assert "Deliver.Report: reads dependencies.PublishArtifacts without dependsOn: PublishArtifacts" in problems


def test_what_the_expander_does_not_understand_fails_loudly(tmp_path: Path) -> None:
    copy = tmp_path / "azure-pipelines"
    shutil.copytree(PIPELINE.parent, copy)
    build = copy / "templates" / "build-stage.yml"
    text = build.read_text(encoding="utf-8")
    build.write_text(text.replace("eq(parameters.environment, 'prod')", "startsWith(parameters.environment, 'p')"))
    with pytest.raises(ExpansionError, match="startsWith"):
        _plan(copy / "azure-pipelines.yml")
    build.write_text(text)
    with pytest.raises(ExpansionError, match="unexpected parameter"):
        _plan(copy / "azure-pipelines.yml", pipelineMode="FullPipeline", colour="blue")
    with pytest.raises(ExpansionError, match="not one of"):
        _plan(copy / "azure-pipelines.yml", pipelineMode="Everything")


def test_the_build_stage_is_the_same_in_every_mode() -> None:
    """So the one Build run below stands for every pipelineMode."""
    reference = _plan(pipelineMode="FullPipeline").stage("Build").body
    for mode in MODES[1:]:
        assert _plan(pipelineMode=mode).stage("Build").body == reference, mode


@pytest.fixture(scope="module")
def stand_ins(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("stand-ins")
    log = folder / "calls.log"
    (folder / "python").write_text(f"""#!/bin/bash
echo "python $*" >> '{log}'
if [ "$1 $2" = "-m pip" ]; then exit 0; fi
if [ "$1 $2" = "-m pytest" ]; then shift 2; exec '{sys.executable}' -m pytest -p no:cacheprovider "$@" tests/agent/test_expressions.py; fi
if [ "$1 $2" = "-m build" ]; then shift 2; exec '{sys.executable}' -m build --no-isolation "$@"; fi
exec '{sys.executable}' "$@"
""")
    (folder / "medallion").write_text(f"""#!/bin/bash
echo "medallion $*" >> '{log}'
if [ "$1" = deps ]; then
  out=$(printf '%s\\n' "$@" | sed -n '/^--out$/{{n;p}}')
  exec '{sys.executable}' -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1], "w").close(); print(sys.argv[1])' "$out"
fi
exec '{BIN / "medallion"}' "$@"
""")
    for name in ("python", "medallion"):
        (folder / name).chmod(0o755)
    return folder


def _run_build(plan: Plan, work: Path, stand_ins: Path, environment: str, branch: str = "refs/heads/main") -> JobResult:
    agent = HostedAgent(work, REPO, _variables(plan, work, environment, branch), path_prepend=[stand_ins, BIN])
    (job,) = plan.stage("Build").jobs
    return agent.run(job)


@pytest.fixture(scope="module")
def build_run(tmp_path_factory: pytest.TempPathFactory, stand_ins: Path) -> JobResult:
    plan = _plan(pipelineMode="FullPipeline", environment="dev")
    return _run_build(plan, tmp_path_factory.mktemp("agent") / "1", stand_ins, "dev")


def test_the_build_stage_passes_end_to_end(build_run: JobResult, stand_ins: Path) -> None:
    failed = [(s.display, s.exit_code, s.reason, s.output[-2000:]) for s in build_run.steps if s.status == "Failed"]
    assert failed == []
    assert build_run.succeeded
    ran = [s.display for s in build_run.steps if s.status == "Succeeded" and s.kind == "bash"]
    assert ran == ["Install medallion with the dev extra", "Ruff", "medallion validate every dataset (dev)",
                   "Pytest", "Build the wheel and deps.zip"]
    validate = build_run.step("medallion validate every dataset")
    assert "conf/pipelines/orders.yaml (orders) is valid for environment dev" in validate.output
    assert "customers" in validate.output
    assert "##vso[" not in validate.output
    calls = (stand_ins / "calls.log").read_text(encoding="utf-8")
    assert "medallion validate --all --env dev --conf-dir conf" in calls


def test_the_build_stage_publishes_the_wheel_and_skips_only_azure_steps(build_run: JobResult) -> None:
    artifact = build_run.step("Publish the wheel and deps.zip")
    assert artifact.status == "Skipped" and "deps.zip" in artifact.reason and ".whl" in artifact.reason
    skipped = {s.display: s.reason for s in build_run.steps if s.status == "Skipped"}
    assert set(skipped) == {"Use Python $(pythonVersion)", "Publish pytest results", "Pester",
                            "Publish Pester results", "Publish the wheel and deps.zip as a pipeline artifact"}
    assert all("unknown input" not in r and "missing input" not in r for r in skipped.values())


def test_the_runner_fails_on_the_build_stage_before_issue_23(tmp_path: Path, stand_ins: Path) -> None:
    """Regression: under TF_BUILD=True the old template looped over ##vso lines and validate exited 2."""
    copy = tmp_path / "azure-pipelines"
    shutil.copytree(PIPELINE.parent, copy)
    shutil.copy(OLD_BUILD_STAGE, copy / "templates" / "build-stage.yml")
    plan = _plan(copy / "azure-pipelines.yml", pipelineMode="ValidationOnly", environment="dev")
    result = _run_build(plan, tmp_path / "work", stand_ins, "dev")
    assert not result.succeeded
    validate = result.step("medallion validate every dataset")
    assert validate.status == "Failed" and validate.exit_code == 2
    assert "##vso[task.setvariable" in validate.output
    assert result.step("Build the wheel").status == "NotRun"


def test_prod_from_a_branch_stops_in_the_first_step(tmp_path: Path, stand_ins: Path) -> None:
    plan = _plan(branch="refs/heads/feature/x", pipelineMode="ValidationOnly", environment="prod")
    result = _run_build(plan, tmp_path / "work", stand_ins, "prod", branch="refs/heads/feature/x")
    guard = result.steps[0]
    assert guard.display == "Production only from main" and guard.status == "Failed"
    assert guard.issues == [("error", "prod is deployed only from main, not from refs/heads/feature/x")]
    assert [s.status for s in result.steps[1:] if s.kind == "bash"] == ["NotRun"] * 5
    assert "Production only from main" not in [s.display for s in _plan(pipelineMode="ValidationOnly",
                                                                         environment="prod").stage("Build").jobs[0].steps]


def test_a_rerun_build_makes_the_same_wheel(build_run: JobResult, tmp_path: Path, stand_ins: Path) -> None:
    """Re-running a failed Build must not make Publish refuse the build number (other content)."""
    plan = _plan(pipelineMode="FullPipeline", environment="dev")
    (job,) = plan.stage("Build").jobs
    job.steps = [s for s in job.steps if s.kind == "checkout" or s.display == "Build the wheel and deps.zip"]
    rerun = HostedAgent(tmp_path / "work", REPO, _variables(plan, tmp_path / "work", "dev"),
                        path_prepend=[stand_ins, BIN]).run(job)
    assert rerun.succeeded, [s.output[-2000:] for s in rerun.steps]
    first = sorted(Path(build_run.variables["Build.ArtifactStagingDirectory"], "wheel").glob("*.whl"))
    second = sorted(Path(rerun.variables["Build.ArtifactStagingDirectory"], "wheel").glob("*.whl"))
    assert [p.name for p in first] == [p.name for p in second] and len(first) == 1
    assert first[0].read_bytes() == second[0].read_bytes()


def test_a_layer_job_runs_after_a_failed_one_and_each_leg_is_gated() -> None:
    """One dataset's failed bronze no longer skips every dataset's silver (the job's condition), only its own
    (the gate step sets skipSubmit, the submit step's condition)."""
    from tests.agent.expressions import evaluate

    deliver = _plan(pipelineMode="FullPipeline").stage("Deliver")
    jobs = {j.name: j for j in deliver.jobs}
    assert "condition" not in jobs["Preflight"].body  # the first: default succeeded()
    status = {"succeeded": False, "failed": True, "succeededOrFailed": True, "always": True, "canceled": False}
    context = {"dependencies": {"PublishArtifacts": {"result": "Succeeded"}, "Bronze": {"result": "Failed"}}}
    for name, after in (("Bronze", "preflight"), ("Silver", "preflight,bronze"), ("Gold", "preflight,silver"),
                        ("Check", "preflight,bronze,silver,gold")):
        job = jobs[name]
        assert evaluate(job.body["condition"], context, status) is True, name
        gate = next(s for s in job.steps if s.name == "gate")
        assert f"--after '{after}'" in gate.body["inputs"]["inlineScript"]
        submit = next(s for s in job.steps if s.name == "submit")
        for skip, runs in (("true", False), ("", True)):
            assert evaluate(submit.body["condition"], {"variables": {"skipSubmit": skip}},
                            {**status, "succeeded": True}) is runs
    publish_failed = {"dependencies": {"PublishArtifacts": {"result": "Failed"}}}
    assert evaluate(jobs["Silver"].body["condition"], publish_failed, status) is False


def test_the_deliver_jobs_run_on_the_agent_up_to_the_azure_steps(build_run: JobResult, tmp_path: Path,
                                                                 stand_ins: Path) -> None:
    """Publish's `plan` step sets the matrix as the agent reads it; a Silver leg gets its variables from it and
    from Publish's outputs; the Azure tasks pass the parameters their scripts declare (all mandatory ones)."""
    plan = _plan(pipelineMode="FullPipeline", environment="dev")
    jobs = {j.name: j for j in plan.stage("Deliver").jobs}
    wheel_dir = Path(build_run.variables["Build.ArtifactStagingDirectory"]) / "wheel"

    def agent(name: str) -> HostedAgent:
        shutil.copytree(wheel_dir, tmp_path / name / "wheel")  # what the skipped `download: current` fetches
        return HostedAgent(tmp_path / name, REPO, _variables(plan, tmp_path / name, "dev"),
                           path_prepend=[stand_ins, BIN])

    publish = agent("publish").run(jobs["PublishArtifacts"])
    assert publish.succeeded, [(s.display, s.reason, s.output[-1500:]) for s in publish.steps]
    assert json.loads(publish.outputs["PublishArtifacts.plan.matrix"]) == {
        "customers": {"dataset": "customers"}, "orders": {"dataset": "orders"}}
    assert publish.step("Publish-MedallionArtifacts.ps1").reason == "AzurePowerShell@5: needs Azure"
    # what Publish-MedallionArtifacts.ps1 (medallion publish) sets on Azure
    publish.outputs["PublishArtifacts.publish.artifactRoot"] = "abfss://artifacts@stmedalliondev.dfs.core.windows.net/medallion/20261207.1"
    publish.outputs["PublishArtifacts.publish.wheelName"] = next(wheel_dir.glob("*.whl")).name

    leg = agent("silver").run(jobs["Silver"], upstream={"PublishArtifacts": publish}, leg="orders")
    assert leg.succeeded, [(s.display, s.reason) for s in leg.steps]
    assert leg.variables["dataset"] == "orders" and leg.variables["wheelName"].endswith(".whl")
    status = {s.display: (s.status, s.reason) for s in leg.steps}
    assert status["Did preflight,bronze of $(dataset) succeed in this run?"] == ("Skipped", "AzureCLI@2: needs Azure")
    assert status["Submit silver $(dataset)"] == ("Skipped", "AzurePowerShell@5: needs Azure")
    assert status["Cancel the batch (cleanup)"][0] == "NotRun"


def test_a_task_missing_a_mandatory_script_parameter_fails(tmp_path: Path) -> None:
    from tests.agent.expand import Step

    plan = _plan(pipelineMode="BronzeOnly")
    (publish,) = [j for j in plan.stage("Deliver").jobs if j.deployment]
    task = next(s for s in publish.steps if s.name == "publish")
    agent = HostedAgent(tmp_path, REPO, _variables(plan, tmp_path, "dev"))
    agent._checkout(Step("checkout", {"checkout": "self"}))
    assert agent._task(task).status == "Skipped"
    inputs = {**task.body["inputs"], "ScriptArguments": task.body["inputs"]["ScriptArguments"].replace(
        "-Version '$(artifactVersion)'", "-Versoin '$(artifactVersion)'")}
    result = agent._task(Step("task", {**task.body, "inputs": inputs}))
    assert result.status == "Failed"
    assert "declares no parameter -Versoin" in result.reason and "mandatory -Version not passed" in result.reason
