"""Logging for the entry points: stderr, one format, and a filter that masks secrets.

Library modules only call ``logging.getLogger(__name__)``; :func:`configure_logging` is called by the
CLI and the job files, never on import.
"""
from __future__ import annotations

import logging
import os
import re
import sys

__all__ = ["SecretMaskingFilter", "configure_logging", "mask_secrets"]

MASK = "***"
_SECRET_ENV = re.compile(r"(KEY|SECRET|TOKEN|PASSWORD|PASSWD|CONNECTION_STRING|SAS|CREDENTIAL)", re.IGNORECASE)
_PATTERNS = [
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9\-_.~+/]+=*"),
    re.compile(r"(?i)((?:AccountKey|SharedAccessSignature|password|pwd|client_secret)\s*[=:]\s*)[^;\s&\"']+"),
    re.compile(r"(?i)([?&]sig=)[^&\s\"']+"),
]


def _secret_values() -> list[str]:
    return sorted(
        (v for k, v in os.environ.items() if _SECRET_ENV.search(k) and len(v) >= 6),
        key=len,
        reverse=True,
    )


def mask_secrets(text: str) -> str:
    """Replace secret-looking values (tokens, keys, SAS signatures, secret env values) with ``***``."""
    for value in _secret_values():
        text = text.replace(value, MASK)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + MASK, text)
    return text


class SecretMaskingFilter(logging.Filter):
    """Masks secrets in every record's final message (arguments included)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_secrets(message)
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = mask_secrets(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        if masked != message or record.args:
            record.msg, record.args = masked, None
        return True


def configure_logging(level: str | int = "INFO") -> None:
    """Log to stderr with secrets masked. Idempotent."""
    root = logging.getLogger()
    for handler in root.handlers:
        if getattr(handler, "_medallion", False):
            return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(SecretMaskingFilter())
    handler._medallion = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(os.environ.get("MEDALLION_LOG_LEVEL", level))
    logging.getLogger("py4j").setLevel(logging.WARNING)
