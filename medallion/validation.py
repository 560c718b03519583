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

__all__ = ["pipeline_expressions", "validate_pipeline_sql"]


def pipeline_expressions(pipeline: PipelineConfig) -> Iterator[tuple[str, str, str]]:
    """Every piece of user SQL as ``(key, kind, text)``; kind is ``expr``, ``schema`` or ``query``."""
    if pipeline.source.schema_ is not None:
        yield "source.schema", "schema", pipeline.source.schema_
    if pipeline.silver is not None:
        for name, text in pipeline.silver.columns.items():
            yield f"silver.columns.{name}", "expr", text
        for i, rule in enumerate(pipeline.silver.expectations):
            yield f"silver.expectations.{i}.expr ({rule.name})", "expr", rule.expr
    for i, gold in enumerate(pipeline.gold):
        where = f"gold.{i} ({gold.table})"
        for name, text in gold.derive.items():
            yield f"{where}.derive.{name}", "expr", text
        if gold.filter is not None:
            yield f"{where}.filter", "expr", gold.filter
        for name, text in gold.measures.items():
            yield f"{where}.measures.{name}", "expr", text
        if gold.sql is not None:
            yield f"{where}.sql", "query", gold.sql


def validate_pipeline_sql(spark: SparkSession, pipeline: PipelineConfig, *, file: str) -> int:
    """Parse every expression with Spark's SQL parser.

    Returns:
        The number of pieces of SQL checked.

    Raises:
        ConfigError: naming the file, the key and Spark's parse error.
    """
    parser = spark._jsparkSession.sessionState().sqlParser()
    checked = 0
    for key, kind, text in pipeline_expressions(pipeline):
        try:
            if kind == "expr":
                parser.parseExpression(text)
            elif kind == "schema":
                parser.parseTableSchema(text)
            else:
                _check_query(spark, parser, text)
        except ConfigError as err:
            raise ConfigError(str(err), file=file, key=key) from None
        except Exception as err:  # py4j wraps Spark's ParseException
            raise ConfigError(f"does not parse: {_first_line(err)}", file=file, key=key) from None
        checked += 1
    return checked


def _check_query(spark: SparkSession, parser, text: str) -> None:  # type: ignore[no-untyped-def]
    """A gold ``sql`` must be one SELECT query over ``{silver}``; DDL/DML and commands are refused."""
    plan = parser.parsePlan(text.replace("{silver}", "`__medallion_silver__`"))
    names = {plan.getClass().getSimpleName()}
    node = plan
    while node.children().size() > 0:
        node = node.children().head()
        names.add(node.getClass().getSimpleName())
    if any(n.endswith(("Command", "Statement")) or n.startswith(("Create", "Drop", "Insert", "Alter")) for n in names):
        raise ConfigError(f"must be a single SELECT query, got {plan.getClass().getSimpleName()}")


def _first_line(err: Exception) -> str:
    text = str(getattr(err, "desc", None) or err).strip()
    lines = [line for line in text.splitlines() if line.strip()]
    return " ".join(lines[:3])[:500]
