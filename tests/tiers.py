"""Test tiers, assigned in conftest.py from the fixtures a test requests, never by hand.

* ``slow``  — starts a JVM of its own (spark-submit, a CLI or job subprocess, a JVM kill), builds a
  wheel or drives Chromium: it requests (directly or through another fixture) one of SLOW_FIXTURES.
* ``spark`` — uses the session-scoped ``spark`` fixture (one shared JVM) and is not slow.
* ``fast``  — everything else: no JVM at all. A guard (see conftest.py) fails a fast test that starts
  one anyway, and a spark-tier test that starts a JVM, the CLI or a wheel build in a subprocess.

A new test lands in its tier by what it requests: to start a process of your own, use (or add here) a
fixture in SLOW_FIXTURES instead of calling subprocess directly.
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

TIERS = ("fast", "spark", "slow")

SLOW_FIXTURES = frozenset({
    "built_wheel",      # python -m build: the one wheel of the session (tests/conftest.py)
    "built_deps",       # the pool's dependency archive, built from that wheel with pip
    "spark_submit",     # runs a job file under spark-submit (tests/conftest.py)
    "cli_subprocess",   # `python -m medallion ...` in its own process (tests/conftest.py)
    "jvm_subprocess",   # a Python script that starts (and maybe kills) its own JVM (tests/conftest.py)
    "livy_spark",       # the Synapse stand-in running batches with spark-submit (tests/azure/conftest.py)
    "browser",          # headless Chromium through Playwright (tests/test_report_browser.py)
})

# programs whose start in a fast or spark test is a JVM (or a browser) the tier must not have
_OWN_PROCESS_PROGRAMS = frozenset({"java", "spark-submit", "spark-class", "spark-shell", "pyspark",
                                   "medallion", "chromium", "chromium-browser"})
_PYTHON_MODULES = frozenset({"medallion", "build", "pip"})

# A slow-tier JVM lives for one CLI run or one batch on a few thousand rows: most of its CPU goes to the JIT's
# C2 compiler, whose code it never runs long enough to use. C1 alone makes such a run ~15 % faster (the
# sample's `medallion run`, 3 runs each on an idle machine: 18.8 s vs 22.2 s median wall); the workers' own
# long-lived `spark` sessions keep C2 (C1 alone made a spark-tier file 35 % slower: 155 s vs 115 s).
SHORT_LIVED_JVM_OPTS = "-XX:TieredStopAtLevel=1"


def child_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a slow-tier process that starts a JVM: ``env`` (default: this process's) with
    :data:`SHORT_LIVED_JVM_OPTS` added to ``SPARK_SUBMIT_OPTS`` (spark-submit's driver JVM options in client
    mode, beside any ``spark.driver.extraJavaOptions``). JIT flags change speed only, never behaviour."""
    merged = dict(os.environ if env is None else env)
    current = merged.get("SPARK_SUBMIT_OPTS", "")
    if SHORT_LIVED_JVM_OPTS not in current.split():
        merged["SPARK_SUBMIT_OPTS"] = f"{current} {SHORT_LIVED_JVM_OPTS}".strip()
    return merged


def tier_for(fixturenames: Iterable[str], explicit: Iterable[str] = ()) -> str:
    """The tier of a test from the closure of its fixture names and any tier marker written by hand.

    A hand-written marker may only raise the tier (``slow`` on a test that is slow for another reason);
    one below what the fixtures say is an error, as is more than one.
    """
    names = set(fixturenames)
    marks = [tier for tier in TIERS if tier in set(explicit)]
    if len(marks) > 1:
        raise ValueError(f"marked {' and '.join(marks)}: a test has one tier")
    found = "slow" if names & SLOW_FIXTURES else "spark" if "spark" in names else "fast"
    if marks and TIERS.index(marks[0]) < TIERS.index(found):
        why = sorted(names & SLOW_FIXTURES) if found == "slow" else ["spark"]
        raise ValueError(f"marked {marks[0]} but requests {', '.join(why)}, which makes it {found}")
    return marks[0] if marks else found


def forbidden_program(args: object) -> str | None:
    """What a ``subprocess.Popen(args)`` would start that only the slow tier may start, or None."""
    if isinstance(args, str | bytes | os.PathLike):
        argv: Sequence[object] = os.fsdecode(args).split()
    else:
        argv = list(args)  # type: ignore[call-overload]
    if not argv:
        return None
    words = [os.fsdecode(a) if isinstance(a, bytes | os.PathLike) else str(a) for a in argv]
    program = os.path.basename(words[0])
    if program in _OWN_PROCESS_PROGRAMS:
        return program
    if program.startswith("python"):
        for flag, module in zip(words[1:], words[2:], strict=False):
            if flag == "-m" and module in _PYTHON_MODULES:
                return f"python -m {module}"
    return None
