"""medallion against adidas' lakehouse-engine 1.24.0 on the same flow: whole processes, paired runs.

The peer lives in its own venv, created on demand (``benchmarks/.venv-lakehouse-engine``, gitignored):
``pip install 'lakehouse-engine[os,sharepoint]==1.24.0'`` pins pyspark 3.5.0 and delta-spark 3.2.0 on
Python 3.11, which must not leak into medallion's environment.

One dataset (:mod:`benchmarks.datagen`, ``deliveries`` files) is generated once; each pair runs, in a
fresh lakehouse each, the two processes one after the other (medallion first on even pairs, the peer
first on odd ones):

- medallion: ``python -m medallion run --layer all --output json`` (bronze -> silver -> gold, run log
  included), per layer from the JSON summary's ``duration_seconds``;
- the peer: ``benchmarks/peer_flow.py`` (its ``load_data`` ACONs for the same three steps), per layer
  timed around each ``load_data`` call;
- the floor: the same script with ``"engine": "bare"``, the same three steps as plain PySpark + Delta
  calls under the peer's python (no framework at all: no audit columns, no run log, no data-quality
  split). It prices what is possible on this machine: a target below the floor cannot be met by any
  framework doing at least these steps.

Both processes start Spark with the same settings (medallion's local defaults plus the benchmark's
master, driver memory and shuffle partitions) and get Delta's jars through Ivy. Reported: medians of
the whole-process wall time and of each layer, the ratio medallion/peer of each (target for the whole
flow: <= 0.67), medallion's and the peer's ratios to the floor, and "start" = wall time minus the layers
(interpreter, imports, JVM and session start, config validation, the run log). medallion's counts are checked against the generator's manifest.

``python -m benchmarks.peer --rows 100000 --pairs 3`` (``--rows 300 --pairs 1`` for a smoke run).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.datagen import generate
from benchmarks.datagen_copies import generate_copies
from benchmarks.jvm_rss import run_measured
from benchmarks.measure import median
from benchmarks.pipelines import SAMPLE, same_steps_pipeline

__all__ = ["PEER_REQUIREMENT", "PEER_VENV", "TARGET_WHOLE_FLOW", "ensure_peer_venv", "peer_spec", "gold_query",
           "run_medallion_process", "run_peer_process", "run_peer_comparison", "format_peer", "main"]

log = logging.getLogger("benchmarks.peer")

REPO = Path(__file__).resolve().parents[1]
PEER_REQUIREMENT = "lakehouse-engine[os,sharepoint]==1.24.0"
PEER_VENV = REPO / "benchmarks" / ".venv-lakehouse-engine"
PEER_SCRIPT = REPO / "benchmarks" / "peer_flow.py"
TARGET_WHOLE_FLOW = 0.90  # issue 24 (was 0.67, below the floor: issue 12)
LAYERS = ("bronze", "silver", "gold")


def _q(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def ensure_peer_venv(venv: Path = PEER_VENV) -> Path:
    """The peer venv's python, creating the venv and installing lakehouse-engine when it is missing."""
    python = venv / "bin" / "python"
    check = [str(python), "-c", "import importlib.metadata as m; print(m.version('lakehouse-engine'))"]
    if python.exists():
        done = subprocess.run(check, capture_output=True, text=True, check=False)
        if done.returncode == 0 and done.stdout.strip() == PEER_REQUIREMENT.rsplit("==", 1)[1]:
            return python
    log.info("installing %s into %s", PEER_REQUIREMENT, venv)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", PEER_REQUIREMENT], check=True)
    return python


def source_columns(files: Sequence[Path], sample_lines: int = 2000) -> list[str]:
    """The union of the top-level keys of the parseable JSON lines at the start of each file (the
    declared schema the peer reads with; every column a STRING, as medallion keeps them)."""
    seen: dict[str, None] = {}
    for path in files:
        with open(path, encoding="utf-8") as fh:
            for i, line in enumerate(fh):
                if i >= sample_lines:
                    break
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if isinstance(record, dict):
                    seen.update(dict.fromkeys(record))
    return list(seen)


