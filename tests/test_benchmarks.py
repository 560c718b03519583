"""Smoke tests of the benchmark harness: tiny data, one repetition, the reports have their shape.

No timing is asserted (the machine is shared); counts and structure are.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ORDERS = REPO / "conf" / "pipelines" / "orders.yaml"


@pytest.mark.e2e
@pytest.mark.delta
@pytest.mark.timeout(2400)  # a generous bound for a loaded machine, not a speed check
def test_harness_end_to_end(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from benchmarks.run import LAYERS, format_markdown, format_table, run_benchmark

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
    throughput = scale["bronze_throughput"]
    assert throughput["json_read_seconds"] > 0 and throughput["medallion_mb_s_per_core"] > 0
    assert "the parse ceiling" in format_markdown(report)

    # The no-op run after the incremental load: nothing new, so every layer is skipped and reads nothing.
    noop = scale["noop"]
    assert set(noop["layers"]) == set(LAYERS)
    assert all(v["status"] == "skipped" and v["rows_out"] == 0 for v in noop["layers"].values())
    assert noop["total_seconds"] >= noop["config_seconds"] + noop["sql_parse_seconds"]
    assert isinstance(noop["met"], bool) and isinstance(noop["config_sql_met"], bool)
    assert all(isinstance(v["jobs"], int) for v in noop["layers"].values())

    text, markdown = format_table(report), format_markdown(report)
    assert "bronze" in text and "no-op run" in text
    assert "Per-run constant" in markdown


@pytest.mark.e2e
@pytest.mark.delta
@pytest.mark.timeout(1800)
def test_many_files_probe(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from benchmarks.many_files import format_probe, run_probe
    from medallion.config import load_pipeline

    probe = run_probe(spark, load_pipeline(ORDERS), [3, 2], rows_per_file=2, work=tmp_path)

    assert [p["files"] for p in probe["probes"]] == [2, 3]
    for p in probe["probes"]:
        assert p["count_mismatches"] == []
        runs = p["runs"]
        assert runs["first"]["rows_in"] == p["files"] * 2 and runs["first"]["files_ingested"] == p["files"]
        assert runs["nothing_new"]["status"] == "skipped" and runs["nothing_new"]["rows_in"] == 0
        assert runs["one_new_file"]["rows_in"] == 2 and runs["one_new_file"]["files_ingested"] == 1
        assert runs["one_new_file"]["files_skipped"] == p["files"]
    assert probe["one_new_file_ratio"]["files"] == [2, 3]
    assert isinstance(probe["one_new_file_ratio"]["met"], bool)
    assert "| 3 |" in format_probe(probe)


@pytest.mark.delta
def test_many_files_probe_synthetic_state_skips_every_recorded_file(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The synthetic state (1 file ingested, the rest recorded) is what a real first run leaves: nothing
    new to ingest, then exactly the one new file."""
    from benchmarks.many_files import format_probe, run_probe
    from medallion.config import load_pipeline

    probe = run_probe(spark, load_pipeline(ORDERS), [4], rows_per_file=2, work=tmp_path, synthetic=True)
    (p,) = probe["probes"]
    assert p["synthetic"] and p["count_mismatches"] == []
    assert p["runs"]["first"]["files_ingested"] == 1 and p["runs"]["nothing_new"]["files_skipped"] == 4
    assert p["runs"]["one_new_file"]["files_ingested"] == 1 and p["runs"]["one_new_file"]["files_skipped"] == 4
    assert p["one_new_over_first"] is None and "Synthetic state" in format_probe(probe)


def test_small_files_are_deterministic_and_nested(tmp_path: Path) -> None:
    from benchmarks.many_files import FILES_PER_FOLDER, write_small_files

    a = write_small_files(tmp_path / "a", 0, 3, rows_per_file=4)
    b = write_small_files(tmp_path / "b", 0, 3, rows_per_file=4)
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]
    lines = [json.loads(line) for p in a for line in p.read_text().splitlines()]
    assert len(lines) == 12 and len({r["order_id"] for r in lines}) == 12
    (late,) = write_small_files(tmp_path / "a", FILES_PER_FOLDER + 5, 1, rows_per_file=1)
    assert late.parent.name == "d00001" and late.parent != a[0].parent


