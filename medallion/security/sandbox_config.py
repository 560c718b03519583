"""A pipeline's configuration SQL analysed against stand-in inputs at validation (before any write).

Each expression and gold query is bound to empty DataFrames standing in for its inputs (the source's
declared schema where there is one; otherwise every column the text names, typed NULL, which Spark
coerces to any type), analysed, and checked by :func:`medallion.security.sandbox.check_plan`. Text that does not
analyse against the stand-ins (a join whose unqualified columns are ambiguous, a struct field of a
column whose type is unknown) is still held by the parse-level checks of :mod:`medallion.security.sql_safety`,
and its real plan by :func:`medallion.security.sandbox.guard_frame` before the layer writes.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Any

from py4j.protocol import Py4JError
from pyspark.errors import PySparkException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import NullType, StructField, StructType, _parse_datatype_string

from medallion.columns import SILVER_AUDIT
from medallion.config import PipelineConfig
from medallion.config.gold import GoldTable
from medallion.gold.references import bindable_sql, parse_references
from medallion.security.sandbox import SandboxError, check_plan, plan_of

__all__ = ["analyse_pipeline"]

log = logging.getLogger(__name__)

_ATTRIBUTE = "UnresolvedAttribute"
_NOT_ANALYSABLE = (PySparkException, Py4JError)


def _names(parsed: Any, jvm: Any) -> set[str]:
    """Every column name a parsed expression or plan mentions (first and last name parts)."""
    plan_class = jvm.java.lang.Class.forName("org.apache.spark.sql.catalyst.plans.logical.LogicalPlan")
    subquery = jvm.java.lang.Class.forName("org.apache.spark.sql.catalyst.expressions.SubqueryExpression")
    out: set[str] = set()
    stack = [parsed]
    while stack:
        node = stack.pop()
        if node.getClass().getSimpleName() == _ATTRIBUTE:
            parts = [str(p) for p in _seq(node.nameParts())]
            out.update({parts[0], parts[-1]})
        stack.extend(_seq(node.children()))
        if plan_class.isInstance(node):
            stack.extend(_seq(node.expressions()))
            stack.extend(p for p in _seq(node.innerChildren()) if plan_class.isInstance(p))
        elif subquery.isInstance(node):
            stack.append(node.plan())
    return out


#: Analysis errors that mean the text names a relation the stand-ins do not provide.
_READS_OUTSIDE = frozenset({"TABLE_OR_VIEW_NOT_FOUND", "PATH_NOT_FOUND", "UNSUPPORTED_DATASOURCE_FOR_DIRECT_QUERY",
                            "UNSUPPORTED_FEATURE.TABLE_OPERATION", "REQUIRES_SINGLE_PART_NAMESPACE"})


def _error_class(err: BaseException) -> str:
    getter = getattr(err, "getErrorClass", None) or getattr(err, "getCondition", None)
    try:
        return str(getter()) if getter is not None else type(err).__name__
    except Exception:  # noqa: BLE001 - a py4j error without a class
        return type(err).__name__


def _seq(scala_seq: Any) -> Iterator[Any]:
    for i in range(scala_seq.size()):
        yield scala_seq.apply(i)


def _stand_in(spark: SparkSession, names: Iterable[str], known: StructType | None = None) -> DataFrame:
    fields = list(known.fields) if known is not None else []
    taken = {f.name.lower() for f in fields}
    fields += [StructField(n, NullType()) for n in sorted(set(names)) if n.lower() not in taken]
    return spark.createDataFrame([], StructType(fields or [StructField("_", NullType())]))


def _check(spark: SparkSession, key: str, frames: Iterable[Any], inputs: list[DataFrame], *, per_row: bool) -> None:
    """Analyse the first of ``frames`` (thunks) that analyses; check its plan. None analyses: parse checks hold."""
    for build in frames:
        try:
            plan = plan_of(build())
        except _NOT_ANALYSABLE as err:
            reason = _error_class(err)
            if reason in _READS_OUTSIDE:  # a relation that is not a stand-in: a table, a file, a self-referencing CTE
                raise SandboxError(key, f"reads a table or file that is not one of its inputs ({reason})") from None
            log.debug("%s: not analysable against stand-ins (%s)", key, reason)
            continue
        check_plan(plan, key, inputs=[plan_of(i) for i in inputs], per_row=per_row, jvm=spark._jvm)
        return


def _expression(spark: SparkSession, key: str, text: str, known: StructType | None) -> None:
    parser = spark._jsparkSession.sessionState().sqlParser()
    df = _stand_in(spark, _names(parser.parseExpression(text), spark._jvm), known)
    _check(spark, key, [lambda: df.select(F.expr(text)), lambda: df.agg(F.expr(text))], [df], per_row=True)


def _gold_sql(spark: SparkSession, key: str, gold: GoldTable) -> None:
    assert gold.sql is not None
    refs = parse_references(gold.sql)
    text = bindable_sql(gold.sql)
    names_text = text.format(**{r.argument: "`__stand_in__`" for r in refs})
    parser = spark._jsparkSession.sessionState().sqlParser()
    names = _names(parser.parsePlan(names_text), spark._jvm)
    frames = {r.argument: _stand_in(spark, names) for r in refs}
    _check(spark, key, [lambda: spark.sql(text, **frames)], list(frames.values()), per_row=False)


def analyse_pipeline(spark: SparkSession, pipeline: PipelineConfig) -> None:
    """Analyse every expression and gold query of ``pipeline`` against stand-ins and check the plans.

    Raises:
        SandboxError: the first key whose analysed plan leaves the sandbox.
    """
    from medallion.config.validation import pipeline_expressions

    known = None
    if pipeline.source.schema_ is not None:
        parsed = _parse_datatype_string(pipeline.source.schema_)
        known = parsed if isinstance(parsed, StructType) else None
    for key, kind, text in pipeline_expressions(pipeline):
        if kind == "expr":
            _expression(spark, key, text, known)
    silver_columns = [*pipeline.silver.columns, *SILVER_AUDIT] if pipeline.silver is not None else []
    for i, gold in enumerate(pipeline.gold):
        prefix = f"gold.{i} ({gold.table})"
        if gold.sql is not None:
            _gold_sql(spark, f"{prefix}.sql", gold)
        exprs = [(f"{prefix}.derive.{n}", e) for n, e in gold.derive.items()]
        exprs += [(f"{prefix}.measures.{n}", e) for n, e in gold.measures.items()]
        exprs += [(f"{prefix}.filter", gold.filter)] if gold.filter else []
        exprs += [(f"{prefix}.checks.{j}.expr ({c.name})", c.expr) for j, c in enumerate(gold.checks) if c.expr]
        base = _stand_in(spark, silver_columns)
        for key, text in exprs:
            _expression(spark, key, text, base.schema)


__all__ += ["SandboxError"]
