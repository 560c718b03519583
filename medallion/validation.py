"""Validation that needs Spark's parser: every SQL expression, DDL schema and gold query of a pipeline.

Schema-level checks (keys, names, actions…) happen in :mod:`medallion.config` before a JVM starts;
this module runs right after the session starts and before any write, so a bad expression fails
``medallion validate`` (and ``medallion run``) with exit 2 naming the file and key.
"""
from __future__ import annotations

from collections.abc import Iterator

from pyspark.sql import SparkSession

from medallion.config import PipelineConfig
from medallion.errors import ConfigError
from medallion.sql import error_summary

__all__ = ["pipeline_expressions", "validate_pipeline_sql"]


def pipeline_expressions(pipeline: PipelineConfig) -> Iterator[tuple[str, str, str]]:
    """The source schema and silver's SQL as ``(key, kind, text)``; kind is ``expr`` or ``schema``.

    Gold entries are checked by :func:`medallion.gold.validate_gold_table`, which owns their rules.
    """
    if pipeline.source.schema_ is not None:
        yield "source.schema", "schema", pipeline.source.schema_
    if pipeline.silver is not None:
        for name, text in pipeline.silver.columns.items():
            yield f"silver.columns.{name}", "expr", text
        for i, rule in enumerate(pipeline.silver.expectations):
            yield f"silver.expectations.{i}.expr ({rule.name})", "expr", rule.expr


def validate_pipeline_sql(spark: SparkSession, pipeline: PipelineConfig, *, file: str) -> int:
    """Parse every expression, schema and gold query of the pipeline with Spark's SQL parser.

    Returns:
        The number of pipeline sections checked.

    Raises:
        ConfigError: naming the file, the key and Spark's parse error.
    """
    from medallion.gold import validate_gold_table

    parser = spark._jsparkSession.sessionState().sqlParser()
    checked = 0
    for key, kind, text in pipeline_expressions(pipeline):
        try:
            if kind == "expr":
                parser.parseExpression(text)
            else:
                parser.parseTableSchema(text)
        except Exception as err:  # py4j wraps Spark's ParseException
            raise ConfigError(f"not a valid Spark SQL {kind}: {error_summary(err, lines=3)}", file=file, key=key) from None
        checked += 1
    for i, gold in enumerate(pipeline.gold):
        validate_gold_table(spark, gold, file=file, key=f"gold.{i} ({gold.table})")
        checked += 1
    return checked
