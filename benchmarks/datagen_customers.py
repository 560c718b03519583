"""The bundled sample's second dataset: a customers CDC feed, and the expected results, computed here
in plain Python (independently of medallion and Spark).

The feed has inserts, updates (some of untracked columns only), deletes, re-inserts after a delete,
late versions (older ``updated_at`` in a later file), an older upsert arriving after its key's delete,
a corrupt line and a row without a key. Customers are the e-mail addresses of the orders sample, so the
gold table ``revenue_by_segment`` (orders joined with the customer version valid at order time) has
rows; its expected content is computed from the raw orders files (cleansed, checked and deduplicated
as ``conf/pipelines/orders.yaml`` says) and the customers' history built here.

Regenerate byte for byte with ``python -m benchmarks.datagen_customers`` (seed 13).
"""
from __future__ import annotations

import argparse
import json
import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

SEED = 13
SEGMENTS = ("CONSUMER", "SMB", "ENTERPRISE")
COUNTRIES = ("DE", "FR", "NL", "GB", "US")
TRACKED = ("segment", "country")
START = datetime(2026, 10, 30, tzinfo=UTC)
LANDING = ("customers_20261101T060000Z.json", "customers_20261102T060000Z.json", "customers_20261103T060000Z.json")
LATER = "customers_20261104T060000Z.json"


