"""The configuration sandbox, checked on Spark's ANALYSED plan (what will run), not on the SQL text.

Configuration SQL (silver ``columns``, expectations, ``delete_when``, ``checks.expr``, gold ``sql``,
``derive`` / ``measures`` / ``filter``) is bound to its inputs (stand-in DataFrames at validation, the
real ones before a write), analysed by Spark, and the plan is walked:

- **Plan nodes** come from an allow-list (:data:`PLAN_NODES`): projections, filters, joins, aggregates,
  windows, set operations, CTEs... Anything else (``ScriptTransformation`` from ``SELECT TRANSFORM``,
  ``Range`` and other table-valued functions, commands) is refused because it is not known.
- **Leaf relations** must be the bound inputs (or literal rows): a file relation (``text.`/etc/passwd```),
  a catalog table or view, or a CTE shadowing one of those never matches a bound input.
- **Expressions**: Spark's SQL can only produce builtin functions, parser operators and registered
  functions. Of those, only reflection (:data:`REFLECTION`), user-defined functions (:data:`UDF_MARKERS`)
  and subqueries reach outside the row; they are refused (subqueries only in per-row expressions: in a
  gold query their plans are walked by the same rules). A non-deterministic source expression must be
  one of :data:`NONDETERMINISTIC_SOURCES` (random numbers, row ids, input file metadata).

The class names relied on are kept here, in one place, and are the same on Spark 3.5 and 4.x.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from pyspark.sql import DataFrame

__all__ = [
    "SandboxError",
    "PLAN_NODES",
    "REFLECTION",
    "NONDETERMINISTIC_SOURCES",
    "check_plan",
    "guard_frame",
    "sandboxed",
    "plan_of",
]

#: Logical plan nodes a configuration query may analyse to (simple class names).
PLAN_NODES = frozenset({
    "Project", "Filter", "Aggregate", "Join", "Union", "Intersect", "Except", "Distinct", "Deduplicate",
    "Sort", "GlobalLimit", "LocalLimit", "Offset", "Tail", "SubqueryAlias", "WithCTE", "CTERelationDef",
    "Window", "Generate", "Expand", "Repartition", "RepartitionByExpression", "RebalancePartitions",
    "Sample", "WithWindowDefinition", "ResolvedHint", "Subquery", "UnionLoop", "WindowGroupLimit",
})
#: Leaves that read nothing but literals (or a CTE defined in the same query).
HARMLESS_LEAVES = frozenset({"OneRowRelation", "LocalRelation", "CTERelationRef", "UnionLoopRef"})
#: A view over a bound input (PySpark's ``spark.sql(text, name=df)`` wraps each input in a View).
VIEW = "View"
#: Expressions that call arbitrary Java methods (reflect / java_method / try_reflect, any spelling).
REFLECTION = frozenset({"CallMethodViaReflection", "TryReflect"})
#: Class-name fragments of user-defined functions (Scala, Python, Hive): code we cannot vouch for.
UDF_MARKERS = ("UDF", "UDAF", "UDTF", "UserDefined", "PythonFunction")
#: Non-deterministic expressions that only make up values or read the current file's metadata.
NONDETERMINISTIC_SOURCES = frozenset({
    "Rand", "Randn", "Uuid", "Shuffle", "MonotonicallyIncreasingID", "SparkPartitionID", "InputFileName",
    "InputFileBlockStart", "InputFileBlockLength", "RandStr", "Uniform", "Randstr",
})
_SUBQUERY = "org.apache.spark.sql.catalyst.expressions.SubqueryExpression"


class SandboxError(ValueError):
    """Configuration SQL analyses to something outside the sandbox; ``key`` and ``construct`` say what."""

    def __init__(self, key: str, construct: str) -> None:
        super().__init__(f"{key}: {construct}")
        self.key = key
        self.construct = construct


def _seq(scala_seq: Any) -> Iterator[Any]:
    for i in range(scala_seq.size()):
        yield scala_seq.apply(i)


def _name(node: Any) -> str:
    return str(node.getClass().getSimpleName())


def plan_of(df: DataFrame) -> Any:
    """The analysed logical plan of ``df`` (a JVM object); analysis errors surface here."""
    return df._jdf.queryExecution().analyzed()


def _leaves(plan: Any) -> Iterator[Any]:
    stack = [plan]
    while stack:
        node = stack.pop()
        children = list(_seq(node.children()))
        if not children:
            yield node
        stack.extend(children)


def _is_input(node: Any, inputs: Sequence[Any]) -> bool:
    return any(node.equals(i) or node.sameResult(i) for i in inputs)


def check_plan(plan: Any, key: str, *, inputs: Iterable[Any], per_row: bool, jvm: Any) -> None:
    """Refuse an analysed plan that reads anything but ``inputs`` or runs anything outside the row.

    Args:
        plan: the analysed logical plan (:func:`plan_of`).
        key: the configuration key, for the message (``gold.0 (x).sql``).
        inputs: analysed plans of the bound inputs; their leaves are the only relations allowed.
        per_row: True for a per-row expression (no subqueries at all).
        jvm: the py4j JVM view (``spark._jvm``).

    Raises:
        SandboxError: naming ``key`` and the first construct refused.
    """
    allowed = [leaf for p in inputs for leaf in _leaves(p)]
    allowed_roots = list(inputs)
    subquery = jvm.java.lang.Class.forName(_SUBQUERY)
    stack = [plan]
    while stack:
        node = stack.pop()
        name = _name(node)
        if _is_input(node, allowed_roots):
            continue  # a bound input, as given (its own plan is ours, not the config's)
        if name == VIEW:
            if not all(_is_input(leaf, allowed) for leaf in _leaves(node.child())):
                raise SandboxError(key, f"reads view {node.desc().identifier()}, which is not one of its inputs")
            continue
        children = list(_seq(node.children()))
        if not children:
            if name not in HARMLESS_LEAVES and not _is_input(node, allowed):
                raise SandboxError(key, f"reads a {name} that is not one of its inputs ({_short(node)}); "
                                   "only the placeholders' tables may be read")
            _check_expressions(node, key, per_row=per_row, subquery=subquery, stack=stack)
            continue
        if name not in PLAN_NODES:
            raise SandboxError(key, f"{name} is not allowed in configuration SQL ({_short(node)})")
        _check_expressions(node, key, per_row=per_row, subquery=subquery, stack=stack)
        stack.extend(children)  # WithCTE: its CTE definitions are children too
        stack.extend(p for p in _seq(node.innerChildren()) if _is_plan(p, jvm))


def _is_plan(node: Any, jvm: Any) -> bool:
    cls = jvm.java.lang.Class.forName("org.apache.spark.sql.catalyst.plans.logical.LogicalPlan")
    return bool(cls.isInstance(node))


def _short(node: Any, limit: int = 120) -> str:
    text = " ".join(str(node.simpleString(5)).split())
    return text[:limit]


def _walk(expr: Any) -> Iterator[Any]:
    stack = [expr]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(_seq(node.children()))


def _check_expressions(node: Any, key: str, *, per_row: bool, subquery: Any, stack: list[Any]) -> None:
    for expr in _seq(node.expressions()):
        for sub in _walk(expr):
            name = _name(sub)
            if name in REFLECTION:
                raise SandboxError(key, f"{sub.prettyName()}() calls Java methods by reflection and is not allowed")
            if any(marker in name for marker in UDF_MARKERS):
                raise SandboxError(key, f"user-defined function {name} is not allowed")
            if subquery.isInstance(sub):
                if per_row:
                    raise SandboxError(key, "subqueries are not allowed in a per-row expression")
                stack.append(sub.plan())
                continue
            if not sub.deterministic() and all(c.deterministic() for c in _seq(sub.children())) \
                    and name not in NONDETERMINISTIC_SOURCES:
                raise SandboxError(key, f"non-deterministic {name} is not allowed")


def guard_frame(df: DataFrame, key: str, inputs: Iterable[DataFrame], *, per_row: bool = False) -> DataFrame:
    """``df`` unchanged once its analysed plan reads only ``inputs`` and stays in the sandbox.

    Called right before a layer writes, on the DataFrame configuration SQL built.

    Raises:
        SandboxError: see :func:`check_plan`.
    """
    check_plan(plan_of(df), key, inputs=[plan_of(i) for i in inputs], per_row=per_row, jvm=df.sparkSession._jvm)
    return df


def sandboxed(df: DataFrame, key: str, inputs: Iterable[DataFrame], *, per_row: bool = False) -> DataFrame:
    """:func:`guard_frame`, its refusal raised as a :class:`~medallion.errors.ConfigError` (a layer's guard)."""
    from medallion.errors import ConfigError

    try:
        return guard_frame(df, key, inputs, per_row=per_row)
    except SandboxError as err:
        raise ConfigError(err.construct, key=err.key) from None
