"""Idempotency-Key over HTTP on the local stack, as a client retrying a request would use it: the same
key and body replay the first answer and create nothing; another body gets 422; concurrent requests
with one key create one thing; keys belong to their account; every creating route honours it."""

from __future__ import annotations

import os
import threading
import time
import uuid

import pytest
import requests

from cli.client import put_file
from ingest.adapters.control_tables import DatasetsTable
from ingest.handlers import wiring
from tests.support import faults

REPLAYED = "Idempotent-Replayed"


def _key() -> str:
    return f"retry-{uuid.uuid4()}"


def _headers(account, key: str | None = None) -> dict[str, str]:
    return {"Auth-Api-Token": account["token"], **({"Idempotency-Key": key} if key else {})}


def _upload_request(dataset_id: str, filename: str = "customer_record-idem.ndjson") -> dict:
    return {"filename": filename,
            "destination": {"destination_type": "dataset_load", "dataset_id": dataset_id,
                            "record_type": "customer_record"}}


def _uploads(stack, account) -> list[dict]:
    return requests.get(f"{stack.info.api_url}/v1/uploads", headers=_headers(account)).json()["uploads"]


def test_the_same_key_and_body_replay_the_first_answer_and_create_nothing(stack, account, dataset):
    url, key = f"{stack.info.api_url}/v1/uploads", _key()
    first = requests.post(url, json=_upload_request(dataset["id"]), headers=_headers(account, key))
    assert first.status_code == 201 and REPLAYED not in first.headers
    # The same JSON with other spacing and key order is the same request.
    again = requests.post(url, headers={**_headers(account, key), "Content-Type": "application/json"},
                          data='{"destination": {"record_type": "customer_record", "dataset_id": "%s", '  # noqa: UP031 (JSON: no doubled braces)
                               '"destination_type": "dataset_load"},   "filename": "customer_record-idem.ndjson"}'
                               % dataset["id"])
    assert again.status_code == 201 and again.headers[REPLAYED] == "true"
    assert again.json() == first.json()  # the same upload id, and its URL is still good
    assert [upload["id"] for upload in _uploads(stack, account)] == [first.json()["id"]]
    # Without a key, the same request creates another upload, as before.
    plain = requests.post(url, json=_upload_request(dataset["id"]), headers=_headers(account))
    assert plain.status_code == 201 and plain.json()["id"] != first.json()["id"]


def test_a_replay_after_the_url_expired_gets_a_fresh_url_for_the_same_upload(stack, account, client, dataset,
                                                                          tmp_path):
    url, key = f"{stack.info.api_url}/v1/uploads", _key()
    with faults.inject(faults.ServiceClock()) as clock:
        first = requests.post(url, json=_upload_request(dataset["id"]), headers=_headers(account, key)).json()
        clock.advance(3600 + 1)  # the URL's hour is over
        time.sleep(1.1)  # so the fresh URL's signing time (S3's own clock) differs from the first's
        replay = requests.post(url, json=_upload_request(dataset["id"]), headers=_headers(account, key))
        assert replay.status_code == 201 and replay.headers[REPLAYED] == "true"
        body = replay.json()
        assert body["id"] == first["id"]
        assert body["url"] != first["url"] and body["expires_at"] > first["expires_at"]
        assert {k: v for k, v in body.items() if k not in ("url", "expires_at")} == {
            k: v for k, v in first.items() if k not in ("url", "expires_at")}
    # The fresh URL puts the same upload's file: the one job runs.
    path = tmp_path / "customer_record-idem.ndjson"
    path.write_bytes(b'{"link": {"customer_id": "c1"}}\n')
    put_file(body["url"], str(path))
    assert client.wait_for(first["id"], timeout=120, poll=0.2)["stats"]["loaded"] == 1
    assert [upload["id"] for upload in _uploads(stack, account)] == [first["id"]]


def test_the_same_key_with_another_body_gets_422_naming_the_conflict(stack, account, dataset):
    url, key = f"{stack.info.api_url}/v1/uploads", _key()
    assert requests.post(url, json=_upload_request(dataset["id"]), headers=_headers(account, key)).status_code == 201
    other = requests.post(url, json=_upload_request(dataset["id"], "customer_record-other.ndjson"),
                          headers=_headers(account, key))
    assert other.status_code == 422
    message = other.json()["message"]
    assert "Idempotency-Key" in message and key in message and "POST /v1/uploads" in message
    assert "different request body" in message
    assert len(_uploads(stack, account)) == 1


def test_an_error_answer_is_not_kept_so_the_corrected_request_may_reuse_the_key(stack, account, dataset):
    url, key = f"{stack.info.api_url}/v1/uploads", _key()
    missing = requests.post(url, json=_upload_request("01J00000000000000000000000"), headers=_headers(account, key))
    assert missing.status_code == 404
    corrected = requests.post(url, json=_upload_request(dataset["id"]), headers=_headers(account, key))
    assert corrected.status_code == 201 and REPLAYED not in corrected.headers


