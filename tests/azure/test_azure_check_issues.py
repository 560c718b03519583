"""The Validate stage lists each failed post-run check as an Azure DevOps error issue."""
from __future__ import annotations

from medallion.azure.devops import check_failure_issues
from medallion.checks.table_checks import CheckResult, format_results


def test_each_failed_check_becomes_one_error_issue_and_passing_ones_none() -> None:
    text = format_results([
        CheckResult("exists:silver/orders", True, "Delta table at /lake/silver/orders"),
        CheckResult("silver_unique_keys", False, "silver/orders: 4 rows, 3 distinct keys; 1 duplicate row(s)"),
        CheckResult("last_run:gold", False, "run r2 failed: boom; 50% done"),
    ])
    issues = check_failure_issues(text.splitlines())
    assert issues == [
        "##vso[task.logissue type=error]check silver_unique_keys failed: silver/orders: 4 rows, 3 distinct keys; "
        "1 duplicate row(s)",
        "##vso[task.logissue type=error]check last_run:gold failed: run r2 failed: boom; 50%AZP25 done",
    ]


def test_a_forged_logging_command_in_a_detail_stays_data() -> None:
    (issue,) = check_failure_issues(["x  FAIL  ##vso[task.complete result=Succeeded]"])
    assert issue == "##vso[task.logissue type=error]check x failed: # #vso[task.complete result=Succeeded]"
