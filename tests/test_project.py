"""The project: gold across datasets ({silver.NAME} / {gold.NAME}), validation, and `run --all`."""
from __future__ import annotations

import json
import shutil
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from chispa import assert_df_equality
from delta.tables import DeltaTable

from medallion.audit.outcome import RunContext
from medallion.cli import main
from medallion.config import load_pipeline
from medallion.errors import ConfigError
from medallion.gold.layer import run_gold
from medallion.gold.references import TableRef, bindable_sql, parse_references
from medallion.project import load_project

ROOT = Path(__file__).resolve().parents[1]
JOIN_SQL = """
SELECT c.segment, to_date(o.updated_at) AS order_date, count(*) AS orders, sum(o.amount) AS revenue
FROM {silver.orders} o
JOIN {silver} c
  ON o.customer_email = c.email
 AND o.updated_at >= c._valid_from AND (c._valid_to IS NULL OR o.updated_at < c._valid_to)
GROUP BY c.segment, to_date(o.updated_at)
"""


# --------------------------------------------------------------------------- references (pure)


def test_placeholders_are_parsed_and_rewritten_for_binding():
    sql = "SELECT '{{x}}' AS s FROM {silver} a JOIN {silver.customers} b JOIN {gold.daily} g JOIN {silver} a2"
    assert parse_references(sql) == [TableRef("silver"), TableRef("silver", "customers"), TableRef("gold", "daily")]
    assert bindable_sql(sql) == (
        "SELECT '{{x}}' AS s FROM {silver} a JOIN {silver__customers} b JOIN {gold__daily} g JOIN {silver} a2"
    )
    for bad in ("SELECT * FROM {gold}", "SELECT * FROM {bronze.orders}", "SELECT * FROM {silver.a.b}", "{silver:x}"):
        with pytest.raises(ValueError, match="unknown placeholder"):
            parse_references(bad)


def _conf(tmp_path: Path, pipelines: dict[str, dict]) -> Path:
    conf = tmp_path / "conf"
    (conf / "pipelines").mkdir(parents=True)
    (conf / "env").mkdir()
    shutil.copy(ROOT / "conf/env/local.yaml", conf / "env/local.yaml")
    for name, data in pipelines.items():
        (conf / "pipelines" / f"{name}.yaml").write_text(yaml.safe_dump(data))
    return conf


def _sample(name: str) -> dict:
    return yaml.safe_load((ROOT / f"conf/pipelines/{name}.yaml").read_text())


def test_unknown_tables_and_cycles_are_configuration_errors_naming_file_and_key(tmp_path, capsys):
    customers = _sample("customers")
    customers["gold"][0]["sql"] = customers["gold"][0]["sql"].replace("{silver.orders}", "{silver.ordrs}")
    conf = _conf(tmp_path, {"orders": _sample("orders"), "customers": customers})
    with pytest.raises(ConfigError) as err:
        load_project(conf)
    assert "customers.yaml" in str(err.value) and "gold.0.sql" in str(err.value) and "'ordrs'" in str(err.value)
    # the CLI: exit 2 before any Spark work, for one pipeline and for --all
    assert main(["validate", "--pipeline", str(conf / "pipelines/customers.yaml"), "--env", "local",
                 "--conf-dir", str(conf)]) == 2
    assert main(["run", "--all", "--env", "local", "--conf-dir", str(conf)]) == 2
    assert "silver.ordrs" in capsys.readouterr().err

    orders = _sample("orders")
    orders["gold"].append({"table": "a", "sql": "SELECT * FROM {gold.b}"})
    orders["gold"].append({"table": "b", "sql": "SELECT * FROM {gold.a} JOIN {silver}"})
    conf2 = _conf(tmp_path / "two", {"orders": orders})
    with pytest.raises(ConfigError, match=r"cycle: (a -> b -> a|b -> a -> b)") as err:
        load_project(conf2)
    assert "orders.yaml" in str(err.value) and "gold." in str(err.value)


