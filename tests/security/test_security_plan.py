"""The plan walker on its own (medallion.security.sandbox): analysed plans that no parse-level check saw."""
from __future__ import annotations

import pytest
from pyspark.sql import functions as F
from pyspark.sql.window import Window

from medallion.security.sandbox import SandboxError, guard_frame


@pytest.fixture(scope="module")
def rows(spark):  # noqa: ANN001, ANN201
    return spark.createDataFrame([(1, "a", 2.0)], "order_id bigint, name string, amount double")


@pytest.mark.parametrize(("sql", "construct"), [
    ("SELECT TRANSFORM(order_id) USING 'cat' AS (out STRING) FROM {s}", "ScriptTransformation"),
    ("SELECT * FROM range(3) CROSS JOIN {s}", "Range"),
    ("SELECT IDENTIFIER('java_method')('java.lang.System', 'getenv', 'HOME') AS x FROM {s}", "reflection"),
    ("SELECT * FROM {s} WHERE order_id IN (SELECT id FROM range(2))", "Range"),
])
def test_plans_outside_the_sandbox_are_refused(spark, rows, sql: str, construct: str) -> None:  # noqa: ANN001
    df = spark.sql(sql, s=rows)
    with pytest.raises(SandboxError, match=construct) as caught:
        guard_frame(df, "gold.0 (g).sql", [rows])
    assert caught.value.key == "gold.0 (g).sql"


def test_a_relation_that_is_not_an_input_is_refused(spark, rows, tmp_path) -> None:  # noqa: ANN001
    other = spark.createDataFrame([(2,)], "order_id bigint")
    with pytest.raises(SandboxError, match="not one of its inputs"):
        guard_frame(rows.unionByName(other, allowMissingColumns=True), "gold.0 (g).sql", [rows])
    (tmp_path / "f.txt").write_text("secret\n")
    text = spark.read.text(str(tmp_path / "f.txt"))
    with pytest.raises(SandboxError, match="LogicalRelation"):
        guard_frame(rows.crossJoin(text), "gold.0 (g).sql", [rows])


def test_per_row_expressions_may_not_hold_subqueries(spark, rows) -> None:  # noqa: ANN001
    df = spark.sql("SELECT order_id, (SELECT max(order_id) FROM {s}) AS m FROM {s}", s=rows)
    guard_frame(df, "gold.0 (g).sql", [rows])  # a gold query may: its subquery reads an input
    with pytest.raises(SandboxError, match="subqueries"):
        guard_frame(df, "silver.columns.m", [rows], per_row=True)


def test_reflection_in_any_spelling_is_refused(spark, rows) -> None:  # noqa: ANN001
    # (try_reflect exists from Spark 4.0: its class is in medallion.security.sandbox.REFLECTION)
    for text in ["reflect('java.lang.System', 'getenv', 'HOME')", "JAVA_METHOD('java.lang.System', 'getenv', 'HOME')"]:
        with pytest.raises(SandboxError, match="reflection"):
            guard_frame(rows.select(F.expr(text)), "silver.columns.x", [rows], per_row=True)


def test_ordinary_transforms_pass(spark, rows) -> None:  # noqa: ANN001
    w = Window.partitionBy("order_id").orderBy(F.col("amount").desc())
    df = (rows.withColumn("rn", F.row_number().over(w)).withColumn("u", F.expr("uuid()"))
          .groupBy("name").agg(F.sum("amount").alias("s"), F.expr("collect_list(order_id)").alias("ids"))
          .select("*", F.expr("transform(ids, x -> x + 1)").alias("ids2")))
    assert guard_frame(df, "gold.0 (g)", [rows]) is df