@pytest.mark.parametrize("bad", ["", "a key with spaces", "x" * 256, "clé"])
def test_a_malformed_key_gets_400(stack, account, bad):
    answer = requests.post(f"{stack.info.api_url}/v1/datasets", json={"name": "n"},
                           headers={"Auth-Api-Token": account["token"], "Idempotency-Key": bad.encode("utf-8")})
    assert answer.status_code == 400 and "Idempotency-Key" in answer.json()["message"]


def test_concurrent_requests_with_one_key_create_one_thing(stack, account):
    url, key, parties = f"{stack.info.api_url}/v1/datasets", _key(), 6
    start = threading.Barrier(parties)
    answers: list[requests.Response] = []
    lock = threading.Lock()

    def send() -> None:
        start.wait()
        answer = requests.post(url, json={"name": "Once"}, headers=_headers(account, key), timeout=60)
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=send) for _ in range(parties)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Each answer is the first one, its replay, or 409 while the first ran: never a second dataset.
    assert {answer.status_code for answer in answers} <= {201, 409}, [a.text for a in answers]
    created = {answer.json()["id"] for answer in answers if answer.status_code == 201}
    assert len(created) == 1
    for answer in answers:
        if answer.status_code == 409:
            assert "in progress" in answer.json()["message"]
    datasets = requests.get(url, headers=_headers(account)).json()["datasets"]
    assert [dataset["id"] for dataset in datasets] == list(created)


class HeldCreate:
    """The API's DatasetsTable.create waits for `release` (through the composition root's seam, as
    tests/support/faults.py does), so a test can send a second request while the first is in progress."""

    def __init__(self):
        self.entered, self.release = threading.Event(), threading.Event()

    def __call__(self, make, *args, **kwargs):
        table = make(*args, **kwargs)
        create = table.create

        def held_create(dataset: dict) -> None:
            self.entered.set()
            self.release.wait(60)
            create(dataset)

        table.create = held_create
        return table


def test_a_request_while_the_first_with_its_key_runs_gets_409_and_the_first_answer_after(stack, account):
    url, key = f"{stack.info.api_url}/v1/datasets", _key()
    held = HeldCreate()
    remove = wiring.use(DatasetsTable, held)
    try:
        answers: list[requests.Response] = []
        first = threading.Thread(target=lambda: answers.append(
            requests.post(url, json={"name": "Once"}, headers=_headers(account, key), timeout=60)))
        first.start()
        assert held.entered.wait(30)
        during = requests.post(url, json={"name": "Once"}, headers=_headers(account, key))
        held.release.set()
        first.join()
    finally:
        held.release.set()
        remove()
    assert during.status_code == 409
    assert during.json()["message"].startswith("a request with this Idempotency-Key is in progress")
    assert answers[0].status_code == 201
    after = requests.post(url, json={"name": "Once"}, headers=_headers(account, key))
    assert after.status_code == 201 and after.headers[REPLAYED] == "true" and after.json() == answers[0].json()
    assert [d["id"] for d in requests.get(url, headers=_headers(account)).json()["datasets"]] == [
        answers[0].json()["id"]]


def test_keys_belong_to_their_account(stack, account, mint):
    url, key = f"{stack.info.api_url}/v1/datasets", _key()
    other = {"name": f"{account['name']}-other", "token": mint(f"{account['name']}-other")}
    mine = requests.post(url, json={"name": "Mine"}, headers=_headers(account, key))
    theirs = requests.post(url, json={"name": "Mine"}, headers=_headers(other, key))
    assert mine.status_code == theirs.status_code == 201
    assert REPLAYED not in theirs.headers and theirs.json()["id"] != mine.json()["id"]
    assert [d["id"] for d in requests.get(url, headers=_headers(other)).json()["datasets"]] == [theirs.json()["id"]]
    # Another body under the same key is no conflict in another account either.
    third = {"token": mint(f"{account['name']}-third")}
    assert requests.post(url, json={"name": "Theirs"}, headers=_headers(third, key)).status_code == 201


# -- every creating route ----------------------------------------------------------------------------------
def _replays(send) -> tuple[requests.Response, requests.Response]:
    first, again = send(), send()
    assert first.status_code in (200, 201, 202), first.text
    assert again.status_code == first.status_code and again.headers.get(REPLAYED) == "true"
    assert REPLAYED not in first.headers
    return first, again


def test_post_datasets_replays(stack, account):
    key = _key()
    first, again = _replays(lambda: requests.post(f"{stack.info.api_url}/v1/datasets", json={"name": "D"},
                                                  headers=_headers(account, key)))
    assert again.json() == first.json()
    assert len(requests.get(f"{stack.info.api_url}/v1/datasets", headers=_headers(account)).json()["datasets"]) == 1


def test_post_clear_replays_the_one_clear_job(stack, account, dataset):
    key, url = _key(), f"{stack.info.api_url}/v1/datasets/{dataset['id']}/clear"
    first, again = _replays(lambda: requests.post(url, headers=_headers(account, key)))
    assert again.json() == first.json()
    jobs = requests.get(f"{stack.info.api_url}/v1/jobs", params={"type": "clear"}, headers=_headers(account)).json()
    assert [job["id"] for job in jobs["jobs"]] == [first.json()["id"]]
    # The key is the clear's of this dataset: the same key on another dataset is another request.
    other = requests.post(f"{stack.info.api_url}/v1/datasets", json={"name": "E"}, headers=_headers(account)).json()
    assert requests.post(f"{stack.info.api_url}/v1/datasets/{other['id']}/clear",
                         headers=_headers(account, key)).headers.get(REPLAYED) is None


