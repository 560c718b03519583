"""Azure DevOps logging commands (``##vso[...]``, ``##[group]``) for the ``publish`` / ``submit`` steps.

Pure string functions: the message escaping rules of the agent, output variables, error issues and
collapsible groups, and the neutralizing of job log lines so a job cannot inject a logging command.
"""
from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = [
    "ado_escape_data",
    "ado_escape_property",
    "ado_group",
    "ado_logissue",
    "ado_set_output",
    "check_failure_issues",
    "neutralize_log_line",
]

# A FAIL row of ``medallion check``'s text table (medallion.checks.table_checks.format_results): name, FAIL, detail.
_CHECK_FAIL_ROW = re.compile(r"^(?P<name>\S+)\s+FAIL(?:\s+(?P<detail>.*))?$")


def ado_escape_data(text: str) -> str:
    """Escape a logging command's message (the agent's ``%AZP25``/``%0D``/``%0A`` rules)."""
    return text.replace("%", "%AZP25").replace("\r", "%0D").replace("\n", "%0A")


def ado_escape_property(text: str) -> str:
    """Escape a logging command's property value (also ``;`` and ``]``)."""
    return ado_escape_data(text).replace("]", "%5D").replace(";", "%3B")


def neutralize_log_line(line: str) -> str:
    """Stop a job's log line from being read as a logging command (``##vso[``, ``##[``)."""
    return line.replace("##vso[", "# #vso[").replace("##[", "# #[")


def ado_group(title: str, lines: Iterable[str]) -> list[str]:
    """A collapsible ``##[group]`` of neutralized lines."""
    out = [f"##[group]{neutralize_log_line(title)}"]
    out.extend(neutralize_log_line(line.rstrip("\r\n")) for line in lines)
    out.append("##[endgroup]")
    return out


def ado_logissue(kind: str, message: str) -> str:
    """``##vso[task.logissue type=error|warning]message``."""
    if kind not in ("error", "warning"):
        raise ValueError(f"logissue type must be error or warning, not {kind!r}")
    return f"##vso[task.logissue type={kind}]{ado_escape_data(message)}"


def ado_set_output(name: str, value: str) -> str:
    """``##vso[task.setvariable variable=NAME;isOutput=true]VALUE`` (an output variable of the step)."""
    return f"##vso[task.setvariable variable={ado_escape_property(name)};isOutput=true]{ado_escape_data(value)}"


def check_failure_issues(lines: Iterable[str]) -> list[str]:
    """One ``##vso[task.logissue type=error]`` per failed check in ``medallion check``'s output lines.

    The check batch's driver output is relayed neutralized (a job cannot inject logging commands); the
    submit step turns each FAIL row it recognises into an error issue of its own, so the pipeline's
    summary lists every failed check by name.

    Example:
        >>> check_failure_issues(["silver_unique_keys  FAIL    silver/orders: 1 duplicate row(s)"])
        ['##vso[task.logissue type=error]check silver_unique_keys failed: silver/orders: 1 duplicate row(s)']
    """
    out = []
    for line in lines:
        match = _CHECK_FAIL_ROW.match(line.strip())
        if match:
            detail = match["detail"] or "no detail"
            text = neutralize_log_line(f"check {match['name']} failed: {detail.strip()}")
            out.append(ado_logissue("error", text))
    return out
