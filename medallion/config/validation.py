"""Config validation that needs Spark's parser: every SQL expression, DDL schema and gold query of a
pipeline. This module owns every use of Spark's SQL parser on configuration.

Schema-level checks (keys, names, actions…) happen in :mod:`medallion.config` before a JVM starts;
this module runs right after the session starts and before any write, so a bad expression fails
``medallion validate`` (and ``medallion run``) with exit 2 naming the file and key.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from pyspark.sql import SparkSession

from medallion.config import PipelineConfig
from medallion.config.gold import GoldTable
from medallion.errors import ConfigError, error_summary
from medallion.gold.references import bindable_sql, parse_references
from medallion.security.hardening import config_sql
from medallion.security.sandbox import SandboxError
from medallion.security.sandbox_config import analyse_pipeline
from medallion.security.sql_safety import UnsafeSqlError, check_expression, check_query

__all__ = ["SILVER_PLACEHOLDER", "pipeline_expressions", "validate_pipeline_sql", "validate_gold_sql", "validate_gold_table"]

SILVER_PLACEHOLDER = "silver"
"""The name of the placeholder for the silver table in a gold ``sql`` query: ``{silver}``."""
_SILVER_STAND_IN = "__medallion_silver__"


def pipeline_expressions(pipeline: PipelineConfig) -> Iterator[tuple[str, str, str]]:
    """The source schema and silver's SQL as ``(key, kind, text)``; kind is ``expr`` or ``schema``.

    Gold entries are checked by :func:`validate_gold_table`.
    """
    if pipeline.source.schema_ is not None:
        yield "source.schema", "schema", pipeline.source.schema_
    if pipeline.silver is not None:
        for name, text in pipeline.silver.columns.items():
            yield f"silver.columns.{name}", "expr", text
        for i, rule in enumerate(pipeline.silver.expectations):
            yield f"silver.expectations.{i}.expr ({rule.name})", "expr", rule.expr
        for i, check in enumerate(pipeline.silver.checks):
            if check.expr is not None:
                yield f"silver.checks.{i}.expr ({check.name})", "expr", check.expr
        if pipeline.silver.delete_when is not None:
            yield "silver.delete_when", "expr", pipeline.silver.delete_when


def validate_pipeline_sql(spark: SparkSession, pipeline: PipelineConfig, *, file: str) -> int:
    """Parse every expression, schema and gold query of the pipeline with Spark's SQL parser.

    Returns:
        The number of pipeline sections checked.

    Raises:
        ConfigError: naming the file, the key and Spark's parse error.
    """
    parser = _parser(spark)
    checked = 0
    for key, kind, text in pipeline_expressions(pipeline):
        _no_substitution(text, file=file, key=key)
        try:
            if kind == "expr":
                parsed = parser.parseExpression(text)
            else:
                parser.parseTableSchema(text)
        except Exception as err:  # py4j wraps Spark's ParseException
            raise ConfigError(f"not a valid Spark SQL {kind}: {error_summary(err, lines=3)}", file=file, key=key) from None
        if kind == "expr":
            _safe(lambda: check_expression(parsed, key, jvm=spark._jvm), file)  # noqa: B023 - called at once
        checked += 1
    for i, gold in enumerate(pipeline.gold):
        validate_gold_table(spark, gold, file=file, key=f"gold.{i} ({gold.table})")
        checked += 1
    with config_sql(spark):  # file relations and variable substitution off while config SQL is analysed
        _safe(lambda: analyse_pipeline(spark, pipeline), file)  # the analysed plans (medallion.security.sandbox)
    return checked


def _no_substitution(text: str, *, file: str | None, key: str) -> None:
    """Refuse ``${...}`` left in config SQL: Spark's variable substitution would read confs and env vars."""
    if "${" in text:
        raise ConfigError("'${' (Spark variable substitution) is not allowed in configuration SQL", file=file, key=key)


