"""Spark job entry file for the preflight batch: fails in seconds, naming what a real run would trip on.

Usage:
    spark-submit --py-files medallion-*.whl --archives deps.zip#deps jobs/preflight_job.py \\
        --pipeline conf/pipelines/P.yaml --env NAME [--conf-dir DIR]

1. imports every runtime dependency (the wheel's, and Jinja2/MarkupSafe for the report) on the driver and
   prints its version (a missing one is named, with the fix);
2. imports them again inside a Spark task, on an executor (its PYTHONPATH is set apart from the driver's);
3. checks the Delta session extension and catalog are configured;
4. lists the pipeline's landing folder under ``landing_root``;
5. writes and deletes a probe file, then writes, reads back and deletes a real Delta table, under
   ``lakehouse_root``/_preflight (the folder stays: preflights of several datasets run at once, and one
   removing the shared folder would fail another's write).

A refused storage call names the path, the operation and the identity the batch ran as. Exits 0 when
everything passed, 1 otherwise; the findings go to stderr, which the submit step prints on failure.
"""
import argparse
import importlib
import importlib.metadata
import platform
import sys
import uuid

# (distribution, module): what the wheel and the layers import on the pool
DEPENDENCIES = (
    ("pyspark", "pyspark"),
    ("delta-spark", "delta"),
    ("pydantic", "pydantic"),
    ("PyYAML", "yaml"),
    ("tenacity", "tenacity"),
    ("Jinja2", "jinja2"),  # the run report (jobs/report_job.py)
    ("MarkupSafe", "markupsafe"),
    ("medallion", "medallion"),
)
# on an executor: the same but medallion itself, which travels on pyFiles and runs on the driver only (no Python
# UDFs); YARN puts pyFiles on the executors' PYTHONPATH, a local master does not for a .whl
EXECUTOR_DEPENDENCIES = tuple(d for d in DEPENDENCIES if d[0] != "medallion")
DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"
_DENIED = ("403", "AuthorizationPermissionMismatch", "AuthorizationFailure", "AccessDenied", "Permission denied",
           "AccessControlException", "This request is not authorized")


def say(line: str) -> None:
    print(line, flush=True)
    print(line, file=sys.stderr, flush=True)


def check_imports() -> list[str]:
    missing = []
    say(f"preflight: Python {platform.python_version()} ({sys.executable}) on {platform.machine()}")
    for dist, module in DEPENDENCIES:
        try:
            imported = importlib.import_module(module)
        except ImportError as err:
            missing.append(f"{dist} (import {module}: {err})")
            say(f"preflight: MISSING {dist}: {err}")
            continue
        try:
            version = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            version = getattr(imported, "__version__", "?")
        say(f"preflight: {dist} {version} from {getattr(imported, '__file__', '?')}")
    return missing


def import_on_executor(_rows):  # noqa: ANN001, ANN201 - runs inside a Spark task
    """(dist, where it was imported from, or MISSING: why) for every dependency, as an executor sees them."""
    found = []
    for dist, module in EXECUTOR_DEPENDENCIES:
        try:
            found.append((dist, getattr(importlib.import_module(module), "__file__", "?") or "?"))
        except Exception as err:  # noqa: BLE001 - whatever the import raised is the finding
            found.append((dist, f"MISSING: {type(err).__name__}: {err}"))
    return iter(found)


def check_executor_imports(spark) -> list[str]:  # noqa: ANN001
    rows = spark.sparkContext.parallelize([0], 1).mapPartitions(import_on_executor).collect()
    missing = []
    for dist, where in rows:
        if where.startswith("MISSING"):
            missing.append(f"{dist} ({where})")
            say(f"preflight: executor MISSING {dist}: {where}")
        else:
            say(f"preflight: executor imports {dist} from {where}")
    return missing


def check_delta_session(spark) -> list[str]:  # noqa: ANN001
    problems = []
    extensions = spark.conf.get("spark.sql.extensions", "") or ""
    catalog = spark.conf.get("spark.sql.catalog.spark_catalog", "") or ""
    if DELTA_EXTENSION not in extensions:
        problems.append(f"spark.sql.extensions is {extensions!r}, without {DELTA_EXTENSION}")
    if catalog != DELTA_CATALOG:
        problems.append(f"spark.sql.catalog.spark_catalog is {catalog!r}, not {DELTA_CATALOG}")
    for problem in problems:
        say(f"preflight: FAILED Delta session: {problem} -> use a Spark 3.5 pool with Delta 3.2 (Synapse sets both)")
    if not problems:
        say(f"preflight: Delta session extension {DELTA_EXTENSION} and catalog configured")
    return problems


def identity(spark) -> str:  # noqa: ANN001
    """Who the batch touches storage as: Synapse's own utilities when present, else Spark's user."""
    for module in ("notebookutils", "mssparkutils"):
        try:
            utils = importlib.import_module(module)
            env = getattr(utils, "mssparkutils", utils).env
            return f"{env.getUserName()} (Synapse user; a batch submitted by the pipeline runs as the submitter)"
        except Exception:  # noqa: BLE001, S112 - best effort: not on every runtime
            continue
    return f"{spark.sparkContext.sparkUser()} (Spark user)"


