"""The test tiers (tests/tiers.py, assigned in tests/conftest.py) and the guard that keeps the fast tier JVM-free."""
from __future__ import annotations

import subprocess
import sys

import pytest
from tiers import SHORT_LIVED_JVM_OPTS, SLOW_FIXTURES, TIERS, child_env, forbidden_program, tier_for

# fixture closures as pytest computes them for real tests in this suite
PROTOCOL_TEST = {"livy", "submit_env", "capsys", "tmp_path_factory", "monkeypatch", "_tier_guard", "request"}
SPARK_TEST = {"spark", "env", "now", "tmp_path", "_tier_guard"}
REPORT_TEST = {"sample_report", "sample_lakehouse", "spark", "tmp_path_factory", "_tier_guard"}
WHEEL_TEST = {"built_deps", "built_wheel", "tmp_path_factory", "_tier_guard"}
PREFLIGHT_TEST = {"livy", "livy_spark", "built_wheel", "built_deps", "spark", "_tier_guard"}
CRASH_TEST = {"spark", "env", "now", "tmp_path", "jvm_subprocess", "_tier_guard"}


@pytest.mark.parametrize(("names", "tier"), [
    (set(), "fast"), (PROTOCOL_TEST, "fast"), (SPARK_TEST, "spark"), (REPORT_TEST, "spark"),
    (WHEEL_TEST, "slow"), (PREFLIGHT_TEST, "slow"), (CRASH_TEST, "slow"),
    ({"browser", "spark"}, "slow"), ({"cli_subprocess"}, "slow"), ({"spark_submit"}, "slow"),
])
def test_the_tier_follows_the_fixtures(names: set[str], tier: str) -> None:
    assert tier_for(names) == tier


def test_a_hand_written_tier_may_raise_it_but_never_lower_it() -> None:
    assert tier_for({"tmp_path"}, {"slow"}) == "slow"
    assert tier_for(SPARK_TEST, {"slow"}) == "slow"
    with pytest.raises(ValueError, match="marked fast but requests spark, which makes it spark"):
        tier_for(SPARK_TEST, {"fast"})
    with pytest.raises(ValueError, match="marked spark but requests jvm_subprocess, which makes it slow"):
        tier_for(CRASH_TEST, {"spark"})
    with pytest.raises(ValueError, match="one tier"):
        tier_for(set(), {"fast", "slow"})


@pytest.mark.parametrize(("argv", "found"), [
    (["spark-submit", "--master", "local[2]", "job.py"], "spark-submit"),
    (["/opt/spark/bin/spark-submit", "job.py"], "spark-submit"),
    ("java -version", "java"),
    ([sys.executable, "-m", "medallion", "run"], "python -m medallion"),
    ([sys.executable, "-m", "build", "--wheel"], "python -m build"),
    (["medallion", "run"], "medallion"),
    (["chromium", "--headless"], "chromium"),
    ([sys.executable, "-c", "print(1)"], None),
    (["git", "ls-files"], None),
    (["pwsh", "-c", "1"], None),
])
def test_forbidden_programs(argv: object, found: str | None) -> None:
    assert forbidden_program(argv) == found


def test_this_test_is_fast_and_cannot_start_a_jvm(request: pytest.FixtureRequest) -> None:
    assert [t for t in TIERS if request.node.get_closest_marker(t)] == ["fast"]
    with pytest.raises(RuntimeError, match="is in the fast tier but starts spark-submit"):
        subprocess.run(["spark-submit", "--version"], capture_output=True, timeout=30)
    with pytest.raises(RuntimeError, match="starts python -m medallion"):
        subprocess.run([sys.executable, "-m", "medallion", "--help"], capture_output=True, timeout=30)
    # pyspark in this process launches its JVM through spark-submit too: refused the same way
    from pyspark.sql import SparkSession
    with pytest.raises(RuntimeError, match="fast tier"):
        SparkSession.builder.master("local[1]").appName("must-not-start").getOrCreate()
    # a plain Python child is fine (the Livy stand-in's runner, check-jsonschema, git)
    assert subprocess.run([sys.executable, "-c", "print('ok')"], capture_output=True, text=True,
                          timeout=60).stdout == "ok\n"


def test_every_collected_test_has_exactly_one_tier(request: pytest.FixtureRequest) -> None:
    for item in request.session.items:
        tiers = [t for t in TIERS if item.get_closest_marker(t)]
        assert len(tiers) == 1, (item.nodeid, tiers)
        if set(getattr(item, "fixturenames", ())) & SLOW_FIXTURES:
            assert tiers == ["slow"], item.nodeid


def test_a_slow_tier_child_jvm_gets_c1_only_beside_the_options_it_already_has(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPARK_SUBMIT_OPTS", "-Dfoo=1")
    inherited = child_env()
    assert inherited["SPARK_SUBMIT_OPTS"] == f"-Dfoo=1 {SHORT_LIVED_JVM_OPTS}"
    assert child_env(inherited)["SPARK_SUBMIT_OPTS"] == inherited["SPARK_SUBMIT_OPTS"]  # added once
    given = {"PATH": "/bin", "SECRET": "s"}
    assert child_env(given) == {"PATH": "/bin", "SECRET": "s", "SPARK_SUBMIT_OPTS": SHORT_LIVED_JVM_OPTS}
    assert "SPARK_SUBMIT_OPTS" not in given  # the caller's dict is not changed
