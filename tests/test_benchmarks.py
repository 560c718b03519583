"""Smoke test of the benchmark harness: tiny data, one repetition, the JSON report has its shape."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.delta, pytest.mark.timeout(600)]


def test_harness_end_to_end(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from benchmarks.run import LAYERS, format_table, run_benchmark

    report = run_benchmark(spark, [120], runs=1, warmup=0, out=tmp_path / "out", work=tmp_path / "work")

    on_disk = json.loads((tmp_path / "out" / "benchmark.json").read_text())
    assert on_disk == json.loads(json.dumps(report))
    assert {"date", "machine", "versions", "spark", "targets"} <= set(report["meta"])
    (scale,) = report["scales"]
    assert scale["rows"] == 120 and scale["incremental_rows"] == 20
    assert scale["count_mismatches"] == []
    for layer in LAYERS:
        entry = scale["layers"][layer]
        for who in ("medallion", "baseline"):
            m = entry[who]
            assert m["seconds"] > 0 and m["jobs"] >= 1 and m["scan_equivalents"] >= 0
        assert entry["ratio"] > 0 and isinstance(entry["ratio_met"], bool)
        inc = scale["incremental"][layer]
        assert inc["medallion"]["fraction_of_full"] > 0 and isinstance(inc["fraction_met"], bool)
    assert scale["layers"]["bronze"]["medallion"]["rows_in"] == 120
    merge = scale["silver_merge"]["incremental"]
    assert merge["numTargetRowsInserted"] + merge["numTargetRowsUpdated"] > 0
    assert merge["files_holding_touched_keys"] >= 1 and isinstance(merge["rewrites_only_touched_files"], bool)
    assert scale["memory"]["jvm_heap_peak_mb"] > 0 and scale["memory"]["python_peak_rss_mb"] > 0
    assert "bronze" in format_table(report)