def test_post_tokens_replays_without_the_token(stack, account):
    key, url = _key(), f"{stack.info.api_url}/v1/tokens"
    first, again = _replays(lambda: requests.post(url, json={"label": "ci"}, headers=_headers(account, key)))
    assert first.json()["token"].startswith("ing_")
    # The token is stored only as a hash: a replay names the same token but cannot show it again.
    assert again.json() == {**first.json(), "token": None}
    assert first.json()["token"] not in again.text
    # Nor is it anywhere in the idempotency records (the local stack sets the functions' environment in
    # its own process, so the API function's table name is there).
    records = stack.session().resource("dynamodb").Table(os.environ["IDEMPOTENCY_TABLE"]).scan()["Items"]
    kept = [item["data"] for item in records if first.json()["id"] in item.get("data", "")]
    assert len(kept) == 1 and first.json()["token"] not in kept[0] and '"token": null' in kept[0]
    labels = [t["label"] for t in requests.get(url, headers=_headers(account)).json()["tokens"]]
    assert labels.count("ci") == 1


def test_post_import_keys_replays_without_the_secret(stack, account):
    key, url = _key(), f"{stack.info.api_url}/v1/import-keys"
    first, again = _replays(lambda: requests.post(url, json={"app_ids": ["app"]}, headers=_headers(account, key)))
    assert first.json()["secret"]
    assert again.json() == {**first.json(), "secret": None}
    records = stack.session().resource("dynamodb").Table(os.environ["IDEMPOTENCY_TABLE"]).scan()["Items"]
    assert not [item for item in records if first.json()["secret"] in item.get("data", "")]
    assert len(requests.get(url, headers=_headers(account)).json()["import_keys"]) == 1


def test_post_analytics_file_upload_replays(stack, account):
    key, url = _key(), f"{stack.info.api_url}/analytics/files/upload"
    request = {"datasetType": "transactions", "file": {"name": "provider_transactions_2025-01-01.csv", "type": "csv"}}
    first, again = _replays(lambda: requests.post(url, json=request, headers=_headers(account, key)))
    assert again.json() == first.json()
    assert len(_uploads(stack, account)) == 1


@pytest.fixture
def import_key(stack, account) -> dict:
    answer = requests.post(f"{stack.info.api_url}/v1/import-keys", json={"app_ids": ["my-app"]},
                           headers=_headers(account))
    assert answer.status_code == 201
    return answer.json()


def test_localytics_profile_upload_replays_a_resent_form(stack, account, import_key):
    """requests makes a new multipart boundary for each request: the form's fields and file bytes are
    what is compared, not the body's bytes."""
    key, url = _key(), f"{stack.info.api_url}/v1/imports/profiles/upload"
    lines = b'{"customer_id": "fan-1", "changes": [{"op": "assign", "attr": "team", "value": "Bruins"}]}\n'

    def send(content: bytes = lines) -> requests.Response:
        return requests.post(url, auth=(import_key["key"], import_key["secret"]), headers={"Idempotency-Key": key},
                             data={"org_id": import_key["org_id"], "format": "json"},
                             files={"file": ("profiles.json", content, "application/json")})

    first, again = _replays(send)
    assert again.json() == first.json()
    assert len(_uploads(stack, account)) == 1
    assert send(lines.replace(b"Bruins", b"Capitals")).status_code == 422  # other file bytes: another request


def test_localytics_audience_list_create_and_replace_replay(stack, account, import_key):
    key, replace_key = _key(), _key()
    base = f"{stack.info.api_url}/v1/imports/audiences/list"
    auth = (import_key["key"], import_key["secret"])
    fields = [("app_id", (None, "my-app")), ("audience_name", (None, "VIPs")),
              ("identifier_type", (None, "customer_id"))]

    def create() -> requests.Response:
        return requests.post(base + "/", auth=auth, headers={"Idempotency-Key": key},
                             files=[*fields, ("file", ("audience.csv", b"customer_id\nc1\n", "text/csv"))])

    first, again = _replays(create)
    assert again.json() == first.json()
    audience_id = first.json()["audience_list_id"]

    def replace() -> requests.Response:
        return requests.put(f"{base}/{audience_id}", auth=auth, headers={"Idempotency-Key": replace_key},
                            files=[("identifier_type", (None, "customer_id")),
                                   ("file", ("audience.csv", b"customer_id\nc2\n", "text/csv"))])

    replaced, replayed = _replays(replace)
    assert replayed.json() == replaced.json()
    audiences = requests.get(f"{stack.info.api_url}/v1/audiences", headers=_headers(account)).json()["audiences"]
    assert [a["id"] for a in audiences] == [audience_id]
    assert len(_uploads(stack, account)) == 2  # one create, one replace
