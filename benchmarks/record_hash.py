"""What bronze's ``_record_hash`` costs, and what a cheaper hash would save.

``python -m benchmarks.record_hash --rows 100000`` generates the benchmark's landing data, reads it as
bronze does (:func:`medallion.bronze.landing.read_files`), caches the records, then times in one warm JVM,
alternating, the bronze projection (:func:`medallion.bronze.layer.add_audit_columns`) written to Spark's
``noop`` sink (all of the computation, no file written) with:

- ``sha256``: the record hash as bronze computes it (SHA-256 of the sorted non-null ``name=value``
  pairs);
- ``xxhash64x2``: the same pairs through two 64-bit xxHash64 (unseeded and salted), 128 bits;
- ``none``: no hash column (the floor).

Prints the median seconds of each and the hash's share of the projection.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from benchmarks.datagen import generate
from benchmarks.measure import median
from medallion.bronze.landing import read_files
from medallion.bronze.layer import add_audit_columns
from medallion.columns import RECORD_HASH
from medallion.config import SourceConfig

__all__ = ["variants", "price", "main"]


def variants(records: DataFrame) -> dict[str, DataFrame]:
    """The bronze projection of ``records`` with each way of hashing a record."""
    bronze = records.transform(add_audit_columns("bench", "run-1", datetime(2026, 11, 27, tzinfo=UTC)))
    # The hash input as bronze builds it: sorted non-null name=value pairs, NUL-joined.
    data_cols = sorted(c for c in records.columns if c != "_source_file")
    text = F.concat_ws("\u0000", *[F.concat(F.lit(f"{c}="), F.col(f"`{c}`")) for c in data_cols])
    xx = F.concat(F.hex(F.xxhash64(text)), F.hex(F.xxhash64(F.lit("medallion"), text)))
    return {
        "sha256": bronze,
        "xxhash64x2": bronze.withColumn(RECORD_HASH, xx),
        "none": bronze.drop(RECORD_HASH),
    }


def price(records: DataFrame, repetitions: int = 5) -> dict[str, float]:
    """Median seconds of writing each variant to the ``noop`` sink, alternating the order."""
    frames = variants(records)
    times: dict[str, list[float]] = {name: [] for name in frames}
    for r in range(repetitions + 1):
        order = list(frames) if r % 2 == 0 else list(reversed(frames))
        for name in order:
            start = time.perf_counter()
            frames[name].write.format("noop").mode("overwrite").save()
            if r:  # the first round warms up
                times[name].append(time.perf_counter() - start)
    return {name: round(median(t), 3) for name, t in times.items()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Price bronze's record hash.")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repetitions", type=int, default=5)
    args = parser.parse_args(argv)
    from benchmarks.run import bench_session

    spark = bench_session()
    with tempfile.TemporaryDirectory(prefix="medallion-hash-") as work:
        generate(Path(work) / "orders", args.rows, seed=7, deliveries=3)
        paths = [str(p) for p in sorted((Path(work) / "orders").iterdir())]
        landed = read_files(spark, SourceConfig(format="json", path="orders", source_system="bench"), paths)
        records = landed.frame.cache()
        records.count()
        out = price(records, args.repetitions)
        landed.release()
    out["sha256_share"] = round((out["sha256"] - out["none"]) / out["sha256"], 3)
    out["xxhash64x2_share"] = round((out["xxhash64x2"] - out["none"]) / out["xxhash64x2"], 3)
    print(json.dumps({"rows": args.rows, **out}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
