"""Every column name medallion reserves for itself, named once.

Source columns and ``silver.columns`` outputs never start with ``_``: the underscore namespace belongs
to the names below (audit columns in the tables, and working columns inside a run). Config validation
refuses an output column in that namespace (:func:`reserved`), so a user's column can never collide
with one of ours.
"""
from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "CORRUPT_RECORD",
    "CORRUPT_BYTES",
    "SOURCE_FILE",
    "INGESTED_AT",
    "SOURCE_SYSTEM",
    "PROCESSING_DATE",
    "RECORD_HASH",
    "RUN_ID",
    "BRONZE_VERSION",
    "UPDATED_AT",
    "FAILED_RULES",
    "QUARANTINE_RUN_ID",
    "QUARANTINED_AT",
    "DLQ_STATUS",
    "DLQ_STATUS_RUN_ID",
    "DLQ_STATUS_AT",
    "DLQ_DISCARD_REASON",
    "DLQ_DISCARDED_BY",
    "DLQ_STATUS_COLUMNS",
    "PREVIOUS_RULES",
    "PARSED",
    "SOURCE_STRUCT",
    "QUARANTINED",
    "WARNED",
    "RANK",
    "CHANGE_TYPE",
    "COMMIT_VERSION",
    "COMMIT_TIMESTAMP",
    "CHANGE_FEED",
    "BRONZE_AUDIT",
    "OPTIONAL_BRONZE_AUDIT",
    "SILVER_AUDIT",
    "DLQ_AUDIT",
    "VALID_FROM",
    "VALID_TO",
    "IS_CURRENT",
    "IS_DELETED",
    "HISTORY_AUDIT",
    "IS_DELETE",
    "TOMBSTONE_SEQUENCE",
    "DELETED_AT",
    "IN_BATCH",
    "ROLE",
    "ACTION",
    "RESERVED_PREFIX",
    "reserved",
]

# --- bronze's audit columns (in table order)
CORRUPT_RECORD = "_corrupt_record"  # the raw text of a record that could not be parsed
CORRUPT_BYTES = "_corrupt_bytes"  # the exact bytes of a corrupt record that was not valid UTF-8 (BINARY)
INGESTED_AT = "_ingested_at"
SOURCE_FILE = "_source_file"
SOURCE_SYSTEM = "_source_system"
PROCESSING_DATE = "_processing_date"  # bronze's partition column
RECORD_HASH = "_record_hash"
RUN_ID = "_run_id"

#: Added (after ``_corrupt_record``) only once a delivery holds a record that is not valid UTF-8.
OPTIONAL_BRONZE_AUDIT = (CORRUPT_BYTES,)

# --- silver's and the dead-letter table's audit columns
BRONZE_VERSION = "_bronze_version"  # the bronze commit a row came from
UPDATED_AT = "_updated_at"
FAILED_RULES = "_failed_rules"
QUARANTINE_RUN_ID = "_quarantine_run_id"
QUARANTINED_AT = "_quarantined_at"

# --- the dead-letter table's status columns (``medallion dlq``; absent or null = pending)
DLQ_STATUS = "_dlq_status"  # pending | replayed | discarded
DLQ_STATUS_RUN_ID = "_dlq_status_run_id"  # the run that last changed the row (status or reasons)
DLQ_STATUS_AT = "_dlq_status_at"
DLQ_DISCARD_REASON = "_dlq_discard_reason"
DLQ_DISCARDED_BY = "_dlq_discarded_by"
DLQ_STATUS_COLUMNS = (DLQ_STATUS, DLQ_STATUS_RUN_ID, DLQ_STATUS_AT, DLQ_DISCARD_REASON, DLQ_DISCARDED_BY)

# --- working columns inside a silver run (never written to a table)
SOURCE_STRUCT = "_bronze"  # the original bronze row, kept for the dead-letter table
QUARANTINED = "_quarantined"
WARNED = "_warned"
RANK = "_rank"
PREVIOUS_RULES = "_previous_rules"  # a dead letter's reasons before a replay re-evaluated it
PARSED = "_parsed"  # a corrupt record re-parsed by a replay

# --- silver history (history: scd2) and deletes (delete_when)
VALID_FROM = "_valid_from"  # the version's sequence_by value
VALID_TO = "_valid_to"  # the next version's (or the delete's) sequence_by value; null while current
IS_CURRENT = "_is_current"
IS_DELETED = "_is_deleted"  # the interval was ended by a delete of the key
HISTORY_AUDIT = (VALID_FROM, VALID_TO, IS_CURRENT, IS_DELETED)
IS_DELETE = "_is_delete"  # an event (row) that deletes its key: delete_when was true
TOMBSTONE_SEQUENCE = "_tombstone_sequence"  # working: the sequence of the key's recorded delete
DELETED_AT = "_deleted_at"  # tombstones: when the delete was recorded
IN_BATCH = "_in_batch"  # working: the event was read by this run
ROLE = "_role"  # working: what an event did to the history (start / close / superseded)
ACTION = "_action"  # working: MERGE action of a history row (upsert / delete)

# --- Delta's change data feed (columns Delta adds to a change-feed read)
CHANGE_TYPE = "_change_type"
COMMIT_VERSION = "_commit_version"
COMMIT_TIMESTAMP = "_commit_timestamp"
CHANGE_FEED = (CHANGE_TYPE, COMMIT_VERSION, COMMIT_TIMESTAMP)

BRONZE_AUDIT = (CORRUPT_RECORD, INGESTED_AT, SOURCE_FILE, SOURCE_SYSTEM, PROCESSING_DATE, RECORD_HASH, RUN_ID)
SILVER_AUDIT = (RECORD_HASH, BRONZE_VERSION, INGESTED_AT, RUN_ID, UPDATED_AT)
DLQ_AUDIT = (FAILED_RULES, BRONZE_VERSION, QUARANTINE_RUN_ID, QUARANTINED_AT)

RESERVED_PREFIX = "_"


def reserved(names: Iterable[str]) -> list[str]:
    """The names among ``names`` that fall in medallion's reserved namespace (leading ``_``).

    Example:
        >>> reserved(["order_id", "_run_id"])
        ['_run_id']
    """
    return [n for n in names if n.startswith(RESERVED_PREFIX)]
