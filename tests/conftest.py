"""Shared fixtures: one session-scoped Spark with Delta, tuned for a 2-core machine."""
from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from medallion.config import EnvConfig

FIXED_NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:  # noqa: F821
    from medallion.session import get_spark

    scratch = Path(tempfile.mkdtemp(prefix="medallion-spark-"))
    os.environ.setdefault("MEDALLION_SPARK_LOG_LEVEL", "ERROR")
    session = get_spark(
        {
            "spark.master": "local[2]",
            "spark.sql.shuffle.partitions": "2",
            "spark.sql.warehouse.dir": str(scratch / "warehouse"),
            "spark.driver.extraJavaOptions": f"-Dderby.system.home={scratch / 'derby'}",
        },
        app_name="medallion-tests",
    )
    yield session
    session.stop()


@pytest.fixture
def now() -> datetime:
    """The injected clock for deterministic audit columns."""
    return FIXED_NOW


@pytest.fixture
def env(tmp_path: Path) -> EnvConfig:
    """An environment whose landing zone and lakehouse live under the test's tmp_path."""
    (tmp_path / "landing").mkdir()
    return EnvConfig(name="test", landing_root=str(tmp_path / "landing"), lakehouse_root=str(tmp_path / "lake"))


@pytest.fixture(scope="session")
def sample_lakehouse(spark, tmp_path_factory):  # noqa: ANN001, ANN201
    """The bundled sample after three real runs (initial, later delivery, a failed run): see report_helpers."""
    from report_helpers import build_sample_lakehouse

    return build_sample_lakehouse(spark, tmp_path_factory.mktemp("report-sample"))
