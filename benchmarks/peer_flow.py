"""The lakehouse-engine 1.24.0 peer: bronze -> silver -> gold through its ``load_data`` ACONs, one process.

Runs inside the peer's own venv (``benchmarks/.venv-lakehouse-engine``, see :mod:`benchmarks.peer`), so it
imports nothing from medallion: the orchestrator writes a JSON spec (paths, the Spark settings medallion's
local session uses, and the flow derived from the pipeline file) and this script prints one JSON line:
``{"layers": {"bronze": s, "silver": s, "gold": s}, "session_start": s, "rows": {...}}``.

The steps mirror what medallion does, in lakehouse-engine's idiom:

- bronze: read the landing JSON (PERMISSIVE, ``with_filepath``) with a declared all-STRING schema (one pass;
  medallion keeps every source column as a string too), add the ingestion date and the source system,
  append to a Delta table;
- silver: read bronze, the pipeline's ``columns`` expressions (``with_expressions`` + ``column_selector``),
  drop rows with a null key (``expression_filter``), newest ``sequence_by`` per key (``group_and_rank``),
  then write: an overwrite when the table does not exist yet (its ``DeltaMergeWriter`` needs an existing
  table), else a ``delta_merge`` on the keys;
- gold: one SQL query over the silver table (``data_format: sql``; lakehouse-engine has no group-by
  transformer) overwriting a Delta table.

With ``"engine": "bare"`` in the spec the same three steps run as plain PySpark + Delta calls, no
lakehouse-engine: the floor of the flow on this machine (what any framework adds is measured above it).

``python benchmarks/peer_flow.py SPEC.json`` (run by :func:`benchmarks.peer.run_peer_process`).
"""
from __future__ import annotations

import json
import sys
import time
from typing import Any


def _session(spec: dict[str, Any]) -> Any:
    from delta import configure_spark_with_delta_pip
    from pyspark.sql import SparkSession

    conf = dict(spec["spark_conf"])
    builder = SparkSession.builder.appName("lakehouse-engine-peer").master(conf.pop("spark.master", "local[2]"))
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = configure_spark_with_delta_pip(builder).getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _string_schema(columns: list[str]) -> dict[str, Any]:
    return {"type": "struct", "fields": [{"name": c, "type": "string", "nullable": True, "metadata": {}}
                                         for c in columns]}


