"""Audience lists over HTTP on the local stack: create from a file, membership, list, rename, delete,
the 500-per-account limit, and a replace under concurrent reads."""

from __future__ import annotations

import json
import os
import threading
import time

import boto3
import pytest
import requests

from cli.client import put_file
from ingest.adapters.audience_store import AudienceStore
from ingest.adapters.record_store import RecordStore
from ingest.logic import audiences
from tests.support.stats import line_counts

LIMIT_MESSAGE = "an account may have at most 500 audiences; delete one first"


def _lines(customers) -> bytes:
    return b"".join(json.dumps({"customer_id": c}).encode() + b"\n" for c in customers)


class Api:
    """Plain HTTP calls with one account's token: status and JSON of every answer."""

    def __init__(self, stack, token: str):
        self.base = stack.info.api_url
        self.session = requests.Session()
        self.session.headers["Auth-Api-Token"] = token

    def call(self, method: str, path: str, **kwargs) -> tuple[int, dict]:
        response = self.session.request(method, self.base + path, timeout=30, **kwargs)
        return response.status_code, (response.json() if response.content else {})

    def upload(self, destination: dict, content: bytes, tmp_path, filename: str = "members.ndjson") -> dict:
        """Request the upload, PUT the file, return the upload view (the job runs on its own)."""
        status, upload = self.call("POST", "/v1/uploads", json={"filename": filename, "destination": destination})
        assert status == 201, upload
        path = tmp_path / f"{upload['id']}.ndjson"
        path.write_bytes(content)
        put_file(upload["url"], str(path))
        return upload

    def wait(self, upload_id: str, timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            status, upload = self.call("GET", f"/v1/uploads/{upload_id}")
            assert status == 200, upload
            if upload["status"] in ("Completed", "Failed"):
                return upload
            assert time.monotonic() < deadline, upload
            time.sleep(0.2)

    def is_member(self, audience_id: str, customer_id: str) -> tuple[bool, int | None]:
        status, body = self.call("GET", f"/v1/audiences/{audience_id}/members/{customer_id}")
        assert status in (200, 404), body
        return status == 200, body.get("version")


@pytest.fixture
def api(stack, account) -> Api:
    return Api(stack, account["token"])


def test_create_from_a_file_then_membership_list_rename_and_delete(stack, api, account, mint, tmp_path):
    upload = api.upload({"destination_type": "audience_list", "audience_name": "VIPs", "app_id": "app-1"},
                        _lines(["c1", "c2", "c2", "c3"]) + b'{"customer_id": 7}\n', tmp_path)
    audience_id = upload["destination"]["audience_id"]
    # Created at request time: listed at once, empty, version 0.
    status, audience = api.call("GET", f"/v1/audiences/{audience_id}")
    assert status == 200 and audience["name"] == "VIPs" and audience["app_id"] == "app-1"
    done = api.wait(upload["id"])
    assert done["status"] == "Completed" and line_counts(done["stats"]) == {"total": 5, "loaded": 4, "rejected": 1}

    status, audience = api.call("GET", f"/v1/audiences/{audience_id}")
    assert (status, audience["version"], audience["record_count"]) == (200, 1, 3)
    assert set(audience) >= {"id", "name", "version", "record_count", "created_at", "updated_at"}
    status, answer = api.call("GET", f"/v1/audiences/{audience_id}/members/c2")
    assert (status, answer) == (200, {"member": True, "audience_id": audience_id, "customer_id": "c2", "version": 1})
    status, answer = api.call("GET", f"/v1/audiences/{audience_id}/members/c9")
    assert status == 404 and "not a member" in answer["message"]

    second = api.upload({"destination_type": "audience_list", "audience_name": "Other"}, _lines(["x"]), tmp_path)
    status, listing = api.call("GET", "/v1/audiences")
    assert status == 200 and [a["id"] for a in listing["audiences"]] == [
        audience_id, second["destination"]["audience_id"]]
    status, listing = api.call("GET", "/v1/audiences", params={"app_id": "app-1"})
    assert [a["id"] for a in listing["audiences"]] == [audience_id]

    status, renamed = api.call("PATCH", f"/v1/audiences/{audience_id}", json={"name": "Very important"})
    assert (status, renamed["name"], renamed["version"]) == (200, "Very important", 1)

    # Another account sees none of it.
    stranger = Api(stack, mint(f"stranger-{audience_id.lower()[-8:]}"))
    for method, path in (("GET", f"/v1/audiences/{audience_id}"), ("DELETE", f"/v1/audiences/{audience_id}"),
                         ("PATCH", f"/v1/audiences/{audience_id}"), ("GET", f"/v1/audiences/{audience_id}/members/c1")):
        status, answer = stranger.call(method, path, json={"name": "x"} if method == "PATCH" else None)
        assert status == 404, (method, path, answer)
    status, answer = stranger.call("POST", "/v1/uploads", json={
        "filename": "m.ndjson", "destination": {"destination_type": "audience_list", "audience_id": audience_id}})
    assert status == 404, answer
    assert stranger.call("GET", "/v1/audiences")[1] == {"audiences": []}

    # The local stack puts the functions' environment (RECORDS_TABLE too) into this process.
    stored = RecordStore(boto3.client("dynamodb"), os.environ["RECORDS_TABLE"])
    member_set = audiences.member_set(audience_id, upload["id"])
    assert stored.count(account["name"], member_set, "audience_member") == 3
    status, _ = api.call("DELETE", f"/v1/audiences/{audience_id}")
    assert status == 204
    assert api.call("GET", f"/v1/audiences/{audience_id}")[0] == 404
    assert api.call("GET", f"/v1/audiences/{audience_id}/members/c1")[0] == 404
    # Its members are gone from the store, not just unreachable.
    assert stored.count(account["name"], member_set, "audience_member") == 0


def test_the_501st_audience_is_refused(stack, api, account, tmp_path):
    # 498 through the same logic and table the API uses (cheap), the last ones over HTTP.
    store = AudienceStore(boto3.resource("dynamodb").Table(stack.deployment.outputs["AudiencesTableName"]))
    for n in range(498):
        audiences.create_audience(store, account["name"], f"list {n}")
    for n in (499, 500):
        status, upload = api.call("POST", "/v1/uploads", json={
            "filename": "members.ndjson",
            "destination": {"destination_type": "audience_list", "audience_name": f"list {n}"}})
        assert status == 201, upload
    status, refused = api.call("POST", "/v1/uploads", json={
        "filename": "members.ndjson",
        "destination": {"destination_type": "audience_list", "audience_name": "one more"}})
    assert (status, refused) == (409, {"message": LIMIT_MESSAGE})
    assert len(api.call("GET", "/v1/audiences")[1]["audiences"]) == 500
    # Deleting one makes room for one.
    victim = api.call("GET", "/v1/audiences")[1]["audiences"][0]["id"]
    assert api.call("DELETE", f"/v1/audiences/{victim}")[0] == 204
    status, upload = api.call("POST", "/v1/uploads", json={
        "filename": "members.ndjson", "destination": {"destination_type": "audience_list", "audience_name": "fits"}})
    assert status == 201, upload


def test_replace_under_concurrent_reads_never_shows_a_mix(api, tmp_path):
    shared = [f"s{n:05d}" for n in range(1500)]
    old_only, new_only = ["old-1", "old-2", "old-3"], ["new-1", "new-2", "new-3"]
    first = api.upload({"destination_type": "audience_list", "audience_name": "Rotating"},
                       _lines(old_only + shared), tmp_path)
    audience_id = first["destination"]["audience_id"]
    assert api.wait(first["id"])["status"] == "Completed"

    # One serial reader: each answer says whether it reflects the old list or the new one. Once a
    # read has seen the new list, no later read may see the old one (and 200s name their version).
    observed: list[str] = []
    stop = threading.Event()
    problems: list[str] = []

    def read() -> None:
        probes = [c for pair in zip(old_only, new_only, strict=True) for c in pair]
        while not stop.is_set():
            for customer in probes:
                member, version = api.is_member(audience_id, customer)
                old_view = member == customer.startswith("old-")
                observed.append("old" if old_view else "new")
                if member and version != (1 if old_view else 2):
                    problems.append(f"{customer} member at version {version}")

    reader = threading.Thread(target=read)
    reader.start()
    try:
        while len(observed) < 12:
            time.sleep(0.05)
        replace = api.upload({"destination_type": "audience_list", "audience_id": audience_id},
                             _lines(new_only + shared), tmp_path)
        done = api.wait(replace["id"])
        settled = len(observed)
        while len(observed) < settled + 12:
            time.sleep(0.05)
    finally:
        stop.set()
        reader.join(30)
    assert done["status"] == "Completed", done
    assert not problems, problems
    first_new = observed.index("new")
    assert "old" not in observed[first_new:], "a read saw the old list after one had seen the new list"
    assert observed[0] == "old" and observed[-1] == "new"
    _, audience = api.call("GET", f"/v1/audiences/{audience_id}")
    assert (audience["version"], audience["record_count"]) == (2, len(shared) + 3)