def gold_query(gold: Any, silver_path: str) -> str:
    """One SELECT over the silver table computing the gold entry (declarative or ``sql``)."""
    table = f"delta.{_q(silver_path)}"
    if gold.sql is not None:
        return gold.sql.format(silver=table)
    derived = "".join(f", {expr} AS {_q(name)}" for name, expr in gold.derive.items())
    groups = ", ".join(_q(c) for c in gold.group_by)
    measures = ", ".join(f"{expr} AS {_q(name)}" for name, expr in gold.measures.items())
    where = f" WHERE {gold.filter}" if gold.filter else ""
    select = f"{groups}, {measures}" if groups else measures
    group = f" GROUP BY {groups}" if groups else ""
    return f"SELECT {select} FROM (SELECT *{derived} FROM {table}){where}{group}"


def peer_spec(pipeline: Any, landing: Path, lake: Path, spark_conf: dict[str, str], columns: list[str]) -> dict[str, Any]:
    """The JSON spec :mod:`benchmarks.peer_flow` runs: the same source, tables and steps as ``pipeline``."""
    silver_path = str(lake / "silver" / pipeline.silver.table)
    return {
        "landing": str(landing),
        "source_columns": columns,
        "source_system": pipeline.source.source_system,
        "bronze": str(lake / "bronze" / pipeline.bronze.table),
        "silver_path": silver_path,
        "silver": {"keys": list(pipeline.silver.keys), "sequence_by": pipeline.silver.sequence_by,
                   "columns": dict(pipeline.silver.columns)},
        "gold": [{"table": g.table, "path": str(lake / "gold" / g.table), "query": gold_query(g, silver_path)}
                 for g in pipeline.gold],
        "spark_conf": spark_conf,
        "count_rows": True,
    }


