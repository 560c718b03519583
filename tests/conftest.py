"""Shared fixtures: one session-scoped Spark with Delta, tuned for a 2-core machine; the test tiers.

Tiers (fast / spark / slow) are assigned here from the fixtures each test requests: see tiers.py.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock
from parallel import assign_groups, auto_workers, dispatch_rank, shared_dir
from tiers import TIERS, child_env, forbidden_program, tier_for

from medallion.config import EnvConfig

REPO = Path(__file__).resolve().parents[1]
# SPARK_HOME in the fast tier: pyspark (in this process or a child) finds no spark-submit there
NO_SPARK_HOME = "/nonexistent/the-fast-tier-starts-no-jvm"


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto`` (pyproject addopts): a worker per core for folders, in-process for named tests (parallel.py)."""
    return auto_workers(config)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test with exactly one tier, from the closure of the fixtures it requests, and put tests that
    share an expensive module or session fixture in one xdist group (``--dist loadgroup``; parallel.py)."""
    tiers = []
    for item in items:
        explicit = {tier for tier in TIERS if item.get_closest_marker(tier) is not None}
        try:
            tier = tier_for(getattr(item, "fixturenames", ()), explicit)
        except ValueError as err:
            raise pytest.UsageError(f"{item.nodeid}: {err} (tiers: tests/tiers.py)") from err
        if tier not in explicit:
            item.add_marker(getattr(pytest.mark, tier))
        tiers.append(tier)
    tests = []
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        scopes = {name: defs[-1].scope for name, defs in info.name2fixturedefs.items() if defs} if info else {}
        tests.append((item.nodeid.split("::")[0], scopes))
    groups = assign_groups(tests)
    for item, group in zip(items, groups, strict=True):
        if group is not None and item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(group))
    if os.environ.get("PYTEST_XDIST_WORKER"):  # the order xdist dispatches in (--no-loadscope-reorder); stable
        ranks = {item.nodeid: dispatch_rank(tier, group) for item, tier, group in zip(items, tiers, groups, strict=True)}
        items.sort(key=lambda item: ranks[item.nodeid])


@pytest.fixture(autouse=True)
def _tier_guard(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail a fast or spark test that starts a JVM, the CLI, a wheel build or a browser in a process of its own
    (and, in the fast tier, any JVM at all): such a test must request a fixture from tiers.SLOW_FIXTURES."""
    node = request.node
    if node.get_closest_marker("slow") is not None:
        return
    tier = "fast" if node.get_closest_marker("fast") is not None else "spark"
    original = subprocess.Popen.__init__

    def guarded(self: subprocess.Popen[Any], args: Any, *rest: Any, **kwargs: Any) -> None:
        program = forbidden_program(args)
        if program is not None:
            raise RuntimeError(f"{node.nodeid} is in the {tier} tier but starts {program}: request a fixture from "
                               "tests/tiers.py SLOW_FIXTURES (spark_submit, cli_subprocess, jvm_subprocess, ...)")
        original(self, args, *rest, **kwargs)

    monkeypatch.setattr(subprocess.Popen, "__init__", guarded)
    if tier == "fast":
        monkeypatch.setenv("SPARK_HOME", NO_SPARK_HOME)
        session = sys.modules.get("pyspark.sql.session")
        if session is not None:  # a JVM an earlier spark test started must not serve a fast test either

            def refused(*_: Any, **__: Any) -> None:
                raise RuntimeError(f"{node.nodeid} is in the fast tier but asks for a SparkSession: request the "
                                   "`spark` fixture (spark tier)")

            monkeypatch.setattr(session.SparkSession.Builder, "getOrCreate", refused)

FIXED_NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:  # noqa: F821
    from medallion.session import get_spark

    scratch = Path(tempfile.mkdtemp(prefix="medallion-spark-"))
    os.environ.setdefault("MEDALLION_SPARK_LOG_LEVEL", "ERROR")
    session = get_spark(
        {
            "spark.master": "local[2]",
            "spark.sql.shuffle.partitions": "2",
            # A test's queries run once on a few rows: compiling a whole stage to Java (Janino) costs more than
            # the rows do. Off here, ~10 % faster (tests/test_scd2.py + test_breaker.py, one JVM: 104 s vs 115 s);
            # the slow tier's own processes (CLI runs, spark-submit batches, the JVM-kill scripts) keep the default.
            "spark.sql.codegen.wholeStage": "false",
            "spark.sql.warehouse.dir": str(scratch / "warehouse"),
            "spark.driver.extraJavaOptions": f"-Dderby.system.home={scratch / 'derby'}",
        },
        app_name="medallion-tests",
    )
    yield session
    session.stop()


