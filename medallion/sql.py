"""Small SQL-safety helpers shared by every layer: quoted identifiers and readable Spark errors.

Names from configuration or from source files never reach Spark unquoted, and SQL is never built by
concatenating them: a column is referenced through :func:`column`, which quotes it.
"""
from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

__all__ = ["quote_identifier", "column", "error_summary"]


def quote_identifier(name: str) -> str:
    """Quote a name for Spark SQL: backticks, inner backticks doubled.

    Example:
        >>> quote_identifier("order date")
        '`order date`'
        >>> quote_identifier("a`b")
        '`a``b`'
    """
    return "`" + name.replace("`", "``") + "`"


def column(name: str) -> Column:
    """``F.col`` of a name taken literally (dots, spaces and backticks included)."""
    return F.col(quote_identifier(name))


def error_summary(err: BaseException, *, lines: int = 1, limit: int = 500) -> str:
    """The first line(s) of a (py4j-captured) Spark error, for messages that name a key or file."""
    text = str(getattr(err, "desc", None) or err).strip()
    kept = [line.strip() for line in text.splitlines() if line.strip()][:lines]
    return " ".join(kept)[:limit] if kept else type(err).__name__
