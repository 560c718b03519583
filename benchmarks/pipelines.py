"""The pipeline the benchmarks run: the sample ``conf/pipelines/orders.yaml`` doing the steps its
baselines do.

The bare-Spark baselines and lakehouse-engine run no declared table checks (``checks:``, added to the
sample in round 2), so the benchmarks run the sample without them: the same cleansing, expectations,
dead-letter table, MERGE and gold aggregate, minus the checks. What the checks cost is measured apart
(``python -m benchmarks.peer --with-checks`` runs the sample as it is).

``deletion_vectors=True`` opts silver into deletion vectors (the O(touched rows) incremental MERGE).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

__all__ = ["SAMPLE", "same_steps_pipeline"]

SAMPLE = Path(__file__).resolve().parents[1] / "conf" / "pipelines" / "orders.yaml"


def same_steps_pipeline(work: Path, *, deletion_vectors: bool = False, source: Path = SAMPLE) -> Path:
    """Write ``source`` without its ``checks:`` (silver and every gold table) into ``work``; its path."""
    spec: dict[str, Any] = yaml.safe_load(source.read_text(encoding="utf-8"))
    silver = spec.get("silver") or {}
    silver.pop("checks", None)
    if deletion_vectors:
        silver["deletion_vectors"] = True
    for gold in spec.get("gold") or []:
        gold.pop("checks", None)
    work.mkdir(parents=True, exist_ok=True)
    path = work / f"{source.stem}{'-dv' if deletion_vectors else ''}-bench.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path
