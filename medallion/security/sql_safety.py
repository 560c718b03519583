"""What configuration SQL may do: per-row expressions read their row only; gold ``sql`` reads only the
project's tables.

Checked on Spark's parse trees (nothing is resolved or run), by :mod:`medallion.config.validation`:

- A per-row expression (``silver.columns``, expectations, gold ``derive`` / ``measures`` / ``filter``)
  may not hold a subquery (scalar, ``EXISTS``, ``IN (SELECT ...)``, lateral): a subquery can read any
  table or file (``(SELECT ... FROM json.`/path`)``) into the row. Nor may it call ``reflect`` /
  ``java_method`` (static Java methods).
- A gold ``sql`` query may read only the relations it is given (its placeholders) and its own CTEs:
  no file-path relations (``parquet.`/path```), no other tables, no table-valued functions
  (``range(...)``, ``read_files(...)``); the same function rule applies to its expressions.

Example:
    >>> check_expression(parser.parseExpression("(select max(x) from t)"), "silver.columns.a")
    Traceback (most recent call last):
    medallion.security.sql_safety.UnsafeSqlError: silver.columns.a: subqueries are not allowed in a per-row expression
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

__all__ = ["UnsafeSqlError", "check_expression", "check_query", "FORBIDDEN_FUNCTIONS"]

#: Functions that reach outside the row: they call static Java methods.
FORBIDDEN_FUNCTIONS = frozenset({"reflect", "java_method", "try_reflect"})

_SUBQUERY = "org.apache.spark.sql.catalyst.expressions.SubqueryExpression"
_RELATION = "UnresolvedRelation"
_TVF = ("UnresolvedTableValuedFunction", "UnresolvedTVFAliases")
_FUNCTION = "UnresolvedFunction"
_WITH = "UnresolvedWith"
#: ``IDENTIFIER('name')`` hides a function or table name from the parse tree until analysis.
_IDENTIFIER = "UnresolvedIdentifier"
_SCRIPT = "ScriptTransformation"


class UnsafeSqlError(ValueError):
    """Configuration SQL reaches outside what it may read (the message says what)."""


def _seq(scala_seq: Any) -> Iterator[Any]:
    for i in range(scala_seq.size()):
        yield scala_seq.apply(i)


def _is_subquery(node: Any, jvm: Any) -> bool:
    cls = jvm.java.lang.Class.forName(_SUBQUERY)
    return bool(cls.isInstance(node))


def _function_name(node: Any) -> str:
    return ".".join(_seq(node.nameParts())).lower()


def _walk_expression(expr: Any) -> Iterator[Any]:
    stack = [expr]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(_seq(node.children()))


def _forbidden_call(node: Any, jvm: Any) -> str | None:
    """The name of a reflective builtin ``node`` calls, whatever its spelling (``REFLECT``, ``builtin.reflect``)."""
    if node.getClass().getSimpleName() != _FUNCTION:
        return None
    name = _function_name(node)
    if name in FORBIDDEN_FUNCTIONS or name.rsplit(".", 1)[-1] in FORBIDDEN_FUNCTIONS:
        return name
    registry = jvm.org.apache.spark.sql.catalyst.analysis.FunctionRegistry.builtin()
    info = registry.lookupFunction(jvm.org.apache.spark.sql.catalyst.FunctionIdentifier.apply(name.rsplit(".", 1)[-1]))
    if info.isDefined() and str(info.get().getClassName()).rsplit(".", 1)[-1] in ("CallMethodViaReflection", "TryReflect"):
        return name
    return None


def _check_node(node: Any, key: str, jvm: Any) -> None:
    """What no configuration SQL may hold, in any position: IDENTIFIER(...), reflection, SELECT TRANSFORM."""
    name = node.getClass().getSimpleName()
    if _IDENTIFIER in name:
        raise UnsafeSqlError(f"{key}: IDENTIFIER(...) is not allowed in configuration SQL")
    if _SCRIPT in name:
        raise UnsafeSqlError(f"{key}: SELECT TRANSFORM (script transformation) is not allowed")
    call = _forbidden_call(node, jvm)
    if call is not None:
        raise UnsafeSqlError(f"{key}: function {call}() is not allowed")


def check_expression(expr: Any, key: str, *, jvm: Any) -> None:
    """Refuse a per-row expression (a parsed Catalyst expression) that holds a subquery or a forbidden call.

    Raises:
        UnsafeSqlError: naming ``key`` and the reason.
    """
    for node in _walk_expression(expr):
        if _is_subquery(node, jvm):
            raise UnsafeSqlError(f"{key}: subqueries are not allowed in a per-row expression")
        _check_node(node, key, jvm)


def check_query(plan: Any, key: str, *, allowed: Iterable[str], jvm: Any) -> None:
    """Refuse a parsed query plan that reads anything but ``allowed`` relations and its own CTEs.

    Args:
        plan: the unresolved logical plan (Spark's ``parsePlan``).
        allowed: relation names the query may read (the placeholders' stand-in identifiers).

    Raises:
        UnsafeSqlError: naming ``key`` and the relation or function refused.
    """
    permitted = {(a.lower(),) for a in allowed}
    ctes: set[tuple[str, ...]] = set()
    stack = [plan]
    relations: list[tuple[str, ...]] = []
    while stack:
        node = stack.pop()
        name = node.getClass().getSimpleName()
        _check_node(node, key, jvm)
        if name == _WITH:
            for pair in _seq(node.cteRelations()):
                ctes.add((str(pair._1()).lower(),))  # a CTE name is one part: `text./etc/passwd` never matches text.`/etc/passwd`
        if name == _RELATION:
            relations.append(tuple(str(p).lower() for p in _seq(node.multipartIdentifier())))
            continue
        if name in _TVF:
            raise UnsafeSqlError(f"{key}: table-valued functions are not allowed in gold sql")
        for expr in _seq(node.expressions()):
            for sub in _walk_expression(expr):
                _check_node(sub, key, jvm)
                if _is_subquery(sub, jvm):
                    stack.append(sub.plan())
        stack.extend(_seq(node.children()))
        if name == _WITH:
            stack.extend(_seq(node.innerChildren()))  # the CTE definitions
    for parts in relations:
        relation = ".".join(parts)
        if parts not in permitted and parts not in ctes:
            raise UnsafeSqlError(
                f"{key}: reads {relation!r}; gold sql may read only the project's tables through their "
                "placeholders (no file paths, no other tables)"
            )
