"""Running the suite on xdist workers (tests/parallel.py): how many workers, which tests share one, the run's
shared folder."""
from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pytest
from parallel import SESSION_GROUPS, assign_groups, auto_workers, dispatch_rank, group_for, shared_dir


def _config(tmp_path: Path, *args: str) -> pytest.Config:
    return SimpleNamespace(args=list(args), invocation_params=SimpleNamespace(dir=tmp_path))  # type: ignore[return-value]


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "tests" / "azure").mkdir(parents=True)
    (tmp_path / "tests" / "test_x.py").write_text("")
    monkeypatch.delenv("PYTEST_XDIST_AUTO_NUM_WORKERS", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: {0, 1}, raising=False)
    return tmp_path


@pytest.mark.parametrize(("args", "workers"), [
    (["tests"], 2),                                   # the README's command (testpaths)
    (["tests/azure"], 2),                             # a folder
    (["tests/test_x.py"], 0),                         # a file: in-process, no worker start-up
    (["tests/test_x.py::test_a"], 0),                 # a node id
    (["tests", "tests/test_x.py"], 0),                # a folder and a file: the file decides
])
def test_folders_run_on_a_worker_per_core_named_tests_in_process(tree: Path, args: list[str], workers: int) -> None:
    assert auto_workers(_config(tree, *args)) == workers


def test_the_worker_count_follows_the_cores_up_to_the_cap_and_the_environment_wins(
        tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: set(range(16)), raising=False)
    assert auto_workers(_config(tree, "tests")) == 4
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: {0}, raising=False)
    assert auto_workers(_config(tree, "tests")) == 0  # one core: workers would only add their start-up
    monkeypatch.setenv("PYTEST_XDIST_AUTO_NUM_WORKERS", "3")
    assert auto_workers(_config(tree, "tests/test_x.py")) == 3


def test_groups_follow_the_expensive_fixtures() -> None:
    assert group_for({"spark": "session", "tmp_path": "function"}, "tests/test_a.py") is None
    assert group_for({"built_wheel": "session", "built_deps": "session"}, "tests/test_a.py") is None
    assert group_for({"livy": "module", "tmp_path": "function"}, "tests/azure/test_b.py") == "tests/azure/test_b.py"
    assert group_for({"sample_lakehouse": "session", "spark": "session"}, "tests/test_r.py") == "sample-lakehouse"
    assert group_for({"browser": "session", "noop_lake": "module"}, "tests/test_l.py") == SESSION_GROUPS["browser"]


def test_a_modules_fixture_follows_its_tests_into_their_session_group() -> None:
    tests = [
        ("tests/test_l.py", {"browser": "session", "noop_lake": "module"}),
        ("tests/test_l.py", {"noop_lake": "module"}),     # same module: joins the browser's group
        ("tests/test_m.py", {"other": "module"}),         # another module keeps its own
        ("tests/test_l.py", {"tmp_path": "function"}),    # nothing shared: anywhere
    ]
    assert assign_groups(tests) == ["sample-lakehouse", "sample-lakehouse", "tests/test_m.py", None]


def test_the_shared_folder_is_the_runs_basetemp_for_every_worker(tmp_path_factory: pytest.TempPathFactory,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    base = tmp_path_factory.getbasetemp()
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    expected = (base.parent if worker else base) / "probe-shared"
    assert shared_dir(tmp_path_factory, "probe-shared") == expected and expected.is_dir()
    if worker:  # under xdist this worker's basetemp is <run basetemp>/<worker id>
        assert base.name == f"popen-{worker}"


def test_work_is_dispatched_longest_first_as_far_as_the_tier_tells() -> None:
    tests = [("fast", None), ("spark", None), ("spark", "sample-lakehouse"), ("slow", None), ("slow", "mod"),
             ("fast", "mod")]
    order = sorted(tests, key=lambda test: dispatch_rank(*test))  # stable, as conftest sorts the items
    assert order == [("slow", None), ("slow", "mod"), ("spark", "sample-lakehouse"), ("fast", "mod"),
                     ("spark", None), ("fast", None)]


def test_the_suite_dispatches_in_the_order_conftest_gives(request: pytest.FixtureRequest) -> None:
    assert request.config.getoption("loadscopereorder") is False  # pyproject: --no-loadscope-reorder