def test_peer_summary_ratios() -> None:
    from benchmarks.peer import summarise

    def run(wall: float, b: float, s: float, g: float) -> dict:
        return {"wall": wall, "start": wall - b - s - g, "layers": {"bronze": b, "silver": s, "gold": g}}

    out = summarise({"medallion": [run(60, 20, 20, 10), run(70, 25, 20, 10)],
                     "peer": [run(100, 30, 30, 20), run(110, 30, 40, 20)]}, rows=10)
    assert out["median"]["medallion"]["wall"] == 65 and out["median"]["peer"]["wall"] == 105
    assert out["ratio"]["wall"] == round(65 / 105, 3) and out["whole_flow_met"] is True
    assert out["ratio"]["silver"] == round(20 / 35, 3)
    assert out["pair_ratios"] == [0.6, round(70 / 110, 3)]
    assert "whole flow" in __import__("benchmarks.peer", fromlist=["format_peer"]).format_peer(out)
    assert "to_floor" not in out  # no floor runs: no floor ratios


def test_peer_summary_prices_the_target_against_the_bare_spark_floor() -> None:
    from benchmarks.peer import format_peer, summarise

    def run(wall: float) -> dict:
        return {"wall": wall, "start": wall / 4, "layers": {"bronze": wall / 4, "silver": wall / 4, "gold": wall / 4}}

    out = summarise({"medallion": [run(45)], "peer": [run(33)], "floor": [run(30)]})
    assert out["to_floor"]["medallion"]["wall"] == 1.5 and out["to_floor"]["peer"]["wall"] == 1.1
    assert out["target_seconds"] == round(0.90 * 33, 3) and out["target_below_floor"] is True
    assert "below the floor" in format_peer(out) and "bare Spark s" in format_peer(out)
    above = summarise({"medallion": [run(45)], "peer": [run(60)], "floor": [run(30)]})
    assert above["target_below_floor"] is False and "above the floor" in format_peer(above)


