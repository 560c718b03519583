"""Hostile pipeline files for the security suite: every attack class of issue 22 and the ones that held.

Each case is ``(id, pipeline mapping, key fragment, construct fragment)``: the pipeline must be refused
(exit 2) with an error naming the key and the construct.
"""
from __future__ import annotations

import copy
from typing import Any

SECRET_VAR = "AZURE_CLIENT_SECRET"
#: Where hostile SQL tries to create files (SELECT TRANSFORM, java_method): must never exist.
CANARY = "/tmp/medallion-sec-canary-{token}"

BASE: dict[str, Any] = {
    "dataset": "orders",
    "source": {"format": "json", "path": "orders", "source_system": "web"},
    "bronze": {"table": "orders"},
    "silver": {
        "table": "orders", "keys": ["order_id"], "sequence_by": "updated_at",
        "columns": {"order_id": "cast(order_id as bigint)", "updated_at": "to_timestamp(updated_at)",
                    "amount": "cast(amount as decimal(12,2))"},
    },
}


def _with(path: tuple[str, ...], value: Any, base: dict[str, Any] | None = None) -> dict[str, Any]:
    out = copy.deepcopy(base or BASE)
    node = out
    for part in path[:-1]:
        node = node.setdefault(part, {})
    node[path[-1]] = value
    return out


def _column(text: str) -> dict[str, Any]:
    return _with(("silver", "columns"), {**BASE["silver"]["columns"], "x": text})


def _gold(entry: dict[str, Any]) -> dict[str, Any]:
    return _with(("gold",), [{"table": "g", **entry}])


def _gold_sql(sql: str) -> dict[str, Any]:
    return _gold({"sql": sql})


GETENV = f"'java.lang.System', 'getenv', '{SECRET_VAR}'"
FILE_SUBQUERY = "(SELECT max(value) FROM text.`/etc/passwd`)"


