"""Job events on the local stack: every state change of a job reaches the default EventBridge bus,
where a rule (tests/support/job_events.py: to an SQS queue) hands it on, with no URL or token in it."""

from __future__ import annotations

import gzip
import json
import time

import pytest
import requests

from cli.client import put_file
from tests.support.job_events import JobEventsQueue

GOOD = b'{"link": {"customer_id": "c1"}}\n'
BAD = b'{"link": {}}\n'  # a link must hold exactly one identifier: rejected, so the job gets an error log


@pytest.fixture
def job_events(stack, account):
    queue = JobEventsQueue(stack.session(), account["name"])
    yield queue
    queue.close()


def _no_secrets(events: list[dict], token: str) -> None:
    text = json.dumps([event["detail"] for event in events])
    assert "http" not in text and "X-Amz" not in text and "url" not in text, text
    assert token not in text and "ing_" not in text


def test_an_upload_publishes_created_processing_and_completed(client, account, dataset, job_events, tmp_path):
    upload = client.request_upload("customer_record-events.ndjson", dataset["id"], "customer_record")
    assert job_events.statuses(upload["id"], until="Pending") == ["Pending"]
    path = tmp_path / "customer_record-events.ndjson"
    path.write_bytes(GOOD + BAD)
    put_file(upload["url"], str(path))
    finished = client.wait_for(upload["id"], timeout=120, poll=0.2)
    assert finished["status"] == "Completed" and finished["error_log_url"]

    assert job_events.statuses(upload["id"], until="Completed") == ["Pending", "Processing", "Completed"]
    events = [event for event in job_events.events() if event["detail"]["id"] == upload["id"]]
    assert {event["source"] for event in events} == {"bulk-ingest"}
    assert {event["detail-type"] for event in events} == {"Upload Job State Change"}
    completed = events[-1]["detail"]
    # The job's public view (what GET /v1/uploads/{id} answers) and its account, without any URL (the error
    # log's, the failed rows').
    assert completed["account_id"] == account["name"]
    assert completed["stats"] == {"total": 2, "loaded": 1, "rejected": 1, "created": 1, "replaced": 0}
    assert completed["destination"] == finished["destination"] and completed["finished_at"] == finished["finished_at"]
    assert not any(key.endswith("_url") for key in completed)
    assert {key: value for key, value in finished.items() if not key.endswith("_url")} == {
        key: value for key, value in completed.items() if key != "account_id"}
    _no_secrets(events, account["token"])


def test_a_failed_upload_publishes_its_failure(client, account, dataset, job_events, tmp_path):
    upload = client.request_upload("customer_record-broken.ndjson", dataset["id"], "customer_record")
    path = tmp_path / "customer_record-broken.ndjson"
    path.write_bytes(gzip.compress(GOOD * 100)[:40])  # a truncated gzip: the job fails
    put_file(upload["url"], str(path))
    finished = client.wait_for(upload["id"], timeout=120, poll=0.2)
    assert finished["status"] == "Failed"

    statuses = job_events.statuses(upload["id"], until="Failed")
    assert statuses[0] == "Pending" and statuses[-1] == "Failed" and statuses.count("Failed") == 1
    failed = [event for event in job_events.events() if event["detail"]["id"] == upload["id"]][-1]
    assert failed["detail"]["failure_reason"] == finished["failure_reason"]
    _no_secrets(job_events.events(), account["token"])


def test_a_clear_publishes_its_own_state_changes(stack, account, dataset, job_events):
    answer = requests.post(f"{stack.info.api_url}/v1/datasets/{dataset['id']}/clear",
                           headers={"Auth-Api-Token": account["token"]})
    assert answer.status_code == 202
    job_id = answer.json()["id"]
    assert job_events.statuses(job_id, until="Completed") == ["Pending", "Processing", "Completed"]
    events = [event for event in job_events.events() if event["detail"]["id"] == job_id]
    assert {event["detail-type"] for event in events} == {"Clear Job State Change"}
    assert events[-1]["detail"]["type"] == "clear" and events[-1]["detail"]["dataset_id"] == dataset["id"]
    _no_secrets(events, account["token"])


def test_another_accounts_rule_sees_none_of_these_events(stack, client, account, dataset, mint):
    other = JobEventsQueue(stack.session(), "acct-nobody-else")
    try:
        upload = client.request_upload("customer_record-private.ndjson", dataset["id"], "customer_record")
        time.sleep(0.5)
        assert [event for event in other.events() if event["detail"]["id"] == upload["id"]] == []
    finally:
        other.close()