@pytest.mark.delta
def test_bare_floor_flow_runs_the_same_steps(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The floor (plain PySpark + Delta) keeps every landing record in bronze, one row per key in silver, and
    computes the peer's gold query."""
    from chispa import assert_df_equality

    from benchmarks.datagen import generate
    from benchmarks.peer import peer_spec, source_columns
    from benchmarks.peer_flow import bare_steps
    from medallion.config import load_pipeline

    pipeline = load_pipeline(ORDERS)
    landing = tmp_path / "landing"
    manifest = generate(landing, 200, seed=3, deliveries=2)
    spec = peer_spec(pipeline, landing, tmp_path / "lake", {}, source_columns(sorted(landing.iterdir())))
    layers = bare_steps(spark, spec)
    assert set(layers) == {"bronze", "silver", "gold"}
    bronze = spark.read.format("delta").load(spec["bronze"])
    assert bronze.count() == manifest["bronze"]["rows"]
    silver = spark.read.format("delta").load(spec["silver_path"])
    keyed = bronze.selectExpr("cast(order_id as bigint) as k").where("k is not null")
    assert silver.count() == keyed.distinct().count() == silver.select("order_id").distinct().count()
    for gold in spec["gold"]:
        written = spark.read.format("delta").load(gold["path"])
        assert written.count() > 0
        assert_df_equality(written, spark.sql(gold["query"]), ignore_row_order=True, ignore_nullable=True)


def test_peer_acons_mirror_the_pipeline(tmp_path: Path) -> None:
    """The peer's ACONs carry the pipeline's keys, columns and sequence column; stdlib only (the peer venv)."""
    from benchmarks.peer import peer_spec
    from benchmarks.peer_flow import bronze_acon, gold_acon, silver_acon
    from medallion.config import load_pipeline

    pipeline = load_pipeline(ORDERS)
    spec = peer_spec(pipeline, tmp_path / "landing", tmp_path / "lake", {"spark.master": "local[2]"},
                     ["order_id", "amount", "updated_at"])
    bronze = bronze_acon(spec)
    fields = [f["name"] for f in bronze["input_specs"][0]["schema"]["fields"]]
    assert fields == ["order_id", "amount", "updated_at", "_corrupt_record"]
    assert bronze["output_specs"][0]["write_type"] == "append"
    first, later = silver_acon(spec, exists=False), silver_acon(spec, exists=True)
    assert first["output_specs"][0]["write_type"] == "overwrite"
    assert later["output_specs"][0]["write_type"] == "merge"
    assert later["output_specs"][0]["merge_opts"]["merge_predicate"] == "current.`order_id` = new.`order_id`"
    rank = first["transform_specs"][0]["transformers"][-1]
    assert rank == {"function": "group_and_rank", "args": {"group_key": ["order_id"], "ranking_key": ["updated_at"]}}
    (gold,) = spec["gold"]
    assert gold_acon(spec, gold)["input_specs"][0]["query"] == gold["query"]


@pytest.mark.delta
def test_peer_gold_query_equals_medallion_gold(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The peer's gold SQL computes what medallion's gold transform computes, on a real Delta table."""
    from chispa import assert_df_equality

    from benchmarks.peer import gold_query
    from medallion.config import load_pipeline
    from medallion.gold.layer import gold_frame

    pipeline = load_pipeline(ORDERS)
    silver_path = str(tmp_path / "silver")
    rows = [(1, "a@x.com", "10.00", "NEW", "2026-11-01 08:00:00"), (2, "b@x.com", "5.50", "NEW", "2026-11-01 09:00:00"),
            (3, "a@x.com", "7.25", "PAID", "2026-11-02 10:00:00"), (4, None, "1.00", "PAID", "2026-11-02 11:00:00")]
    silver = spark.createDataFrame(rows, "order_id BIGINT, customer_email STRING, amount STRING, status STRING, "
                                         "updated_at STRING").selectExpr(
        "order_id", "customer_email", "cast(amount as decimal(12,2)) as amount", "status",
        "to_timestamp(updated_at) as updated_at")
    silver.write.format("delta").save(silver_path)
    table = spark.read.format("delta").load(silver_path)
    for gold in pipeline.gold:
        expected = gold_frame(spark, gold, table)
        actual = spark.sql(gold_query(gold, silver_path))
        assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


@pytest.mark.e2e
@pytest.mark.timeout(1200)
def test_peer_summary_of_repeated_flows_judges_the_last_warm_repetition() -> None:
    from benchmarks.peer import format_peer, summarise

    def run(wall: float, flow: float) -> dict:
        return {"wall": wall, "flow": flow, "start": None, "layers": {"bronze": flow / 2, "silver": flow / 4, "gold": flow / 4}}

    out = summarise({"medallion": [run(90, 9.5)], "peer": [run(60, 10)]}, repeat=3)
    assert out["ratio"]["flow"] == 0.95 and out["ratio"]["wall"] == 1.5 and "start" not in out["ratio"]
    assert out["pair_ratios"] == [0.95] and out["whole_flow_met"] is False  # 0.95 > 0.90
    assert "repetition 3 in a warm JVM" in format_peer(out)


def test_peer_repetitions_write_next_to_the_first_and_read_their_own_silver() -> None:
    from benchmarks.peer_flow import _repetition

    spec = {"bronze": "/l/bronze/o", "silver_path": "/l/silver/o",
            "gold": [{"table": "d", "path": "/l/gold/d", "query": "SELECT 1 FROM delta.`/l/silver/o`"}]}
    assert _repetition(spec, 0) is spec
    two = _repetition(spec, 2)
    assert (two["bronze"], two["silver_path"], two["gold"][0]["path"]) == ("/l/bronze/o-r2", "/l/silver/o-r2", "/l/gold/d-r2")
    assert two["gold"][0]["query"] == "SELECT 1 FROM delta.`/l/silver/o-r2`"


def test_warm_flow_repeats_the_whole_flow_in_one_session(spark, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from benchmarks.datagen import generate
    from benchmarks.peer import _env_file
    from benchmarks.pipelines import same_steps_pipeline
    from benchmarks.warm_flow import main

    pipeline = same_steps_pipeline(tmp_path / "pipelines")
    generate(tmp_path / "landing" / "orders", 300, seed=7, deliveries=2)
    _env_file(tmp_path / "conf", tmp_path / "landing", tmp_path / "lake", {"spark.sql.shuffle.partitions": "2"})
    assert main(["--pipeline", str(pipeline), "--env", "bench", "--conf-dir", str(tmp_path / "conf"), "--repeat", "2"]) == 0
    first, second = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["repetitions"]
    assert first["summary"]["bronze"]["rows_in"] == second["summary"]["bronze"]["rows_in"] == 300
    assert first["summary"]["gold"]["rows_out"] == second["summary"]["gold"]["rows_out"] > 0
    assert (tmp_path / "lake" / "silver").is_dir() and (tmp_path / "lake-r1" / "silver").is_dir()


@pytest.mark.slow  # three whole processes, each with its own JVM
def test_peer_comparison_smoke(tmp_path: Path) -> None:
    """Both flows as whole processes on tiny data; runs only where the peer venv exists (it is installed
    on demand by ``python -m benchmarks.peer``, not by the test suite)."""
    from benchmarks.peer import PEER_VENV, run_peer_comparison

    python = PEER_VENV / "bin" / "python"
    if not python.exists():
        pytest.skip(f"lakehouse-engine venv not installed at {PEER_VENV}")
    report = run_peer_comparison(300, pairs=1, warmup_pairs=0, deliveries=3, work=tmp_path, peer_python=python,
                                 copies=2)
    assert report["mismatches"] == []  # medallion's counts equal the manifest replayed over both copies
    assert set(report["ratio"]) == {"wall", "start", "bronze", "silver", "gold", "jvm_rss_mib"}
    assert isinstance(report["whole_flow_met"], bool)
    assert all(report["median"][who]["jvm_rss_mib"] > 100 for who in ("medallion", "peer", "floor"))
    (peer,) = report["pairs"]["peer"]
    assert peer["rows"]["bronze"] == 600 and peer["rows"]["gold"] > 0
    (floor,) = report["pairs"]["floor"]
    assert floor["rows"] == peer["rows"]
    assert isinstance(report["target_below_floor"], bool)


def test_copies_scale_the_flow_with_unique_keys_and_dates(tmp_path: Path) -> None:
    """Ten copies of a dataset are ten times every count, replayed over the written lines (not scaled)."""
    from benchmarks.datagen import generate
    from benchmarks.datagen_copies import KEY_STRIDE, copy_line, generate_copies

    line = '{"order_id": 100789, "amount": 1.5, "created_at": "2026-11-01T10:21:01Z", "updated_at": "2026-11-01T11:19:47Z"}'
    assert copy_line(line, 0) == line
    assert copy_line(line, 3) == line.replace("100789", str(100789 + 3 * KEY_STRIDE)).replace("2026-", "2029-")
    assert copy_line('{"order_id": "A-17", "amount": 1}', 2) == '{"order_id": "A-17", "amount": 1}'
    assert copy_line("not json at all 2026-11-01", 2) == "not json at all 2026-11-01"
    one = generate(tmp_path / "one", 600, deliveries=3)
    three = generate_copies(tmp_path / "three", 600, copies=3, deliveries=3)
    for key in ("rows_in", "rows_out", "rows_quarantined", "rows_superseded", "rows_warned"):
        assert three["silver"][key] == 3 * one["silver"][key], key
    assert three["bronze"]["rows"] == 1800 and three["bronze"]["files_ingested"] == 3
    assert three["gold"]["daily_revenue"]["rows"] == 3 * one["gold"]["daily_revenue"]["rows"]
    assert sorted(p.name for p in (tmp_path / "three").iterdir()) == sorted(p.name for p in (tmp_path / "one").iterdir())
