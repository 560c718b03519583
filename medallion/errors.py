"""The package's one exception hierarchy, and the one home of error text (an error told in a line).

Every error a user can cause derives from :class:`MedallionError`; the CLI maps them to exit codes:
``ConfigError`` -> 2 (bad usage or configuration, reported before any write), everything else -> 1.

Error text, each for one use:

- :func:`first_cause`: what the CLI prints for a failure, the first thing that went wrong in a chain;
- :func:`error_summary`: the first line(s) of a (Spark) error, for messages that name a key or file;
- :func:`deepest_java_cause`: the deepest Java ``Caused by:`` of an error's text (why a file is unreadable);
- :func:`truncated_text`: an error's whole text, cut at a limit (the run log's ``error``).
"""
from __future__ import annotations

import re
from typing import Any

__all__ = [
    "MedallionError",
    "ConfigError",
    "RunError",
    "ExpectationFailed",
    "SourceError",
    "first_cause",
    "error_summary",
    "deepest_java_cause",
    "truncated_text",
]


class MedallionError(Exception):
    """Base class of every error raised by medallion.

    ``partial`` is what a layer had counted when it failed (a :class:`medallion.audit.outcome.LayerOutcome`,
    or None): the runner records it with the failure.
    """

    exit_code: int = 1
    partial: Any = None


class ConfigError(MedallionError):
    """A configuration file is invalid. The message names the file, the key and what is wrong."""

    exit_code = 2

    def __init__(self, message: str, *, file: str | None = None, key: str | None = None) -> None:
        self.file = file
        self.key = key
        prefix = ""
        if file:
            prefix += f"{file}: "
        if key:
            prefix += f"{key}: "
        super().__init__(prefix + message)


class RunError(MedallionError):
    """A layer run failed; nothing after the failing step was committed."""


class ExpectationFailed(RunError):
    """A ``fail`` expectation (or the quarantine threshold) was violated; the layer wrote nothing."""

    def __init__(self, message: str, *, rules: dict[str, int] | None = None) -> None:
        self.rules = dict(rules or {})
        super().__init__(message)


class SourceError(RunError):
    """The landing source could not be listed or read."""


def first_cause(err: BaseException) -> str:
    """The root of an error chain, in one line: the first thing that went wrong, not its follow-ons.

    Python's chain (``raise ... from``, or an error raised while handling another) is followed to its
    start; a Java error's own ``Caused by:`` chain (py4j) to its deepest cause.
    """
    root = err
    seen = {id(root)}
    while (nxt := root.__cause__ or root.__context__) is not None and id(nxt) not in seen:
        seen.add(id(nxt))
        root = nxt
    java_root = _java_root(root)
    if java_root:
        return java_root[:1000]
    text = str(root)
    java = [line.strip() for line in text.splitlines() if line.strip().startswith("Caused by: ")]
    if java:
        return java[-1].removeprefix("Caused by: ")[:1000]
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return f"{type(root).__name__}: {first}"[:1000] if first else type(root).__name__


def _java_root(err: BaseException) -> str | None:
    """``toString()`` of the deepest cause of a py4j-wrapped Java exception (None for a Python error)."""
    java = getattr(err, "java_exception", None) or getattr(err, "_origin", None)
    if java is None:
        return None
    try:
        for _ in range(50):
            cause = java.getCause()
            if cause is None or cause.equals(java):
                break
            java = cause
        return str(java.toString())
    except Exception:  # the JVM is gone: fall back to the Python text
        return None


def error_summary(err: BaseException, *, lines: int = 1, limit: int = 500) -> str:
    """The first line(s) of a (py4j-captured) Spark error, for messages that name a key or file."""
    text = str(getattr(err, "desc", None) or err).strip()
    kept = [line.strip() for line in text.splitlines() if line.strip()][:lines]
    return " ".join(kept)[:limit] if kept else type(err).__name__


def deepest_java_cause(err: BaseException, *, limit: int = 500) -> str:
    """The deepest Java cause in an error's text, e.g. ``java.io.EOFException: Unexpected end of input
    stream``; the error's first line when it names none."""
    text = str(err)
    causes = re.findall(r"Caused by: ([\w.$]+(?:Exception|Error)[^\n]*)", text)
    if causes:
        return causes[-1].strip()[:limit]
    first = [line.strip() for line in text.splitlines() if line.strip()]
    return (first[0] if first else type(err).__name__)[:limit]


def truncated_text(err: BaseException, limit: int = 2000) -> str:
    """An error's whole text, cut at ``limit`` characters (marked `` …`` when cut)."""
    text = str(err)
    return text if len(text) <= limit else text[:limit] + " …"
