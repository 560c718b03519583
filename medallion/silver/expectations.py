"""Row expectations: cleansing and data-quality rules as Columns, evaluated in one pass.

Silver turns bronze rows into typed output rows with the pipeline's ``columns:`` expressions, then
checks every expectation on every row in the same ``select``. Each row gets ``_failed_rules``, the
array of every rule it failed, and a ``_quarantined`` flag; :func:`split` divides the frame into the
rows bound for silver and the rows bound for the dead-letter table.

One reason model covers every way a row can be rejected:

* the name of each failed expectation (``warn``, ``drop`` or ``fail``);
* ``corrupt_record`` for a bronze row whose source record could not be parsed (its parsed columns are
  all null, so no expectation is evaluated on it);
* ``null_key`` for a row that passed every ``drop`` rule but has a null MERGE key, which MERGE
  could never match again (a built-in last-resort guard; declare ``key is not null`` as a ``drop``
  rule to name it yourself).

A row passes an expectation only where the expression is true: null counts as a failure.

Example:
    >>> checked = (bronze_df.transform(cleanse(silver.columns))
    ...            .transform(check_expectations(silver.expectations, keys=silver.keys)))
    >>> valid, quarantined = split(checked)
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pyspark.errors import AnalysisException, ParseException
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from medallion.audit.outcome import LayerOutcome
from medallion.columns import CORRUPT_RECORD, FAILED_RULES, QUARANTINED, SOURCE_STRUCT, WARNED
from medallion.config import Expectation, SilverConfig
from medallion.errors import ConfigError, ExpectationFailed, error_summary
from medallion.sql import column, quote_identifier

__all__ = [
    "CORRUPT_REASON",
    "NULL_KEY",
    "cleanse",
    "check_expectations",
    "split",
    "quality_aggregates",
    "enforce_limits",
]

#: The reason recorded for a bronze row whose source record could not be parsed.
CORRUPT_REASON = "corrupt_record"
#: The reason recorded for a row whose MERGE key is null.
NULL_KEY = "null_key"


def cleanse(columns: Mapping[str, str], *, passthrough: Sequence[str] = ()) -> Callable[[DataFrame], DataFrame]:
    """A transform computing the ``columns:`` map over bronze rows.

    The output holds every input column packed into the struct ``_bronze`` (the original bronze row,
    kept for the dead-letter table), then one column per ``columns:`` entry, in declaration order.
    Output names may repeat bronze names (``order_id: cast(order_id as bigint)``).

    Args:
        columns: output column name -> Spark SQL expression over bronze columns.
        passthrough: input columns kept as they are at the top level instead of in ``_bronze``.

    Raises:
        ConfigError: an expression does not parse or names a column bronze does not have; the error
            names the ``silver.columns.<name>`` key. (Reserved output names are refused by the config
            model, see :func:`medallion.columns.reserved`.)
    """
    def transform(df: DataFrame) -> DataFrame:
        outputs = [_expr(f"silver.columns.{name}", text).alias(name) for name, text in columns.items()]
        source = F.struct(*[column(c) for c in df.columns if c not in passthrough]).alias(SOURCE_STRUCT)
        kept = [column(c) for c in passthrough]
        try:
            return df.select(source, *outputs, *kept)
        except AnalysisException as err:
            # Find the expression to blame so the message names the key, not just the plan.
            for name, text in columns.items():
                try:
                    df.select(F.expr(text))
                except AnalysisException as one:
                    raise ConfigError(error_summary(one), key=f"silver.columns.{name}") from one
            raise ConfigError(error_summary(err), key="silver.columns") from err

    return transform


def check_expectations(
    expectations: Sequence[Expectation],
    *,
    keys: Sequence[str] = (),
    corrupt: Column | None = None,
) -> Callable[[DataFrame], DataFrame]:
    """A transform adding ``_failed_rules``, ``_quarantined`` and ``_warned`` to cleansed rows.

    Every expectation is a Column in one ``select``; nothing is counted here.

    * ``_failed_rules ARRAY<STRING>``: every rule the row failed, in declaration order (``warn``
      rules included), or ``["corrupt_record"]`` for a corrupt bronze row, plus ``null_key`` as
      described in the module docstring. Empty for a clean row.
    * ``_quarantined``: the row goes to the dead-letter table (corrupt, a ``drop`` rule failed, or
      ``null_key``). A failed ``fail`` rule does not quarantine: the whole run fails instead.
    * ``_warned``: a ``warn`` rule failed.

    Args:
        expectations: the pipeline's rules.
        keys: the MERGE key columns (output names) guarded by ``null_key``.
        corrupt: a boolean Column true for a corrupt bronze row; by default
            ``_bronze._corrupt_record is not null`` when the bronze row has that column.
    """

    def transform(df: DataFrame) -> DataFrame:
        is_corrupt = corrupt if corrupt is not None else _default_corrupt(df)
        failed = {e.name: ~F.coalesce(_expr(f"silver.expectations.{i}.expr ({e.name})", e.expr).cast("boolean"), F.lit(False))
                  for i, e in enumerate(expectations)}
        rule_names = F.array(*[F.when(flag, F.lit(name)) for name, flag in failed.items()])
        rules = F.filter(rule_names, lambda x: x.isNotNull()) if failed else F.array().cast("array<string>")
        dropped = _any([failed[e.name] for e in expectations if e.action == "drop"])
        warned = _any([failed[e.name] for e in expectations if e.action == "warn"])
        null_key = _any([column(k).isNull() for k in keys])
        guard = ~dropped & null_key
        reasons = F.when(is_corrupt, F.array(F.lit(CORRUPT_REASON))).otherwise(
            F.when(guard, F.concat(rules, F.array(F.lit(NULL_KEY)))).otherwise(rules)
        )
        try:
            return df.select(
                "*",
                reasons.alias(FAILED_RULES),
                (is_corrupt | dropped | null_key).alias(QUARANTINED),
                (~is_corrupt & warned).alias(WARNED),
            )
        except AnalysisException as err:
            for i, e in enumerate(expectations):
                try:
                    df.select(F.expr(e.expr))
                except AnalysisException as one:
                    raise ConfigError(error_summary(one), key=f"silver.expectations.{i}.expr ({e.name})") from one
            raise ConfigError(error_summary(err), key="silver.expectations") from err

    return transform


def split(df: DataFrame) -> tuple[DataFrame, DataFrame]:
    """``(valid, quarantined)`` rows of a frame checked by :func:`check_expectations`."""
    return df.where(~F.col(QUARANTINED)), df.where(F.col(QUARANTINED))


def quality_aggregates(expectations: Sequence[Expectation]) -> list[Column]:
    """Aggregate Columns for the one-pass summary of a checked frame.

    Returns ``rows_in``, ``rows_corrupt``, ``rows_quarantined``, ``rows_warned`` (warned rows that
    were not quarantined), ``null_key`` and one ``rule:<name>`` count per expectation (rows that
    failed it, corrupt rows excluded), for use in a single ``df.agg(...)``.
    """
    reasons = F.col(FAILED_RULES)
    corrupt = F.array_contains(reasons, CORRUPT_REASON)
    out = [
        F.count(F.lit(1)).alias("rows_in"),
        _count(corrupt).alias("rows_corrupt"),
        _count(F.col(QUARANTINED)).alias("rows_quarantined"),
        _count(F.col(WARNED) & ~F.col(QUARANTINED)).alias("rows_warned"),
        _count(~corrupt & F.array_contains(reasons, NULL_KEY)).alias("null_key"),
    ]
    out += [_count(~corrupt & F.array_contains(reasons, e.name)).alias(f"rule:{e.name}") for e in expectations]
    return out


def batch_outcome(summary: Mapping[str, int], **fields: Any) -> LayerOutcome:
    """The outcome of a batch's one aggregation (:func:`quality_aggregates`' counts), plus ``fields``."""
    return LayerOutcome(rows_in=summary["rows_in"], rows_corrupt=summary["rows_corrupt"],
                        rows_quarantined=summary["rows_quarantined"], rows_warned=summary["rows_warned"], **fields)


def enforce_limits(silver: SilverConfig, rule_counts: dict[str, int], counted: LayerOutcome) -> None:
    """Raise :class:`~medallion.errors.ExpectationFailed` (carrying ``counted`` as its partial outcome) when a
    ``fail`` rule was broken or more than ``max_quarantine_fraction`` of the rows were quarantined: silver
    calls it on a batch's counts, before any write."""
    broken = {e.name: rule_counts[e.name] for e in silver.expectations if e.action == "fail" and rule_counts[e.name]}
    error: ExpectationFailed | None = None
    if broken:
        listed = ", ".join(f"{name} ({n} of {counted.rows_in} rows)" for name, n in broken.items())
        error = ExpectationFailed(
            f"silver {silver.table}: fail expectation(s) violated: {listed}; nothing was written",
            rules=broken,
        )
    limit = silver.max_quarantine_fraction
    if error is None and limit is not None and counted.rows_in and counted.rows_quarantined / counted.rows_in > limit:
        error = ExpectationFailed(
            f"silver {silver.table}: {counted.rows_quarantined} of {counted.rows_in} rows quarantined "
            f"({counted.rows_quarantined / counted.rows_in:.1%}), above max_quarantine_fraction {limit:.1%}; "
            "nothing was written",
            rules={"max_quarantine_fraction": counted.rows_quarantined},
        )
    if error is not None:
        error.partial = counted
        raise error


def _count(condition: Column) -> Column:
    return F.coalesce(F.sum(F.when(condition, 1).otherwise(0)), F.lit(0)).cast("bigint")


def _any(flags: list[Column]) -> Column:
    out = F.lit(False)
    for flag in flags:
        out = out | flag
    return out


def _default_corrupt(df: DataFrame) -> Column:
    fields = df.schema[SOURCE_STRUCT].dataType.fieldNames() if SOURCE_STRUCT in df.columns else []  # type: ignore[attr-defined]
    if CORRUPT_RECORD in fields:
        return F.col(f"{SOURCE_STRUCT}.{quote_identifier(CORRUPT_RECORD)}").isNotNull()
    return F.lit(False)


def _expr(key: str, text: str) -> Column:
    try:
        return F.expr(text)
    except ParseException as err:
        raise ConfigError(error_summary(err), key=key) from err
