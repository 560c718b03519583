"""The Livy batch request body: what to run (:class:`BatchSpec`) and the body built from it.

Pure and free of any SDK, so CI can test it: :func:`build_payload` checks the spec and builds the
``SparkBatchJobOptions`` body (the job, the wheel, the configuration and the dependency archive, the
driver and executor sizes, the tags) that :class:`medallion.azure.livy.LivyClient` posts.

Example:
    >>> spec = BatchSpec(artifact_root="abfss://artifacts@acct.dfs.core.windows.net/medallion/42",
    ...                  layer="bronze", pipeline="orders", environment="dev",
    ...                  wheel="medallion-0.1.0-py3-none-any.whl")
    >>> build_payload(spec)["file"]
    'abfss://artifacts@acct.dfs.core.windows.net/medallion/42/jobs/bronze_job.py'
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from medallion.errors import ConfigError

__all__ = [
    "EXECUTOR_SIZES",
    "LAYER_JOBS",
    "CONF_ARCHIVE",
    "DEPS_ARCHIVE",
    "DEPS_ALIAS",
    "BatchSpec",
    "build_payload",
]

# Synapse node sizes as Livy sizes (cores, memory), the values Synapse Studio uses for job definitions.
EXECUTOR_SIZES: dict[str, tuple[int, str]] = {
    "Small": (4, "28g"),
    "Medium": (8, "56g"),
    "Large": (16, "112g"),
    "XLarge": (32, "224g"),
    "XXLarge": (64, "400g"),
}

LAYER_JOBS: dict[str, str] = {
    "preflight": "jobs/preflight_job.py",  # not a layer: dependencies and storage access, in seconds
    "bronze": "jobs/bronze_job.py",
    "silver": "jobs/silver_job.py",
    "gold": "jobs/gold_job.py",
    "check": "jobs/check_job.py",  # not a layer: the post-run data-quality checks (medallion check)
    "report": "jobs/report_job.py",  # not a layer: the HTML report of every pipeline (no --pipeline)
}
_NO_PIPELINE = frozenset({"report"})

CONF_ARCHIVE = "conf.zip"
CONF_ALIAS = "conf"
# The Python dependencies for the pool's platform (``medallion deps``), extracted next to the driver and
# every executor as ./deps and put on their PYTHONPATH: no package needs to be installed on the pool.
DEPS_ARCHIVE = "deps.zip"
DEPS_ALIAS = "deps"


@dataclass(frozen=True)
class BatchSpec:
    """What to run: one job of one pipeline from a published artifact folder.

    Attributes:
        artifact_root: the versioned folder ``medallion publish`` created (``abfss://...``).
        layer: a key of ``LAYER_JOBS``: ``preflight``, ``bronze``, ``silver``, ``gold``, ``check``, ``report``.
        pipeline: a pipeline name (``orders`` -> ``conf/pipelines/orders.yaml``) or a path inside conf/
            (``pipelines/orders.yaml`` or ``conf/pipelines/orders.yaml``); empty for ``report``.
        environment: the environment file name under ``conf/env``.
        wheel: the wheel's file name in ``artifact_root``, as Publish reported it (no default: one
            source of truth for the version).
        dependencies: the dependency archive's name in ``artifact_root``, or None to ship none.
        executor_size: a Synapse node size (see ``EXECUTOR_SIZES``); also used for the driver.
        executors: number of executors.
        conf: extra Spark settings.
        tags: extra batch tags.
        name: batch name; default ``medallion-{pipeline}-{layer}-{environment}``.
        extra_args: appended to the job's arguments (e.g. ``--all --out PATH`` for ``report``).
    """

    artifact_root: str
    layer: str
    pipeline: str
    environment: str
    wheel: str
    dependencies: str | None = DEPS_ARCHIVE
    executor_size: str = "Small"
    executors: int = 2
    conf: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    name: str | None = None
    extra_args: Sequence[str] = ()

    @property
    def pipeline_file(self) -> str:
        """The pipeline file as the driver sees it, relative to its working directory."""
        path = self.pipeline.strip().lstrip("./")
        if path.startswith(f"{CONF_ALIAS}/"):
            return path
        if "/" in path:
            return f"{CONF_ALIAS}/{path}"
        if not path.endswith((".yaml", ".yml")):
            path = f"{path}.yaml"
        return f"{CONF_ALIAS}/pipelines/{path}"

    @property
    def pipeline_name(self) -> str:
        if not self.pipeline.strip():
            return "all"
        return self.pipeline.rsplit("/", 1)[-1].removesuffix(".yaml").removesuffix(".yml")


def build_payload(spec: BatchSpec) -> dict[str, Any]:
    """The ``SparkBatchJobOptions`` body for one job run.

    ``conf/`` travels as ``conf.zip`` in ``archives`` with the alias ``conf``: YARN extracts it into the
    driver's working directory, so ``--conf-dir conf`` finds ``./conf``. The dependencies travel the same
    way as ``deps.zip#deps``, and ``spark.yarn.appMasterEnv.PYTHONPATH`` / ``spark.executorEnv.PYTHONPATH``
    put ``./deps`` on the driver's and the executors' Python path (Spark's own ``pyFiles`` entries are
    added to it by Spark).

    Raises:
        ConfigError: unknown job or executor size, a non-positive executor count, no wheel, or a
            pipeline missing (or given to ``report``).
    """
    if spec.layer not in LAYER_JOBS:
        raise ConfigError(f"unknown layer {spec.layer!r}; expected one of {sorted(LAYER_JOBS)}", key="layer")
    if spec.executor_size not in EXECUTOR_SIZES:
        raise ConfigError(
            f"unknown executor size {spec.executor_size!r}; expected one of {list(EXECUTOR_SIZES)}",
            key="executor_size",
        )
    if spec.executors < 1:
        raise ConfigError("executors must be at least 1", key="executors")
    if not spec.artifact_root.strip():
        raise ConfigError("artifact root is empty", key="artifact_root")
    if not spec.wheel.strip() or "/" in spec.wheel or not spec.wheel.endswith(".whl"):
        raise ConfigError(f"{spec.wheel!r} is not a wheel file name (Publish's output wheelName)", key="wheel")
    takes_pipeline = spec.layer not in _NO_PIPELINE
    if takes_pipeline != bool(spec.pipeline.strip()):
        raise ConfigError(f"{spec.layer} {'needs' if takes_pipeline else 'takes no'} --pipeline", key="pipeline")
    root = spec.artifact_root.rstrip("/")
    cores, memory = EXECUTOR_SIZES[spec.executor_size]
    name = spec.name or f"medallion-{spec.pipeline_name}-{spec.layer}-{spec.environment}"
    tags = {
        "medallion.pipeline": spec.pipeline_name,
        "medallion.layer": spec.layer,
        "medallion.environment": spec.environment,
        **{str(k): str(v) for k, v in spec.tags.items()},
    }
    archives = [f"{root}/{CONF_ARCHIVE}#{CONF_ALIAS}"]
    conf: dict[str, str] = {}
    if spec.dependencies:
        archives.append(f"{root}/{spec.dependencies}#{DEPS_ALIAS}")
        conf["spark.yarn.appMasterEnv.PYTHONPATH"] = DEPS_ALIAS
        conf["spark.executorEnv.PYTHONPATH"] = DEPS_ALIAS
    conf.update({str(k): str(v) for k, v in spec.conf.items()})
    args = ["--pipeline", spec.pipeline_file] if takes_pipeline else []
    args += ["--env", spec.environment, "--conf-dir", CONF_ALIAS, *map(str, spec.extra_args)]
    return {
        "name": name,
        "file": f"{root}/{LAYER_JOBS[spec.layer]}",
        "pyFiles": [f"{root}/{spec.wheel}"],
        "archives": archives,
        "args": args,
        "conf": conf,
        "driverMemory": memory,
        "driverCores": cores,
        "executorMemory": memory,
        "executorCores": cores,
        "numExecutors": spec.executors,
        "tags": tags,
    }
