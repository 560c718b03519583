"""Bronze with many landing files: a run with nothing new, or one new small file, must not grow with the
number of files already ingested (issue 12).

For each N (default 1,000 and 20,000): land N small JSON files (10 records each), run bronze once (the
first run), then measure a run with nothing new and a run with one new file. Wall times are
end-to-end ``run_bronze`` calls in one warm JVM.

``--synthetic`` skips the (slow, O(N)) first run: bronze ingests one file, then the other N files are
recorded as ingested in the file record directly. The runs measured afterwards see exactly the state a
real first run leaves for them (N listed files, N recorded, the record's watermark at bronze's latest
version), so the no-op and one-new-file numbers are the same quantity, obtained in minutes.

    python -m benchmarks.many_files_synthetic --files 1000 20000 [--synthetic]
"""
from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from medallion.bronze import run_bronze
from medallion.config import EnvConfig, PipelineConfig
from medallion.outcome import RunContext

PIPELINE = PipelineConfig.model_validate(
    {"dataset": "many", "source": {"format": "json", "path": "many", "source_system": "bench"}, "bronze": {"table": "many"}}
)


def _land(folder: Path, start: int, n: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(start, start + n):
        (folder / f"f{i:07d}.json").write_text("".join(f'{{"id": "{i}-{j}", "v": "{j}"}}\n' for j in range(10)))


def _timed(spark, env: EnvConfig, run_id: str) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    outcome = run_bronze(spark, env, PIPELINE, RunContext(run_id, datetime.now(UTC)))
    return time.perf_counter() - t0, outcome


def _synthetic_state(spark, env: EnvConfig, landing: Path, n: int) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    from medallion.file_log import FileEntry, FileLog, FileStatus
    from medallion.landing import list_files

    _land(landing, 0, 1)
    first, outcome = _timed(spark, env, "first")
    _land(landing, 1, n - 1)
    target = env.table_path("bronze", PIPELINE.bronze.table)
    entries = [
        FileEntry(f.path, f.size, f.modified_ms, FileStatus.INGESTED)
        for f in list_files(spark, str(landing)) if not f.path.endswith("f0000000.json")
    ]
    log = FileLog(spark, env.files_path, target)
    log.record(entries, bronze_version=outcome.target_version, committed=False, run_id="synthetic", now=datetime.now(UTC))
    return first, replace(outcome, files_ingested=n)


def measure(spark, n: int, scratch: Path, *, synthetic: bool = False) -> dict[str, object]:  # type: ignore[no-untyped-def]
    root = scratch / f"n{n}"
    env = EnvConfig(name="bench", landing_root=str(root / "landing"), lakehouse_root=str(root / "lake"))
    landing = Path(env.landing_root) / "many"
    if synthetic:
        first, o1 = _synthetic_state(spark, env, landing, n)
    else:
        _land(landing, 0, n)
        first, o1 = _timed(spark, env, "first")
    nothing, o2 = _timed(spark, env, "nothing-new")
    _land(landing, n, 1)
    one, o3 = _timed(spark, env, "one-new")
    assert o1.files_ingested == n and o2.files_ingested == 0 and o3.files_ingested == 1, (o1, o2, o3)
    return {
        "files": n,
        "first_run_s": None if synthetic else round(first, 2),
        "nothing_new_s": round(nothing, 2),
        "one_new_file_s": round(one, 2),
        "synthetic": synthetic,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, nargs="+", default=[1000, 20000])
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    parser.add_argument("--synthetic", action="store_true", help="record N-1 files directly instead of a first run")
    args = parser.parse_args()
    from medallion.session import get_spark

    spark = get_spark({"spark.master": "local[2]", "spark.sql.shuffle.partitions": "2", "spark.ui.enabled": "false"})
    scratch = Path(tempfile.mkdtemp(prefix="medallion-many-files-"))
    try:
        results = [measure(spark, n, scratch, synthetic=args.synthetic) for n in args.files]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        spark.stop()
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
