"""Spark job entry file for the preflight batch: fails in seconds, naming what a real run would trip on.

Usage:
    spark-submit --py-files medallion-*.whl --archives deps.zip#deps jobs/preflight_job.py \\
        --pipeline conf/pipelines/P.yaml --env NAME [--conf-dir DIR]

1. imports every Python dependency and prints its version (a missing one is named, with the fix);
2. lists the pipeline's landing folder under ``landing_root``;
3. writes and deletes a probe file under ``lakehouse_root``/_preflight (the folder stays: preflights of
   several datasets run at once, and one removing the shared folder would fail another's write).

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
    ("medallion", "medallion"),
)
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
    problems = probe_storage(spark, env, pipeline)
    if problems:
        say(f"preflight: FAILED {len(problems)} storage check(s)")
        return 1
    say(f"preflight: OK for {pipeline.dataset} in {env.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
