"""Run one job of an expanded plan as a Microsoft-hosted Ubuntu agent would (no Azure).

Modelled: the predefined ``BUILD_*`` / ``AGENT_*`` / ``SYSTEM_*`` variables and ``TF_BUILD=True`` in every
step's environment, every non-secret variable mapped to an environment variable (upper case, ``.`` -> ``_``),
``$(var)`` macros expanded (recursively) before a script runs and in ``env:``, step ``condition:`` with the
status functions, ``bash`` steps run as ``bash --noprofile --norc <file>`` in
``$(System.DefaultWorkingDirectory)`` (no ``-e`` added: the exit code decides), the logging commands
``task.setvariable`` (``isOutput``, ``isSecret``), ``task.logissue`` and ``task.complete``. ``checkout: self``
copies the working tree. Tasks, ``pwsh``, ``download`` and ``publish`` do not run: they are recorded as
skipped, with their inputs checked (known inputs, required inputs, script parameters). Not modelled:
runtime ``$[ ]`` variables, matrices, deployment lifecycle hooks, timeouts, continueOnError, the tasks.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.agent.expand import Job, Step
from tests.agent.expressions import evaluate, to_bool
from tests.agent.references import MACRO

# inputs of the tasks our templates use: (known inputs, required inputs), from each task's documentation
TASK_INPUTS: dict[str, tuple[set[str], set[str]]] = {
    "UsePythonVersion@0": ({"versionSpec", "addToPath", "architecture"}, {"versionSpec"}),
    "PublishTestResults@2": ({"testResultsFormat", "testResultsFiles", "searchFolder", "mergeTestResults",
                              "failTaskOnFailedTests", "testRunTitle", "publishRunAttachments"}, {"testResultsFiles"}),
    "AzurePowerShell@5": ({"azureSubscription", "ScriptType", "ScriptPath", "Inline", "ScriptArguments",
                           "errorActionPreference", "FailOnStandardError", "azurePowerShellVersion",
                           "preferredAzurePowerShellVersion", "pwsh", "workingDirectory"}, {"azureSubscription"}),
    "AzureCLI@2": ({"azureSubscription", "scriptType", "scriptLocation", "scriptPath", "inlineScript",
                    "arguments", "workingDirectory", "addSpnToEnvironment", "failOnStandardError"},
                   {"azureSubscription", "scriptType"}),
    "PublishPipelineArtifact@1": ({"targetPath", "artifact", "publishLocation"}, {"targetPath"}),
}
_VSO = re.compile(r"##vso\[([\w.]+)([^\]]*)\](.*)")
_RUNTIME = re.compile(r"\$\[\s*(?:stageDependencies\.\w+|dependencies)\.(?P<job>\w+)\.outputs\['(?P<ref>[\w.]+)'\]\s*\]")


def hosted_variables(work: Path, *, branch: str = "refs/heads/main", reason: str = "IndividualCI",
                     build_number: str = "20261207.1", build_id: str = "4242") -> dict[str, str]:
    """The predefined variables of a hosted Ubuntu job, laid out under ``work`` as the agent does."""
    sources, staging = work / "s", work / "a"
    return {
        "Agent.BuildDirectory": str(work), "Agent.WorkFolder": str(work.parent), "Agent.OS": "Linux",
        "Agent.OSArchitecture": "X64", "Agent.TempDirectory": str(work / "_temp"),
        "Agent.ToolsDirectory": str(work / "_tool"), "Agent.JobName": "Test", "Agent.Name": "Hosted Agent",
        "Agent.JobStatus": "Succeeded",
        "Build.BuildId": build_id, "Build.BuildNumber": build_number, "Build.Reason": reason,
        "Build.SourceBranch": branch, "Build.SourceBranchName": branch.rsplit("/", 1)[-1],
        "Build.SourcesDirectory": str(sources), "Build.Repository.LocalPath": str(sources),
        "Build.ArtifactStagingDirectory": str(staging), "Build.StagingDirectory": str(staging),
        "Build.BinariesDirectory": str(work / "b"), "Build.DefinitionName": "medallion",
        "Build.Repository.Name": "medallion", "Build.SourceVersion": "0" * 40,
        "Common.TestResultsDirectory": str(work / "TestResults"), "Pipeline.Workspace": str(work),
        "System.DefaultWorkingDirectory": str(sources), "System.TeamProject": "medallion",
        "System.TeamFoundationCollectionUri": "https://dev.azure.com/contoso/", "System.JobId": "1",
        "System.StageName": "Build", "System.AccessToken": "not-a-real-token",
    }


SECRET_VARIABLES = {"System.AccessToken"}  # never mapped to the environment unless a step's env: does


def image_variables() -> dict[str, str]:
    """Environment variables of the hosted Ubuntu image that pipelines read as macros (JAVA_HOME_17_X64)."""
    java = os.environ.get("JAVA_HOME", "/usr/lib/jvm/java-17-openjdk-amd64")
    return {"JAVA_HOME_17_X64": java}


@dataclass
class StepResult:
    display: str
    kind: str
    status: str  # Succeeded, Failed, Skipped, NotRun
    exit_code: int | None = None
    output: str = ""
    issues: list[tuple[str, str]] = field(default_factory=list)
    reason: str = ""


@dataclass
class JobResult:
    steps: list[StepResult]
    variables: dict[str, str]
    outputs: dict[str, str]

    @property
    def succeeded(self) -> bool:
        return all(s.status in ("Succeeded", "Skipped", "NotRun") for s in self.steps)

    def step(self, display_part: str) -> StepResult:
        hits = [s for s in self.steps if display_part in s.display]
        if len(hits) != 1:
            raise KeyError(f"{display_part!r} matches {[s.display for s in hits]}")
        return hits[0]


def expand_macros(text: str, variables: dict[str, str]) -> str:
    """``$(name)`` -> the variable's value (names case-insensitive); unknown macros stay as written."""
    lookup = {k.lower(): v for k, v in variables.items()}
    for _ in range(10):  # nested macros in variable values
        new = MACRO.sub(lambda m: lookup.get(m.group(1).lower(), m.group(0)), text)
        if new == text:
            return new
        text = new
    return text