def cases(token: str) -> list[tuple[str, dict[str, Any], str, str]]:
    """Every hostile pipeline; ``token`` makes the canary path unique to the test."""
    canary = CANARY.format(token=token)
    return [
        # 1. shell commands from gold SQL
        ("transform_shell", _gold_sql(f"SELECT TRANSFORM(order_id) USING 'touch {canary}' AS (out STRING) FROM {{silver}}"),
         "gold.0 (g).sql", "TRANSFORM"),
        # 2. IDENTIFIER hides a function name and its arguments
        ("identifier_java_method", _column(f"IDENTIFIER('java_method')({GETENV})"), "silver.columns.x", "IDENTIFIER"),
        ("identifier_coalesce_file", _column(f"IDENTIFIER('coalesce')({FILE_SUBQUERY})"), "silver.columns.x", ""),
        ("identifier_expectation",
         _with(("silver", "expectations"), [{"name": "e", "expr": f"IDENTIFIER('reflect')({GETENV}) is null", "action": "warn"}]),
         "silver.expectations.0.expr", "IDENTIFIER"),
        ("identifier_delete_when", _with(("silver", "delete_when"), f"IDENTIFIER('java_method')({GETENV}) is null"),
         "silver.delete_when", "IDENTIFIER"),
        ("identifier_silver_check",
         _with(("silver", "checks"), [{"name": "c", "expr": f"IDENTIFIER('reflect')({GETENV}) is null", "action": "warn"}]),
         "silver.checks.0.expr", "IDENTIFIER"),
        ("identifier_gold_derive", _gold({"group_by": ["d"], "derive": {"d": f"IDENTIFIER('java_method')({GETENV})"},
                                          "measures": {"n": "count(*)"}}), "derive.d", "IDENTIFIER"),
        ("identifier_gold_measure", _gold({"group_by": ["order_id"], "measures": {"n": f"max(IDENTIFIER('reflect')({GETENV}))"}}),
         "measures.n", "IDENTIFIER"),
        ("identifier_gold_filter", _gold({"group_by": ["order_id"], "filter": f"IDENTIFIER('reflect')({GETENV}) is null",
                                          "measures": {"n": "count(*)"}}), "filter", "IDENTIFIER"),
        ("identifier_gold_check", _gold({"group_by": ["order_id"], "measures": {"n": "count(*)"},
                                         "checks": [{"name": "c", "expr": f"max(IDENTIFIER('reflect')({GETENV})) is null",
                                                     "action": "fail"}]}), "checks.0.expr", "IDENTIFIER"),
        ("identifier_table", _gold_sql("SELECT * FROM IDENTIFIER('text.`/etc/passwd`'), {silver}"), "gold.0 (g).sql", ""),
        # 3. a CTE named like a relation; file, catalog and self-referencing relations
        ("cte_shadow_text", _gold_sql("WITH `text./etc/passwd` AS (SELECT 1 AS value) SELECT value FROM text.`/etc/passwd`, {silver}"),
         "gold.0 (g).sql", "/etc/passwd"),
        ("cte_shadow_parquet", _gold_sql(f"WITH `parquet.{canary}` AS (SELECT 1 AS v) SELECT v FROM parquet.`{canary}`, {{silver}}"),
         "gold.0 (g).sql", "reads"),
        ("cte_shadow_delta", _gold_sql("WITH `delta./tmp/lake/silver/x` AS (SELECT 1 AS v) SELECT v FROM delta.`/tmp/lake/silver/x`, {silver}"),
         "gold.0 (g).sql", "reads"),
        ("cte_shadow_catalog", _gold_sql("WITH `default.secrets` AS (SELECT 1 AS v) SELECT v FROM default.secrets, {silver}"),
         "gold.0 (g).sql", "reads"),
        ("cte_self_reference", _gold_sql("WITH orders AS (SELECT * FROM orders) SELECT * FROM orders, {silver}"),
         "gold.0 (g).sql", "reads"),
        ("plain_file_relation", _gold_sql("SELECT value FROM text.`/etc/passwd`, {silver}"), "gold.0 (g).sql", "reads"),
        ("plain_catalog_table", _gold_sql("SELECT * FROM default.other JOIN {silver} USING (order_id)"), "gold.0 (g).sql", "reads"),
        ("gold_subquery_file", _gold_sql(f"SELECT order_id, {FILE_SUBQUERY} AS v FROM {{silver}}"), "gold.0 (g).sql", "reads"),
        ("table_valued_function", _gold_sql("SELECT * FROM range(10), {silver}"), "gold.0 (g).sql", "table-valued"),
        ("second_statement", _gold_sql("SELECT * FROM {silver}; DROP TABLE x"), "gold.0 (g).sql", ""),
        ("gold_reflect", _gold_sql(f"SELECT reflect({GETENV}) AS s FROM {{silver}}"), "gold.0 (g).sql", "reflect"),
        # 4. Spark variable substitution
        ("substitute_env_column", _column(f"'${{env:{SECRET_VAR}}}'"), "silver.columns.x", "substitution"),
        ("substitute_gold_doubled", _gold_sql(f"SELECT '${{{{env:{SECRET_VAR}}}}}' AS s FROM {{silver}}"),
         "gold.0 (g).sql", "substitution"),
        ("substitute_spark_conf", _column("'${spark.hadoop.fs.azure.account.key.acct.dfs.core.windows.net}'"),
         "silver.columns.x", "substitution"),
        # held before: subqueries and reflect spellings in per-row expressions
        ("subquery_scalar", _column(FILE_SUBQUERY), "silver.columns.x", "subquer"),
        ("subquery_exists", _column("exists (SELECT 1)"), "silver.columns.x", "subquer"),
        ("subquery_in", _column("order_id in (SELECT 1)"), "silver.columns.x", "subquer"),
        ("reflect_lower", _column(f"reflect({GETENV})"), "silver.columns.x", "reflect"),
        ("reflect_upper", _column(f"REFLECT({GETENV})"), "silver.columns.x", "reflect"),
        ("reflect_backticks", _column(f"`java_method`({GETENV})"), "silver.columns.x", "java_method"),
        ("reflect_try", _column(f"try_reflect({GETENV})"), "silver.columns.x", "reflect"),
        ("reflect_qualified", _column(f"builtin.reflect({GETENV})"), "silver.columns.x", "reflect"),
    ]
