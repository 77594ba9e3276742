"""Datasets (update, Clear Data) and the account's job log, over HTTP on the local stack."""

from __future__ import annotations

import json
import time

import pytest
import requests

from cli.client import ApiError
from tests.support import faults
from tests.support.stats import line_counts


def _headers(account):
    return {"Auth-Api-Token": account["token"]}


def test_patch_changes_name_and_description_only(stack, account, dataset):
    url = f"{stack.info.api_url}/v1/datasets/{dataset['id']}"
    updated = requests.patch(url, json={"name": "Renamed"}, headers=_headers(account))
    assert updated.status_code == 200
    assert updated.json()["name"] == "Renamed" and updated.json()["description"] == dataset["description"]
    assert requests.get(url, headers=_headers(account)).json()["name"] == "Renamed"
    refused = requests.patch(url, json={"record_counts": {}}, headers=_headers(account))
    assert refused.status_code == 400 and "only name and description" in refused.json()["message"]
    foreign = requests.patch(url, json={"name": "x"}, headers={"Auth-Api-Token": "ing_nope"})
    assert foreign.status_code == 401


def test_clear_data_removes_every_record_and_blocks_loads_meanwhile(stack, account, client, dataset, load_file):
    customers = "\n".join(json.dumps({"link": {"customer_id": f"c{i}"}}) for i in range(300))
    purchases = "\n".join(json.dumps({"purchase_id": f"p{i}", "link": {"customer_id": "c1"}, "action_at": 1714745000,
                                      "type": "physical", "products": []}) for i in range(100))
    assert load_file((customers + "\n").encode())["stats"]["loaded"] == 300
    assert load_file((purchases + "\n").encode(), record_type="purchase_event")["stats"]["loaded"] == 100
    assert client.get_dataset(dataset["id"])["record_counts"] == {"customer_record": 300, "purchase": 100}

    # The clear is held in its partitions' step while the test tries to load and clear again.
    with faults.inject(faults.Pause("ingest.handlers.clear.clear_partition", account=account["name"])) as held:
        cleared = requests.post(f"{stack.info.api_url}/v1/datasets/{dataset['id']}/clear", headers=_headers(account))
        assert cleared.status_code == 202
        job = cleared.json()
        assert job["type"] == "clear" and job["dataset_id"] == dataset["id"]
        assert held.arrived.wait(120), "the clear never reached its partitions"

        # While the clear runs, a new load into the dataset is refused with 409 (not queued).
        with pytest.raises(ApiError) as conflict:
            client.request_upload("customer_record-late.json", dataset["id"], "customer_record")
        assert conflict.value.status == 409 and "being cleared" in conflict.value.message
        second_clear = requests.post(f"{stack.info.api_url}/v1/datasets/{dataset['id']}/clear",
                                     headers=_headers(account))
        assert second_clear.status_code == 409

    deadline = time.monotonic() + 120
    while True:
        answer = requests.get(f"{stack.info.api_url}/v1/jobs/{job['id']}", headers=_headers(account))
        assert answer.status_code == 200, (answer.status_code, answer.text)
        state = answer.json()
        if state["status"] in ("Completed", "Failed") or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert state["status"] == "Completed"
    assert line_counts(state["stats"]) == {"removed": 400}

    shown = client.get_dataset(dataset["id"])
    assert shown["record_counts"] == {} and shown["name"] == dataset["name"]  # the dataset itself stays
    assert requests.get(f"{stack.info.api_url}/v1/datasets/{dataset['id']}/records/customer_record/customer_id:c42",
                        headers=_headers(account)).status_code == 404
    # Loads are accepted again once the clear has finished.
    again = load_file(b'{"link": {"customer_id": "after"}}\n')
    assert again["status"] == "Completed"
    assert client.get_dataset(dataset["id"])["record_counts"] == {"customer_record": 1}

    clears = requests.get(f"{stack.info.api_url}/v1/jobs", params={"type": "clear"}, headers=_headers(account)).json()
    assert [(j["id"], j["status"], j["stats"]["removed"]) for j in clears["jobs"]] == [(job["id"], "Completed", 400)]


def test_clear_of_a_foreign_or_unknown_dataset_is_404(stack, mint, dataset):
    other = {"Auth-Api-Token": mint("acct-clear-intruder")}
    assert requests.post(f"{stack.info.api_url}/v1/datasets/{dataset['id']}/clear", headers=other).status_code == 404
    assert requests.post(f"{stack.info.api_url}/v1/datasets/01NOPE/clear", headers=other).status_code == 404


def test_job_log_lists_every_job_newest_first_with_filters(stack, account, client, dataset, load_file):
    first = load_file(b'{"link": {"customer_id": "a"}}\n')
    failed = load_file(b"")
    clear = requests.post(f"{stack.info.api_url}/v1/datasets/{dataset['id']}/clear", headers=_headers(account)).json()
    deadline = time.monotonic() + 60
    job_url = f"{stack.info.api_url}/v1/jobs/{clear['id']}"
    while requests.get(job_url, headers=_headers(account)).json()["status"] != "Completed":
        assert time.monotonic() < deadline
        time.sleep(0.2)

    def ids(**params):
        response = requests.get(f"{stack.info.api_url}/v1/jobs", params=params, headers=_headers(account))
        assert response.status_code == 200, response.text
        return [(j["type"], j["id"]) for j in response.json()["jobs"]]

    assert ids() == [("clear", clear["id"]), ("upload", failed["id"]), ("upload", first["id"])]
    assert ids(type="upload") == [("upload", failed["id"]), ("upload", first["id"])]
    assert ids(type="upload", status="Failed") == [("upload", failed["id"])]
    bad = requests.get(f"{stack.info.api_url}/v1/jobs", params={"type": "export"}, headers=_headers(account))
    assert bad.status_code == 400 and "upload, clear" in bad.json()["message"]
