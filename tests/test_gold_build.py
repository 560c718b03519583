"""GoldBuild, the typed result of one gold table's build: its run-log entry keeps the keys it always had."""
from __future__ import annotations

from medallion.gold.plan import GoldBuild
from medallion.gold.zorder import zorder_decision

ALWAYS = {"mode", "reason", "rows_out", "version", "silver_version", "previous_silver_version", "inputs",
          "replaced_partitions", "partitions_replaced", "optimized"}


def test_a_skipped_build_records_only_the_keys_every_build_has() -> None:
    build = GoldBuild(mode="skipped", reason="inputs unchanged", version=3, silver_version=5, inputs={"silver/o": 5})
    assert build.skipped
    assert set(build.details()) == ALWAYS
    assert (build.details()["version"], build.details()["mode"]) == (3, "skipped")


def test_steps_that_ran_are_recorded_and_the_zorder_decision_is_a_plain_mapping() -> None:
    build = GoldBuild(rows_out=4, version=7, files_added=2, files_removed=1, checks={"min_rows": True})
    build.zorder = zorder_decision({"a": (1, 5_000), "b": (3, 7_000)}, 1000)
    details = build.details()
    assert set(details) == ALWAYS | {"files_added", "files_removed", "checks", "zorder"}
    assert details["zorder"] == {"run": True, "reason": "1 partition(s) hold more than one file and more than 1000 bytes",
                                 "files": 4, "bytes": 12_000, "partitions": 2, "partitions_worth_it": 1,
                                 "threshold_bytes": 1000}
    assert not build.skipped
