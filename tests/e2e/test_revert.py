"""Undo a load (POST /v1/uploads/{id}/revert) over HTTP on the local stack: what comes back, what is
removed, what is kept, the counts, and the refusals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import requests

from cli.client import put_file
from ingest import clock
from ingest.clock import parse_iso
from tests.support import faults
from tests.support.job_events import JobEventsQueue

ROOT = Path(__file__).resolve().parents[2]


def _headers(account) -> dict:
    return {"Auth-Api-Token": account["token"]}


def _customers(**values: str) -> bytes:
    return b"".join(json.dumps({"link": {"customer_id": key}, "first_name": value}).encode() + b"\n"
                    for key, value in values.items())


def _record(stack, account, dataset, key: str, record_type: str = "customer_record") -> dict | None:
    answer = requests.get(f"{stack.info.api_url}/v1/datasets/{dataset['id']}/records/{record_type}/customer_id:{key}",
                          headers=_headers(account), timeout=30)
    if answer.status_code == 404:
        return None
    assert answer.status_code == 200, answer.text
    return answer.json()


def _first_names(stack, account, dataset, *keys: str) -> dict[str, str | None]:
    return {key: (_record(stack, account, dataset, key) or {}).get("first_name") for key in keys}


def _revert(stack, account, upload_id: str, idempotency_key: str | None = None) -> requests.Response:
    headers = {**_headers(account), **({"Idempotency-Key": idempotency_key} if idempotency_key else {})}
    return requests.post(f"{stack.info.api_url}/v1/uploads/{upload_id}/revert", headers=headers, timeout=30)


def _finished(stack, account, job_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        answer = requests.get(f"{stack.info.api_url}/v1/jobs/{job_id}", headers=_headers(account), timeout=30)
        assert answer.status_code == 200, answer.text
        job = answer.json()
        if job["status"] in ("Completed", "Failed"):
            return job
        assert time.monotonic() < deadline, f"job {job_id} still {job['status']}"
        time.sleep(0.2)


def _reverted(stack, account, upload_id: str, idempotency_key: str | None = None) -> dict:
    started = _revert(stack, account, upload_id, idempotency_key)
    assert started.status_code == 202, started.text
    job = started.json()
    assert job["type"] == "revert" and job["upload_id"] == upload_id and job["status"] in ("Pending", "Processing")
    return _finished(stack, account, job["id"])


def test_a_revert_puts_back_replaced_values_removes_created_records_and_keeps_later_changes(
        stack, account, client, dataset, load_file):
    load_file(_customers(k1="A1", k2="A2", k3="A3", k4="A4"))
    b = load_file(_customers(k1="B1", k2="B2", k5="B5", k6="B6"))  # replaces k1, k2; creates k5, k6
    assert (b["stats"]["created"], b["stats"]["replaced"]) == (2, 2)
    assert parse_iso(b["revertible_until"]) == parse_iso(b["created_at"]) + timedelta(days=7)
    load_file(_customers(k2="C2", k6="C6"))  # a later load changes one replaced and one created key
    assert client.get_dataset(dataset["id"])["record_counts"] == {"customer_record": 6}

    job = _reverted(stack, account, b["id"], idempotency_key="revert-b-once")
    assert job["status"] == "Completed", job.get("failure_reason")
    assert job["stats"] == {"restored": 1, "removed": 1, "kept": 2}
    assert _first_names(stack, account, dataset, "k1", "k2", "k3", "k4", "k5", "k6") == {
        "k1": "A1", "k2": "C2", "k3": "A3", "k4": "A4", "k5": None, "k6": "C6"}
    assert client.get_dataset(dataset["id"])["record_counts"] == {"customer_record": 5}

    upload = client.get_upload(b["id"])
    assert upload["reverted_by"] == job["id"] and "revertible_until" not in upload
    twice = _revert(stack, account, b["id"])
    replayed = _revert(stack, account, b["id"], idempotency_key="revert-b-once")  # the first answer, nothing new
    assert replayed.status_code == 202 and replayed.json()["id"] == job["id"]
    assert twice.status_code == 409 and f"already reverted by job {job['id']}" in twice.json()["message"]
    listed = requests.get(f"{stack.info.api_url}/v1/jobs", params={"type": "revert"}, headers=_headers(account),
                          timeout=30).json()["jobs"]
    assert [(j["id"], j["status"]) for j in listed] == [(job["id"], "Completed")]


def test_a_load_over_another_uploads_keys_journals_them_as_it_writes_and_a_revert_gives_them_back_exactly(
        stack, account, client, dataset, load_file):
    """Into a dataset with records, a Load writes optimistically: the writes over another upload's records
    are refused and hand the records back, which the journal keeps before they are replaced."""
    keys = [f"k{number}" for number in range(1, 9)]
    load_file(_customers(**{key: f"A-{key}" for key in keys}))
    before = {key: _record(stack, account, dataset, key) for key in keys}
    b = load_file(_customers(**{key: f"B-{key}" for key in keys[::2]}, n1="B-n1", n2="B-n2"))
    assert (b["stats"]["created"], b["stats"]["replaced"]) == (2, 4)
    assert _first_names(stack, account, dataset, "k1", "k2", "n1") == {"k1": "B-k1", "k2": "A-k2", "n1": "B-n1"}
    job = _reverted(stack, account, b["id"])
    assert job["stats"] == {"restored": 4, "removed": 2, "kept": 0}
    assert {key: _record(stack, account, dataset, key) for key in keys} == before  # every field as it was
    assert _first_names(stack, account, dataset, "n1", "n2") == {"n1": None, "n2": None}
    assert client.get_dataset(dataset["id"])["record_counts"] == {"customer_record": 8}


def test_a_load_retried_after_a_crash_counts_exactly_and_still_reverts_to_what_was_there(
        stack, account, client, dataset, load_file):
    load_file(_customers(k1="A1", k2="A2", k3="A3", k4="A4"))
    with faults.inject(faults.FailAfterWrites(step="Load", times=1, account=account["name"])) as crash:
        b = load_file(_customers(k1="B1", k2="B2", k3="B3", k5="B5", k6="B6"))
    assert crash.written  # the first attempt wrote part of its window, then died; Step Functions retried it
    assert b["status"] == "Completed" and (b["stats"]["created"], b["stats"]["replaced"]) == (2, 3)
    assert client.get_dataset(dataset["id"])["record_counts"] == {"customer_record": 6}
    job = _reverted(stack, account, b["id"])
    assert job["stats"] == {"restored": 3, "removed": 2, "kept": 0}
    assert _first_names(stack, account, dataset, "k1", "k2", "k3", "k4", "k5", "k6") == {
        "k1": "A1", "k2": "A2", "k3": "A3", "k4": "A4", "k5": None, "k6": None}
    assert client.get_dataset(dataset["id"])["record_counts"] == {"customer_record": 4}


def test_after_a_clear_the_cleared_records_are_kept_and_nothing_comes_back(stack, account, client, dataset, load_file):
    load_file(_customers(k1="A1", k2="A2"))
    b = load_file(_customers(k1="B1", k3="B3"))
    cleared = requests.post(f"{stack.info.api_url}/v1/datasets/{dataset['id']}/clear", headers=_headers(account),
                            timeout=30)
    assert _finished(stack, account, cleared.json()["id"])["status"] == "Completed"
    job = _reverted(stack, account, b["id"])
    assert job["status"] == "Completed" and job["stats"] == {"restored": 0, "removed": 0, "kept": 2}
    assert _first_names(stack, account, dataset, "k1", "k2", "k3") == {"k1": None, "k2": None, "k3": None}
    assert client.get_dataset(dataset["id"])["record_counts"] == {"customer_record": 0}


def test_profile_changes_revert_to_the_profiles_before_the_upload(stack, account, client, dataset, load_file):
    events = JobEventsQueue(stack.session(), account["name"])
    def changes(*lines: tuple[str, str, int]) -> bytes:
        return b"".join(json.dumps({"customer_id": customer, "changes": [
            {"op": "increment", "attr": attr, "value": by}]}).encode() + b"\n" for customer, attr, by in lines)

    load_file(changes(("p1", "visits", 1)), record_type="profile_changes", filename="profile_changes.ndjson")
    b = load_file(changes(("p1", "visits", 10), ("p2", "visits", 5)), record_type="profile_changes",
                  filename="profile_changes.ndjson")
    assert b["status"] == "Completed" and b["revertible_until"]

    def profile(customer: str) -> dict | None:
        answer = requests.get(f"{stack.info.api_url}/v1/datasets/{dataset['id']}/records/profile/{customer}",
                              headers=_headers(account), timeout=30)
        return answer.json() if answer.status_code == 200 else None

    assert profile("p1") == {"visits": 11}
    job = _reverted(stack, account, b["id"])
    assert job["stats"] == {"restored": 1, "removed": 1, "kept": 0}
    assert profile("p1") == {"visits": 1} and profile("p2") is None
    assert client.get_dataset(dataset["id"])["record_counts"] == {"profile": 1}
    try:  # a revert is a job like any other: its state changes are published
        assert events.statuses(job["id"], until="Completed") == ["Pending", "Processing", "Completed"]
        [completed] = [e for e in events.events() if e["detail"]["id"] == job["id"]
                       and e["detail"]["status"] == "Completed"]
        assert completed["detail-type"] == "Revert Job State Change"
        assert completed["detail"]["stats"] == {"restored": 1, "removed": 1, "kept": 0}
    finally:
        events.close()


def test_unknown_foreign_unfinished_and_expired_uploads_are_refused(stack, account, mint, client, dataset, load_file):
    done = load_file(_customers(k1="A1"))
    assert _revert(stack, account, "01NOSUCHUPLOAD0000000000000").status_code == 404
    intruder = {"Auth-Api-Token": mint("acct-revert-intruder")}
    foreign = requests.post(f"{stack.info.api_url}/v1/uploads/{done['id']}/revert", headers=intruder, timeout=30)
    assert foreign.status_code == 404

    pending = client.request_upload("customer_record-never-sent.ndjson", dataset["id"], "customer_record")
    refused = _revert(stack, account, pending["id"])
    assert refused.status_code == 409 and "is Pending; only a Completed upload" in refused.json()["message"]

    # The service's clock moves past the window (the handlers run in this process).
    until = done["revertible_until"]
    restore = clock.use(lambda: parse_iso(until) + timedelta(seconds=1))
    try:
        late = _revert(stack, account, done["id"])
        assert "revertible_until" not in client.get_upload(done["id"])
    finally:
        restore()
    assert late.status_code == 409 and f"could be reverted until {until}" in late.json()["message"]
    assert "reverted_by" not in client.get_upload(done["id"])  # nothing was started


def test_the_cli_reverts_and_follows_the_job(stack, account, dataset, load_file, tmp_path):
    load_file(_customers(k1="A1"))
    b = load_file(_customers(k1="B1", k2="B2"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("INGEST_")}
    env.update(INGEST_API_URL=stack.info.api_url, INGEST_TOKEN=account["token"],
               INGEST_STACK_FILE=str(tmp_path / "none.json"))
    result = subprocess.run([sys.executable, "-m", "cli", "revert", b["id"], "--follow", "--json"], cwd=ROOT, env=env,
                            check=False, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    job = json.loads(result.stdout)
    assert (job["type"], job["status"], job["stats"]) == ("revert", "Completed",
                                                           {"restored": 1, "removed": 1, "kept": 0})
    assert _first_names(stack, account, dataset, "k1", "k2") == {"k1": "A1", "k2": None}
    again = subprocess.run([sys.executable, "-m", "cli", "revert", b["id"]], cwd=ROOT,
                           env=env, check=False, capture_output=True,
                           text=True, timeout=180)
    assert again.returncode == 1 and "HTTP 409" in again.stderr and "already reverted" in again.stderr


def test_a_revert_waits_for_a_running_load_and_keeps_what_that_load_wrote(stack, account, client, dataset, load_file,
                                                                          tmp_path):
    load_file(_customers(k1="A1", k2="A2"))
    b = load_file(_customers(k1="B1", k3="B3"))
    path = tmp_path / "customer_record-c.ndjson"
    path.write_bytes(_customers(k1="C1"))
    # Load C holds the dataset, paused in its Load step, while the revert of B is asked for.
    with faults.inject(faults.Pause("Load", account=account["name"])) as paused:
        c = client.request_upload(path.name, dataset["id"], "customer_record")
        put_file(c["url"], str(path))
        assert paused.arrived.wait(120), "load C never reached its Load step"
        started = _revert(stack, account, b["id"])
        assert started.status_code == 202, started.text
        job_id = started.json()["id"]
        deadline = time.monotonic() + 60
        while (queued := requests.get(f"{stack.info.api_url}/v1/jobs/{job_id}", headers=_headers(account),
                                      timeout=30).json()).get("queued_behind") != c["id"]:
            assert time.monotonic() < deadline, queued
            time.sleep(0.2)
        assert queued["status"] == "Pending"
    assert client.wait_for(c["id"], timeout=120, poll=0.2)["status"] == "Completed"
    job = _finished(stack, account, job_id)
    assert job["stats"] == {"restored": 0, "removed": 1, "kept": 1}  # k1 is C's now
    assert _first_names(stack, account, dataset, "k1", "k2", "k3") == {"k1": "C1", "k2": "A2", "k3": None}
    assert client.get_dataset(dataset["id"])["record_counts"] == {"customer_record": 2}