def storage_error(err: Exception) -> str:
    text = str(err)
    java = getattr(err, "java_exception", None)
    if java is not None:
        text = f"{java.getClass().getName()}: {java.getMessage()}"
    first = next((line.strip() for line in text.splitlines() if line.strip()), text)
    return first[:500]


def probe_storage(spark, env, pipeline) -> list[str]:  # noqa: ANN001
    problems = []
    jvm = spark.sparkContext._jvm
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    who = identity(spark)
    say(f"preflight: storage is accessed as {who}")

    landing = env.resolve_landing(pipeline.source.path)
    try:
        path = jvm.org.apache.hadoop.fs.Path(landing)
        fs = path.getFileSystem(conf)
        if fs.exists(path):
            say(f"preflight: landing {landing}: {len(fs.listStatus(path))} entries readable")
        else:
            say(f"preflight: landing {landing} does not exist yet (nothing to load until files arrive)")
    except Exception as err:  # noqa: BLE001 - py4j errors carry the Java exception
        problems.append(_refused("read", landing, who, err))

    probe = f"{env.lakehouse_root.rstrip('/')}/_preflight/probe-{uuid.uuid4().hex}.txt"
    try:
        path = jvm.org.apache.hadoop.fs.Path(probe)
        fs = path.getFileSystem(conf)
        stream = fs.create(path, False)
        stream.write(bytearray(b"medallion preflight\n"))
        stream.close()
        fs.delete(path, False)
        say(f"preflight: wrote and deleted {probe}")
    except Exception as err:  # noqa: BLE001
        problems.append(_refused("write", probe, who, err))
    return problems


def probe_delta(spark, env) -> list[str]:  # noqa: ANN001
    """Write, read back and delete a real Delta table under the lakehouse root (what every layer does)."""
    problems = []
    jvm = spark.sparkContext._jvm
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    who = identity(spark)
    table = f"{env.lakehouse_root.rstrip('/')}/_preflight/delta-{uuid.uuid4().hex}"
    try:
        spark.range(3).write.format("delta").save(table)
        count = spark.read.format("delta").load(table).count()
        if count != 3:
            raise RuntimeError(f"read back {count} rows of 3")
        say(f"preflight: wrote and read back the Delta table {table} (3 rows)")
    except Exception as err:  # noqa: BLE001
        problems.append(_refused("write and read back the Delta table", table, who, err))
    finally:
        try:
            path = jvm.org.apache.hadoop.fs.Path(table)
            path.getFileSystem(conf).delete(path, True)
        except Exception as err:  # noqa: BLE001 - a leftover probe table is harmless; say so
            say(f"preflight: could not delete {table}: {storage_error(err)}")
    return problems


def _refused(operation: str, path: str, who: str, err: Exception) -> str:
    detail = storage_error(err)
    denied = any(marker in detail for marker in _DENIED)
    hint = (" -> grant this identity 'Storage Blob Data Contributor' on the container (docs/deploy-azure.md, "
            "'Which identity touches storage')" if denied else "")
    message = f"cannot {operation} {path} as {who}: {detail}{hint}"
    say(f"preflight: FAILED {message}")
    return message


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="preflight_job.py")
    parser.add_argument("--pipeline", required=True)
    parser.add_argument("--env", required=True)
    parser.add_argument("--conf-dir", default="conf")
    args = parser.parse_args(argv)

    missing = check_imports()
    if missing:
        say("preflight: FAILED missing Python packages: " + "; ".join(missing)
            + " -> the batch must ship deps.zip (medallion deps; medallion submit adds it with PYTHONPATH)")
        return 1

    from pathlib import Path

    from medallion.config import load_env, load_pipeline
    from medallion.errors import MedallionError
    from medallion.session import get_spark

    try:
        env = load_env(Path(args.conf_dir) / "env" / f"{args.env}.yaml")
        pipeline_file = Path(args.pipeline)
        if not pipeline_file.is_file():
            pipeline_file = Path(args.conf_dir) / "pipelines" / args.pipeline
        pipeline = load_pipeline(pipeline_file)
    except MedallionError as err:
        say(f"preflight: FAILED configuration: {err}")
        return 1
    spark = get_spark(env.spark, app_name=f"medallion-preflight-{pipeline.dataset}")
    on_executor = check_executor_imports(spark)
    if on_executor:
        say("preflight: FAILED missing Python packages on the executors: " + "; ".join(on_executor)
            + " -> the batch must set spark.executorEnv.PYTHONPATH=deps (medallion submit does)")
        return 1
    problems = check_delta_session(spark) + probe_storage(spark, env, pipeline)
    if not problems:
        problems = probe_delta(spark, env)
    if problems:
        say(f"preflight: FAILED {len(problems)} check(s)")
        return 1
    say(f"preflight: OK for {pipeline.dataset} in {env.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
