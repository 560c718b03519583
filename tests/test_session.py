"""Where a local session's Delta jars come from: ~/.m2 when Maven has them, else Ivy."""
from __future__ import annotations

from pathlib import Path

from medallion.session import delta_artifacts, maven_delta_jars


def test_maven_jars_are_used_only_when_all_are_present(tmp_path: Path) -> None:
    assert maven_delta_jars(tmp_path) is None
    expected = []
    for group, artifact, version in delta_artifacts():
        jar = tmp_path.joinpath(*group.split("."), artifact, version, f"{artifact}-{version}.jar")
        jar.parent.mkdir(parents=True)
        jar.write_bytes(b"PK")
        expected.append(str(jar))
    assert maven_delta_jars(tmp_path) == expected
    Path(expected[1]).unlink()
    assert maven_delta_jars(tmp_path) is None


def test_artifacts_follow_the_installed_delta_spark() -> None:
    from importlib.metadata import version

    import pyspark

    delta = version("delta-spark")
    names = [artifact for _, artifact, _ in delta_artifacts()]
    if pyspark.__version__.startswith("3."):
        assert ("io.delta", "delta-spark_2.12", delta) in delta_artifacts()
        assert ("org.antlr", "antlr4-runtime", "4.9.3") in delta_artifacts()
    else:  # Spark 4: Scala 2.13, the Spark line in the name (Delta >= 4.1), Spark's own antlr
        spark_line = ".".join(pyspark.__version__.split(".")[:2])
        assert ("io.delta", f"delta-spark_{spark_line}_2.13", delta) in delta_artifacts()
        assert not any("2.12" in name or "antlr" in name for name in names)
    assert ("io.delta", "delta-storage", delta) in delta_artifacts()


def test_artifacts_name_what_configure_spark_with_delta_pip_asks_ivy_for() -> None:
    """The Maven fallback and Ivy must fetch the same Delta connector, on either runtime."""
    from delta import configure_spark_with_delta_pip
    from pyspark.sql import SparkSession

    builder = SparkSession.Builder()
    saved = dict(builder._options)  # the builder's options are shared by every builder: restore them
    try:
        packages = configure_spark_with_delta_pip(builder)._options["spark.jars.packages"]
    finally:
        builder._options.clear()
        builder._options.update(saved)
    group, artifact, version = delta_artifacts()[0]
    assert packages.split(",")[0] == f"{group}:{artifact}:{version}"
