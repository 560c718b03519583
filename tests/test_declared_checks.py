"""Declared table checks: the config model, every check kind passing and failing in one aggregation,
the `_audit/checks` history, silver failing after its MERGE, gold not replaced on a failing `fail` check,
and `medallion check` reporting the latest results."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
import yaml
from silver_helpers import ORDERS, append_bronze, bronze_frame, new_result, read

from medallion.checks.declared_checks import ChecksFailed, latest_results, run_checks
from medallion.config import PipelineConfig
from medallion.config.gold import TableCheck
from medallion.delta_table import latest_version
from medallion.errors import ConfigError
from medallion.gold.layer import run_gold
from medallion.silver.layer import run_silver

# --------------------------------------------------------------------------- config


def test_a_check_declares_exactly_one_kind_with_a_name_and_an_action():
    check = TableCheck.model_validate({"name": "fresh", "action": "warn", "freshness": {"column": "updated_at", "max_age": "26h"}})
    assert (check.kind, check.freshness.max_age_seconds) == ("freshness", 26 * 3600)
    with pytest.raises(ValueError, match="exactly one of"):
        TableCheck.model_validate({"name": "two", "action": "fail", "min_rows": 1, "unique": ["a"]})
    with pytest.raises(ValueError, match="exactly one of"):
        TableCheck.model_validate({"name": "none", "action": "fail"})
    with pytest.raises(ValueError, match="not a duration"):
        TableCheck.model_validate({"name": "f", "action": "fail", "freshness": {"column": "c", "max_age": "a day"}})
    with pytest.raises(ValueError, match="action"):
        TableCheck.model_validate({"name": "x", "action": "drop", "min_rows": 1})


def test_silver_checks_name_silver_columns_and_unique_names():
    with pytest.raises(ValueError, match=r"checks.0 \(keys\): columns \['id'\] are not silver columns"):
        PipelineConfig.model_validate({**ORDERS, "silver": {**ORDERS["silver"], "checks": [
            {"name": "keys", "action": "fail", "unique": ["id"]}]}})
    with pytest.raises(ValueError, match="check names"):
        PipelineConfig.model_validate({**ORDERS, "silver": {**ORDERS["silver"], "checks": [
            {"name": "rows", "action": "fail", "min_rows": 1}, {"name": "rows", "action": "warn", "min_rows": 2}]}})


# --------------------------------------------------------------------------- every kind


KINDS = [
    {"name": "enough_rows", "action": "warn", "min_rows": 3},
    {"name": "too_few_rows", "action": "warn", "min_rows": 4},
    {"name": "ids_unique", "action": "warn", "unique": ["id"]},
    {"name": "day_unique", "action": "warn", "unique": ["day"]},
    {"name": "ids_present", "action": "warn", "not_null": ["id"]},
    {"name": "amounts_present", "action": "warn", "not_null": ["id", "amount"]},
    {"name": "fresh", "action": "warn", "freshness": {"column": "at", "max_age": "26h"}},
    {"name": "stale", "action": "warn", "freshness": {"column": "at", "max_age": "90m"}},
    {"name": "small_drop", "action": "warn", "max_row_drop": 0.5},
    {"name": "no_drop", "action": "warn", "max_row_drop": 0.1},
    {"name": "revenue_positive", "action": "warn", "expr": "sum(amount) >= 0"},
    {"name": "revenue_large", "action": "warn", "expr": "sum(amount) > 100"},
]


@pytest.mark.delta
def test_each_kind_passes_and_fails_in_one_aggregation_and_the_history_keeps_every_result(spark, now, tmp_path):
    df = spark.createDataFrame(
        [(1, "2026-11-26", 10.0, "2026-11-26 08:00:00"), (2, "2026-11-26", None, "2026-11-26 10:00:00"),
         (3, "2026-11-25", 5.0, "2026-11-25 09:00:00")],
        "id INT, day STRING, amount DOUBLE, at STRING",
    )
    checks = [TableCheck.model_validate(c) for c in KINDS]
    history = str(tmp_path / "_audit" / "checks")
    records = run_checks(spark, df, checks, table="gold/t", history_path=history, run=new_result("run-1", now),
                         previous_rows=4, key="gold.0 (t)")
    got = {r.name: (r.passed, r.observed, r.threshold) for r in records}
    assert got == {
        "enough_rows": (True, "3", "3"),
        "too_few_rows": (False, "3", "4"),
        "ids_unique": (True, "0", "0"),
        "day_unique": (False, "1", "0"),
        "ids_present": (True, "0", "0"),
        "amounts_present": (False, "1", "0"),
        "fresh": (True, "2026-11-26T10:00:00", "2026-11-25T10:00:00"),
        "stale": (False, "2026-11-26T10:00:00", "2026-11-26T10:30:00"),
        "small_drop": (True, "0.2500 (4 -> 3 rows)", "0.5"),
        "no_drop": (False, "0.2500 (4 -> 3 rows)", "0.1"),
        "revenue_positive": (True, "true", "sum(amount) >= 0"),
        "revenue_large": (False, "false", "sum(amount) > 100"),
    }
    assert {r.kind for r in records} == {"min_rows", "unique", "not_null", "freshness", "max_row_drop", "expr"}

    # a failing `fail` check raises, after its result is recorded
    fail = [TableCheck.model_validate({"name": "too_few_rows", "action": "fail", "min_rows": 4})]
    later = new_result("run-2", now + timedelta(hours=1))
    with pytest.raises(ChecksFailed, match=r"too_few_rows \(min_rows: observed 3, threshold 4\)"):
        run_checks(spark, df, fail, table="gold/t", history_path=history, run=later, previous_rows=None, key="gold.0 (t)")
    kept = read(spark, history)
    assert kept.count() == len(KINDS) + 1
    assert sorted(tuple(r) for r in kept.where("name = 'too_few_rows'").select("run_id", "passed", "action").collect()) == [
        ("run-1", False, "warn"), ("run-2", False, "fail")]
    assert set(kept.columns) == {"name", "table", "run_id", "kind", "observed", "threshold", "passed", "action", "checked_at"}

    with pytest.raises(ConfigError, match=r"gold.0 \(t\).checks"):
        run_checks(spark, df, [TableCheck.model_validate({"name": "x", "action": "fail", "unique": ["nope"]})],
                   table="gold/t", history_path=None, run=later, previous_rows=None, key="gold.0 (t)")


# --------------------------------------------------------------------------- in the layers

BATCH_1 = [("1", "a@x.com", "10.00", "NEW", "2026-11-01 10:00:00"), ("2", "b@x.com", "20.00", "PAID", "2026-11-01 11:00:00")]
BATCH_2 = [("3", "c@x.com", "-30.00", "NEW", "2026-11-02 10:00:00"), ("4", "d@x.com", "5.00", "NEW", "2026-11-02 11:00:00")]
GOLD = {"table": "daily", "group_by": ["status"], "measures": {"orders": "count(*)", "revenue": "sum(amount)"}}


def _pipeline(silver_checks, gold_checks) -> PipelineConfig:
    rules = [e for e in ORDERS["silver"]["expectations"] if e["name"] != "amount_non_negative"]  # let -30 through
    return PipelineConfig.model_validate({
        **ORDERS,
        "silver": {**ORDERS["silver"], "expectations": rules, "checks": silver_checks},
        "gold": [{**GOLD, "checks": gold_checks}],
    })


@pytest.mark.delta
@pytest.mark.e2e
def test_silver_fails_after_its_merge_gold_is_not_replaced_and_medallion_check_reports(spark, env, now, tmp_path, capsys):
    silver_checks = [{"name": "enough_orders", "action": "fail", "min_rows": 3},
                     {"name": "one_row_per_order", "action": "warn", "unique": ["order_id"]}]
    gold_checks = [{"name": "revenue_non_negative", "action": "fail", "expr": "min(revenue) >= 0"},
                   {"name": "some_statuses", "action": "warn", "min_rows": 5}]
    p = _pipeline(silver_checks, gold_checks)
    bronze_path = env.table_path("bronze", "orders")
    silver_path, gold_path = env.table_path("silver", "orders"), env.table_path("gold", "daily")
    append_bronze(spark, bronze_path, bronze_frame(spark, BATCH_1))

    # silver: the MERGE commits, then the fail check sees 2 rows < 3 and the run fails (exit 1 via the runner)
    with pytest.raises(ChecksFailed, match="enough_orders") as failed:
        run_silver(spark, env, p, new_result("run-1", now))
    assert failed.value.partial.rows_out == 2
    assert failed.value.partial.details["checks"]["one_row_per_order"]["passed"] is True
    assert read(spark, silver_path).count() == 2

    # gold builds (its checks pass, the warn one fails and is only recorded)
    built = run_gold(spark, env, p, new_result("run-1", now))
    assert built.details["tables"]["daily"]["checks"] == {"revenue_non_negative": True, "some_statuses": False}
    version = latest_version(spark, gold_path)
    before = read(spark, gold_path).collect()

    # a delivery with a negative amount: silver passes now (4 rows); gold's computed result fails and is not written
    append_bronze(spark, bronze_path, bronze_frame(spark, BATCH_2, source_file="orders-2.json"))
    assert run_silver(spark, env, p, new_result("run-2", now)).details["checks"]["enough_orders"]["passed"] is True
    with pytest.raises(ChecksFailed, match="revenue_non_negative"):
        run_gold(spark, env, p, new_result("run-2", now))
    assert latest_version(spark, gold_path) == version
    assert sorted(read(spark, gold_path).collect()) == sorted(before)

    # `medallion check` reports the latest result of each declared check (and exits 1 on the failed one)
    latest = {(r.table, r.name): (r.run_id, r.passed) for r in latest_results(spark, env, p)}
    assert latest == {
        ("silver/orders", "enough_orders"): ("run-2", True),
        ("silver/orders", "one_row_per_order"): ("run-2", True),
        ("gold/daily", "revenue_non_negative"): ("run-2", False),
        ("gold/daily", "some_statuses"): ("run-2", False),
    }
    conf = tmp_path / "conf"
    (conf / "env").mkdir(parents=True)
    (conf / "env" / "t.yaml").write_text(yaml.safe_dump({"name": "t", "landing_root": env.landing_root,
                                                          "lakehouse_root": env.lakehouse_root}))
    (conf / "p.yaml").write_text(yaml.safe_dump(p.model_dump(mode="json", by_alias=True, exclude_none=True)))
    from medallion.cli import main

    capsys.readouterr()
    code = main(["check", "--pipeline", str(conf / "p.yaml"), "--env", "t", "--conf-dir", str(conf), "--output", "json"])
    out = json.loads(capsys.readouterr().out)
    declared = {r["name"]: r for r in out if r.get("kind")}
    assert code == 1
    assert declared["gold/daily:revenue_non_negative"]["passed"] is False
    assert declared["gold/daily:revenue_non_negative"]["observed"] == "false"
    assert declared["gold/daily:some_statuses"]["passed"] is True  # a failed warn check does not fail the stage
    assert declared["gold/daily:some_statuses"]["check_passed"] is False
