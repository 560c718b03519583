"""The file record compacts itself on a commit-version schedule, and stays whole across compactions."""
from __future__ import annotations

from datetime import UTC, datetime

import medallion.bronze.file_log as file_log
from medallion.bronze.file_log import FileEntry, FileLog, FileStatus

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def _data_files(spark, path: str) -> int:  # type: ignore[no-untyped-def]
    return spark.sql(f"DESCRIBE DETAIL delta.`{path}`").first()["numFiles"]


def test_every_nth_commit_compacts_the_log_and_keeps_every_entry(spark, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(file_log, "_COMPACT_EVERY", 3)
    log = FileLog(spark, str(tmp_path / "files"), str(tmp_path / "bronze"))
    entries = [FileEntry(f"file:/landing/f{i}.json", 10 + i, 1000 + i, FileStatus.EMPTY) for i in range(4)]
    for i, entry in enumerate(entries[:3]):  # versions 0, 1, 2: one small file each, no compaction yet
        log.record([entry], bronze_version=i, committed=False, run_id=f"run-{i}", now=NOW)
    assert _data_files(spark, log.path) == 3
    log.record([entries[3]], bronze_version=3, committed=False, run_id="run-3", now=NOW)  # version 3: compacted
    assert _data_files(spark, log.path) == 1
    assert sorted(log.current()) == sorted(e.path for e in entries)
    assert {e.size for e in log.current().values()} == {10, 11, 12, 13}