def test_the_bundled_project_resolves_and_orders_gold_after_what_it_reads():
    project = load_project(ROOT / "conf")
    assert [p.dataset for p in project.pipelines] == ["customers", "orders"]
    assert project.needs(project.find("customers")) == {("silver", "orders"), ("silver", "customers")}
    assert project.needs(project.find("orders")) == {("silver", "orders")}
    assert {p.dataset for p in project.gold_order()} == {"customers", "orders"}
    assert load_pipeline(ROOT / "conf/pipelines/customers.yaml").silver.history == "scd2"


# --------------------------------------------------------------------------- gold across datasets (Delta)

ORDERS_DDL = "order_id BIGINT, customer_email STRING, amount DECIMAL(12,2), status STRING, updated_at TIMESTAMP"
CUSTOMERS_DDL = (
    "email STRING, segment STRING, updated_at TIMESTAMP, _valid_from TIMESTAMP, _valid_to TIMESTAMP, "
    "_is_current BOOLEAN, _is_deleted BOOLEAN"
)


def _t(text):
    return datetime.fromisoformat(text) if text else None


def _expected(orders, customers):
    """The as-of join by hand: each order with the customer version valid at its updated_at."""
    out: dict[tuple, list] = {}
    for _, email, amount, _, ts in orders:
        for c_email, segment, _, start, end, _, _ in customers:
            if c_email == email and _t(start) <= _t(ts) and (end is None or _t(ts) < _t(end)):
                acc = out.setdefault((segment, _t(ts).date()), [0, Decimal("0")])
                acc[0] += 1
                acc[1] += Decimal(amount)
    return [(s, d, n, rev) for (s, d), (n, rev) in out.items()]


def _write(spark, path, rows, ddl):
    from pyspark.sql.types import DecimalType, TimestampType, _parse_datatype_string

    kinds = [f.dataType for f in _parse_datatype_string(ddl).fields]

    def value(v, kind):
        if v is None:
            return None
        if isinstance(kind, TimestampType):
            return _t(v)
        return Decimal(v) if isinstance(kind, DecimalType) else v

    df = spark.createDataFrame([tuple(value(v, k) for v, k in zip(r, kinds, strict=True)) for r in rows], ddl)
    df.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(path)


@pytest.mark.delta
def test_gold_across_two_datasets_equals_an_independent_join_and_rebuilds_only_when_an_input_moved(spark, env, now):
    pipeline = load_pipeline(ROOT / "conf/pipelines/customers.yaml")
    orders = [
        (1, "a@x.com", "10.00", "NEW", "2026-11-01 10:00:00"),
        (2, "a@x.com", "20.00", "PAID", "2026-11-02 10:00:00"),
        (3, "b@x.com", "5.50", "NEW", "2026-11-02 11:00:00"),
        (4, "z@x.com", "7.00", "NEW", "2026-11-02 11:00:00"),     # no such customer
        (5, "b@x.com", "1.00", "NEW", "2026-11-03 12:00:00"),     # after b was deleted
    ]
    customers = [
        ("a@x.com", "SMB", "2026-10-01 00:00:00", "2026-10-01 00:00:00", "2026-11-02 00:00:00", False, False),
        ("a@x.com", "ENTERPRISE", "2026-11-02 00:00:00", "2026-11-02 00:00:00", None, True, False),
        ("b@x.com", "CONSUMER", "2026-10-01 00:00:00", "2026-10-01 00:00:00", "2026-11-03 00:00:00", False, True),
    ]
    orders_path, customers_path = env.table_path("silver", "orders"), env.table_path("silver", "customers")
    gold_path = env.table_path("gold", "revenue_by_segment")
    _write(spark, orders_path, orders, ORDERS_DDL)
    _write(spark, customers_path, customers, CUSTOMERS_DDL)
    schema = "segment STRING, order_date DATE, orders BIGINT, revenue DECIMAL(22,2)"

    def check(label):
        expected = spark.createDataFrame(_expected(orders, customers), schema)
        actual = spark.read.format("delta").load(gold_path)
        assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True), label

    first = run_gold(spark, env, pipeline, RunContext("g-1", now))
    table = first.details["tables"]["revenue_by_segment"]
    assert table["mode"] == "full" and table["inputs"] == {"silver/customers": 0, "silver/orders": 0}
    check("first build")

    again = run_gold(spark, env, pipeline, RunContext("g-2", now))
    assert again.status == "skipped"
    assert DeltaTable.forPath(spark, gold_path).history(1).first()["version"] == table["version"]

    orders.append((6, "a@x.com", "100.00", "NEW", "2026-11-03 09:00:00"))  # the other dataset moves
    _write(spark, orders_path, orders, ORDERS_DDL)
    moved = run_gold(spark, env, pipeline, RunContext("g-3", now)).details["tables"]["revenue_by_segment"]
    assert (moved["mode"], moved["reason"]) == ("full", "silver/orders changed")
    check("after orders moved")

    customers[2] = ("b@x.com", "SMB", "2026-10-01 00:00:00", "2026-10-01 00:00:00", None, True, False)
    _write(spark, customers_path, customers, CUSTOMERS_DDL)                   # its own silver moves
    own = run_gold(spark, env, pipeline, RunContext("g-4", now)).details["tables"]["revenue_by_segment"]
    assert own["mode"] == "full" and own["inputs"] == {"silver/customers": 1, "silver/orders": 1}
    check("after customers moved")


