"""Typed configuration: the environment file and the pipeline file of the contract.

Both files are YAML, loaded safely (duplicate keys rejected), with ``${VAR}`` expanded from the process
environment (:mod:`medallion.config.loading`), then validated by the frozen pydantic models here, which
forbid unknown keys. Every problem is
raised as :class:`~medallion.errors.ConfigError` naming the file and the key. Nothing here starts a
JVM: SQL expressions are parsed later by :mod:`medallion.config.validation`.

The models of the pipeline file's ``gold:`` entries and of the ``checks:`` lists (silver's and each gold
table's) are in :mod:`medallion.config.gold`; the frozen base model and the field types all models share
are in :mod:`medallion.config.base`.

Example:
    >>> env = load_env("conf/env/local.yaml")
    >>> pipeline = load_pipeline("conf/pipelines/orders.yaml")
    >>> env.table_path("bronze", pipeline.bronze.table)  # relative roots are made absolute
    '/work/main/.lakehouse/bronze/orders'
"""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from medallion.columns import SILVER_AUDIT, reserved
from medallion.config.base import ConfigModel, Identifier, SqlText
from medallion.config.gold import GoldTable, TableChecks
from medallion.config.observe import CircuitBreakerConfig, LineageConfig, NotifyTarget
from medallion.config.table_features import Consumer

# The public names are listed (and re-exported) by medallion.config.


LayerName = Literal["bronze", "silver", "gold"]
LAYERS: tuple[LayerName, ...] = ("bronze", "silver", "gold")

