"""The many-files probe: does a bronze run cost what its new files cost, whatever the landing zone holds?

For each file count N (default 1,000 and 20,000) a fresh landing zone receives N small JSON files of
``rows_per_file`` orders each (10 by default), spread over sub-folders of 1,000 files (as a dated
landing tree would be), and bronze runs three times in one warm JVM:

1. **first**: every file is new;
2. **nothing new**: the same landing zone again;
3. **one new file**: one more small file lands.

Each run is measured like the layer benchmarks (wall seconds, Spark jobs, bytes read) and its counts are
checked (``rows_in`` = N x rows_per_file, then 0 with status ``skipped``, then rows_per_file). The report
gives, per N, the runs' seconds and ratios to the first run, and across the two largest N the ratio of
the one-new-file runs (target: within +-50 %, i.e. 0.5 <= ratio <= 1.5).

``--synthetic`` skips the (O(N)) first run: bronze ingests one file, then the other N-1 files land and
are recorded as ingested in the file record directly (:class:`medallion.bronze.file_log.FileLog`). The runs
measured afterwards see the state a real first run leaves (N listed files, N recorded, the record's
watermark at bronze's latest version), so "nothing new" and "one new file" measure the same thing, in
minutes instead of an hour at 20,000 files.

``python -m benchmarks.many_files --files 1000 20000 [--synthetic]`` (or ``--files 20 60`` for a smoke run).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.measure import Meter

__all__ = ["TARGET_SPREAD", "write_small_files", "probe_count", "run_probe", "format_probe", "main"]

log = logging.getLogger("benchmarks.many_files")

TARGET_SPREAD = 0.5  # one-new-file run at the largest N within +-50 % of the same at the smallest N
FILES_PER_FOLDER = 1000
_BASE = datetime(2026, 1, 1, tzinfo=UTC)
_STATUSES = ("NEW", "PAID", "SHIPPED", "CANCELLED")
_CHANNELS = ("web", "app", "marketplace", "store")


def _file_path(landing: Path, index: int) -> Path:
    return landing / f"d{index // FILES_PER_FOLDER:05d}" / f"orders_{index:07d}.json"


def write_small_files(landing: str | Path, start: int, count: int, rows_per_file: int = 10) -> list[Path]:
    """Write files ``start .. start+count-1`` (deterministic content, unique ``order_id`` per row)."""
    landing = Path(landing)
    written = []
    for i in range(start, start + count):
        path = _file_path(landing, i)
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = []
        for r in range(rows_per_file):
            key = 1_000_000 + i * rows_per_file + r
            ts = _BASE + timedelta(minutes=5 * i, seconds=r)
            lines.append(json.dumps({
                "order_id": key,
                "customer_email": f"customer{key % 997}@example.com",
                "amount": round((key % 25_000) / 100 + 1.99, 2),
                "currency": "EUR",
                "status": _STATUSES[key % 4],
                "channel": _CHANNELS[(key // 4) % 4],
                "items": 1 + key % 6,
                "created_at": ts.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "updated_at": ts.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }))
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        written.append(path)
    return written


def _record_as_ingested(spark: Any, env: Any, pipeline: Any, landing: Path, bronze_version: int,
                        skip: Path) -> None:
    """Record every landed file but ``skip`` as ingested at ``bronze_version`` (the synthetic first run)."""
    from medallion.bronze.file_log import FileEntry, FileLog, FileStatus
    from medallion.bronze.listing import list_files

    entries = [FileEntry(f.path, f.size, f.modified_ms, FileStatus.INGESTED)
               for f in list_files(spark, str(landing)) if not f.path.endswith(skip.name)]
    FileLog(spark, env.files_path, env.table_path("bronze", pipeline.bronze.table)).record(
        entries, bronze_version=bronze_version, committed=False, run_id="synthetic", now=datetime.now(UTC))


def probe_count(spark: Any, pipeline: Any, files: int, work: Path, *, rows_per_file: int = 10,
                meter: Meter | None = None, synthetic: bool = False) -> dict[str, Any]:
    """The three bronze runs over a landing zone of ``files`` small files; see the module docstring."""
    from benchmarks.run import layer_context
    from medallion.bronze.layer import run_bronze
    from medallion.config import EnvConfig

    meter = meter or Meter(spark)
    root = work / f"files-{files}"
    if root.exists():
        shutil.rmtree(root)
    landing = root / "landing" / pipeline.source.path
    (first_file,) = write_small_files(landing, 0, 1, rows_per_file)
    if not synthetic:
        write_small_files(landing, 1, files - 1, rows_per_file)
    env = EnvConfig(name="bench", landing_root=str(root / "landing"), lakehouse_root=str(root / "lake"))
    runs: dict[str, dict[str, Any]] = {}
    mismatches: list[str] = []

    def run(name: str, expect_rows: int, expect_status: str) -> int | None:
        context = layer_context(f"probe-{files}-{name}")
        m, result = meter.time(f"probe-{files}-{name}", lambda: run_bronze(spark, env, pipeline, context))
        status = str(result.status)
        runs[name] = {"seconds": round(m.seconds, 3), "jobs": m.jobs, "stages": m.stages, "tasks": m.tasks,
                      "bytes_read": m.bytes_read, "rows_in": result.rows_in, "files_ingested": result.files_ingested,
                      "files_skipped": result.files_skipped, "status": status}
        if result.rows_in != expect_rows or status != expect_status:
            mismatches.append(f"{files} files, {name}: expected {expect_rows} rows ({expect_status}), "
                              f"got {result.rows_in} ({status})")
        log.info("many-files %d %s: %.2f s, %d jobs, %d rows", files, name, m.seconds, m.jobs, result.rows_in)
        return result.target_version

    if synthetic:
        version = run("first", rows_per_file, "succeeded")
        write_small_files(landing, 1, files - 1, rows_per_file)
        _record_as_ingested(spark, env, pipeline, landing, version or 0, first_file)
    else:
        run("first", files * rows_per_file, "succeeded")
    run("nothing_new", 0, "skipped")
    write_small_files(landing, files, 1, rows_per_file)
    run("one_new_file", rows_per_file, "succeeded")
    shutil.rmtree(root, ignore_errors=True)
    first = runs["first"]["seconds"]
    return {
        "files": files,
        "rows_per_file": rows_per_file,
        "synthetic": synthetic,
        "runs": runs,
        # A synthetic first run read one file: no ratio to it.
        "nothing_new_over_first": None if synthetic else round(runs["nothing_new"]["seconds"] / first, 3),
        "one_new_over_first": None if synthetic else round(runs["one_new_file"]["seconds"] / first, 3),
        "count_mismatches": mismatches,
    }


def run_probe(spark: Any, pipeline: Any, counts: Sequence[int] = (1000, 20_000), *, rows_per_file: int = 10,
              work: str | Path | None = None, synthetic: bool = False) -> dict[str, Any]:
    """Probe every file count (smallest first) and compare the one-new-file runs of the extremes."""
    tmp = None
    if work is None:
        tmp = tempfile.mkdtemp(prefix="medallion-many-files-")
        work = tmp
    meter = Meter(spark)
    try:
        probes = [probe_count(spark, pipeline, n, Path(work), rows_per_file=rows_per_file, meter=meter,
                              synthetic=synthetic)
                  for n in sorted(counts)]
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    out: dict[str, Any] = {"target_spread": TARGET_SPREAD, "probes": probes}
    if len(probes) >= 2:
        small, large = probes[0], probes[-1]
        ratio = large["runs"]["one_new_file"]["seconds"] / small["runs"]["one_new_file"]["seconds"]
        out["one_new_file_ratio"] = {"files": [small["files"], large["files"]], "ratio": round(ratio, 3),
                                     "met": abs(ratio - 1) <= TARGET_SPREAD}
        out["nothing_new_ratio"] = round(large["runs"]["nothing_new"]["seconds"]
                                         / small["runs"]["nothing_new"]["seconds"], 3)
    return out


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def format_probe(report: dict[str, Any]) -> str:
    """The probe as a Markdown table plus the headline ratio."""
    lines = ["| files | first s (jobs) | nothing new s (jobs) | one new file s (jobs) | nothing new / first "
             "| one new / first |", "|---:|---:|---:|---:|---:|---:|"]
    for p in report["probes"]:
        r = p["runs"]
        lines.append(
            f"| {p['files']:,} | {r['first']['seconds']:.2f} ({r['first']['jobs']}) | "
            f"{r['nothing_new']['seconds']:.2f} ({r['nothing_new']['jobs']}) | "
            f"{r['one_new_file']['seconds']:.2f} ({r['one_new_file']['jobs']}) | "
            f"{_ratio(p['nothing_new_over_first'])} | {_ratio(p['one_new_over_first'])} |")
    if any(p.get("synthetic") for p in report["probes"]):
        lines += ["", "Synthetic state: the first run ingested 1 file; the other N-1 were recorded as ingested."]
    ratio = report.get("one_new_file_ratio")
    if ratio:
        small, large = ratio["files"]
        lines += ["", f"One new file at {large:,} files / at {small:,} files: {ratio['ratio']:.2f} "
                      f"(target within +-{TARGET_SPREAD:.0%}: {'met' if ratio['met'] else '**missed**'}); "
                      f"nothing new: {report['nothing_new_ratio']:.2f}."]
    for p in report["probes"]:
        if p["count_mismatches"]:
            lines.append("COUNT MISMATCHES: " + "; ".join(p["count_mismatches"]))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m benchmarks.many_files --files 1000 20000 [--rows-per-file 10] [--out DIR]``."""
    from benchmarks.run import REPO, bench_session

    parser = argparse.ArgumentParser(description="Bronze over many small landing files.")
    parser.add_argument("--files", type=int, nargs="+", default=[1000, 20_000])
    parser.add_argument("--rows-per-file", type=int, default=10)
    parser.add_argument("--synthetic", action="store_true",
                        help="record N-1 files as ingested instead of a first run over all of them")
    parser.add_argument("--pipeline", default=str(REPO / "conf" / "pipelines" / "orders.yaml"))
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "out"))
    parser.add_argument("--work", default=None)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--driver-memory", default="3g")
    args = parser.parse_args(argv)
    from medallion.config import load_pipeline

    spark = bench_session(args.master, args.driver_memory)
    report = run_probe(spark, load_pipeline(args.pipeline), args.files, rows_per_file=args.rows_per_file,
                       work=args.work, synthetic=args.synthetic)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "many_files.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(format_probe(report))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("MEDALLION_SPARK_LOG_LEVEL", "ERROR")
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    raise SystemExit(main())