@pytest.fixture
def now() -> datetime:
    """The injected clock for deterministic audit columns."""
    return FIXED_NOW


@pytest.fixture
def env(tmp_path: Path) -> EnvConfig:
    """An environment whose landing zone and lakehouse live under the test's tmp_path."""
    (tmp_path / "landing").mkdir()
    return EnvConfig(name="test", landing_root=str(tmp_path / "landing"), lakehouse_root=str(tmp_path / "lake"))


@pytest.fixture(scope="session")
def sample_lakehouse(spark, tmp_path_factory):  # noqa: ANN001, ANN201
    """The bundled sample after three real runs (initial, later delivery, a failed run): see report_helpers."""
    from report_helpers import build_sample_lakehouse

    return build_sample_lakehouse(spark, tmp_path_factory.mktemp("report-sample"))


class LakehouseTemplates:
    """Starting states built once per session and copied into each test's folder (``shutil.copytree``;
    a copied Delta table stays a valid Delta table: its log holds relative paths)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def copy(self, name: str, build: Callable[[Path], object], dest: Path | str) -> Path:
        """Copy template ``name`` to ``dest``, first calling ``build(folder)`` to make it if this session has not."""
        source = self.root / name
        if not source.exists():
            staging = self.root / f"_building-{name}"
            shutil.rmtree(staging, ignore_errors=True)
            build(staging)
            staging.rename(source)
        shutil.copytree(source, dest, dirs_exist_ok=True)
        return Path(dest)


@pytest.fixture(scope="session")
def lakehouse_templates(tmp_path_factory: pytest.TempPathFactory) -> LakehouseTemplates:
    """One template per scenario for the session: ``lakehouse_templates.copy(name, build, tmp_path / ...)``."""
    return LakehouseTemplates(tmp_path_factory.mktemp("lakehouse-templates"))


# --------------------------------------------------------------------------- slow-tier helpers
# Requesting one of these marks a test slow (tiers.SLOW_FIXTURES); start processes only through them.

@pytest.fixture(scope="session")
def built_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The one wheel of the run: `python -m build --wheel` on a copy of the sources (build/ and
    *.egg-info stay out of the work tree), built by the first xdist worker that needs it, under a lock."""
    shared = shared_dir(tmp_path_factory, "wheel")
    with FileLock(shared / "build.lock"):
        out = shared / "dist"
        built = sorted(out.glob("medallion-*.whl"))
        if not built:
            built = [_build_wheel(shared / "source", out)]
    return built[0]


def _build_wheel(source: Path, out: Path) -> Path:
    shutil.rmtree(source, ignore_errors=True)
    shutil.rmtree(out, ignore_errors=True)
    source.mkdir()
    for name in ("setup.py", "pyproject.toml", "setup.cfg", "MANIFEST.in", "README.md"):
        if (REPO / name).exists():
            shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / "medallion", source / "medallion", ignore=shutil.ignore_patterns("__pycache__"))
    command = [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(source)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:  # no local setuptools/wheel: let build make its isolated environment
        done = subprocess.run([c for c in command if c != "--no-isolation"], capture_output=True, text=True,
                              timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    (built,) = out.glob("medallion-*.whl")
    return built


@pytest.fixture
def spark_submit() -> Callable[..., subprocess.CompletedProcess[str]]:
    """``spark_submit(args, cwd=..., env=...)``: runs ``spark-submit *args`` (its own JVM), output captured."""
    def run(args: Sequence[str], *, cwd: Path, env: dict[str, str] | None = None,
            timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["spark-submit", *args], cwd=cwd, env=child_env(env), capture_output=True,
                              text=True, timeout=timeout)
    return run


class CliProcess:
    """``python -m medallion`` in a process of its own: ``run`` waits for it, ``popen`` does not."""

    def command(self, argv: Sequence[str]) -> list[str]:
        return [sys.executable, "-m", "medallion", *argv]

    def run(self, argv: Sequence[str], *, cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.command(argv), cwd=cwd, env=child_env(env), capture_output=True, text=True,
                              timeout=timeout)

    def popen(self, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[str]:
        return subprocess.Popen(self.command(argv), text=True, **{**kwargs, "env": child_env(kwargs.get("env"))})


@pytest.fixture
def cli_subprocess() -> CliProcess:
    """The console command in its own process (it may start its own JVM)."""
    return CliProcess()


@pytest.fixture
def jvm_subprocess() -> Callable[..., subprocess.CompletedProcess[str]]:
    """``jvm_subprocess(script, *args)``: runs a Python script that starts (and may kill) a JVM of its own."""
    def run(script: Path, *args: str, timeout: float = 300, cwd: Path | None = None,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=timeout,
                              cwd=cwd, env=child_env(env))
    return run