def _env_file(conf_dir: Path, landing_root: Path, lake: Path, spark_conf: dict[str, str]) -> None:
    (conf_dir / "env").mkdir(parents=True, exist_ok=True)
    lines = ["name: bench", f"landing_root: {json.dumps(str(landing_root))}",
             f"lakehouse_root: {json.dumps(str(lake))}", "spark:"]
    lines += [f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in spark_conf.items()]
    (conf_dir / "env" / "bench.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("MEDALLION_SPARK_LOG_LEVEL", "ERROR")
    return env


def run_medallion_process(pipeline_path: Path, conf_dir: Path, *, repeat: int = 1, timeout: float = 3600) -> dict[str, Any]:
    """``python -m medallion run --layer all --output json`` in a new process; wall time and per layer.

    With ``repeat`` > 1, :mod:`benchmarks.warm_flow` runs the flow that many times in one process; the
    layers and ``flow`` (layers + run log) are the last repetition's, in a warm JVM.
    """
    if repeat > 1:
        cmd = [sys.executable, "-m", "benchmarks.warm_flow", "--pipeline", str(pipeline_path), "--env", "bench",
               "--conf-dir", str(conf_dir), "--repeat", str(repeat)]
    else:
        cmd = [sys.executable, "-m", "medallion", "run", "--pipeline", str(pipeline_path), "--env", "bench",
               "--conf-dir", str(conf_dir), "--layer", "all", "--output", "json"]
    start = time.perf_counter()
    done, rss = run_measured(cmd, cwd=REPO, env=_child_env(), timeout=timeout)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"medallion run failed ({done.returncode}): {done.stderr[-3000:]}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    if repeat > 1:
        last = out["repetitions"][-1]
        return {"wall": round(wall, 3), "layers": last["layers"], "flow": last["wall"], "summary": last["summary"],
                "start": None, "jvm_rss_mib": rss}
    layers = {layer: float(out[layer]["duration_seconds"]) for layer in LAYERS}
    return {"wall": round(wall, 3), "layers": layers, "start": round(wall - sum(layers.values()), 3),
            "summary": out, "jvm_rss_mib": rss}


def run_peer_process(python: Path, spec: dict[str, Any], spec_file: Path, *, timeout: float = 3600) -> dict[str, Any]:
    """``peer_flow.py SPEC`` under the peer venv's python; wall time and per layer."""
    spec_file.write_text(json.dumps(spec), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYSPARK_PYTHON", "SPARK_HOME")}
    start = time.perf_counter()
    done, rss = run_measured([str(python), str(PEER_SCRIPT), str(spec_file)], env=env, timeout=timeout)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"lakehouse-engine flow failed ({done.returncode}): {done.stderr[-3000:]}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    last = out.get("repetitions", [out["layers"]])[-1]
    layers = {layer: float(last[layer]) for layer in LAYERS}
    if len(out.get("repetitions", [])) > 1:
        return {"wall": round(wall, 3), "layers": layers, "flow": round(sum(layers.values()), 3), "start": None,
                "rows": out.get("rows", {}), "jvm_rss_mib": rss}
    return {"wall": round(wall, 3), "layers": layers, "start": round(wall - sum(layers.values()), 3),
            "rows": out.get("rows", {}), "jvm_rss_mib": rss}


def _check_medallion(summary: dict[str, Any], manifest: dict[str, Any]) -> list[str]:
    expect = {
        ("bronze", "rows_in"): manifest["bronze"]["rows"],
        ("bronze", "rows_corrupt"): manifest["bronze"]["rows_corrupt"],
        ("silver", "rows_out"): manifest["silver"]["rows_out"],
        ("silver", "rows_quarantined"): manifest["silver"]["rows_quarantined"],
        ("gold", "rows_out"): manifest["gold"]["daily_revenue"]["rows"],
    }
    return [f"medallion {layer} {name}: expected {want}, got {summary[layer].get(name)}"
            for (layer, name), want in expect.items() if summary[layer].get(name) != want]


def run_peer_comparison(rows: int, *, pairs: int = 3, warmup_pairs: int = 0, deliveries: int = 5, seed: int = 7,
                        work: str | Path | None = None, master: str = "local[2]", driver_memory: str = "3g",
                        pipeline_path: Path | None = None,
                        peer_python: Path | None = None, repeat: int = 1, copies: int = 1) -> dict[str, Any]:
    """Paired whole-process runs of both flows on one dataset; see the module docstring."""
    from medallion.config import load_pipeline
    from medallion.session import DELTA_SETTINGS, LOCAL_DEFAULTS

    python = peer_python or ensure_peer_venv()
    tmp = None
    if work is None:
        tmp = tempfile.mkdtemp(prefix="medallion-peer-")
        work = tmp
    work = Path(work)
    if pipeline_path is None:
        pipeline_path = same_steps_pipeline(work)
    pipeline = load_pipeline(pipeline_path)
    spark_conf = {**LOCAL_DEFAULTS, **DELTA_SETTINGS, "spark.master": master, "spark.driver.memory": driver_memory,
                  "spark.sql.shuffle.partitions": "4"}
    data = work / "data" / pipeline.source.path
    if copies > 1:  # the same flow at `copies` times the size, keys and dates unique per copy
        manifest = generate_copies(data, rows, copies=copies, seed=seed, deliveries=deliveries)
    else:
        manifest = generate(data, rows, seed=seed, deliveries=deliveries)
    files = sorted(data.iterdir())
    columns = source_columns(files)
    landing_bytes = sum(f.stat().st_size for f in files)
    results: dict[str, list[dict[str, Any]]] = {"medallion": [], "peer": [], "floor": []}
    mismatches: list[str] = []
    def one_pair(i: int) -> None:
        counted = i >= warmup_pairs
        pdir = work / f"pair-{i}"
        shutil.rmtree(pdir, ignore_errors=True)
        landing_root = pdir / "landing"
        (landing_root / pipeline.source.path).mkdir(parents=True)
        for f in files:
            os.link(f, landing_root / pipeline.source.path / f.name)
        conf_dir = pdir / "conf"
        _env_file(conf_dir, landing_root, pdir / "medallion", spark_conf)
        spec = {**peer_spec(pipeline, landing_root / pipeline.source.path, pdir / "peer", spark_conf, columns),
                "repeat": repeat}

        def medallion() -> None:
            r = run_medallion_process(Path(pipeline_path), conf_dir, repeat=repeat)
            mismatches.extend(_check_medallion(r.pop("summary"), manifest))
            if counted:
                results["medallion"].append(r)
            log.info("pair %d medallion: %.1f s %s", i, r["wall"], r["layers"])

        def peer() -> None:
            r = run_peer_process(python, spec, pdir / "peer-spec.json")
            if r["rows"].get("bronze") not in (None, manifest["bronze"]["rows"]):
                mismatches.append(f"peer bronze rows: expected {manifest['bronze']['rows']}, got {r['rows']['bronze']}")
            if counted:
                results["peer"].append(r)
            log.info("pair %d peer: %.1f s %s", i, r["wall"], r["layers"])

        def floor() -> None:
            bare = {**peer_spec(pipeline, landing_root / pipeline.source.path, pdir / "bare", spark_conf, columns),
                    "repeat": repeat, "engine": "bare"}
            r = run_peer_process(python, bare, pdir / "bare-spec.json")
            if counted:
                results["floor"].append(r)
            log.info("pair %d floor: %.1f s %s", i, r["wall"], r["layers"])

        order = (medallion, peer, floor)
        for call in order[i % 3:] + order[:i % 3]:  # each contender goes first in turn
            call()
        shutil.rmtree(pdir, ignore_errors=True)

    try:
        for i in range(warmup_pairs + pairs):
            one_pair(i)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return summarise(results, rows=rows * copies, copies=copies, deliveries=deliveries, landing_bytes=landing_bytes,
                     mismatches=mismatches, repeat=repeat)


def summarise(results: dict[str, list[dict[str, Any]]], **info: Any) -> dict[str, Any]:
    """Medians per side and the ratios medallion/peer: the whole flow, each layer, and ``start`` (cold
    processes) or ``flow`` (the last repetition in a warm JVM, when the flows were repeated)."""
    out: dict[str, Any] = {**info, "target_whole_flow": TARGET_WHOLE_FLOW, "pairs": results}
    warm = any("flow" in r for runs in results.values() for r in runs)
    keys = ("wall", "flow" if warm else "start", *LAYERS)
    med: dict[str, dict[str, float]] = {}
    for who, runs in results.items():
        if not runs:
            if who == "floor":
                continue
            return out
        med[who] = {k: round(median([r[k] if k in ("wall", "flow", "start") else r["layers"][k] for r in runs]), 3)
                    for k in keys}
    for who, runs in results.items():
        if runs and who in med:
            med[who]["jvm_rss_mib"] = round(median([r.get("jvm_rss_mib", 0.0) for r in runs]), 1)
    out["median"] = med
    out["ratio"] = {k: round(med["medallion"][k] / med["peer"][k], 3)
                    for k in (*keys, "jvm_rss_mib") if med["peer"].get(k, 0) > 0}
    judged = "flow" if warm else "wall"
    out["pair_ratios"] = [round(m[judged] / p[judged], 3)
                          for m, p in zip(results["medallion"], results["peer"], strict=False)]
    out["whole_flow_met"] = out["ratio"].get(judged, 99) <= TARGET_WHOLE_FLOW
    if "floor" in med:
        out["to_floor"] = {who: {k: round(med[who][k] / med["floor"][k], 3) for k in keys if med["floor"][k] > 0}
                           for who in ("medallion", "peer")}
        out["target_seconds"] = round(TARGET_WHOLE_FLOW * med["peer"][judged], 3)
        out["target_below_floor"] = out["target_seconds"] < med["floor"][judged]
    return out


def format_peer(report: dict[str, Any]) -> str:
    """The comparison as a Markdown table."""
    if "median" not in report:
        return "no pairs measured"
    m, p, r = report["median"]["medallion"], report["median"]["peer"], report["ratio"]
    f = report["median"].get("floor")
    warm = "flow" in m
    head = "| step | medallion s | lakehouse-engine s | ratio m/p |"
    rule = "|---|---:|---:|---:|"
    if f:
        head += " bare Spark s | m/bare | p/bare |"
        rule += "---:|---:|---:|"
    lines = [head, rule]
    rows = ((("bronze", "bronze"), ("silver", "silver"), ("gold", "gold"),
             ("flow", f"**whole flow, repetition {report.get('repeat')} in a warm JVM (layers + run log)**"),
             ("wall", f"process wall ({report.get('repeat')} repetitions)"))
            if warm else
            (("start", "start (process, JVM, session, config; run log)"), ("bronze", "bronze"),
             ("silver", "silver"), ("gold", "gold"), ("wall", "**whole flow (process wall)**")))
    for key, label in rows:
        line = f"| {label} | {m[key]:.2f} | {p[key]:.2f} | {r.get(key, float('nan')):.2f} |"
        if f:
            to = report["to_floor"]
            line += (f" {f[key]:.2f} | {to['medallion'].get(key, float('nan')):.2f} |"
                     f" {to['peer'].get(key, float('nan')):.2f} |")
        lines.append(line)
    judged = "flow" if warm else "wall"
    lines += ["", f"Whole flow ratio {r.get(judged, float('nan')):.2f} (target <= {TARGET_WHOLE_FLOW}: "
                  f"{'met' if report['whole_flow_met'] else '**missed**'}); per pair: "
                  + ", ".join(f"{x:.2f}" for x in report["pair_ratios"]) + "."]
    if f:
        lines.append(f"The target is {report['target_seconds']:.1f} s; bare Spark doing the same steps takes "
                     f"{f[judged]:.1f} s: the target is {'below' if report['target_below_floor'] else 'above'} "
                     "the floor.")
    rss = {who: report["median"][who].get("jvm_rss_mib") for who in ("medallion", "peer", "floor") if who in report["median"]}
    if all(rss.values()):
        lines.append("Driver JVM peak RSS (VmHWM), median MiB: " + ", ".join(f"{who} {v:.0f}" for who, v in rss.items()) + ".")
    if report.get("mismatches"):
        lines.append("COUNT MISMATCHES: " + "; ".join(report["mismatches"]))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m benchmarks.peer --rows N [--pairs 3] [--warmup-pairs 1] [--deliveries 5]``."""
    parser = argparse.ArgumentParser(description="medallion vs lakehouse-engine 1.24.0, whole processes.")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--warmup-pairs", type=int, default=1)
    parser.add_argument("--deliveries", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--work", default=None)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "out"))
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--driver-memory", default="3g")
    parser.add_argument("--copies", type=int, default=1,
                        help="the flow at this many times its size: copies with unique keys and dates (datagen_copies)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run each flow this many times per process; compare the last (warm JVM) repetition")
    parser.add_argument("--with-checks", action="store_true",
                        help="medallion runs the sample pipeline as it is, declared checks included")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    report = run_peer_comparison(args.rows, pairs=args.pairs, warmup_pairs=args.warmup_pairs,
                                 deliveries=args.deliveries, seed=args.seed, work=args.work, master=args.master,
                                 driver_memory=args.driver_memory, pipeline_path=SAMPLE if args.with_checks else None,
                                 repeat=args.repeat, copies=args.copies)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    name = "peer.json" if args.copies == 1 else f"peer-x{args.copies}.json"
    (Path(args.out) / name).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(format_peer(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
