"""Static checks of an expanded plan: every ``$(var)`` macro and every output reference resolves.

A macro resolves to a pipeline variable, a job variable, a variable of a group the docs create
(``az pipelines variable-group create ... --variables k=v``), a predefined variable, a matrix variable, or
an earlier step's output in the same job (``$(step.var)``). ``stageDependencies.S.J.outputs['...']`` must
name a stage the referencing stage depends on, a job there, a step there with that ``name:`` that sets that
output; ``dependencies.J.result`` must name a job of the same stage that the referencing job depends on.
Which outputs a step sets is read from the code it runs: ``ado_set_output("x")`` in the ``medallion``
sub-command's function (any module of medallion/azure/), reached from a bash script or from a PowerShell
script that wraps it.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

from tests.agent.expand import Job, Plan, Stage, Step

MACRO = re.compile(r"\$\(([A-Za-z0-9_.\-]+)\)")
STAGE_OUTPUT = re.compile(r"stageDependencies\.(\w+)\.(\w+)\.outputs\['([\w.]+)'\]")
JOB_RESULT = re.compile(r"(?<![\w.])dependencies\.(\w+)\.(result|outputs)")
JOB_OUTPUT = re.compile(r"(?<![\w.])dependencies\.(\w+)\.outputs\['([\w.]+)'\]")
_GROUP = re.compile(r"az pipelines variable-group create --name (\S+)[^\n]*?--variables((?:\s*\\\n|\s+[\w]+=\S+)+)")


def documented_groups(doc: Path) -> dict[str, dict[str, str]]:
    """Variable groups and their variables as the deployment docs create them."""
    groups: dict[str, dict[str, str]] = {}
    for match in _GROUP.finditer(doc.read_text(encoding="utf-8")):
        pairs = re.findall(r"(\w+)=(\S+)", match.group(2))
        groups[match.group(1)] = dict(pairs)
    added = doc.with_name("deploy-fabric.md")  # the Fabric runtime's variables, added to the same groups
    if added.is_file():
        text = added.read_text(encoding="utf-8")
        for group in re.findall(r"--group-name (\S+)", text):
            groups.setdefault(group, {}).update(re.findall(r"variable create --group-id \S+ --name (\w+) --value (\S+)", text))
    same = re.search(r"the same for (medallion-\w+) and (medallion-\w+)", doc.read_text(encoding="utf-8"))
    if same and "medallion-dev" in groups:  # the docs create the other environments' groups alike
        for name in same.groups():
            groups.setdefault(name, dict(groups["medallion-dev"]))
    return groups


def command_outputs(repo: Path) -> dict[str, set[str]]:
    """``medallion <sub>`` -> the output variables it sets (from the ado_set_output calls in its function)."""
    out: dict[str, set[str]] = {}
    modules = sorted((repo / "medallion" / "azure").glob("*.py"))
    nodes = [n for m in modules for n in ast.walk(ast.parse(m.read_text(encoding="utf-8")))]
    for node in nodes:
        if isinstance(node, ast.FunctionDef) and node.name.endswith("_command"):
            names = {c.args[0].value for c in ast.walk(node) if isinstance(c, ast.Call)
                     and getattr(c.func, "id", "") == "ado_set_output" and isinstance(c.args[0], ast.Constant)}
            out[node.name.removesuffix("_command")] = names
    return out


def _strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, list):
        return [s for item in node for s in _strings(item)]
    if isinstance(node, dict):
        return [s for k, v in node.items() for s in _strings(k) + _strings(v)]
    return []


def step_outputs(step: Step, repo: Path) -> set[str]:
    """Output variables a step sets, from the medallion sub-commands it runs (directly or via a script)."""
    commands = command_outputs(repo)
    text = " ".join(_strings(step.body))
    subs = set(re.findall(r"\bmedallion (\w+)", text)) if step.kind == "bash" else set()
    if "& medallion @arguments" in text:  # inline PowerShell: the sub-command is the array's first element
        subs |= set(re.findall(r"\$arguments = @\('(\w+)'", text))
    for script in re.findall(r"scripts/([\w-]+\.ps1)", text):
        path = repo / "scripts" / script
        if path.is_file():
            subs |= set(re.findall(r"Thin wrapper around `medallion (\w+)`", path.read_text(encoding="utf-8")))
    if step.kind == "bash" and "--no-ado" in text:
        return set()
    return {name for sub in subs for name in commands.get(sub, set())}


def check_plan(plan: Plan, repo: Path, groups: dict[str, dict[str, str]], predefined: set[str],
               matrix_variables: set[str]) -> list[str]:
    """Every unresolved reference of the plan, as readable problems (empty: all resolve)."""
    problems: list[str] = []
    known = {g.lower() for g in predefined} | {m.lower() for m in matrix_variables}
    for entry in plan.variables:
        if "group" in entry:
            if entry["group"] not in groups and not entry["group"].endswith("-secrets"):
                problems.append(f"variable group {entry['group']} is not created in the docs")
            known |= {k.lower() for k in groups.get(entry["group"], {})}
        else:
            known.add(entry["name"].lower())
    for value in (v["value"] for v in plan.variables if "value" in v):
        problems += [f"pipeline variable uses undefined $({m})" for m in MACRO.findall(str(value))
                     if m.lower() not in known]
    for stage in plan.stages:
        for job in stage.jobs:
            problems += _check_job(plan, stage, job, repo, known)
    return problems


def _check_job(plan: Plan, stage: Stage, job: Job, repo: Path, known: set[str]) -> list[str]:
    problems: list[str] = []
    where = f"{stage.name}.{job.name}"
    job_known = set(known) | {k.lower() for k in (job.body.get("variables") or {})}
    runtime = _strings(job.body.get("variables") or {}) + _strings(job.body.get("strategy") or {})
    runtime += _strings(job.body.get("condition") or "") + _strings(stage.condition or "")
    names = [j.name for j in stage.jobs]
    problems += [f"{where}: dependsOn names no job {d} of stage {stage.name}" for d in job.depends_on if d not in names]
    for text in runtime:
        problems += _check_stage_outputs(plan, stage, text, repo, where)
        for src_job, ref in JOB_OUTPUT.findall(text):
            if src_job in names and src_job in job.depends_on:
                problems += _check_output(next(j for j in stage.jobs if j.name == src_job), ref, repo, where)
        for name, _ in JOB_RESULT.findall(text):
            if name not in [j.name for j in stage.jobs]:
                problems.append(f"{where}: dependencies.{name} names no job of stage {stage.name}")
            elif name not in job.depends_on:
                problems.append(f"{where}: reads dependencies.{name} without dependsOn: {name}")
    for value in (job.body.get("variables") or {}).values():
        problems += [f"{where}: job variable uses undefined $({m})" for m in MACRO.findall(str(value))
                     if m.lower() not in job_known]
    outputs: set[str] = set()
    for step in job.steps:
        for text in _strings({k: v for k, v in step.body.items() if k != "name"}):
            for macro in MACRO.findall(text):
                if macro.lower() not in job_known and macro not in outputs:
                    problems.append(f"{where}: step {step.display!r} uses undefined $({macro})")
        if step.name:
            outputs |= {f"{step.name}.{o}" for o in step_outputs(step, repo)}
    return problems


def _check_stage_outputs(plan: Plan, stage: Stage, text: str, repo: Path, where: str) -> list[str]:
    problems: list[str] = []
    for src_stage, src_job, ref in STAGE_OUTPUT.findall(text):
        if src_stage not in stage.depends_on:
            problems.append(f"{where}: reads stageDependencies.{src_stage} without dependsOn: {src_stage}")
            continue
        jobs = {j.name: j for j in plan.stage(src_stage).jobs}
        if src_job not in jobs:
            problems.append(f"{where}: stageDependencies.{src_stage}.{src_job}: no such job")
            continue
        problems += _check_output(jobs[src_job], ref, repo, where)
    return problems


def _check_output(job: Job, ref: str, repo: Path, where: str) -> list[str]:
    """``ref`` ('<step>.<var>', or '<job>.<step>.<var>' for a runOnce deployment) names an output ``job`` sets."""
    parts = ref.split(".")
    if job.deployment:  # runOnce deployment outputs are prefixed by the job name
        if len(parts) != 3 or parts[0] != job.name:
            return [f"{where}: {ref!r}: a runOnce deployment's output is '{job.name}.<step>.<var>'"]
        parts = parts[1:]
    if len(parts) != 2:
        return [f"{where}: {ref!r} is not '<step>.<var>'"]
    steps = {s.name: s for s in job.steps if s.name}
    if parts[0] not in steps:
        return [f"{where}: {ref!r}: {job.name} has no step named {parts[0]}"]
    if parts[1] not in step_outputs(steps[parts[0]], repo):
        return [f"{where}: {ref!r}: step {parts[0]} does not set the output {parts[1]}"]
    return []
