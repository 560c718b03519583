"""The Synapse stand-in speaks the published API: driven by Microsoft's own client, azure-synapse-spark."""
from __future__ import annotations

import pytest
import requests

from tests.azure.helpers import FakeCredential, lay_out_artifacts, make_token

spark = pytest.importorskip("azure.synapse.spark", reason="pip install azure-synapse-spark")

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError  # noqa: E402
from azure.synapse.spark import SparkClient  # noqa: E402
from azure.synapse.spark.models import SparkBatchJobOptions  # noqa: E402

pytestmark = pytest.mark.timeout(180)

# The stand-in listens on plain http; azure-core refuses bearer tokens over http unless told per call.
HTTP = {"enforce_https": False}


@pytest.fixture
def client(livy) -> SparkClient:
    return SparkClient(FakeCredential(), livy.url, "pool1")


def test_create_get_list_and_success(livy, client: SparkClient) -> None:
    root = lay_out_artifacts(livy.storage_root, "client-ok", {"bronze_job.py": "print('hello from the job')\n"})
    options = SparkBatchJobOptions(
        name="client-ok",
        file=f"{root}/jobs/bronze_job.py",
        arguments=["--env", "dev"],
        python_files=[f"{root}/medallion-0.1.0-py3-none-any.whl"],
        archives=[f"{root}/conf.zip#conf"],
        configuration={"spark.sql.shuffle.partitions": "2"},
        driver_memory="28g", driver_cores=4, executor_memory="28g", executor_cores=4, executor_count=2,
        tags={"layer": "bronze"},
    )
    created = client.spark_batch.create_spark_batch_job(options, detailed=True, **HTTP)
    assert created.name == "client-ok" and created.job_type == "SparkBatch"
    assert created.state in ("not_started", "starting", "running")
    assert created.result == "Uncertain"
    assert created.livy_info.job_creation_request.python_files == options.python_files
    assert created.livy_info.job_creation_request.executor_count == 2

    assert livy.wait(created.id, 120) == "success"
    job = client.spark_batch.get_spark_batch_job(created.id, detailed=True, **HTTP)
    assert (job.state, job.result) == ("success", "Succeeded")
    assert job.livy_info.current_state == "success"
    assert job.livy_info.success_at is not None and job.livy_info.running_at is not None
    assert job.scheduler.current_state == "Ended"
    assert job.tags == {"layer": "bronze"}
    assert job.app_id and job.app_id.startswith("application_")
    # as on Synapse: the batch's log is the launcher's; the job's output is in the driver log
    assert "hello from the job" not in job.log_lines and f"Submitting application {job.app_id} to ResourceManager" \
        in job.log_lines
    history = (f"{livy.url}/sparkhistory/api/v1/sparkpools/pool1/livyid/{created.id}/applications/{job.app_id}"
               "/driverlog/stdout/")
    answer = requests.get(history, params={"isDownload": "true"}, timeout=10,
                          headers={"Authorization": f"Bearer {make_token()}"})
    assert answer.status_code == 200 and "hello from the job" in answer.text.splitlines()

    listing = client.spark_batch.get_spark_batch_jobs(from_parameter=0, size=20, detailed=True, **HTTP)
    assert listing.total >= 1 and created.id in [s.id for s in listing.sessions]


def test_cancel_through_the_client(livy, client: SparkClient) -> None:
    root = lay_out_artifacts(livy.storage_root, "client-slow",
                             {"bronze_job.py": "import time\nprint('started', flush=True)\ntime.sleep(300)\n"})
    created = client.spark_batch.create_spark_batch_job(
        SparkBatchJobOptions(name="client-slow", file=f"{root}/jobs/bronze_job.py"), detailed=True, **HTTP
    )
    for _ in range(300):
        if client.spark_batch.get_spark_batch_job(created.id, **HTTP).state == "running":
            break
        livy.wait(created.id, 0.1)
    client.spark_batch.cancel_spark_batch_job(created.id, **HTTP)
    assert livy.wait(created.id, 30) == "killed"
    job = client.spark_batch.get_spark_batch_job(created.id, detailed=True, **HTTP)
    assert (job.state, job.result) == ("killed", "Cancelled")
    assert job.livy_info.terminated_at is not None
    assert job.scheduler.cancellation_requested_at is not None


def test_missing_file_is_a_dead_batch_and_bad_requests_are_rejected(livy, client: SparkClient) -> None:
    created = client.spark_batch.create_spark_batch_job(
        SparkBatchJobOptions(name="nofile", file="abfss://artifacts@acct.dfs.core.windows.net/none/job.py"), **HTTP
    )
    assert livy.wait(created.id, 30) == "dead"
    job = client.spark_batch.get_spark_batch_job(created.id, detailed=True, **HTTP)
    assert job.result == "Failed" and any("does not exist" in line for line in job.log_lines)
    assert job.errors and job.errors[0].source == "User"

    with pytest.raises(HttpResponseError) as bad:
        client.spark_batch.create_spark_batch_job(SparkBatchJobOptions(name="empty-file", file=""), **HTTP)
    assert bad.value.status_code == 400
    with pytest.raises(ResourceNotFoundError):
        client.spark_batch.get_spark_batch_job(99999, **HTTP)


def test_requests_without_a_valid_token_are_refused(livy) -> None:
    url = f"{livy.url}/livyApi/versions/2019-11-01-preview/sparkPools/pool1/batches"
    assert requests.get(url, timeout=10).status_code == 401
    for token, reason in [("t", "IDX14100"), (make_token(audience="https://storage.azure.com"), "IDX10214"),
                          (make_token(expires_on=1_000_000_000), "IDX10223")]:
        answer = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert answer.status_code == 401 and reason in answer.json()["message"]
    assert requests.post(url, json={"name": "x", "file": "y", "bogus": 1},
                         headers={"Authorization": f"Bearer {make_token()}"}, timeout=10).status_code == 400
