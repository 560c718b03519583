"""The sandbox at validator level (session-scoped Spark): every hostile pipeline refused naming its key and
construct; ordinary configuration (the bundled pipelines, CTEs, windows, joins, lambdas) still passes."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from hostile import BASE, _gold_sql, cases  # noqa: E402

from medallion.config import PipelineConfig, load_pipeline  # noqa: E402
from medallion.config.validation import validate_pipeline_sql  # noqa: E402
from medallion.errors import ConfigError  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("case_id", "data", "key", "construct"), cases("validator"), ids=[c[0] for c in cases("validator")])
def test_hostile_sql_is_refused_naming_key_and_construct(spark, case_id, data, key, construct) -> None:  # noqa: ANN001
    pipeline = PipelineConfig.model_validate(data)
    with pytest.raises(ConfigError) as caught:
        validate_pipeline_sql(spark, pipeline, file="hostile.yaml")
    message = str(caught.value)
    assert message.startswith("hostile.yaml: "), message
    assert key in message, message
    assert construct.lower() in message.lower(), message


@pytest.mark.parametrize("name", ["orders", "customers"])
def test_bundled_pipelines_pass(spark, name: str) -> None:  # noqa: ANN001
    pipeline = load_pipeline(REPO / "conf" / "pipelines" / f"{name}.yaml")
    assert validate_pipeline_sql(spark, pipeline, file=name) > 0


@pytest.mark.parametrize("sql", [
    "WITH t AS (SELECT order_id, amount FROM {silver}) SELECT order_id, sum(amount) AS s FROM t GROUP BY order_id",
    "SELECT order_id, row_number() OVER (PARTITION BY order_id ORDER BY updated_at) AS rn FROM {silver}",
    "SELECT order_id FROM {silver} WHERE amount > (SELECT avg(amount) FROM {silver})",
    "SELECT s.order_id, uuid() AS u, rand() AS r FROM {silver} s",
    "SELECT order_id, transform(array(1, 2), x -> x + 1) AS xs FROM {silver}",
    "SELECT v.id, s.order_id FROM VALUES (1, 'a') AS v(id, name) JOIN {silver} s ON v.id = s.order_id",
])
def test_ordinary_gold_sql_passes(spark, sql: str) -> None:  # noqa: ANN001
    validate_pipeline_sql(spark, PipelineConfig.model_validate(_gold_sql(sql)), file="ok.yaml")  # no ConfigError


def test_ordinary_per_row_expressions_pass(spark) -> None:  # noqa: ANN001
    data = {**BASE, "silver": {**BASE["silver"], "columns": {
        **BASE["silver"]["columns"],
        "tags": "filter(split(tags, ','), t -> t != '')",
        "email": "lower(trim(payload.email))",
        "n": "coalesce(try_cast(n AS int), 0) + size(array(1, 2))",
    }}}
    validate_pipeline_sql(spark, PipelineConfig.model_validate(data), file="ok.yaml")  # no ConfigError