_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def _scalar_to_str(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return value


def _strings(value: Any) -> Any:
    # YAML reads `4` and `true` as numbers and booleans; Spark settings and reader options are strings.
    if isinstance(value, Mapping):
        return {str(k): _scalar_to_str(v) for k, v in value.items()}
    return value


StringMap = Annotated[dict[str, str], BeforeValidator(_strings)]


def is_uri(path: str) -> bool:
    """True for ``abfss://``, ``file://`` and other URI-style paths."""
    return bool(_URI.match(path))


def join_path(root: str, *parts: str) -> str:
    """Join path segments for local paths and URIs alike (no ``os.sep`` surprises on ``abfss://``)."""
    out = root.rstrip("/")
    for part in parts:
        out = f"{out}/{part.strip('/')}"
    return out


# --------------------------------------------------------------------------- environment file


class MaintenanceConfig(ConfigModel):
    """Table maintenance settings (``medallion maintain``)."""

    vacuum_retention_hours: int = Field(default=168, ge=0)
    allow_unsafe_retention: bool = False


class SourcesConfig(ConfigModel):
    """Where pipeline files may read from (``sources.allowed_roots``; default: the landing root)."""

    allowed_roots: list[SqlText] | None = Field(default=None, min_length=1)


class EnvConfig(ConfigModel):
    """``conf/env/NAME.yaml``: where landing files arrive and where Delta tables live."""

    name: Identifier
    landing_root: SqlText
    lakehouse_root: SqlText
    spark: StringMap = Field(default_factory=dict)
    maintenance: MaintenanceConfig = Field(default_factory=MaintenanceConfig)
    lineage: LineageConfig | None = None  # OpenLineage events (medallion.observe.lineage); off when absent
    notify: list[NotifyTarget] = Field(default_factory=list)  # webhook alerts (medallion.observe.alerts)
    circuit_breaker: CircuitBreakerConfig | None = None  # off unless set (medallion.observe.breaker)
    sources: SourcesConfig = Field(default_factory=SourcesConfig)
    #: Engines besides Spark that read these tables; ``validate`` warns on features they cannot read.
    consumers: list[Consumer] = Field(default_factory=list)

    @field_validator("landing_root", "lakehouse_root")
    @classmethod
    def _absolute(cls, value: str) -> str:
        # Local relative paths are taken from the current directory once, here, so Spark and Delta
        # never see a relative path (Delta's table builder rejects them).
        return value if is_uri(value) else os.path.abspath(value)

    def table_path(self, layer: str, table: str) -> str:
        """``{lakehouse_root}/{layer}/{table}``."""
        return join_path(self.lakehouse_root, layer, table)

    @property
    def run_log_path(self) -> str:
        """The run log table: ``{lakehouse_root}/_audit/runs``."""
        return join_path(self.lakehouse_root, "_audit", "runs")

    @property
    def checks_path(self) -> str:
        """The history of declared table checks: ``{lakehouse_root}/_audit/checks``."""
        return join_path(self.lakehouse_root, "_audit", "checks")

    @property
    def files_path(self) -> str:
        """The record of landing files bronze dealt with: ``{lakehouse_root}/_audit/files``."""
        return join_path(self.lakehouse_root, "_audit", "files")

    def resolve_landing(self, path: str) -> str:
        """A source path relative to ``landing_root``, unless it is absolute or a URI."""
        if is_uri(path) or os.path.isabs(path):
            return path
        return join_path(self.landing_root, path)


# --------------------------------------------------------------------------- pipeline file


class SourceConfig(ConfigModel):
    """Where the raw files are and how to read them."""

    format: Literal["json", "csv", "parquet"]
    path: SqlText
    source_system: SqlText
    options: StringMap = Field(default_factory=dict)
    schema_: str | None = Field(default=None, alias="schema")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("options")
    @classmethod
    def _no_reader_overrides(cls, value: dict[str, str]) -> dict[str, str]:
        reserved = {"mode", "columnnameofcorruptrecord"} & {k.lower() for k in value}
        if reserved:
            raise ValueError(
                f"options {sorted(reserved)} are set by medallion (PERMISSIVE, _corrupt_record) and cannot be overridden"
            )
        return value


class BronzeConfig(ConfigModel):
    """The bronze table, and what to do with landing files that are unreadable or re-delivered."""

    table: Identifier
    #: More unreadable (quarantined) files than this in one run fail it, with nothing ingested.
    #: None (default): no limit; they are quarantined and the rest is ingested.
    max_unreadable_files: int | None = Field(default=None, ge=0)
    #: A file re-delivered under an ingested name with another size or modification time:
    #: ``skip`` (default: warn, keep the first delivery) or ``ingest`` (its records again, as new versions).
    redeliveries: Literal["skip", "ingest"] = "skip"


class Expectation(ConfigModel):
    """A data-quality rule: a row passes only where ``expr`` is true (null fails)."""

    name: Identifier
    expr: SqlText
    action: Literal["warn", "drop", "fail"]


class SilverConfig(ConfigModel):
    """Cleansing, expectations, dead-letter table and the newest-wins MERGE."""

    table: Identifier
    keys: list[Identifier] = Field(min_length=1)
    sequence_by: Identifier
    columns: dict[Identifier, SqlText] = Field(min_length=1)
    expectations: list[Expectation] = Field(default_factory=list)
    dlq_table: Identifier | None = None
    max_quarantine_fraction: float | None = Field(default=None, ge=0.0, le=1.0)
    deletion_vectors: bool = Field(
        default=False,
        description="Opt-in: Delta deletion vectors on the silver table, so an incremental MERGE marks changed "
        "rows instead of rewriting every file holding a touched key. Raises the table protocol: Synapse Spark "
        "3.4+/Fabric read it, Synapse serverless SQL does not.",
    )
    checks: TableChecks = Field(default_factory=list)
    # --- history and deletes (docs/CONTRACT-extensions.md)
    history: Literal["latest", "scd2"] = "latest"
    track_columns: list[Identifier] | None = None
    ignore_columns: list[Identifier] = Field(default_factory=list)
    delete_when: SqlText | None = None

    @model_validator(mode="after")
    def _check_references(self) -> SilverConfig:
        clash = reserved(self.columns)
        if clash:
            raise ValueError(f"columns {clash} start with '_', which is reserved for medallion's audit columns")
        unknown = [k for k in self.keys if k not in self.columns]
        if unknown:
            raise ValueError(f"keys {unknown} are not among the output columns {list(self.columns)}")
        if len(set(self.keys)) != len(self.keys):
            raise ValueError(f"keys {self.keys} repeat a column")
        if self.sequence_by not in self.columns:
            raise ValueError(f"sequence_by {self.sequence_by!r} is not among the output columns {list(self.columns)}")
        names = [e.name for e in self.expectations]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"expectation names {repeated} are used more than once")
        if self.dlq_table is not None and self.dlq_table == self.table:
            raise ValueError("dlq_table must differ from table")
        known = [*self.columns, *SILVER_AUDIT]
        for i, check in enumerate(self.checks):
            named = [*(check.unique or []), *(check.not_null or []), *([check.freshness.column] if check.freshness else [])]
            missing = [c for c in named if c not in known]
            if missing:
                raise ValueError(f"checks.{i} ({check.name}): columns {missing} are not silver columns {known}")
        self._check_history()
        return self

    def _check_history(self) -> None:
        """``history`` / ``track_columns`` / ``ignore_columns`` name output columns that can change."""
        if self.history != "scd2" and (self.track_columns is not None or self.ignore_columns):
            raise ValueError("track_columns and ignore_columns apply to history: scd2 only")
        if self.track_columns is not None and self.ignore_columns:
            raise ValueError("give track_columns or ignore_columns, not both")
        fixed = {*self.keys, self.sequence_by}
        for key, names in (("track_columns", self.track_columns or []), ("ignore_columns", self.ignore_columns)):
            unknown = [c for c in names if c not in self.columns]
            if unknown:
                raise ValueError(f"{key} {unknown} are not among the output columns {list(self.columns)}")
            bad = [c for c in names if c in fixed]
            if bad:
                raise ValueError(f"{key} {bad} are keys or sequence_by, which never count as a change")
        if self.track_columns is not None and not self.track_columns:
            raise ValueError("track_columns must name at least one column")
        if self.dlq in (self.events_table, self.tombstone_table):
            raise ValueError(f"dlq_table {self.dlq!r} clashes with a table silver keeps for history or deletes")

    @property
    def tracked(self) -> list[str]:
        """scd2: the columns whose change makes a new version (default: every output column but keys
        and ``sequence_by``, less ``ignore_columns``)."""
        if self.track_columns is not None:
            return list(self.track_columns)
        fixed = {*self.keys, self.sequence_by, *self.ignore_columns}
        return [c for c in self.columns if c not in fixed]

    @property
    def events_table(self) -> str:
        """scd2: every valid version and delete ever read (``{table}_events``), to re-cut chains."""
        return f"{self.table}_events"

    @property
    def tombstone_table(self) -> str:
        """latest + ``delete_when``: the newest delete of each deleted key (``{table}_tombstones``)."""
        return f"{self.table}_tombstones"

    @property
    def side_tables(self) -> list[str]:
        """Tables silver keeps besides its own and the dead-letter table (history events, tombstones)."""
        if self.history == "scd2":
            return [self.events_table]
        return [self.tombstone_table] if self.delete_when is not None else []

    @property
    def dlq(self) -> str:
        """The dead-letter table name (default ``{table}_dlq``)."""
        return self.dlq_table or f"{self.table}_dlq"


class PipelineConfig(ConfigModel):
    """One dataset's pipeline file."""

    dataset: Identifier
    source: SourceConfig
    bronze: BronzeConfig
    silver: SilverConfig | None = None
    gold: list[GoldTable] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check_tables(self) -> PipelineConfig:
        if self.gold and self.silver is None:
            raise ValueError("gold tables need a silver section to read from")
        names = [g.table for g in self.gold]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"gold tables {repeated} are declared more than once")
        return self

    def table_names(self, layer: str) -> list[str]:
        """The tables ``layer`` writes for this pipeline (silver: its table, then the dead-letter table)."""
        if layer == "bronze":
            return [self.bronze.table]
        if layer == "silver":
            return [self.silver.table, self.silver.dlq, *self.silver.side_tables] if self.silver is not None else []
        return [g.table for g in self.gold]

    def tables(self, env: EnvConfig) -> dict[str, str]:
        """Every Delta table this pipeline writes, as ``{"layer/name": path}``."""
        return {f"{layer}/{t}": env.table_path(layer, t) for layer in LAYERS for t in self.table_names(layer)}
