"""Deterministic ``orders`` landing files with realistic defects, and the counts each layer must produce.

The data matches ``conf/pipelines/orders.yaml``: JSON lines with ``order_id``, ``customer_email``,
``amount``, ``currency``, ``status``, ``channel``, ``items``, ``created_at`` and ``updated_at``
(ISO-8601 UTC, ``2026-11-01T08:15:30Z``). Everything is derived from the seed; no wall clock, so the
same call always writes the same bytes.

Defects, each counted in the manifest:

- corrupt lines (truncated JSON, plain text, a trailing comma, an unquoted key),
- exact duplicates of a line within the same file,
- updates: a newer version of a key delivered in a later file (and, less often, in the same file),
- stale versions: an *older* ``updated_at`` of a key arriving in a later file,
- rule violations: missing ``order_id`` (absent or null), non-numeric ``order_id``, negative ``amount``
  (``drop`` rules), unknown or missing ``status`` (the ``warn`` rule),
- messy casing and surrounding spaces in ``customer_email`` and ``status`` (valid after cleansing).

To keep the expected counts unambiguous whatever order a layer applies rules and deduplication in,
rows that violate a rule (or carry an unknown status) use a key that appears nowhere else, no two
different versions of a key share an ``updated_at``, and exact duplicates never cross files.

The expected counts are computed by replaying the pipeline's semantics in plain Python over the
generated lines (parse -> cleanse -> drop rules -> newest version per key wins), so they follow the
data rather than the generator's bookkeeping. See :func:`expected_counts` for what each number means.

Example:
    >>> manifest = generate("data/landing/orders", 3000, seed=7, deliveries=3)  # doctest: +SKIP
    >>> manifest["silver"]["rows_out"]  # doctest: +SKIP

CLI::

    python -m benchmarks.datagen --out data/landing/orders --rows 3000 \\
        --manifest data/landing/orders.expected.json \\
        --later-out data/later/orders --later-rows 300 --later-manifest data/later/orders.expected.json
"""
from __future__ import annotations

import argparse
import json
import random
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

__all__ = [
    "DefectRates",
    "Delivery",
    "OrderStream",
    "generate",
    "expected_counts",
    "write_manifest",
    "main",
]

GENERATOR_VERSION = 1
BASE_TIME = datetime(2026, 11, 1, tzinfo=UTC)
DAY = 86_400
KNOWN_STATUSES = ("NEW", "PAID", "SHIPPED", "CANCELLED")
UNKNOWN_STATUSES = ("refunded", "On-Hold", "PENDING_REVIEW", "", None)  # None: the key is absent
CURRENCIES = ("EUR", "EUR", "EUR", "USD", "GBP", "CHF")
CHANNELS = ("web", "web", "app", "app", "marketplace", "store")
DOMAINS = ("example.com", "mail.example.org", "shop.test", "contoso.com", "fabrikam.net")
FIRST = ("anna", "ben", "carla", "david", "emma", "felix", "greta", "hugo", "ines", "jonas", "karin", "lukas",
         "mia", "noah", "olga", "paul", "rosa", "sven", "tara", "uwe", "vera", "wim", "yara", "zeno")
LAST = ("meyer", "schmidt", "novak", "rossi", "garcia", "smith", "dubois", "jansen", "kowalski", "larsen",
        "silva", "murphy", "weber", "fischer", "costa", "berg")
GARBAGE = (
    "ERROR upstream timeout while exporting orders",
    "<html><body>502 Bad Gateway</body></html>",
    "order_id;customer_email;amount;status",
    "--- export truncated by proxy ---",
)
_INT = re.compile(r"^-?\d+$")


@dataclass(frozen=True)
class DefectRates:
    """Fractions of a delivery's lines that carry each defect (at least one each when the rate is > 0).

    ``update`` and ``stale`` apply to deliveries after the first one (they need earlier keys).
    """

    corrupt: float = 0.004
    duplicate: float = 0.01
    missing_id: float = 0.003
    non_numeric_id: float = 0.002
    negative_amount: float = 0.005
    unknown_status: float = 0.005
    intra_update: float = 0.02
    update: float = 0.10
    stale: float = 0.01
    messy: float = 0.05

    def special_count(self, n: int, *, has_history: bool) -> dict[str, int]:
        """How many lines of each defect a delivery of ``n`` lines gets."""

        def k(rate: float) -> int:
            return 0 if rate <= 0 else max(1, round(n * rate))

        out = {
            "corrupt": k(self.corrupt),
            "duplicate": k(self.duplicate),
            "missing_id": k(self.missing_id),
            "non_numeric_id": k(self.non_numeric_id),
            "negative_amount": k(self.negative_amount),
            "unknown_status": k(self.unknown_status),
            "intra_update": k(self.intra_update),
            "update": k(self.update) if has_history else 0,
            "stale": k(self.stale) if has_history else 0,
        }
        return out