def _iso(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_ts(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


# --------------------------------------------------------------------------- orders silver, in Python


def orders_silver(files: list[Path]) -> dict[int, dict[str, Any]]:
    """The orders silver table (newest version per order_id) from the raw files, per orders.yaml:
    order_id a number, amount >= 0 (drop); email lower(trim()); newest updated_at wins."""
    newest: dict[int, dict[str, Any]] = {}
    for file in files:
        for line in file.read_text(encoding="utf-8").splitlines():
            try:
                rec = json.loads(line, parse_float=str, parse_int=str)
            except ValueError:
                continue  # corrupt: bronze keeps it, silver dead-letters it
            if not isinstance(rec, dict):
                continue
            try:
                order_id = int(str(rec.get("order_id")).strip())
                amount = Decimal(str(rec.get("amount"))).quantize(Decimal("0.01"), ROUND_HALF_UP)
            except (ValueError, InvalidOperation):
                continue
            if amount < 0 or rec.get("updated_at") is None:
                continue
            row = {
                "order_id": order_id,
                "email": str(rec.get("customer_email") or "").strip(" ").lower(),
                "amount": amount,
                "updated_at": _parse_ts(rec["updated_at"]),
            }
            if order_id not in newest or row["updated_at"] > newest[order_id]["updated_at"]:
                newest[order_id] = row
    return newest


# --------------------------------------------------------------------------- customers feed


def _events(emails: list[str], rng: random.Random) -> list[dict[str, Any]]:
    """Every customer event, with the file it is delivered in (0-2: landing, 3: later)."""
    events: list[dict[str, Any]] = []

    def add(email: str, ts: datetime, op: str, segment: str, country: str, name: str, file: int) -> None:
        events.append({"email": email, "name": name, "segment": segment, "country": country, "op": op,
                       "updated_at": ts, "file": file})

    for i, email in enumerate(emails):
        segment, country = rng.choice(SEGMENTS), rng.choice(COUNTRIES)
        name = email.split("@")[0].replace(".", " ").title()
        ts = START + timedelta(minutes=rng.randrange(0, 24 * 60))
        add(email, ts, "I", segment, country, name, 0)
        kind = i % 20
        if kind in (1, 2, 3, 4, 5, 6):  # a segment or country change on day 1-3
            ts2 = datetime(2026, 11, 1, tzinfo=UTC) + timedelta(minutes=rng.randrange(0, 3 * 24 * 60))
            seg2 = rng.choice([s for s in SEGMENTS if s != segment]) if kind % 2 else segment
            cty2 = country if kind % 2 else rng.choice([c for c in COUNTRIES if c != country])
            day = (ts2 - datetime(2026, 11, 1, tzinfo=UTC)).days
            late = kind == 5 and day < 2  # delivered a day late (after newer versions of others)
            add(email, ts2, "U", seg2, cty2, name, min(day + (1 if late else 0), 2))
        elif kind == 7:  # only the name changes: not tracked, no new history row
            ts2 = datetime(2026, 11, 2, tzinfo=UTC) + timedelta(minutes=rng.randrange(0, 24 * 60))
            add(email, ts2, "U", segment, country, name + " Jr", 1)
        elif kind == 8:  # deleted on day 2
            ts2 = datetime(2026, 11, 2, tzinfo=UTC) + timedelta(minutes=rng.randrange(0, 24 * 60))
            add(email, ts2, "D", segment, country, name, 1)
        elif kind == 9:  # deleted on day 2, back on day 3 in another segment
            ts2 = datetime(2026, 11, 2, tzinfo=UTC) + timedelta(minutes=rng.randrange(0, 12 * 60))
            add(email, ts2, "D", segment, country, name, 1)
            ts3 = datetime(2026, 11, 3, tzinfo=UTC) + timedelta(minutes=rng.randrange(0, 12 * 60))
            add(email, ts3, "I", rng.choice([s for s in SEGMENTS if s != segment]), country, name, 2)
        elif kind == 10:  # later file: an older version arrives late, before a newer one loaded earlier
            ts2 = datetime(2026, 11, 2, 12, tzinfo=UTC) + timedelta(minutes=rng.randrange(0, 12 * 60))
            add(email, ts2, "U", "ENTERPRISE", country, name, 1)
            ts_late = datetime(2026, 11, 1, tzinfo=UTC) + timedelta(minutes=rng.randrange(0, 24 * 60))
            add(email, ts_late, "U", "SMB" if segment != "SMB" else "CONSUMER", country, name, 3)
        elif kind == 11:  # later file: a delete, then an older upsert after it (must not come back)
            ts2 = datetime(2026, 11, 3, 12, tzinfo=UTC) + timedelta(minutes=rng.randrange(0, 6 * 60))
            add(email, ts2, "D", segment, country, name, 3)
            add(email, ts2 - timedelta(hours=30), "U", segment, rng.choice([c for c in COUNTRIES if c != country]),
                name, 3)
    return events


def history(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The SCD2 rows of the events: per e-mail in time order, a tracked change opens a row, a delete
    closes the open one; the open row at the end is current."""
    by_key: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        by_key[e["email"]].append(e)
    rows: list[dict[str, Any]] = []
    for email in sorted(by_key):
        current: dict[str, Any] | None = None
        for e in sorted(by_key[email], key=lambda x: x["updated_at"]):
            if e["op"] == "D":
                if current is not None:
                    current.update(valid_to=e["updated_at"], is_deleted=True)
                    rows.append(current)
                    current = None
                continue
            if current is not None and all(current[c] == e[c] for c in TRACKED):
                continue
            if current is not None:
                current["valid_to"] = e["updated_at"]
                rows.append(current)
            current = {k: e[k] for k in ("email", "name", "segment", "country", "op", "updated_at")}
            current.update(valid_from=e["updated_at"], valid_to=None, is_deleted=False)
        if current is not None:
            rows.append(current)
    for r in rows:
        r["is_current"] = r["valid_to"] is None
    return rows


def revenue_by_segment(orders: dict[int, dict[str, Any]], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Orders joined with the customer version valid at the order's updated_at, by segment and day."""
    versions: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        versions[r["email"]].append(r)
    out: dict[tuple[str, str], list[Any]] = {}
    for o in orders.values():
        for v in versions.get(o["email"], []):
            if v["valid_from"] <= o["updated_at"] and (v["valid_to"] is None or o["updated_at"] < v["valid_to"]):
                key = (v["segment"], o["updated_at"].date().isoformat())
                acc = out.setdefault(key, [0, Decimal("0.00")])
                acc[0] += 1
                acc[1] += o["amount"]
    return [{"segment": s, "order_date": d, "orders": n, "revenue": str(rev)} for (s, d), (n, rev) in sorted(out.items())]


def _line(e: dict[str, Any]) -> str:
    return json.dumps({"email": e["email"], "name": e["name"], "segment": e["segment"].lower() if e["op"] == "U" else
                       e["segment"], "country": e["country"], "op": e["op"], "updated_at": _iso(e["updated_at"])})


def _jsonable_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: (_iso(v) if isinstance(v, datetime) else v) for k, v in r.items()} for r in rows]


def generate(data: Path) -> None:
    rng = random.Random(SEED)
    orders_files = sorted((data / "landing" / "orders").glob("*.json"))
    later_orders = sorted((data / "later" / "orders").glob("*.json"))
    emails = sorted({o["email"] for o in orders_silver(orders_files).values() if o["email"]})
    emails = sorted(rng.sample(emails, 240))
    events = _events(emails, rng)

    files: list[list[str]] = [[] for _ in range(4)]
    for e in sorted(events, key=lambda x: (x["file"], x["updated_at"], x["email"])):
        files[e["file"]].append(_line(e))
    for lines in files:  # within a file, not in time order
        rng.shuffle(lines)
    files[0].insert(17, '{"email": "broken@example.com", "segment": "SMB", "op": "I", "updated_at": ')  # corrupt
    files[1].insert(5, json.dumps({"email": None, "name": "No Key", "segment": "SMB", "country": "DE", "op": "I",
                                   "updated_at": "2026-11-02T08:00:00Z"}))  # quarantined: no key

    landing, later = data / "landing" / "customers", data / "later" / "customers"
    landing.mkdir(parents=True, exist_ok=True)
    later.mkdir(parents=True, exist_ok=True)
    for name, lines in zip(LANDING, files[:3], strict=True):
        (landing / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    (later / LATER).write_text("\n".join(files[3]) + "\n", encoding="utf-8")

    for where, loaded, orders in (
        ("landing", [e for e in events if e["file"] < 3], orders_files),
        ("later", events, orders_files + later_orders),
    ):
        rows = history(loaded)
        manifest = {
            "generator": "benchmarks.datagen_customers v1",
            "seed": SEED,
            "dataset": "customers",
            "files": [{"name": n, "records": len(lines)} for n, lines in zip(LANDING if where == "landing" else [LATER],
                                                                           files[:3] if where == "landing" else [files[3]],
                                                                           strict=True)],
            "silver": {
                "rows_quarantined": 2 if where == "landing" else 0,  # the corrupt line and the row without a key
                "history": _jsonable_rows(rows),
                "current": sum(1 for r in rows if r["is_current"]),
                "deleted_intervals": sum(1 for r in rows if r["is_deleted"]),
            },
            "gold": {"revenue_by_segment": revenue_by_segment(orders_silver(orders), rows)},
        }
        (data / where / "customers.expected.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="data", help="the sample folder (default: ./data)")
    generate(Path(parser.parse_args().data))


if __name__ == "__main__":
    main()
