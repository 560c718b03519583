"""The sample-data generator: deterministic, and its manifest adds up (pure Python, no Spark)."""
from __future__ import annotations

import json
from pathlib import Path

from benchmarks.datagen import generate

REPO = Path(__file__).resolve().parents[1]


def _read(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.iterdir())}


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    a = generate(tmp_path / "a", 200, seed=3, deliveries=2, later_dir=tmp_path / "la", later_rows=40)
    b = generate(tmp_path / "b", 200, seed=3, deliveries=2, later_dir=tmp_path / "lb", later_rows=40)
    assert a == b
    assert _read(tmp_path / "a") == _read(tmp_path / "b")
    assert _read(tmp_path / "la") == _read(tmp_path / "lb")
    c = generate(tmp_path / "c", 200, seed=4, deliveries=2)
    assert _read(tmp_path / "c") != _read(tmp_path / "a")
    assert c["bronze"]["rows"] == 200


def test_manifest_identities(tmp_path: Path) -> None:
    m = generate(tmp_path / "o", 1000, deliveries=3, later_dir=tmp_path / "l", later_rows=100)
    for part in (m, m["later"]):
        s = part["silver"]
        assert s["rows_in"] == part["bronze"]["rows"] == sum(f["records"] for f in part["files"])
        assert s["rows_in"] == s["rows_out"] + s["rows_quarantined"] + s["rows_superseded"]
        assert s["quarantine_reasons"]["corrupt_record"] == part["bronze"]["rows_corrupt"] > 0
        assert part["gold"]["daily_revenue"]["orders"] == s["table"]["rows"]
        for step in s["per_file"]:
            assert step["rows_in"] == step["rows_out"] + step["rows_quarantined"] + step["rows_superseded"]
    t = m["totals"]
    assert t["exact_duplicates"] and t["stale_versions"] and t["updates_across_files"] and t["negative_amount"]
    assert m["later"]["silver"]["rows_updated"] > 0 and m["later"]["silver"]["rows_superseded_by_target"] > 0
    assert m["later"]["silver"]["table"]["rows"] == m["silver"]["table"]["rows"] + m["later"]["silver"]["rows_inserted"]


def test_bundled_sample_matches_its_manifest(tmp_path: Path) -> None:
    m = generate(tmp_path / "orders", 3000, seed=7, deliveries=3, later_dir=tmp_path / "later", later_rows=300,
                 later_extra_columns={"coupon_code": ["WELCOME10", "BLACKFRIDAY", None]})
    assert _read(tmp_path / "orders") == _read(REPO / "data/landing/orders")
    assert _read(tmp_path / "later") == _read(REPO / "data/later/orders")
    later = m.pop("later")
    assert json.loads((REPO / "data/landing/orders.expected.json").read_text()) == m
    assert json.loads((REPO / "data/later/orders.expected.json").read_text()) == later