# --------------------------------------------------------------------------- run --all on the sample (CLI)


@pytest.fixture
def sample(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(ROOT / "conf", tmp_path / "conf")
    shutil.copytree(ROOT / "data" / "landing", tmp_path / "data" / "landing")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _run_all(capsys, *extra):
    rc = main(["run", "--all", "--env", "local", "--output", "json", *extra])
    return rc, json.loads(capsys.readouterr().out.strip())


def _versions(spark, lake: Path) -> dict[str, int]:
    tables = sorted(p.parent for p in lake.glob("*/*/_delta_log") if p.parent.parent.name != "_audit")
    return {f"{t.parent.name}/{t.name}": DeltaTable.forPath(spark, str(t)).history(1).first()["version"] for t in tables}


@pytest.mark.e2e
def test_run_all_on_the_sample_builds_every_table_then_a_rerun_skips_everything(spark, sample, capsys):
    rc, out = _run_all(capsys)
    assert rc == 0, out
    assert out["status"] == "succeeded"
    by_dataset = {p["pipeline"]: p for p in out["pipelines"]}
    assert set(by_dataset) == {"orders", "customers"}
    assert {p["run_id"] for p in out["pipelines"]} == {out["run_id"]}
    for p in out["pipelines"]:
        assert {k: p[k]["status"] for k in ("bronze", "silver", "gold")} == {k: "succeeded" for k in ("bronze", "silver", "gold")}
    silver = by_dataset["customers"]["silver"]
    assert silver["rows_in"] == silver["rows_out"] + silver["rows_deleted"] + silver["rows_quarantined"] + silver["rows_superseded"]

    manifest = json.loads((ROOT / "data/landing/customers.expected.json").read_text())
    lake = sample / ".lakehouse"
    history = spark.read.format("delta").load(str(lake / "silver/customers"))
    assert history.count() == len(manifest["silver"]["history"])
    assert history.where("_is_current").count() == manifest["silver"]["current"]
    assert history.where("_is_deleted").count() == manifest["silver"]["deleted_intervals"]
    expected_history = spark.createDataFrame(
        [(r["email"], r["segment"], r["country"], _t(r["valid_from"].replace("T", " ").rstrip("Z")),
          _t((r["valid_to"] or "").replace("T", " ").rstrip("Z")), r["is_current"], r["is_deleted"])
         for r in manifest["silver"]["history"]],
        "email STRING, segment STRING, country STRING, _valid_from TIMESTAMP, _valid_to TIMESTAMP, "
        "_is_current BOOLEAN, _is_deleted BOOLEAN",
    )
    assert_df_equality(history.select(*expected_history.columns), expected_history,
                       ignore_row_order=True, ignore_nullable=True)
    expected_gold = spark.createDataFrame(
        [(r["segment"], _t(r["order_date"]).date(), r["orders"], Decimal(r["revenue"]))
         for r in manifest["gold"]["revenue_by_segment"]],
        "segment STRING, order_date DATE, orders BIGINT, revenue DECIMAL(22,2)",
    )
    assert_df_equality(spark.read.format("delta").load(str(lake / "gold/revenue_by_segment")), expected_gold,
                       ignore_row_order=True, ignore_nullable=True)

    before = _versions(spark, lake)
    assert {"bronze/customers", "silver/customers", "silver/customers_events", "gold/revenue_by_segment",
            "bronze/orders", "silver/orders", "gold/daily_revenue"} <= set(before)
    rc, again = _run_all(capsys)
    assert rc == 0
    for p in again["pipelines"]:
        assert {k: p[k]["status"] for k in ("bronze", "silver", "gold")} == {k: "skipped" for k in ("bronze", "silver", "gold")}
    assert _versions(spark, lake) == before

    # the text summary lists both datasets
    assert main(["run", "--all", "--env", "local", "--layer", "gold"]) == 0
    text = capsys.readouterr().out
    assert "pipeline orders" in text and "pipeline customers" in text and "revenue_by_segment" in text


@pytest.mark.e2e
def test_a_failed_dataset_blocks_the_gold_that_reads_it_and_not_the_others(spark, sample, capsys):
    orders = yaml.safe_load((sample / "conf/pipelines/orders.yaml").read_text())
    orders["silver"]["expectations"].append({"name": "never", "expr": "amount < 0", "action": "fail"})
    (sample / "conf/pipelines/orders.yaml").write_text(yaml.safe_dump(orders))
    rc, out = _run_all(capsys)
    assert rc == 1 and out["status"] == "failed"
    by_dataset = {p["pipeline"]: p for p in out["pipelines"]}
    assert by_dataset["orders"]["silver"]["status"] == "failed"
    assert by_dataset["orders"]["gold"]["status"] == "blocked"
    assert by_dataset["customers"]["bronze"]["status"] == "succeeded"
    assert by_dataset["customers"]["silver"]["status"] == "succeeded"
    assert by_dataset["customers"]["gold"]["status"] == "blocked"
    assert not (sample / ".lakehouse/gold/revenue_by_segment").exists()


def test_the_contract_extension_example_gold_sql_validates(spark, tmp_path):
    """CONTRACT.md "Extensions (second round)": its gold sql parses and its references resolve."""
    from medallion.config.gold import GoldTable
    from medallion.config.validation import validate_gold_sql
    from medallion.project import PipelineFile, Project, check_references

    sql = """
      SELECT c.segment, to_date(o.updated_at) AS order_date, sum(o.amount) AS revenue
      FROM {silver} o
      JOIN {silver.customers} c
        ON o.customer_id = c.customer_id
       AND o.updated_at >= c._valid_from AND (c._valid_to IS NULL OR o.updated_at < c._valid_to)
      GROUP BY 1, 2
    """
    gold = GoldTable(table="revenue_by_segment", sql=sql)
    validate_gold_sql(spark, gold, file="orders.yaml", key="gold.0.sql")
    orders = _sample("orders")
    orders["gold"] = [{"table": "revenue_by_segment", "sql": sql}]
    conf = _conf(tmp_path, {"orders": orders, "customers": _sample("customers") | {"gold": []}})
    project = load_project(conf)
    check_references(project.find("orders"), silver={"orders", "customers"}, gold=set())
    assert isinstance(project, Project) and isinstance(project.find("orders"), PipelineFile)
