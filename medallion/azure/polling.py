"""Run one Synapse batch to its end: create it, poll it, cancel it on every way out, say what failed.

:func:`run_batch` polls through :class:`medallion.azure.livy.LivyClient`, tolerating transient errors
and token renewals until the deadline, and cancels the batch on the timeout, an authentication failure,
any other error and a signal. When the batch fails it fetches the launcher's log lines and an excerpt
of the driver's stderr and stdout (the last Python traceback kept); :class:`SubmitResult` says how the
batch ended and :func:`failure_line` which line says why. The request body comes from
:mod:`medallion.azure.payload`.

Example:
    >>> result = run_batch(client, build_payload(spec), timeout_seconds=3600)
    >>> result.outcome, result.exit_code
    (<Outcome.SUCCEEDED: 'succeeded'>, 0)
"""
from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from medallion.azure.livy import LivyAuthError, LivyClient, LivyError, Outcome, cancel_batch, classify, fetch_log
from medallion.errors import RunError

__all__ = [
    "BatchAborted",
    "SubmitResult",
    "run_batch",
    "failure_line",
    "stderr_excerpt",
]

log = logging.getLogger(__name__)

_STDERR_TAIL = 80


class BatchAborted(RunError):
    """Polling stopped before the batch ended (auth failure, error, signal); says whether it was cancelled."""

    def __init__(self, message: str, *, batch_id: int | str, cancelled: bool) -> None:
        self.batch_id = batch_id
        self.cancelled = cancelled
        super().__init__(message)


@dataclass
class SubmitResult:
    """How a batch ended."""

    batch_id: int | str  # an int on Synapse, a GUID on Fabric
    name: str
    state: str
    result: str | None
    outcome: Outcome
    elapsed_seconds: float
    app_id: str | None = None
    log_lines: list[str] = field(default_factory=list)
    cancelled: bool = False
    driver_stderr: list[str] = field(default_factory=list)
    driver_stdout: list[str] = field(default_factory=list)
    poll_errors: int = 0
    driver_log_note: str = ""  # set when the history server served no (or not every) driver log in time

    @property
    def failure(self) -> str:
        """The line that says what failed (a Python exception goes to the driver's stdout on YARN, where
        Spark's PythonRunner merges the Python process's stderr into it; Spark's own errors to stderr)."""
        return failure_line(self.driver_stdout) or failure_line(self.driver_stderr)

    @property
    def exit_code(self) -> int:
        return 0 if self.outcome is Outcome.SUCCEEDED else 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "batch_id": self.batch_id,
            "name": self.name,
            "state": self.state,
            "result": self.result,
            "outcome": self.outcome.value,
            "elapsed_seconds": round(self.elapsed_seconds, 1),
            "app_id": self.app_id,
            "cancelled": self.cancelled,
            "poll_errors": self.poll_errors,
            "log": list(self.log_lines),
            "driver_stderr": list(self.driver_stderr),
            "driver_stdout": list(self.driver_stdout),
            "driver_log_note": self.driver_log_note,
        }


def run_batch(
    client: LivyClient,
    payload: Mapping[str, Any],
    *,
    timeout_seconds: float,
    poll_seconds: float = 15.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    on_created: Callable[[Mapping[str, Any]], None] | None = None,
    stderr_tail: int = _STDERR_TAIL,
    driver_log_wait: float = 180.0,
    driver_log_interval: float = 15.0,
) -> SubmitResult:
    """Create a batch and poll it until a terminal state or the timeout.

    The batch is cancelled (``DELETE``) on every way out that leaves it running: the timeout (outcome
    ``TIMED_OUT``), an authentication failure, any other error, and ``KeyboardInterrupt`` / a signal
    turned into an exception by the caller. Transient poll errors (connection, 429, 5xx) are logged and
    polling goes on until the deadline. On failure, the launcher's log lines and the last ``stderr_tail``
    lines of the driver's stderr and stdout (with the last Python traceback) are fetched; the history server
    may publish them a while after the terminal state, so they are asked for again every
    ``driver_log_interval`` seconds for at most ``driver_log_wait`` seconds (``driver_log_note`` says when
    only the launcher log could be shown).

    Raises:
        BatchAborted: polling stopped on an error before the batch ended (it names the batch and whether
            it was cancelled); the original error is its ``__cause__``.
    """
    started = clock()
    batch = client.create(payload)
    batch_id = batch["id"]  # the client checked its type
    name = str(batch.get("name") or payload.get("name") or "")
    log.info("created %s batch %s (%s), state %s", client.SERVICE, batch_id, name, batch.get("state"))
    ended = False
    poll_errors = 0
    try:
        if on_created is not None:
            on_created(batch)
        last_state = str(batch.get("state") or "")
        while True:
            outcome = classify(batch)
            if outcome is not Outcome.RUNNING:
                ended = True
                break
            elapsed = clock() - started
            if elapsed >= timeout_seconds:
                log.error("batch %s still %s after %.0f s; cancelling", batch_id, last_state, elapsed)
                break
            sleep(min(poll_seconds, max(timeout_seconds - elapsed, 0.0)))
            try:
                batch = {**batch, **client.get(batch_id)}
            except LivyError as err:
                if not err.transient:
                    raise
                poll_errors += 1
                log.warning("polling batch %s failed (%s); trying again until the deadline", batch_id, err)
                continue
            state = str(batch.get("state") or "")
            if state != last_state:
                log.info("batch %s: %s -> %s", batch_id, last_state, state)
                last_state = state
    except Exception as err:
        cancelled = cancel_batch(client, batch_id)
        what = "it was cancelled" if cancelled else f"it could NOT be cancelled: delete batch {batch_id} by hand"
        raise BatchAborted(f"{client.SERVICE} batch {batch_id} ({name}): {err}; {what}", batch_id=batch_id,
                           cancelled=cancelled) from err
    except BaseException:  # KeyboardInterrupt, or a signal the CLI turned into an exception
        cancel_batch(client, batch_id)
        raise
    elapsed = clock() - started
    app_id = batch.get("appId")
    if not ended:
        cancelled = cancel_batch(client, batch_id)
        lines = _safe_log(client, batch_id, None)
        err_lines, out_lines, note = _driver_logs(client, batch_id, app_id, stderr_tail, wait=driver_log_wait,
                                                  interval=driver_log_interval, clock=clock, sleep=sleep)
        return SubmitResult(batch_id, name, str(batch.get("state") or ""), batch.get("result"), Outcome.TIMED_OUT,
                            elapsed, app_id, lines, cancelled=cancelled, driver_stderr=err_lines,
                            driver_stdout=out_lines, poll_errors=poll_errors, driver_log_note=note)
    if outcome is Outcome.SUCCEEDED:
        return SubmitResult(batch_id, name, str(batch.get("state")), batch.get("result"), outcome, elapsed, app_id,
                            poll_errors=poll_errors)
    lines = _safe_log(client, batch_id, batch)
    err_lines, out_lines, note = _driver_logs(client, batch_id, app_id, stderr_tail, wait=driver_log_wait,
                                              interval=driver_log_interval, clock=clock, sleep=sleep)
    return SubmitResult(batch_id, name, str(batch.get("state")), batch.get("result"), outcome, elapsed, app_id,
                        lines, driver_stderr=err_lines, driver_stdout=out_lines, poll_errors=poll_errors,
                        driver_log_note=note)


