"""The layers, as a registry: what each one runs, which tables it writes and which counts it reports.

The runner, the summary and the run log ask the registry; nothing else switches on a layer's name.
Run functions are imported when a layer runs, so a bronze-only run never imports silver or gold.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from medallion.config import LAYERS, PipelineConfig

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from medallion.audit.outcome import LayerOutcome, RunContext
    from medallion.config import EnvConfig

__all__ = ["Layer", "LayerFn", "REGISTRY", "get_layer", "layers_for"]


class LayerFn(Protocol):
    def __call__(self, spark: SparkSession, env: EnvConfig, pipeline: PipelineConfig, run: RunContext) -> LayerOutcome: ...


@dataclass(frozen=True)
class Layer:
    """One layer: its run function (``module:function``), whether a pipeline declares it, and the
    counts the summary shows for it beyond status / rows in / rows out."""

    name: str
    entry: str
    declared: Callable[[PipelineConfig], bool]
    counts: tuple[str, ...] = ()

    @property
    def run(self) -> LayerFn:
        module, function = self.entry.split(":")
        return getattr(importlib.import_module(module), function)  # type: ignore[no-any-return]

    def tables(self, pipeline: PipelineConfig) -> list[str]:
        """The ``layer/table`` names this layer writes for ``pipeline``."""
        return [f"{self.name}/{t}" for t in pipeline.table_names(self.name)]

    def label(self, pipeline: PipelineConfig) -> str:
        """The run log's ``table`` value: the layer's main table (gold: every table, comma-separated)."""
        names = pipeline.table_names(self.name)
        return ",".join(names) if self.name == "gold" else names[0]


REGISTRY: dict[str, Layer] = {
    layer.name: layer
    for layer in (
        Layer("bronze", "medallion.bronze.layer:run_bronze", lambda p: True, ("rows_corrupt", "files_ingested", "files_skipped")),
        Layer("silver", "medallion.silver.layer:run_silver", lambda p: p.silver is not None,
              ("rows_quarantined", "rows_superseded", "rows_deleted", "rows_warned")),
        Layer("gold", "medallion.gold.layer:run_gold", lambda p: bool(p.gold)),
    )
}
assert tuple(REGISTRY) == LAYERS


def get_layer(name: str) -> Layer:
    return REGISTRY[name]


def layers_for(pipeline: PipelineConfig, layer: str) -> list[str]:
    """The layers ``--layer`` selects that this pipeline declares (``all`` = bronze, silver, gold)."""
    wanted = list(REGISTRY) if layer == "all" else [layer]
    return [name for name in wanted if REGISTRY[name].declared(pipeline)]
