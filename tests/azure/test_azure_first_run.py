"""What a review of a real first run found (issue 23): each promise here failed before its fix."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[2]


def _setup_requirements() -> list[Requirement]:
    tree = ast.parse((REPO / "setup.py").read_text(encoding="utf-8"))
    out: list[Requirement] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("azure-identity"):
            out.append(Requirement(node.value))
    return out


def test_azure_identity_floor_has_azure_pipelines_credential() -> None:
    """AzurePipelinesCredential arrived in azure-identity 1.17.0; a lower floor installs without it."""
    requirements = _setup_requirements()
    assert len(requirements) >= 2  # the azure and dev extras
    for requirement in requirements:
        assert not requirement.specifier.contains("1.16.1"), str(requirement)
        assert requirement.specifier.contains("1.17.0"), str(requirement)


# --------------------------------------------------------------------------- 403: firewall or role


def test_a_workspace_firewall_403_names_the_ip_and_the_allow_rule(livy, credential) -> None:
    from medallion.azure.livy import LivyAuthError, LivyClient

    client = LivyClient(livy.url, "pool1", credential, retries=0)
    body = {"code": "ClientIpAddressNotAuthorized", "message": "Client Ip address : 203.0.113.7"}
    livy.inject(403, 1, method="GET", path="/batches", body=body)
    with pytest.raises(LivyAuthError) as info:
        client.list()
    text = str(info.value)
    assert "firewall refused the client IP 203.0.113.7 (ClientIpAddressNotAuthorized)" in text
    assert "az synapse workspace firewall-rule create" in text and "--start-ip-address 203.0.113.7" in text
    assert "lacks" not in text and "Client Ip address : 203.0.113.7" in text  # the body is kept


def test_a_missing_synapse_role_403_says_which_role_and_quotes_the_service(livy, credential) -> None:
    from medallion.azure.livy import LivyAuthError, LivyClient

    client = LivyClient(livy.url, "pool1", credential, retries=0)
    body = {"code": "Unauthorized", "message": "The principal 'abc' does not have the required Synapse RBAC "
            "permission to perform this action. Required permission: Action: "
            "Microsoft.Synapse/workspaces/bigDataPools/useCompute/action"}
    livy.inject(403, 1, method="GET", path="/batches", body=body)
    with pytest.raises(LivyAuthError) as info:
        client.list()
    text = str(info.value)
    assert "lacks a Synapse RBAC role (Unauthorized)" in text and "Synapse Compute Operator" in text
    assert "useCompute/action" in text and "firewall" not in text


@pytest.mark.parametrize(("code", "expected", "absent"), [
    ("AuthorizationFailure", "storage account's firewall refused", "Storage Blob Data Contributor"),
    ("AuthorizationPermissionMismatch", "lacks a data role on the storage account", "firewall"),
])
def test_a_storage_403_tells_the_firewall_from_a_missing_role(dfs, credential, code, expected, absent) -> None:
    from medallion.azure.storage import PublishError, publish_artifacts

    dfs.fail = lambda method, path, query: (403, code) if method == "PUT" else None
    with pytest.raises(PublishError) as info:
        publish_artifacts("abfss://artifacts@acct.dfs.core.windows.net/medallion", "7", {"a.txt": b"a"},
                          credential=credential, transport=dfs.transport())
    text = str(info.value)
    assert expected in text and f"({code})" in text and absent not in text


# --------------------------------------------------------------------------- driver logs that come late


class _LateHistory:
    """A Livy client whose batch has failed and whose history server serves the driver log late (or never)."""

    SERVICE = "Synapse"

    def __init__(self, served_from_call: int | None) -> None:
        self.served_from_call = served_from_call
        self.calls = 0
        self.now = 0.0

    def create(self, payload):  # noqa: ANN001, ANN201
        return {"id": 7, "name": "medallion-orders-bronze-dev", "state": "dead", "appId": "application_7_0001"}

    def log(self, batch_id, *, size=100, start=None):  # noqa: ANN001, ANN201
        return ["launcher: application_7_0001 finished with FAILED"]

    def driver_log(self, batch_id, app_id, stream="stderr"):  # noqa: ANN001, ANN201
        from medallion.azure.livy import LivyError

        self.calls += 1
        if self.served_from_call is None or self.calls < self.served_from_call:
            raise LivyError("GET .../driverlog -> HTTP 404", status=404)
        return "Traceback (most recent call last):\n  File \"job.py\", line 1\nValueError: boom" \
            if stream == "stdout" else "ERROR ApplicationMaster: User application exited with status 1"

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_driver_logs_are_asked_for_again_until_the_history_server_has_them() -> None:
    from medallion.azure.polling import run_batch

    client = _LateHistory(served_from_call=5)  # attempts 1-2 miss both streams; the 3rd gets both
    result = run_batch(client, {"name": "x"}, timeout_seconds=60, clock=lambda: client.now, sleep=client.sleep,
                       driver_log_wait=120, driver_log_interval=10)
    assert result.failure == "ValueError: boom"
    assert result.driver_log_note == ""
    assert client.now == 20  # two pauses, bounded by the wait


def test_when_the_history_server_never_has_them_the_wait_is_bounded_and_said() -> None:
    from medallion.azure.polling import run_batch

    client = _LateHistory(served_from_call=None)
    result = run_batch(client, {"name": "x"}, timeout_seconds=60, clock=lambda: client.now, sleep=client.sleep,
                       driver_log_wait=45, driver_log_interval=10)
    assert client.now == 45
    assert result.driver_stdout == [] and result.log_lines == ["launcher: application_7_0001 finished with FAILED"]
    assert "only the launcher log could be shown" in result.driver_log_note
    assert result.as_dict()["driver_log_note"] == result.driver_log_note


# --------------------------------------------------------------------------- preflight covers every dependency


def test_preflight_checks_every_runtime_dependency_of_the_wheel() -> None:
    """Before, Jinja2/MarkupSafe (the report job) were not checked: a pool without them failed the Report job."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("preflight_job", REPO / "jobs" / "preflight_job.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    checked = {dist.lower() for dist, _ in module.DEPENDENCIES}
    tree = ast.parse((REPO / "setup.py").read_text(encoding="utf-8"))
    install = next(n.value for n in ast.walk(tree) if isinstance(n, ast.keyword) and n.arg == "install_requires")
    required = {Requirement(e.value).name.lower() for e in install.elts}
    assert required <= checked, required - checked
    assert {"markupsafe", "pyspark", "delta-spark", "medallion"} <= checked


