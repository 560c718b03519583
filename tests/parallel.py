"""Running the suite on several pytest-xdist workers (``-n auto --dist loadgroup`` in pyproject's addopts).

* :func:`auto_workers` — how many workers ``-n auto`` starts: one per core (at most :data:`MAX_WORKERS`)
  for a run over folders (the whole suite, a tier, ``tests/azure``), none (in-process, ``--pdb`` works, no
  start-up cost) when the command names test files or node ids. ``-n N`` on the command line wins.
* :func:`shared_dir` — a folder every worker of one run sees (the run's basetemp): what must exist once
  per run (the wheel, the dependency archive) is built there under a ``filelock.FileLock``.
* :func:`group_for` — the ``xdist_group`` of a test: tests that share an expensive non-function fixture run
  on one worker, so it is built once per run, not once per worker.
* :func:`dispatch_rank` — the order xdist hands work out in (pyproject: ``--no-loadscope-reorder``): longest
  first, as far as the tier tells (own JVMs, then shared-fixture groups, then Spark tests, then fast ones),
  so no spark-submit starts while the other worker has nothing left to do.
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import pytest

MAX_WORKERS = 4  # each worker holds a JVM (2 GB heap) once it runs a Spark test

# session fixtures that build state worth building once (a Spark lakehouse, a browser): their tests share one
# worker; the value is the group, so the report's sample and the browser that renders it end up together
SESSION_GROUPS: Mapping[str, str] = {
    "sample_lakehouse": "sample-lakehouse",
    "browser": "sample-lakehouse",
    "lakehouse_templates": "lakehouse-templates",
}
# fixtures whose non-function scope costs nothing worth grouping for (or that are shared through shared_dir)
_UNGROUPED = frozenset({"spark", "built_wheel", "built_deps", "tmp_path_factory", "worker_id", "testrun_uid",
                        "monkeypatch", "request"})


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _names_tests(args: Iterable[str], rootdir: Path) -> bool:
    """Whether the command line names test files or node ids (rather than only folders)."""
    for arg in args:
        if "::" in arg:
            return True
        path = Path(arg) if Path(arg).is_absolute() else rootdir / arg
        if path.is_file():
            return True
    return False


def auto_workers(config: pytest.Config) -> int:
    """The worker count for ``-n auto``: 0 (in-process) for a run over named files or tests, else the cores."""
    forced = os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS")
    if forced:
        return int(forced)
    if _names_tests(config.args, config.invocation_params.dir):
        return 0
    cores = min(_cores(), MAX_WORKERS)
    return cores if cores > 1 else 0


def shared_dir(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """``name`` under the run's basetemp: the same folder for every xdist worker of this run (each worker's
    own basetemp is ``<run basetemp>/popen-gwN``), this session's basetemp when not distributed."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    folder = base / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def group_for(scopes: Mapping[str, str], module: str) -> str | None:
    """The xdist group of a test from the scopes of the fixtures it requests (name -> scope).

    A fixture of :data:`SESSION_GROUPS` puts the test in that group; any other module-, class- or
    package-scoped fixture groups the test with its module's tests; otherwise the test goes wherever a
    worker is free.
    """
    for name in sorted(scopes):
        if name in SESSION_GROUPS:
            return SESSION_GROUPS[name]
    for name, scope in sorted(scopes.items()):
        if scope != "function" and name not in _UNGROUPED:
            return module
    return None


def assign_groups(tests: Sequence[tuple[str, Mapping[str, str]]]) -> list[str | None]:
    """:func:`group_for` for each (module, fixture scopes) of a run, where a module's tests that are grouped
    by module join the session group of another test in that module (so a module fixture is built once)."""
    groups = [group_for(scopes, module) for module, scopes in tests]
    joined = {module: group for (module, _), group in zip(tests, groups, strict=True)
              if group is not None and group != module}
    return [joined.get(module, group) if group == module else group
            for (module, _), group in zip(tests, groups, strict=True)]


# the tiers' expected lengths, longest first: a slow test starts JVMs of its own (up to minutes), a group holds
# several tests and builds a shared state, a spark test runs layers on the shared session, a fast one takes ms
_RANKS = {"slow": 0, "group": 1, "spark": 2, "fast": 3}


def dispatch_rank(tier: str, group: str | None) -> int:
    """Where a test goes in the order xdist dispatches work units (a group is one unit): smaller first. A slow
    test ranks first even when grouped (its group follows it); otherwise a grouped test ranks as a group."""
    if tier == "slow":
        return _RANKS["slow"]
    return _RANKS["group"] if group is not None else _RANKS[tier]