def bronze_acon(spec: dict[str, Any]) -> dict[str, Any]:
    columns = [*spec["source_columns"], "_corrupt_record"]
    return {
        "input_specs": [{
            "spec_id": "landing", "read_type": "batch", "data_format": "json", "location": spec["landing"],
            "schema": _string_schema(columns), "with_filepath": True,
            "options": {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": "_corrupt_record"},
        }],
        "transform_specs": [{
            "spec_id": "bronze_rows", "input_id": "landing",
            "transformers": [
                {"function": "add_current_date", "args": {"output_col": "_ingested_at"}},
                {"function": "with_literals", "args": {"literals": {"_source_system": spec["source_system"]}}},
            ],
        }],
        "output_specs": [{"spec_id": "bronze", "input_id": "bronze_rows", "write_type": "append",
                          "data_format": "delta", "location": spec["bronze"]}],
    }


def _keys_present(keys: list[str]) -> str:
    """Silver's row filter, for the ACON and the bare flow alike: every key not null."""
    return " and ".join(f"`{k}` is not null" for k in keys)


def _merge_predicate(keys: list[str]) -> str:
    """Silver's MERGE condition (target ``current``, source ``new``), for the ACON and the bare flow alike."""
    return " and ".join(f"current.`{k}` = new.`{k}`" for k in keys)


def silver_acon(spec: dict[str, Any], *, exists: bool) -> dict[str, Any]:
    silver = spec["silver"]
    keys = silver["keys"]
    output: dict[str, Any] = {"spec_id": "silver", "input_id": "silver_rows", "data_format": "delta",
                              "location": spec["silver_path"]}
    if exists:
        output.update(write_type="merge", merge_opts={
            "merge_predicate": _merge_predicate(keys)})
    else:
        output.update(write_type="overwrite")
    return {
        "input_specs": [{"spec_id": "bronze", "read_type": "batch", "data_format": "delta",
                         "location": spec["bronze"]}],
        "transform_specs": [{
            "spec_id": "silver_rows", "input_id": "bronze",
            "transformers": [
                # with_expressions adds columns; the output names shadow the bronze ones, so compute them
                # under temporary names first, then select them under their own.
                {"function": "with_expressions",
                 "args": {"cols_and_exprs": {f"__s_{n}": e for n, e in silver["columns"].items()}}},
                {"function": "column_selector", "args": {"cols": {f"__s_{n}": n for n in silver["columns"]}}},
                {"function": "expression_filter", "args": {"exp": _keys_present(keys)}},
                {"function": "group_and_rank", "args": {"group_key": keys, "ranking_key": [silver["sequence_by"]]}},
            ],
        }],
        "output_specs": [output],
    }


def gold_acon(spec: dict[str, Any], gold: dict[str, Any]) -> dict[str, Any]:
    return {
        "input_specs": [{"spec_id": "gold_rows", "read_type": "batch", "data_format": "sql", "query": gold["query"]}],
        "output_specs": [{"spec_id": "gold", "input_id": "gold_rows", "write_type": "overwrite",
                          "data_format": "delta", "location": gold["path"],
                          "options": {"overwriteSchema": "true"}}],
    }


def bare_steps(spark: Any, spec: dict[str, Any]) -> dict[str, float]:
    """The same three steps in plain PySpark + Delta (``"engine": "bare"``): the floor of the flow."""
    from delta.tables import DeltaTable
    from pyspark.sql import Window
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType, StructField, StructType

    layers: dict[str, float] = {}
    t = time.perf_counter()
    schema = StructType([StructField(c, StringType()) for c in [*spec["source_columns"], "_corrupt_record"]])
    (spark.read.schema(schema).option("mode", "PERMISSIVE").option("columnNameOfCorruptRecord", "_corrupt_record")
     .json(spec["landing"])
     .withColumn("file_path", F.input_file_name())
     .withColumn("_ingested_at", F.current_date())
     .withColumn("_source_system", F.lit(spec["source_system"]))
     .write.format("delta").mode("append").save(spec["bronze"]))
    layers["bronze"] = time.perf_counter() - t

    t = time.perf_counter()
    silver = spec["silver"]
    keys = silver["keys"]
    rows = (spark.read.format("delta").load(spec["bronze"])
            .select(*[F.expr(e).alias(n) for n, e in silver["columns"].items()])
            .where(_keys_present(keys)))
    newest = Window.partitionBy(*keys).orderBy(F.col(silver["sequence_by"]).desc())
    rows = rows.withColumn("__rank", F.row_number().over(newest)).where("__rank = 1").drop("__rank")
    if DeltaTable.isDeltaTable(spark, spec["silver_path"]):
        (DeltaTable.forPath(spark, spec["silver_path"]).alias("current").merge(rows.alias("new"), _merge_predicate(keys))
         .whenMatchedUpdateAll().whenNotMatchedInsertAll().execute())
    else:
        rows.write.format("delta").mode("overwrite").save(spec["silver_path"])
    layers["silver"] = time.perf_counter() - t

    t = time.perf_counter()
    for gold in spec["gold"]:
        spark.sql(gold["query"]).write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(gold["path"])
    layers["gold"] = time.perf_counter() - t
    return layers


def _repetition(spec: dict[str, Any], r: int) -> dict[str, Any]:
    """The spec of repetition ``r``: the first writes where the spec says, later ones next to it."""
    if r == 0:
        return spec

    def moved(path: str) -> str:
        return f"{path}-r{r}"

    return {**spec, "bronze": moved(spec["bronze"]), "silver_path": moved(spec["silver_path"]),
            "gold": [{**g, "path": moved(g["path"]), "query": g["query"].replace(spec["silver_path"], moved(spec["silver_path"]))}
                     for g in spec["gold"]]}


def main(argv: list[str]) -> int:
    t0 = time.perf_counter()
    spec = json.loads(open(argv[1], encoding="utf-8").read())
    spark = _session(spec)
    from delta.tables import DeltaTable

    bare = spec.get("engine") == "bare"
    if not bare:
        from lakehouse_engine.engine import load_data

    started = time.perf_counter()
    repetitions = []
    for r in range(int(spec.get("repeat", 1))):  # repeat > 1: the last repetitions run in a warm JVM
        rep = _repetition(spec, r)
        if bare:
            repetitions.append({k: round(v, 3) for k, v in bare_steps(spark, rep).items()})
            continue
        layers: dict[str, float] = {}
        t = time.perf_counter()
        load_data(acon=bronze_acon(rep))
        layers["bronze"] = time.perf_counter() - t
        t = time.perf_counter()
        load_data(acon=silver_acon(rep, exists=DeltaTable.isDeltaTable(spark, rep["silver_path"])))
        layers["silver"] = time.perf_counter() - t
        t = time.perf_counter()
        for gold in rep["gold"]:
            load_data(acon=gold_acon(rep, gold))
        layers["gold"] = time.perf_counter() - t
        repetitions.append({k: round(v, 3) for k, v in layers.items()})
    spec = _repetition(spec, len(repetitions) - 1)
    rows = {}
    if spec.get("count_rows"):  # after the timings: only for the harness's correctness check
        rows = {"bronze": spark.read.format("delta").load(spec["bronze"]).count(),
                "silver": spark.read.format("delta").load(spec["silver_path"]).count(),
                "gold": sum(spark.read.format("delta").load(g["path"]).count() for g in spec["gold"])}
    print(json.dumps({"layers": repetitions[0], "repetitions": repetitions,
                      "session_start": round(started - t0, 3), "rows": rows}), flush=True)
    spark.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
