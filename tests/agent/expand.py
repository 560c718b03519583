"""Expand azure-pipelines.yml and its templates as Azure Pipelines compiles them, into a plan of stages.

Modelled: run and template ``parameters`` (types string/boolean/number/object, defaults, ``values``),
``${{ if }}`` / ``${{ elseif }}`` / ``${{ else }}`` / ``${{ each }}`` in mappings and sequences, ``${{ }}``
substitution in keys and values, ``template:`` references for stages, jobs and steps (paths relative to the
referencing file), compile-time ``variables[...]`` (predefined and the pipeline's literal variables), and
the default ``dependsOn`` of stages (the previous stage). Anything else (an unknown key, parameter type,
function or template directive) raises :class:`ExpansionError` rather than being guessed.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.agent.expressions import ExpressionError, evaluate, substitute, to_bool, to_string


class ExpansionError(ValueError):
    """The pipeline uses something the local agent does not model, or is invalid."""


ROOT_KEYS = {"name", "trigger", "pr", "lockBehavior", "parameters", "variables", "stages"}
TEMPLATE_KEYS = {"parameters", "stages", "jobs", "steps"}
STAGE_KEYS = {"stage", "displayName", "dependsOn", "condition", "jobs", "variables", "lockBehavior"}
JOB_KEYS = {"job", "deployment", "displayName", "dependsOn", "condition", "pool", "timeoutInMinutes",
            "cancelTimeoutInMinutes", "variables", "steps", "strategy", "environment", "continueOnError"}
STEP_KEYS = {
    "bash": {"bash", "displayName", "name", "condition", "env", "workingDirectory", "continueOnError",
             "timeoutInMinutes", "failOnStderr"},
    "pwsh": {"pwsh", "displayName", "name", "condition", "env", "workingDirectory", "continueOnError"},
    "task": {"task", "displayName", "name", "condition", "inputs", "env", "continueOnError", "timeoutInMinutes"},
    "checkout": {"checkout", "displayName", "clean", "fetchDepth"},
    "publish": {"publish", "artifact", "displayName", "condition"},
    "download": {"download", "artifact", "displayName", "patterns"},
}
PARAM_TYPES = {"string", "boolean", "number", "object"}


@dataclass
class Step:
    kind: str
    body: dict[str, Any]

    @property
    def display(self) -> str:
        return str(self.body.get("displayName") or self.body.get(self.kind))

    @property
    def name(self) -> str | None:
        return self.body.get("name")


@dataclass
class Job:
    name: str
    deployment: bool
    body: dict[str, Any]
    steps: list[Step]
    depends_on: list[str] = field(default_factory=list)


@dataclass
class Stage:
    name: str
    depends_on: list[str]
    condition: str | None
    jobs: list[Job]
    body: dict[str, Any]


@dataclass
class Plan:
    stages: list[Stage]
    variables: list[dict[str, Any]]
    root: dict[str, Any]

    def stage(self, name: str) -> Stage:
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise KeyError(name)

    @property
    def groups(self) -> list[str]:
        return [v["group"] for v in self.variables if "group" in v]


def _is_directive(key: Any) -> bool:
    return isinstance(key, str) and key.strip().startswith("${{") and key.strip().endswith("}}")


def _directive(key: str) -> tuple[str, str]:
    inner = key.strip()[3:-2].strip()
    for word in ("elseif", "if", "each"):
        if inner.startswith(word + " ") or inner.startswith(word + "("):
            return word, inner[len(word):].strip()
    if inner == "else":
        return "else", ""
    raise ExpansionError(f"template directive {key!r} is not modelled (only if/elseif/else/each)")


def cast_parameter(decl: dict[str, Any], value: Any, where: str) -> Any:
    """A parameter's value as its declared type; ``values`` enforced. Raises on a mismatch."""
    name, kind = decl["name"], decl.get("type", "string")
    if kind not in PARAM_TYPES:
        raise ExpansionError(f"{where}: parameter {name!r} has type {kind!r}, not modelled")
    if kind == "string":
        if isinstance(value, (list, dict)):
            raise ExpansionError(f"{where}: parameter {name!r} is a string, got {value!r}")
        value = to_string(value) if not isinstance(value, str) else value
    elif kind == "boolean":
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            value = value.strip().lower() == "true"
        elif not isinstance(value, bool):
            raise ExpansionError(f"{where}: parameter {name!r} is a boolean, got {value!r}")
    elif kind == "number":
        try:
            value = float(value) if "." in str(value) else int(value)
        except (TypeError, ValueError) as err:
            raise ExpansionError(f"{where}: parameter {name!r} is a number, got {value!r}") from err
    allowed = decl.get("values")
    if allowed is not None and value not in allowed:
        raise ExpansionError(f"{where}: parameter {name!r} = {value!r} is not one of {allowed}")
    return value


