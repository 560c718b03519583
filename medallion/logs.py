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
_SECRET_ENV = re.compile(
    r"(KEY|SECRET|TOKEN|PASSWORD|PASSWD|PWD|CONNECTION_STRING|SAS|CREDENTIAL|PAT\b|_PAT_|AUTH|SIG)", re.IGNORECASE
)
_PATTERNS = [
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9\-_.~+/]+=*"),
    re.compile(r"(?i)((?:AccountKey|SharedAccessSignature|password|pwd|client_secret|clientsecret)\s*[=:]\s*)[^;\s&\"']+"),
    re.compile(r"(?i)(\bsig=)[^&\s\"']+"),
    # credential shapes without a label (group 1 empty): an Azure storage account key (64 bytes, base64),
    # an Azure DevOps PAT (52 base32 characters, or the 84-character AZDO format), an Entra ID client
    # secret (``xxx8Q~...``), a JWT.
    re.compile(r"()(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{86}==(?![A-Za-z0-9+/=])"),
    re.compile(r"()\b[a-z2-7]{52}\b"),
    re.compile(r"()\b[A-Za-z0-9]{76}AZDO[A-Za-z0-9]{4}\b"),
    re.compile(r"()(?<![A-Za-z0-9_~.-])[A-Za-z0-9_~.-]{3}\dQ~[A-Za-z0-9_~.-]{31,34}(?![A-Za-z0-9_~.-])"),
    re.compile(r"()\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+"),
]


def _secret_values() -> list[str]:
    return sorted(
        (v for k, v in os.environ.items() if _SECRET_ENV.search(k) and len(v) >= 6),
        key=len,
        reverse=True,
    )


def mask_secrets(text: str) -> str:
    """Replace secret-looking values (tokens, keys, SAS signatures, secret env values) with ``***``.

    The one masking function of every sink: logs, the CLI's text and JSON output, the run log's
    ``error`` column (:class:`medallion.run_log.RunRecord`) and the report.
    """
    if not text:
        return text
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
