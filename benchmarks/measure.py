"""Measurement plumbing for the benchmarks: Spark jobs, source bytes read, JVM heap and process memory.

How each number is obtained (all in-process, no Spark UI or REST server needed):

- **Spark jobs**: every measured call runs under its own job group (``sc.setJobGroup``); afterwards
  ``sc.statusTracker().getJobIdsForGroup(group)`` lists the jobs it started, including the ones Delta
  starts on the JVM side from the same thread (snapshot reconstruction, MERGE, OPTIMIZE).
- **Source scans**: Hadoop keeps per-scheme I/O counters for every FileSystem in the JVM
  (``FileSystem.getAllStatistics()``). In ``local[N]`` mode the executors live in the driver JVM, so the
  bytes read during a call cover all of its tasks. ``bytes_read / source_bytes`` is the number of full
  passes over the source ("scan equivalents"): JSON is always read whole, so bronze's number is exact;
  Parquet reads only the columns needed, so a pruned pass counts below 1. Reads of cached data are not
  file reads and do not count; Delta log reads do count (small next to the data).
- **Peak JVM heap**: the peak usage of every heap memory pool (``MemoryPoolMXBean.getPeakUsage``),
  reset before each call and summed after it (an upper bound: pools peak at different moments).
- **Peak RSS**: ``VmHWM`` of the JVM process (the driver, which here also runs the executors) and
  ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` of the Python driver, both since process start.
"""
from __future__ import annotations

import resource
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession

__all__ = ["Measurement", "Meter", "median", "dir_bytes"]

_GROUP_IDS = count(1)


@dataclass
class Measurement:
    """What one measured call cost."""

    seconds: float = 0.0
    jobs: int = 0
    stages: int = 0
    tasks: int = 0
    bytes_read: int = 0
    read_ops: int = 0
    heap_peak_bytes: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else 0.0


def dir_bytes(path: str | Path) -> int:
    """Total size of a table's data files under ``path`` (``_delta_log``, hidden and ``.crc`` files excluded)."""
    root = Path(path)
    total = 0
    for p in root.rglob("*"):
        rel = p.relative_to(root).parts
        if not p.is_file() or rel[0] == "_delta_log" or any(part.startswith(".") for part in rel):
            continue
        if not p.name.endswith(".crc"):
            total += p.stat().st_size
    return total


class Meter:
    """Measures calls on one SparkSession."""

    def __init__(self, spark: SparkSession) -> None:
        self.spark = spark
        self.sc = spark.sparkContext
        self.jvm = self.sc._jvm
        assert self.jvm is not None
        mf = self.jvm.java.lang.management.ManagementFactory
        heap = self.jvm.java.lang.management.MemoryType.HEAP
        self._heap_pools = [p for p in mf.getMemoryPoolMXBeans() if p.getType().equals(heap)]
        self.jvm_pid = int(self.jvm.java.lang.ProcessHandle.current().pid())
        self.jvm_max_heap = int(self.jvm.java.lang.Runtime.getRuntime().maxMemory())

    # ----------------------------------------------------------------- counters

    def _fs_counters(self) -> tuple[int, int]:
        read = ops = 0
        for stats in self.jvm.org.apache.hadoop.fs.FileSystem.getAllStatistics():
            if stats.getScheme() in ("file", "abfss", "abfs", "hdfs"):
                read += int(stats.getBytesRead())
                ops += int(stats.getReadOps())
        return read, ops

    def _reset_heap_peak(self) -> None:
        self.jvm.java.lang.System.gc()
        for pool in self._heap_pools:
            pool.resetPeakUsage()

    def _heap_peak(self) -> int:
        return sum(int(pool.getPeakUsage().getUsed()) for pool in self._heap_pools)

    def jvm_peak_rss_bytes(self) -> int | None:
        """Peak resident set of the JVM process (Linux ``VmHWM``), or None where /proc is unavailable."""
        try:
            for line in Path(f"/proc/{self.jvm_pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            return None
        return None

    @staticmethod
    def python_peak_rss_bytes() -> int:
        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024

    # ----------------------------------------------------------------- measuring

    @contextmanager
    def measure(self, label: str) -> Iterator[Measurement]:
        """Measure the block: wall seconds, jobs, stages, tasks, bytes read, peak heap."""
        m = Measurement()
        group = f"bench-{next(_GROUP_IDS)}-{label}"
        self._reset_heap_peak()
        read0, ops0 = self._fs_counters()
        self.sc.setJobGroup(group, label)
        start = time.perf_counter()
        try:
            yield m
        finally:
            m.seconds = time.perf_counter() - start
            self.sc.setLocalProperty("spark.jobGroup.id", None)  # type: ignore[arg-type]
            self.sc.setLocalProperty("spark.job.description", None)  # type: ignore[arg-type]
            read1, ops1 = self._fs_counters()
            m.bytes_read, m.read_ops = read1 - read0, ops1 - ops0
            m.heap_peak_bytes = self._heap_peak()
            tracker = self.sc.statusTracker()
            job_ids = tracker.getJobIdsForGroup(group)
            m.jobs = len(job_ids)
            stage_ids: set[int] = set()
            for jid in job_ids:
                info = tracker.getJobInfo(jid)
                if info is not None:
                    stage_ids.update(info.stageIds)
            m.stages = len(stage_ids)
            for sid in stage_ids:
                sinfo = tracker.getStageInfo(sid)
                if sinfo is not None:
                    m.tasks += int(sinfo.numTasks)

    def time(self, label: str, fn: Callable[[], Any]) -> tuple[Measurement, Any]:
        """Run ``fn`` under :meth:`measure`; return the measurement and ``fn``'s result."""
        with self.measure(label) as m:
            out = fn()
        return m, out
