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

    assert ("io.delta", "delta-spark_2.12", version("delta-spark")) in delta_artifacts()
