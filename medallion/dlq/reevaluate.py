"""Dead letters re-evaluated under the current config, as silver would evaluate them now (pure transforms).

A corrupt record is first re-parsed from its raw text with the current source settings
(:func:`reparse_corrupt`); then every row goes through silver's own :func:`~medallion.silver.prepare.prepare`
and the versions of each key are ranked (:func:`evaluate`). :mod:`medallion.dlq.replay` writes the result.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import reduce

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType, _parse_datatype_string

from medallion.audit.outcome import RunContext
from medallion.columns import (
    CORRUPT_RECORD,
    DLQ_STATUS_COLUMNS,
    FAILED_RULES,
    PARSED,
    PREVIOUS_RULES,
    QUARANTINE_RUN_ID,
    QUARANTINED,
    QUARANTINED_AT,
    RANK,
    SOURCE_STRUCT,
    WARNED,
    reserved,
)
from medallion.config import PipelineConfig, SourceConfig
from medallion.silver.merge import rank_versions
from medallion.silver.prepare import merge_spec, prepare
from medallion.sql import column, quote_identifier

__all__ = ["evaluate", "reparse_corrupt"]


def reparse_corrupt(source: SourceConfig) -> Callable[[DataFrame], DataFrame] | None:
    """A transform re-parsing dead letters' ``_corrupt_record`` text with the current source settings.

    Source columns are replaced by the parsed values (typed by ``source.schema`` when declared, else
    every column of the dead-letter table as a STRING, as bronze reads them); ``_corrupt_record`` keeps
    the text only when it still does not parse. None when the format's records cannot be re-parsed
    from text (parquet; CSV without a declared schema, whose columns come from each file's header).
    """
    if source.format == "parquet" or (source.format == "csv" and source.schema_ is None):
        return None
    options = {**source.options, "mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT_RECORD}

    def transform(df: DataFrame) -> DataFrame:
        if source.schema_ is not None:
            declared = _parse_datatype_string(source.schema_)
            fields = [f for f in declared.fields if f.name != CORRUPT_RECORD]
        else:
            fields = [StructField(c, StringType()) for c in df.columns if not reserved([c])]
        schema = StructType([*fields, StructField(CORRUPT_RECORD, StringType())])
        raw = F.col(CORRUPT_RECORD)
        parsed = F.from_json(raw, schema, options) if source.format == "json" else F.from_csv(raw, schema.simpleString(), options)
        names = {f.name for f in fields}
        kept = [column(c) for c in df.columns if c not in names and c != CORRUPT_RECORD]
        # A record that does not parse at all comes back as a null struct: its text stays corrupt.
        still_corrupt = F.when(F.col(PARSED).isNull(), raw).otherwise(F.col(f"{PARSED}.{quote_identifier(CORRUPT_RECORD)}"))
        return df.withColumn(PARSED, parsed).select(
            *[F.col(f"{PARSED}.{quote_identifier(f.name)}").alias(f.name) for f in fields],
            still_corrupt.alias(CORRUPT_RECORD),
            *kept,
        )

    return transform


def evaluate(pipeline: PipelineConfig, dead: DataFrame, run: RunContext) -> DataFrame:
    """Dead-letter rows re-evaluated under ``pipeline`` as silver would evaluate them now.

    Returns silver's MERGE columns, ``_failed_rules``, ``_quarantined``, ``_warned``, ``_rank`` (1 = the
    newest passing version of its key among the replayed rows) and ``_previous_rules`` (the reasons the
    row had before).
    """
    silver = pipeline.silver
    assert silver is not None
    spec = merge_spec(silver)
    bronze = dead.drop(*[c for c in (*DLQ_STATUS_COLUMNS, QUARANTINE_RUN_ID, QUARANTINED_AT) if c in dead.columns])
    bronze = bronze.withColumnRenamed(FAILED_RULES, PREVIOUS_RULES)
    reparse = reparse_corrupt(pipeline.source)
    parts = [bronze]
    if reparse is not None and CORRUPT_RECORD in bronze.columns:
        corrupt = F.col(CORRUPT_RECORD).isNotNull()
        parts = [bronze.where(~corrupt), bronze.where(corrupt).transform(reparse)]
    keep = [*[quote_identifier(c) for c in spec.columns], FAILED_RULES, QUARANTINED, WARNED,
            F.col(f"{SOURCE_STRUCT}.{PREVIOUS_RULES}").alias(PREVIOUS_RULES)]
    # Each part is prepared on its own (a re-parsed part may have other source types), then ranked together.
    prepared = [p.transform(prepare(silver, run_id=run.run_id, now=run.now)).select(*keep) for p in parts]
    together = reduce(lambda a, b: a.unionByName(b), prepared)
    return together.transform(rank_versions(spec, column=RANK, within=(QUARANTINED,)))