def bind_parameters(decls: list[dict[str, Any]], given: dict[str, Any], where: str) -> dict[str, Any]:
    """Declared parameters bound to the given values and defaults (an undeclared or missing one raises)."""
    declared = {d["name"]: d for d in decls}
    unexpected = sorted(set(given) - set(declared))
    if unexpected:
        raise ExpansionError(f"{where}: unexpected parameter(s) {unexpected} (declared: {sorted(declared)})")
    out: dict[str, Any] = {}
    for name, decl in declared.items():
        if name in given:
            out[name] = cast_parameter(decl, given[name], where)
        elif "default" in decl:
            out[name] = cast_parameter(decl, decl["default"], where)
        else:
            raise ExpansionError(f"{where}: required parameter {name!r} not given")
    return out


class Expander:
    """Compile-time expansion of one file's content in one context."""

    def __init__(self, path: Path, context: dict[str, Any]) -> None:
        self.path = path
        self.context = context

    def where(self) -> str:
        return self.path.name

    def value(self, node: Any) -> Any:
        try:
            if isinstance(node, str):
                return substitute(node, self.context) if "${{" in node else node
            if isinstance(node, list):
                return self.sequence(node)
            if isinstance(node, dict):
                return self.mapping(node)
        except ExpressionError as err:
            raise ExpansionError(f"{self.where()}: {err}") from err
        return node

    def _branches(self, items: list[tuple[str, Any]]) -> list[tuple[Any, dict[str, Any]]]:
        """Chosen bodies of a run of directives (if/elseif/else chains, each loops) with their contexts."""
        chosen: list[tuple[Any, dict[str, Any]]] = []
        taken: bool | None = None  # None: no open if-chain
        for key, body in items:
            word, rest = _directive(key)
            if word == "if":
                taken = to_bool(evaluate(rest, self.context))
                if taken:
                    chosen.append((body, self.context))
            elif word in ("elseif", "else"):
                if taken is None:
                    raise ExpansionError(f"{self.where()}: {key!r} without a preceding if")
                if not taken and (word == "else" or to_bool(evaluate(rest, self.context))):
                    chosen.append((body, self.context))
                    taken = True
                if word == "else":
                    taken = None
            else:  # each
                var, sep, source = rest.partition(" in ")
                if not sep:
                    raise ExpansionError(f"{self.where()}: cannot read {key!r}")
                items_value = evaluate(source, self.context)
                if isinstance(items_value, dict):
                    items_value = [{"key": k, "value": v} for k, v in items_value.items()]
                if not isinstance(items_value, list):
                    raise ExpansionError(f"{self.where()}: {key!r} iterates over a non-sequence")
                for item in items_value:
                    chosen.append((body, {**self.context, var.strip(): item}))
                taken = None
        return chosen

    def _sub(self, context: dict[str, Any]) -> Expander:
        return Expander(self.path, context)

    def sequence(self, node: list[Any]) -> list[Any]:
        out: list[Any] = []
        run: list[tuple[str, Any]] = []

        def flush() -> None:
            for body, ctx in self._branches(run):
                value = self._sub(ctx).value(body)
                if not isinstance(value, list):
                    raise ExpansionError(f"{self.where()}: a directive in a sequence must hold a sequence")
                out.extend(value)
            run.clear()

        for item in node:
            if isinstance(item, dict) and item and all(_is_directive(k) for k in item):
                run.extend(item.items())
                continue
            flush()
            if isinstance(item, dict) and "template" in item:
                out.extend(self.template(item))
            else:
                out.append(self.value(item))
        flush()
        return out

    def mapping(self, node: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        run: list[tuple[str, Any]] = []

        def flush() -> None:
            for body, ctx in self._branches(run):
                value = self._sub(ctx).value(body)
                if not isinstance(value, dict):
                    raise ExpansionError(f"{self.where()}: a directive in a mapping must hold a mapping")
                out.update(value)
            run.clear()

        for key, body in node.items():
            if _is_directive(key):
                run.append((key, body))
                continue
            flush()
            out[to_string(self.value(key))] = self.value(body)
        flush()
        return out

    def template(self, ref: dict[str, Any]) -> list[Any]:
        extra = set(ref) - {"template", "parameters"}
        if extra:
            raise ExpansionError(f"{self.where()}: template reference with {sorted(extra)} is not modelled")
        target = (self.path.parent / self.value(ref["template"])).resolve()
        if not target.is_file():
            raise ExpansionError(f"{self.where()}: template {ref['template']!r} not found ({target})")
        given = self.value(ref.get("parameters") or {})
        doc = yaml.safe_load(target.read_text(encoding="utf-8")) or {}
        unknown = set(doc) - TEMPLATE_KEYS
        if unknown:
            raise ExpansionError(f"{target.name}: top-level key(s) {sorted(unknown)} not modelled")
        params = bind_parameters(doc.get("parameters") or [], given, target.name)
        kinds = [k for k in ("stages", "jobs", "steps") if k in doc]
        if len(kinds) != 1:
            raise ExpansionError(f"{target.name}: a template holds exactly one of stages/jobs/steps")
        sub = Expander(target, {**self.context, "parameters": params})
        return sub.value(doc[kinds[0]]) or []


def _names(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ExpansionError(f"dependsOn must be a name or a list of names, got {value!r}")


def _step(body: dict[str, Any]) -> Step:
    kinds = [k for k in STEP_KEYS if k in body]
    if len(kinds) != 1:
        raise ExpansionError(f"cannot tell the kind of step {body!r}")
    unknown = set(body) - STEP_KEYS[kinds[0]]
    if unknown:
        raise ExpansionError(f"step {body.get('displayName')!r}: key(s) {sorted(unknown)} not modelled")
    return Step(kinds[0], body)


def _job(body: dict[str, Any]) -> Job:
    unknown = set(body) - JOB_KEYS
    if unknown:
        raise ExpansionError(f"job {body!r}: key(s) {sorted(unknown)} not modelled")
    deployment = "deployment" in body
    name = body["deployment"] if deployment else body.get("job")
    if not name:
        raise ExpansionError(f"a job without a name: {body!r}")
    if deployment:
        strategy = body.get("strategy") or {}
        if set(strategy) != {"runOnce"} or set(strategy["runOnce"]) != {"deploy"}:
            raise ExpansionError(f"deployment {name}: only strategy.runOnce.deploy is modelled")
        steps = strategy["runOnce"]["deploy"]["steps"]
        if "environment" not in body:
            raise ExpansionError(f"deployment {name}: no environment")
    else:
        steps = body.get("steps") or []
        strategy = body.get("strategy") or {}
        if set(strategy) - {"matrix", "maxParallel"}:
            raise ExpansionError(f"job {name}: strategy {sorted(strategy)} not modelled")
    return Job(name, deployment, body, [_step(s) for s in steps], _names(body.get("dependsOn")))


def expand_pipeline(path: Path, run_parameters: dict[str, Any], predefined: dict[str, str]) -> Plan:
    """The plan Azure Pipelines would compile for ``run_parameters`` (the queue-time parameters)."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    unknown = set(doc) - ROOT_KEYS
    if unknown:
        raise ExpansionError(f"{path.name}: top-level key(s) {sorted(unknown)} not modelled")
    params = bind_parameters(doc.get("parameters") or [], run_parameters, path.name)
    context: dict[str, Any] = {"parameters": params, "variables": dict(predefined)}
    root = Expander(path, context)
    variables = root.value(doc.get("variables") or [])
    for var in variables:
        if set(var) not in ({"group"}, {"name", "value"}):
            raise ExpansionError(f"{path.name}: variable entry {var!r} not modelled")
        if "name" in var:  # later template expressions see the pipeline's own variables
            context["variables"][var["name"]] = to_string(var["value"])
    stages_raw = root.value(doc.get("stages") or [])
    stages: list[Stage] = []
    for body in stages_raw:
        unknown = set(body) - STAGE_KEYS
        if unknown:
            raise ExpansionError(f"stage {body.get('stage')}: key(s) {sorted(unknown)} not modelled")
        depends = _names(body["dependsOn"]) if "dependsOn" in body else ([stages[-1].name] if stages else [])
        jobs = [_job(j) for j in body.get("jobs") or []]
        stages.append(Stage(body["stage"], depends, body.get("condition"), jobs, body))
    names = [s.name for s in stages]
    if len(set(names)) != len(names):
        raise ExpansionError(f"duplicate stage names {names}")
    for stage in stages:
        missing = sorted(set(stage.depends_on) - set(names))
        if missing:
            raise ExpansionError(f"stage {stage.name} depends on missing stage(s) {missing}")
    return Plan(stages, variables, doc)
