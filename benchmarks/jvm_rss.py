"""Peak resident memory of the JVM a benchmark process starts (Linux ``/proc``, no dependency).

A Python driver starts its JVM as a child (``spark-submit`` -> ``java``); when the process ends the JVM
is often not reaped by it, so ``getrusage(RUSAGE_CHILDREN)`` misses it. :func:`run_measured` polls the
process tree instead and keeps the largest ``VmHWM`` (the kernel's own high-water mark of the resident
set, so a peak between two polls is not missed) of any ``java`` process in it.
"""
from __future__ import annotations

import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["run_measured"]

_PROC = Path("/proc")


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for stat in _PROC.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        tree.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    return tree


def _java_hwm_kib(root: int) -> int:
    tree, peak, todo = _children(), 0, [root]
    while todo:
        pid = todo.pop()
        todo.extend(tree.get(pid, []))
        try:
            status = (_PROC / str(pid) / "status").read_text()
        except OSError:
            continue
        lines = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if lines.get("Name", "").strip() == "java" and "VmHWM" in lines:
            peak = max(peak, int(lines["VmHWM"].split()[0]))
    return peak


def run_measured(cmd: Sequence[str], *, poll: float = 0.25, timeout: float = 3600,
                 **popen: Any) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run ``cmd`` (text mode, output captured) and return it with its JVM's peak RSS in MiB (0 if none)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)
    peak = [0]
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(poll):
            peak[0] = max(peak[0], _java_hwm_kib(proc.pid))

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        stop.set()
        watcher.join()
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err), round(peak[0] / 1024, 1)