@dataclass
class Delivery:
    """One landing file: its name, its lines (without newline) and what the generator put in it."""

    name: str
    lines: list[str]
    kinds: Counter[str] = field(default_factory=Counter)


@dataclass
class _Key:
    created: int  # seconds after BASE_TIME
    winner: int  # updated_at of the newest version so far
    versions: set[int]
    record: dict[str, Any]  # the newest version (raw)


def _iso(seconds: int) -> str:
    return (BASE_TIME + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _dumps(record: dict[str, Any]) -> str:
    return json.dumps(record, separators=(", ", ": "), ensure_ascii=True)


class OrderStream:
    """A seeded stream of deliveries: each call to :meth:`delivery` continues from the previous state.

    Args:
        seed: the random seed; the same seed and the same sequence of calls give identical lines.
        rates: defect rates.
        customers: size of the customer pool (default: one per four orders of the first delivery).
        first_key: the first numeric ``order_id``.
    """

    def __init__(self, seed: int = 7, rates: DefectRates | None = None, *, customers: int | None = None,
                 first_key: int = 100_001) -> None:
        self.rng = random.Random(seed)
        self.rates = rates or DefectRates()
        self.customers = customers
        self.next_key = first_key
        self.day = 0
        self.keys: dict[int, _Key] = {}
        self.pool: list[int] = []  # ordinary keys: eligible for later updates and stale versions
        self._emails: list[str] = []

    # ----------------------------------------------------------------- building blocks

    def _email_pool(self, n: int) -> list[str]:
        if not self._emails:
            size = self.customers or max(50, n // 4)
            self._emails = [
                f"{self.rng.choice(FIRST)}.{self.rng.choice(LAST)}{i}@{self.rng.choice(DOMAINS)}" for i in range(size)
            ]
        return self._emails

    def _fresh_key(self) -> int:
        key = self.next_key
        self.next_key += 1
        return key

    def _messy(self, value: str, kind: str) -> str:
        if kind == "email":
            value = "".join(c.upper() if self.rng.random() < 0.3 else c for c in value)
        else:
            value = self.rng.choice((value.lower(), value.title(), value))
        return " " * self.rng.randint(0, 2) + value + " " * self.rng.randint(1, 2)

    def _record(self, key: int | str | None, created: int, updated: int, status: str | None, *,
                amount_cents: int | None = None, email: str | None = None, drop_key: bool = False) -> dict[str, Any]:
        rng = self.rng
        emails = self._email_pool(1)
        email = email or rng.choice(emails)
        cents = amount_cents if amount_cents is not None else rng.randint(199, 250_000)
        rec: dict[str, Any] = {}
        if not drop_key:
            rec["order_id"] = key
        rec["customer_email"] = email
        rec["amount"] = round(cents / 100, 2)
        rec["currency"] = rng.choice(CURRENCIES)
        if status is not None:
            rec["status"] = status
        rec["channel"] = rng.choice(CHANNELS)
        rec["items"] = rng.randint(1, 6)
        rec["created_at"] = _iso(created)
        rec["updated_at"] = _iso(updated)
        return rec

    def _maybe_messy(self, rec: dict[str, Any]) -> dict[str, Any]:
        if self.rng.random() < self.rates.messy:
            rec = dict(rec)
            rec["customer_email"] = self._messy(rec["customer_email"], "email")
            if "status" in rec:
                rec["status"] = self._messy(rec["status"], "status")
        return rec

    def _corrupt_line(self, i: int, start: int) -> str:
        kind = i % 4
        key = self._fresh_key()  # used nowhere else
        rec = self._record(key, start, start + self.rng.randint(0, DAY - 1), "NEW")
        text = _dumps(rec)
        if kind == 0:  # truncated mid-record
            return text[: self.rng.randint(12, len(text) - 12)]
        if kind == 1:  # plain garbage
            return self.rng.choice(GARBAGE)
        if kind == 2:  # trailing comma
            return text[:-1] + ", }"
        return text.replace('"order_id"', "order_id", 1)  # unquoted key

    # ----------------------------------------------------------------- one delivery

    def delivery(self, n: int, *, name: str | None = None, extra_columns: dict[str, Sequence[Any]] | None = None,
                 rates: DefectRates | None = None) -> Delivery:
        """Generate the next delivery: ``n`` lines covering the next day.

        Args:
            n: number of lines (records, corrupt ones included).
            name: file name (default ``orders_YYYYMMDDT060000Z.json`` for the delivery's day).
            extra_columns: columns added to every parseable record of this delivery, with the values to draw
                from (a new column appearing in a later delivery).
            rates: override the stream's defect rates for this delivery.
        """
        rates = rates or self.rates
        rng = self.rng
        day = self.day
        self.day += 1
        start = day * DAY
        counts = rates.special_count(n, has_history=bool(self.pool))
        specials = sum(counts.values())
        n_new = n - specials
        if n_new < max(1, counts["intra_update"]):
            raise ValueError(f"a delivery of {n} lines is too small for its defects ({counts}); use at least 20")
        self._email_pool(n)
        name = name or f"orders_{(BASE_TIME + timedelta(days=day)).strftime('%Y%m%d')}T060000Z.json"
        out: list[tuple[str, str]] = []  # (kind, line)
        kinds: Counter[str] = Counter()

        def emit(kind: str, rec: dict[str, Any]) -> None:
            if extra_columns:
                rec = dict(rec)
                for col, values in extra_columns.items():
                    rec[col] = rng.choice(list(values))
            out.append((kind, _dumps(rec)))
            kinds[kind] += 1

        history = list(self.pool)  # keys from earlier deliveries only
        new_keys: list[int] = []
        for _ in range(n_new):
            key = self._fresh_key()
            created = start + rng.randint(0, DAY - 7_200)
            updated = created + rng.randint(0, 3_600)
            rec = self._record(key, created, updated, "NEW" if rng.random() < 0.6 else "PAID")
            self.keys[key] = _Key(created, updated, {updated}, rec)
            new_keys.append(key)
            emit("new", self._maybe_messy(rec))

        # newer versions within the same file
        for key in rng.sample(new_keys, counts["intra_update"]):
            st = self.keys[key]
            ts = rng.randint(st.winner + 1, start + DAY - 1)
            rec = dict(st.record, status=rng.choice(("PAID", "SHIPPED", "CANCELLED")), updated_at=_iso(ts))
            st.winner, st.record = ts, rec
            st.versions.add(ts)
            emit("intra_update", self._maybe_messy(rec))

        # newer versions of keys delivered earlier
        update_keys = rng.sample(history, min(counts["update"], len(history)))
        stale_keys = rng.sample(history, min(counts["stale"], len(history)))
        stale_targets = {k: self.keys[k].winner for k in stale_keys}
        for key in update_keys:
            st = self.keys[key]
            ts = start + rng.randint(0, DAY - 1)
            while ts in st.versions:
                ts += 1
            status = {"NEW": "PAID", "PAID": "SHIPPED"}.get(st.record.get("status", ""), "CANCELLED")
            rec = dict(st.record, status=status, updated_at=_iso(ts))
            if rng.random() < 0.2:  # a corrected amount
                rec["amount"] = round(rng.randint(199, 250_000) / 100, 2)
            st.winner, st.record = ts, rec
            st.versions.add(ts)
            emit("update", self._maybe_messy(rec))

        # stale: an older updated_at than the newest version known before this delivery
        for key in stale_keys:
            st = self.keys[key]
            lo, hi = st.created, stale_targets[key] - 1
            if hi < lo:  # the only version is as old as the order: a stale copy from before it was created
                lo, hi = st.created - 3_600, st.created - 1
            ts = rng.randint(lo, hi)
            while ts in st.versions:
                ts -= 1
            st.versions.add(ts)
            rec = dict(st.record, status=rng.choice(KNOWN_STATUSES), updated_at=_iso(ts))
            emit("stale", self._maybe_messy(rec))

        # rule violations, each on a key used nowhere else
        def one_off() -> tuple[int, int, int]:
            created = start + rng.randint(0, DAY - 3_600)
            return self._fresh_key(), created, created + rng.randint(0, 3_599)

        for i in range(counts["missing_id"]):
            _, c, u = one_off()
            emit("missing_id", self._record(None, c, u, "NEW", drop_key=(i % 2 == 0)))
        for i in range(counts["non_numeric_id"]):
            key, c, u = one_off()
            emit("non_numeric_id", self._record(f"ORD-{key}" if i % 2 == 0 else f"{key}x", c, u, "NEW"))
        for _ in range(counts["negative_amount"]):
            key, c, u = one_off()
            emit("negative_amount", self._record(key, c, u, "CANCELLED", amount_cents=-rng.randint(100, 50_000)))
        for i in range(counts["unknown_status"]):
            key, c, u = one_off()
            emit("unknown_status", self._record(key, c, u, UNKNOWN_STATUSES[i % len(UNKNOWN_STATUSES)]))

        for i in range(counts["corrupt"]):
            out.append(("corrupt", self._corrupt_line(i, start)))
            kinds["corrupt"] += 1

        # exact duplicates of lines of this file (never of a corrupt line)
        parseable = [line for kind, line in out if kind != "corrupt"]
        for line in rng.sample(parseable, counts["duplicate"]):
            out.append(("duplicate", line))
            kinds["duplicate"] += 1

        rng.shuffle(out)
        self.pool.extend(new_keys)
        return Delivery(name=name, lines=[line for _, line in out], kinds=kinds)


# --------------------------------------------------------------------------- expected counts


def _to_bigint(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _INT.match(value.strip(" ")):
        return int(value.strip(" "))
    return None


def _cleanse(line: str) -> dict[str, Any] | None:
    """Parse one line the way Spark's JSON reader would and apply the pipeline's ``columns``."""
    try:
        rec = json.loads(line)
    except json.JSONDecodeError:
        return None
    if not isinstance(rec, dict):
        return None
    amount = rec.get("amount")
    email = rec.get("customer_email")
    status = rec.get("status")
    return {
        "order_id": _to_bigint(rec.get("order_id")),
        "customer_email": email.strip(" ").lower() if isinstance(email, str) else None,
        "amount": Decimal(str(amount)).quantize(Decimal("0.01")) if isinstance(amount, (int, float)) else None,
        "status": status.strip(" ").upper() if isinstance(status, str) else None,
        "updated_at": rec["updated_at"],
    }


def _is_corrupt(line: str) -> bool:
    return _cleanse(line) is None


def _batch(lines: Iterable[str], state: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """Replay one silver run over ``lines`` against the current table ``state`` (updated in place)."""
    rows_in = corrupt = 0
    reasons: Counter[str] = Counter()
    warned = 0
    valid: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for line in lines:
        rows_in += 1
        row = _cleanse(line)
        if row is None:
            corrupt += 1
            reasons["corrupt_record"] += 1
            continue
        failed = []
        if row["order_id"] is None:
            failed.append("order_id_present")
        if row["amount"] is None or row["amount"] < 0:
            failed.append("amount_non_negative")
        if failed:
            for name in failed:
                reasons[name] += 1
            continue
        if row["status"] not in KNOWN_STATUSES:
            warned += 1
        valid[row["order_id"]].append(row)
    inserted = updated = stale = 0
    n_valid = sum(len(v) for v in valid.values())
    for key, versions in valid.items():
        newest = max(versions, key=lambda r: r["updated_at"])
        ties = [r for r in versions if r["updated_at"] == newest["updated_at"]]
        if any(r != newest for r in ties):
            raise AssertionError(f"ambiguous data: key {key} has two different versions at {newest['updated_at']}")
        current = state.get(key)
        if current is None:
            inserted += 1
            state[key] = newest
        elif newest["updated_at"] > current["updated_at"]:
            updated += 1
            state[key] = newest
        elif newest["updated_at"] == current["updated_at"] and newest != current:
            raise AssertionError(f"ambiguous data: key {key} redelivered with changes at {newest['updated_at']}")
        else:
            stale += 1
    quarantined = rows_in - n_valid  # rows, not reasons: a bad row may fail more than one rule
    rows_out = inserted + updated
    return {
        "rows_in": rows_in,
        "rows_out": rows_out,
        "rows_inserted": inserted,
        "rows_updated": updated,
        "rows_quarantined": quarantined,
        "rows_superseded": n_valid - rows_out,
        "rows_superseded_by_target": stale,
        "rows_warned": warned,
        "quarantine_reasons": dict(sorted(reasons.items())),
    }


def _table_summary(state: dict[int, dict[str, Any]]) -> dict[str, Any]:
    by_status: Counter[str] = Counter("null" if r["status"] is None else r["status"] for r in state.values())
    return {
        "rows": len(state),
        "amount_sum": str(sum((r["amount"] for r in state.values()), Decimal("0.00"))),
        "min_order_id": min(state) if state else None,
        "max_order_id": max(state) if state else None,
        "distinct_customers": len({r["customer_email"] for r in state.values()}),
        "by_status": dict(sorted(by_status.items())),  # "null" = status missing
    }


def _gold_daily_revenue(state: dict[int, dict[str, Any]]) -> dict[str, Any]:
    groups: dict[tuple[str, str | None], dict[str, Any]] = {}
    for r in state.values():
        key = (r["updated_at"][:10], r["status"])
        g = groups.setdefault(key, {"orders": 0, "revenue": Decimal("0.00"), "customers": set()})
        g["orders"] += 1
        g["revenue"] += r["amount"]
        g["customers"].add(r["customer_email"])
    data = [
        {"order_date": d, "status": s, "orders": g["orders"], "revenue": str(g["revenue"]), "customers": len(g["customers"])}
        for (d, s), g in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] or ""))
    ]
    return {
        "rows": len(data),
        "orders": sum(g["orders"] for g in data),
        "revenue": str(sum((Decimal(g["revenue"]) for g in data), Decimal("0.00"))),
        "data": data,
    }


def expected_counts(deliveries: Sequence[Delivery], *, prior: Sequence[Delivery] = ()) -> dict[str, Any]:
    """What bronze, silver and gold must report after loading ``deliveries`` (on top of ``prior``).

    ``prior`` deliveries are assumed already loaded into bronze, silver and gold. Semantics:

    - ``bronze.rows`` = every line of the new files; ``bronze.rows_corrupt`` = the unparseable ones.
    - ``silver`` (one run over all new bronze rows): ``rows_quarantined`` = corrupt rows + rows failing a
      ``drop`` rule (each fails exactly one reason); ``rows_out`` = keys inserted + keys updated by the MERGE;
      ``rows_superseded`` = every other valid row (older versions within the batch, exact duplicates, and
      versions older than the table's, counted again in ``rows_superseded_by_target``);
      ``rows_warned`` = valid rows whose status is unknown or missing. ``rows_in`` = out + quarantined + superseded.
    - ``silver.per_file``: the same when each file is loaded by its own run, in file order.
    - ``silver.table``: the silver table after the run; ``gold.daily_revenue``: the gold table after the run.
    """
    state: dict[int, dict[str, Any]] = {}
    for d in prior:
        _batch(d.lines, state)
    start_state = dict(state)
    files = []
    for d in deliveries:
        files.append({
            "name": d.name,
            "records": len(d.lines),
            "corrupt": sum(1 for line in d.lines if _is_corrupt(line)),
            "generated": dict(sorted(d.kinds.items())),
        })
    all_lines = [line for d in deliveries for line in d.lines]
    silver = _batch(all_lines, state)
    step_state = dict(start_state)
    per_file = [dict(_batch(d.lines, step_state), name=d.name) for d in deliveries]
    if _table_summary(step_state) != _table_summary(state):
        raise AssertionError("loading file by file and all at once disagree: the data is ambiguous")
    kinds: Counter[str] = Counter()
    for d in deliveries:
        kinds.update(d.kinds)
    return {
        "dataset": "orders",
        "files": files,
        "totals": {
            "files": len(deliveries),
            "records": len(all_lines),
            "corrupt": sum(f["corrupt"] for f in files),
            "exact_duplicates": kinds["duplicate"],
            "updates": kinds["update"] + kinds["intra_update"],
            "updates_across_files": kinds["update"],
            "stale_versions": kinds["stale"],
            "missing_order_id": kinds["missing_id"],
            "non_numeric_order_id": kinds["non_numeric_id"],
            "negative_amount": kinds["negative_amount"],
            "unknown_status": kinds["unknown_status"],
            "distinct_valid_keys_in_files": len({r["order_id"] for line in all_lines
                                                 if (r := _cleanse(line)) is not None and r["order_id"] is not None
                                                 and r["amount"] is not None and r["amount"] >= 0}),
        },
        "bronze": {"rows": len(all_lines), "rows_corrupt": sum(f["corrupt"] for f in files),
                   "files_ingested": len(deliveries)},
        "silver": {**silver, "per_file": per_file, "table": _table_summary(state)},
        "gold": {"daily_revenue": _gold_daily_revenue(state)},
    }


# --------------------------------------------------------------------------- writing


def _write(out_dir: Path, deliveries: Sequence[Delivery]) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for d in deliveries:
        (out_dir / d.name).write_text("".join(line + "\n" for line in d.lines), encoding="utf-8")


def write_manifest(path: str | Path, manifest: dict[str, Any]) -> None:
    """Write a manifest as stable, pretty JSON."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n", encoding="utf-8")


def _split(rows: int, parts: int) -> list[int]:
    base, rest = divmod(rows, parts)
    return [base + (1 if i < rest else 0) for i in range(parts)]


def generate(out_dir: str | Path, rows: int, *, seed: int = 7, deliveries: int = 3,
             later_dir: str | Path | None = None, later_rows: int = 0,
             later_extra_columns: dict[str, Sequence[Any]] | None = None,
             rates: DefectRates | None = None) -> dict[str, Any]:
    """Write ``rows`` lines of orders as ``deliveries`` landing files, plus an optional later delivery.

    Args:
        out_dir: directory for the initial delivery files (created).
        rows: total lines over the initial deliveries (corrupt lines included).
        seed: random seed; same arguments -> same bytes.
        deliveries: number of initial files (one day each).
        later_dir: where to write one later delivery file (updates, stale versions, violations, corrupt lines),
            loaded after the initial ones; its name sorts after theirs so it can be copied into the landing dir.
        later_rows: lines in the later delivery (required with ``later_dir``).
        later_extra_columns: new columns that appear only in the later delivery (schema evolution).
        rates: defect rates.

    Returns:
        The manifest of :func:`expected_counts` for the initial load (``seed``, ``rows``, ``out_dir`` added),
        with the later delivery's manifest under ``"later"`` when one was written.
    """
    if deliveries < 1 or rows < 20 * deliveries:
        raise ValueError(f"need at least 20 rows per delivery (rows={rows}, deliveries={deliveries})")
    stream = OrderStream(seed, rates)
    initial = [stream.delivery(n) for n in _split(rows, deliveries)]
    _write(Path(out_dir), initial)
    manifest: dict[str, Any] = {"generator": f"benchmarks.datagen v{GENERATOR_VERSION}", "seed": seed,
                                "rows": rows, **expected_counts(initial)}
    if later_dir is not None:
        if later_rows < 20:
            raise ValueError("later_rows must be at least 20")
        later = stream.delivery(later_rows, extra_columns=later_extra_columns)
        _write(Path(later_dir), [later])
        manifest["later"] = {
            "generator": f"benchmarks.datagen v{GENERATOR_VERSION}", "seed": seed, "rows": later_rows,
            "loaded_after": [d.name for d in initial],
            "new_columns": sorted(later_extra_columns or {}),
            **expected_counts([later], prior=initial),
        }
    return manifest


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m benchmarks.datagen --out DIR --rows N``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="directory for the delivery files")
    parser.add_argument("--rows", type=int, required=True, help="total lines over the initial deliveries")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--deliveries", type=int, default=3)
    parser.add_argument("--manifest", help="write the expected counts here (default: print them)")
    parser.add_argument("--later-out", help="directory for one later delivery")
    parser.add_argument("--later-rows", type=int, default=0)
    parser.add_argument("--later-manifest", help="write the later delivery's expected counts here")
    parser.add_argument("--later-new-column", action="append", default=[], metavar="NAME=V1,V2",
                        help="a column that appears only in the later delivery, with values to draw from")
    args = parser.parse_args(argv)
    extra = {}
    for spec in args.later_new_column:
        name, _, values = spec.partition("=")
        extra[name] = [v or None for v in values.split(",")]
    manifest = generate(args.out, args.rows, seed=args.seed, deliveries=args.deliveries,
                        later_dir=args.later_out, later_rows=args.later_rows or max(20, args.rows // 100),
                        later_extra_columns=extra or None)
    later = manifest.pop("later", None)
    if args.manifest:
        write_manifest(args.manifest, manifest)
    else:
        print(json.dumps({k: manifest[k] for k in ("files", "totals", "bronze")}, indent=2))
    if later is not None and args.later_manifest:
        write_manifest(args.later_manifest, later)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