def _safe_log(client: LivyClient, batch_id: int, batch: Mapping[str, Any] | None) -> list[str]:
    try:
        return fetch_log(client, batch_id, batch)
    except LivyError as err:
        log.warning("could not fetch the log of batch %s: %s", batch_id, err)
        return []


def _driver_text(client: LivyClient, batch_id: int, app_id: str, stream: str) -> tuple[str | None, bool]:
    """(the stream's text or None, whether asking again can help)."""
    try:
        text = client.driver_log(batch_id, app_id, stream)
    except LivyAuthError as err:  # a missing Synapse Monitoring Operator role does not heal by waiting
        log.warning("could not fetch the driver %s of batch %s (%s): %s", stream, batch_id, app_id, err)
        return None, False
    except LivyError as err:  # 404 until the history server has the application, or a transient error
        log.info("driver %s of batch %s (%s) not served yet: %s", stream, batch_id, app_id, err.status)
        return None, True
    return text, False  # served (an empty log is an answer too)


def _driver_logs(client: LivyClient, batch_id: int, app_id: Any, tail: int, *, wait: float, interval: float,
                 clock: Callable[[], float], sleep: Callable[[float], None]) -> tuple[list[str], list[str], str]:
    """The driver's stderr and stdout excerpts, asked for until both come or ``wait`` seconds passed."""
    if not app_id:
        log.info("batch %s never got a Spark application id; no driver log to fetch", batch_id)
        return [], [], "the batch never got a Spark application id: only the launcher log could be shown"
    texts: dict[str, str | None] = {"stderr": None, "stdout": None}
    retry = dict.fromkeys(texts, True)
    deadline = clock() + wait
    attempts = 0
    while True:
        attempts += 1
        for stream in texts:
            if texts[stream] is None and retry[stream]:
                texts[stream], retry[stream] = _driver_text(client, batch_id, str(app_id), stream)
        if not any(texts[s] is None and retry[s] for s in texts) or clock() >= deadline:
            break
        sleep(min(interval, max(deadline - clock(), 0.0)))
    missing = [s for s, text in texts.items() if text is None]
    note = ""
    if len(missing) == 2:
        note = (f"the Spark history server served no driver log for {app_id} after {attempts} attempt(s) over "
                f"up to {wait:.0f} s: only the launcher log could be shown (Synapse Studio > Monitor has it later)")
    elif missing:
        note = f"the driver {missing[0]} of {app_id} was not served after {attempts} attempt(s) over up to {wait:.0f} s"
    if note:
        log.warning("%s", note)
    return ([] if texts["stderr"] is None else stderr_excerpt(texts["stderr"].splitlines(), tail),
            [] if texts["stdout"] is None else stderr_excerpt(texts["stdout"].splitlines(), tail), note)


def stderr_excerpt(lines: list[str], tail: int = _STDERR_TAIL) -> list[str]:
    """The last ``tail`` lines, plus the last Python traceback when Spark's shutdown logging pushed it out."""
    start = next((i for i in range(len(lines) - 1, -1, -1) if lines[i].startswith("Traceback (most recent")), None)
    if start is None or start >= len(lines) - tail:
        return lines[-tail:]
    end = start + 1
    while end < len(lines) and (lines[end].startswith((" ", "\t")) or not _EXCEPTION.match(lines[end - 1])):
        end += 1
    head = lines[start:min(end, start + tail)]
    return [*head, "[...]", *lines[-max(tail - len(head), 10):]]


def failure_line(lines: list[str]) -> str:
    """The line that says what failed: the last ``SomeError: ...`` line, else the last non-empty one."""
    for line in reversed(lines):
        if _EXCEPTION.match(line):
            return line.strip()
    return next((line.strip() for line in reversed(lines) if line.strip()), "")


_EXCEPTION = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt|Failed)\b.*")