def test_the_docs_name_one_identity_for_abfss_in_the_batch_and_the_script_grants_it() -> None:
    docs = (REPO / "docs" / "deploy-azure.md").read_text(encoding="utf-8")
    assert docs.count("One identity reads and writes `abfss://` inside the batch: the submitter") == 1
    assert "Grant both if unsure" not in docs and "scripts/setup-azure-environment.sh" in docs
    script = (REPO / "scripts" / "setup-azure-environment.sh").read_text(encoding="utf-8")
    assert 'grant_storage_role "Storage Blob Data Contributor"' in script and "assignee-object-id \"${principal}\"" in script


# --------------------------------------------------------------------------- one dataset's failure stays its own


class _Pool:
    """A pool's batch list (Livy GET /batches), in pages, as the gate reads it."""

    def __init__(self, batches: list[dict]) -> None:
        self.batches = batches
        self.pages = 0

    def list(self, *, start: int = 0, size: int = 20) -> dict:
        self.pages += 1
        return {"from": start, "total": len(self.batches), "sessions": self.batches[start:start + size]}


def _batch(batch_id: int, dataset: str, layer: str, state: str, build: str = "4242", env: str = "dev") -> dict:
    return {"id": batch_id, "state": state, "tags": {"medallion.pipeline": dataset, "medallion.layer": layer,
                                                     "medallion.environment": env, "ado.buildId": build}}


def test_a_failed_dataset_blocks_only_its_own_later_layers_and_the_gold_that_reads_it() -> None:
    from medallion.azure.gate import blocked_by, required_batches

    pool = _Pool([_batch(1, "orders", "preflight", "success"), _batch(2, "customers", "preflight", "success"),
                  _batch(3, "orders", "bronze", "dead"), _batch(4, "customers", "bronze", "success"),
                  _batch(5, "customers", "silver", "success"), _batch(6, "orders", "bronze", "success", build="4241"),
                  *[_batch(100 + i, "other", "bronze", "success") for i in range(150)]])

    def blocked(dataset: str, layer: str, after: list[str]) -> list[str]:
        wanted = required_batches(dataset, layer, after, REPO / "conf")
        return blocked_by(pool, build_id="4242", environment="dev", wanted=wanted)

    assert blocked("customers", "silver", ["preflight", "bronze"]) == []
    assert blocked("orders", "silver", ["preflight", "bronze"]) == ["bronze of orders ended dead (batch 3)"]
    # customers' gold reads orders' silver, which never ran in this run: blocked; its own silver is fine
    assert blocked("customers", "gold", ["preflight", "silver"]) == ["silver of orders has no batch in this run"]
    assert pool.pages >= 2  # every page of the pool's list was read
    # a re-run of the failed job: the newest batch of this run counts
    pool.batches.append(_batch(200, "orders", "bronze", "success"))
    assert blocked("orders", "silver", ["preflight", "bronze"]) == []


def test_the_gate_command_sets_skip_submit_for_a_blocked_leg(monkeypatch, capsys) -> None:
    from medallion.azure import cli_common
    from tests.azure.helpers import run_cli

    pool = _Pool([_batch(1, "orders", "preflight", "success"), _batch(3, "orders", "bronze", "dead")])
    monkeypatch.setattr(cli_common, "_client", lambda args: pool)
    monkeypatch.setenv("BUILD_BUILDID", "4242")
    argv = ["gate", "--endpoint", "http://pool", "--pool", "p", "--layer", "silver", "--pipeline", "orders",
            "--env", "dev", "--after", "preflight,bronze", "--conf-dir", str(REPO / "conf"), "--ado"]
    assert run_cli(argv) == 0
    out = capsys.readouterr().out
    assert "##vso[task.setvariable variable=skipSubmit]true" in out
    assert "##vso[task.logissue type=warning]silver of orders skipped: bronze of orders ended dead" in out
    pool.batches[1]["state"] = "success"
    assert run_cli(argv) == 0
    assert "skipSubmit" not in capsys.readouterr().out