def validate_gold_sql(spark: SparkSession, gold: GoldTable, *, file: str | None = None, key: str | None = None) -> None:
    """Check that ``gold.sql`` is one SELECT query reading tables through ``{silver}``, ``{silver.NAME}``
    or ``{gold.NAME}``.

    Those placeholders are the only replacement fields allowed (other braces must be doubled, as in
    ``str.format``); the text is then parsed by Spark's SQL parser with the placeholder replaced by a
    dummy identifier. Nothing is executed.

    Raises:
        ConfigError: naming ``file`` / ``key`` (e.g. ``gold.0.sql``) and what is wrong.
    """
    if gold.sql is None:
        return
    key = key or f"gold[{gold.table}].sql"
    text, stand_ins = _with_dummy_tables(gold.sql, file=file, key=key)
    _no_substitution(text, file=file, key=key)  # after formatting: `${{env:X}}` becomes `${env:X}`
    parser = _parser(spark)
    try:
        plan = parser.parsePlan(text)
    except Exception as err:  # ParseException arrives as a captured py4j error
        raise ConfigError(f"not valid Spark SQL: {error_summary(err)}", file=file, key=key) from None
    try:
        query = parser.parseQuery(text)
    except Exception:
        query = None
    # parseQuery accepts a query prefix ("SELECT 1; DROP ..."), parsePlan any one statement: a single
    # SELECT is what both read the same way (expression ids aside).
    if query is None or _tree(plan) != _tree(query):
        raise ConfigError(
            f"must be a single SELECT query, got a {plan.getClass().getSimpleName()} statement", file=file, key=key
        )
    _safe(lambda: check_query(plan, key, allowed=stand_ins, jvm=spark._jvm), file)


def _safe(check: Any, file: str | None) -> None:
    """Run a :mod:`medallion.security.sql_safety` check, turning its refusal into a ConfigError (exit 2)."""
    try:
        check()
    except SandboxError as err:
        raise ConfigError(err.construct, file=file, key=err.key) from None
    except UnsafeSqlError as err:
        key, _, reason = str(err).partition(": ")
        raise ConfigError(reason, file=file, key=key) from None


def _with_dummy_tables(sql: str, *, file: str | None, key: str) -> tuple[str, list[str]]:
    """``sql`` with each placeholder replaced by a dummy identifier (``{silver}`` by `__medallion_silver__`),
    for parsing, and those identifiers (references are resolved across the project by :mod:`medallion.project`)."""
    try:
        refs = parse_references(sql)
    except ValueError as err:
        raise ConfigError(str(err), file=file, key=key) from None
    names = {ref.argument: f"__medallion_{ref.argument}__" for ref in refs}
    return bindable_sql(sql).format(**{arg: f"`{name}`" for arg, name in names.items()}), list(names.values())


def _tree(plan: Any) -> str:
    return re.sub(r"#\d+", "", str(plan.treeString()))


def validate_gold_table(
    spark: SparkSession, gold: GoldTable, *, file: str | None = None, key: str | None = None
) -> None:
    """Parse every expression of one gold entry (``sql`` or ``derive`` / ``measures`` / ``filter``; ``checks`` exprs).

    Args:
        spark: any session (only its SQL parser is used).
        gold: the entry.
        file: the pipeline file, for the error message.
        key: the entry's key prefix, e.g. ``gold.0``.

    Raises:
        ConfigError: the first expression that does not parse, naming its key.
    """
    prefix = key or f"gold[{gold.table}]"
    parser = _parser(spark)
    exprs = [(f"{prefix}.checks.{i}.expr ({c.name})", c.expr) for i, c in enumerate(gold.checks) if c.expr is not None]
    if gold.sql is not None:
        validate_gold_sql(spark, gold, file=file, key=f"{prefix}.sql")
    exprs += [(f"{prefix}.derive.{n}", e) for n, e in gold.derive.items()]
    exprs += [(f"{prefix}.measures.{n}", e) for n, e in gold.measures.items()]
    if gold.filter:
        exprs.append((f"{prefix}.filter", gold.filter))
    for where, expr in exprs:
        _no_substitution(expr, file=file, key=where)
        try:
            parsed = parser.parseExpression(expr)
        except Exception as err:
            raise ConfigError(f"not a valid Spark SQL expression: {error_summary(err)}", file=file, key=where) from None
        _safe(lambda: check_expression(parsed, where, jvm=spark._jvm), file)  # noqa: B023 - called at once


def _parser(spark: SparkSession) -> Any:
    """Spark's SQL parser (through the JVM): parses without resolving or running anything."""
    return spark._jsparkSession.sessionState().sqlParser()