def _unescape(value: str) -> str:
    return value.replace("%0D", "\r").replace("%0A", "\n").replace("%5D", "]").replace("%3B", ";") \
        .replace("%AZP25", "%")


def _properties(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in text.strip().split(";"):
        if part.strip():
            key, _, value = part.strip().partition("=")
            out[key.lower()] = _unescape(value)
    return out


class HostedAgent:
    """One job on a hosted Ubuntu agent: ``run(job)`` runs its steps in order."""

    def __init__(self, work: Path, repo: Path, variables: dict[str, str], *, path_prepend: list[Path] = ()) -> None:
        self.work = work
        self.repo = repo
        self.variables = dict(variables)
        self.path_prepend = list(path_prepend)
        self.outputs: dict[str, str] = {}
        self.job_prefix = ""

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "JAVA_HOME", "USER")}
        env["PATH"] = os.pathsep.join([*map(str, self.path_prepend), env.get("PATH", "")])
        for name, value in self.variables.items():
            if name not in SECRET_VARIABLES:
                env[re.sub(r"[.\s]", "_", name).upper()] = expand_macros(value, self.variables)
        env["TF_BUILD"] = "True"
        return env

    def runtime_value(self, text: str, upstream: dict[str, JobResult]) -> str:
        """A ``$[ dependencies.J.outputs['...'] ]`` / ``stageDependencies.S.J.outputs[...]`` from earlier jobs."""
        match = _RUNTIME.fullmatch(text.strip())
        if not match:
            raise ValueError(f"runtime expression {text!r} is not modelled by the local agent")
        source, ref = match.group("job"), match.group("ref")
        if source not in upstream or ref not in upstream[source].outputs:
            raise ValueError(f"{text!r}: {source} set no output {ref} (it set {sorted(upstream.get(source, JobResult([], {}, {})).outputs)})")
        return upstream[source].outputs[ref]

    def run(self, job: Job, *, upstream: dict[str, JobResult] | None = None, leg: str | None = None) -> JobResult:
        """Run ``job``'s steps; ``upstream`` resolves its ``$[ ]`` variables and matrix, ``leg`` picks a matrix leg."""
        upstream = upstream or {}
        self.job_prefix = f"{job.name}." if job.deployment else ""
        for folder in ("s", "a", "b", "_temp", "TestResults"):
            (self.work / folder).mkdir(parents=True, exist_ok=True)
        for key, value in (job.body.get("variables") or {}).items():
            text = str(value)
            self.variables[str(key)] = self.runtime_value(text, upstream) if text.strip().startswith("$[") else text
        matrix = (job.body.get("strategy") or {}).get("matrix")
        if matrix is not None:
            legs = json.loads(self.runtime_value(matrix, upstream)) if isinstance(matrix, str) else matrix
            if leg not in legs:
                raise ValueError(f"job {job.name}: no matrix leg {leg!r} (legs: {sorted(legs)})")
            self.variables.update({str(k): str(v) for k, v in legs[leg].items()})
        results: list[StepResult] = []
        failed = False
        for step in job.steps:
            status = {"succeeded": not failed, "failed": failed, "succeededOrFailed": True, "always": True,
                      "canceled": False}
            condition = step.body.get("condition", "succeeded()")
            if not to_bool(evaluate(condition, {"variables": self.variables}, status)):
                results.append(StepResult(step.display, step.kind, "NotRun", reason=f"condition {condition}"))
                continue
            result = getattr(self, f"_{step.kind}")(step)
            results.append(result)
            failed = failed or result.status == "Failed"
        return JobResult(results, self.variables, self.outputs)

    # ------------------------------------------------------------------ steps

    def _checkout(self, step: Step) -> StepResult:
        listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=self.repo,
                                capture_output=True, text=True, check=True).stdout.split("\n")
        target = self.work / "s"
        for name in filter(None, listed):
            source = self.repo / name
            if source.is_file():
                (target / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(source, target / name)  # a fresh checkout: every file's mtime is now
        return StepResult(step.display, "checkout", "Succeeded", reason=f"copied {len(listed)} files")

    def _bash(self, step: Step) -> StepResult:
        script = expand_macros(step.body["bash"], self.variables)
        unresolved = MACRO.findall(script)
        path = self.work / "_temp" / f"step-{len(os.listdir(self.work / '_temp'))}.sh"
        path.write_text(script, encoding="utf-8")
        env = self.environment()
        for key, value in (step.body.get("env") or {}).items():
            env[str(key)] = expand_macros(str(value), self.variables)
        cwd = expand_macros(step.body.get("workingDirectory", "$(System.DefaultWorkingDirectory)"), self.variables)
        done = subprocess.run(["bash", "--noprofile", "--norc", str(path)], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=1800)
        result = StepResult(step.display, "bash", "Succeeded" if done.returncode == 0 else "Failed",
                            exit_code=done.returncode, output=done.stdout + done.stderr)
        if unresolved:
            result.issues.append(("warning", f"unresolved macros {unresolved}"))
        for line in done.stdout.splitlines():
            self._logging_command(step, line, result)
        return result

    def _logging_command(self, step: Step, line: str, result: StepResult) -> None:
        match = _VSO.search(line)
        if not match:
            return
        command, props, data = match.group(1), _properties(match.group(2)), _unescape(match.group(3))
        if command == "task.setvariable":
            name = props["variable"]
            if props.get("isoutput", "").lower() == "true":
                if not step.name:
                    result.issues.append(("warning", f"output {name} set by a step without name:"))
                    return
                self.outputs[f"{self.job_prefix}{step.name}.{name}"] = data
                self.variables[f"{step.name}.{name}"] = data
            else:
                self.variables[name] = data
        elif command == "task.logissue":
            result.issues.append((props.get("type", "error"), data))
        elif command == "task.complete":
            outcome = props.get("result", "Succeeded")
            result.status = "Failed" if outcome.lower() == "failed" else "Succeeded"
        elif command not in ("task.uploadsummary", "task.setprogress", "build.addbuildtag", "task.uploadfile"):
            raise ValueError(f"logging command {command} is not modelled by the local agent")

    def _task(self, step: Step) -> StepResult:
        name = step.body["task"]
        if name not in TASK_INPUTS:
            raise ValueError(f"task {name} is not modelled by the local agent")
        known, required = TASK_INPUTS[name]
        inputs = step.body.get("inputs") or {}
        problems = [f"unknown input {k}" for k in inputs if k not in known]
        problems += [f"missing input {k}" for k in required if k not in inputs]
        problems += self._script_parameters(inputs)
        status = "Failed" if problems else "Skipped"
        return StepResult(step.display, "task", status, reason="; ".join(problems) or f"{name}: needs Azure")

    def _script_parameters(self, inputs: dict[str, Any]) -> list[str]:
        """The named arguments a PowerShell task passes are parameters its script declares."""
        path = inputs.get("ScriptPath")
        text = str(inputs.get("ScriptArguments", ""))
        inline = str(inputs.get("Inline", ""))
        if not path:
            called = re.search(r"scripts/([\w-]+\.ps1)", inline)
            if not called:
                return []
            path = f"scripts/{called.group(1)}"
            text = " ".join(f"-{k}" for k in re.findall(r"^\s*(\w+)\s*=", inline, re.M))
            text += " -JobArgument" if "'JobArgument'" in inline else ""
        script = self.work / "s" / "scripts" / Path(str(path)).name
        if not script.is_file():
            return [f"{path}: no such script in the checkout"]
        block = script.read_text(encoding="utf-8").split("#>")[-1]
        declared = set(re.findall(r"\]\s*\$(\w+)", block))
        mandatory = set(re.findall(r"\[Parameter\(Mandatory\)\][^$]*\$(\w+)", block))
        passed = re.findall(r"(?<![\w-])-(\w+)", text)
        return [f"{script.name} declares no parameter -{p}" for p in passed if p not in declared] + \
            [f"{script.name}: mandatory -{p} not passed" for p in sorted(mandatory - set(passed))]

    def _pwsh(self, step: Step) -> StepResult:
        return StepResult(step.display, "pwsh", "Skipped", reason="PowerShell: parser check and Pester on the agent")

    def _download(self, step: Step) -> StepResult:
        return StepResult(step.display, "download", "Skipped", reason="pipeline artifacts need Azure")

    def _publish(self, step: Step) -> StepResult:
        folder = Path(expand_macros(step.body["publish"], self.variables))
        ok = folder.is_dir() and any(folder.iterdir())
        return StepResult(step.display, "publish", "Skipped" if ok else "Failed",
                          reason=f"{folder} {'holds ' + str(sorted(p.name for p in folder.iterdir())) if ok else 'empty'}")
