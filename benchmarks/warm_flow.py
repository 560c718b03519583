"""medallion's whole flow repeated in one process: the later repetitions run in a warm JVM.

``python -m benchmarks.warm_flow --pipeline P --env bench --conf-dir C --repeat 3`` runs bronze -> silver ->
gold ``repeat`` times, each into its own lakehouse folder (``{lakehouse_root}-r{i}`` after the first) on
the same landing files, and prints one JSON line: per repetition the layers' run-log durations and
the wall time of ``run_pipeline`` (layers + run-log appends). The counterpart of
:mod:`benchmarks.peer_flow` with ``repeat``: a Spark session that runs several pipelines (a Synapse
notebook session, ``run --all``) pays the JVM's warm-up once.
"""
from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path

from medallion.config import load_env, load_pipeline
from medallion.layers import layers_for
from medallion.runner import run_pipeline
from medallion.session import get_spark


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipeline", required=True)
    parser.add_argument("--env", required=True)
    parser.add_argument("--conf-dir", required=True)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args(argv)
    env = load_env(Path(args.conf_dir) / "env" / f"{args.env}.yaml")
    pipeline = load_pipeline(args.pipeline)
    spark = get_spark(env.spark)
    repetitions = []
    for r in range(args.repeat):
        lake = env if r == 0 else env.model_copy(update={"lakehouse_root": f"{env.lakehouse_root}-r{r}"})
        start = time.perf_counter()
        report = run_pipeline(spark, lake, pipeline, layers_for(pipeline, "all"))
        wall = time.perf_counter() - start
        if not report.ok:
            raise SystemExit(f"repetition {r} failed: {report.to_text()}")
        summary = report.to_json()
        repetitions.append({"wall": round(wall, 3), "summary": summary,
                            "layers": {layer: summary[layer]["duration_seconds"] for layer in ("bronze", "silver", "gold")}})
    print(json.dumps({"repetitions": repetitions}, default=str), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
