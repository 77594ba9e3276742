"""Localytics Audience Imports over real HTTP on the local stack: a client written as Localytics
documents it (`requests`, HTTP Basic auth with an import key, multipart forms) creates an audience
list from a file, follows its status, replaces, renames, lists and deletes it, and gets the
documented error codes. The lists are ordinary audiences: membership is read through
GET /v1/audiences/{id}/members/{customer_id} with an API token."""

from __future__ import annotations

import time

import pytest
import requests

from tests.support import faults

APP = "aud-app"
LIST = "/v1/imports/audiences/list"


def _token(account) -> dict[str, str]:
    return {"Auth-Api-Token": account["token"]}


def _mint_key(stack, token: str, app_ids: list[str]) -> dict:
    response = requests.post(stack.info.api_url + "/v1/import-keys", headers={"Auth-Api-Token": token},
                             json={"app_ids": app_ids, "label": "audiences e2e"}, timeout=30)
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
def key(stack, account) -> dict:
    return _mint_key(stack, account["token"], [APP])


class Client:
    """An import key's calls, as `curl -u key:secret ...` in Localytics' docs."""

    def __init__(self, stack, key: dict, secret: str | None = None):
        self.base = stack.info.api_url
        self.auth = (key["key"], secret or key["secret"])

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        return requests.request(method, self.base + path, auth=self.auth, timeout=60, **kwargs)

    def create(self, fields: dict, content: bytes | None = b"customer_id\nc1\n", path: str = LIST + "/"):
        return self.call("POST", path, files=_multipart(fields, content))

    def replace(self, audience_list_id: str, content: bytes | None, identifier_type: str = "customer_id"):
        return self.call("PUT", f"{LIST}/{audience_list_id}",
                         files=_multipart({"identifier_type": identifier_type}, content))

    def wait(self, activity_id: str, timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            response = self.call("GET", f"{LIST}/status/{activity_id}")
            assert response.status_code == 200, response.text
            status = response.json()
            if status["status"] in ("Completed", "Failed"):
                return status
            assert time.monotonic() < deadline, status
            time.sleep(0.5)  # well inside the 60 status requests a minute


def _multipart(fields: dict, content: bytes | None) -> list:
    """A multipart/form-data body (curl -F): text fields, and the file part unless content is None."""
    parts = [(name, (None, value)) for name, value in fields.items()]
    return parts + ([("file", ("audience.csv", content, "text/csv"))] if content is not None else [])


def _form(name: str = "VIPs", app_id: str = APP, **extra: str) -> dict:
    return {"app_id": app_id, "audience_name": name, "identifier_type": "customer_id", **extra}


def _member(stack, account, audience_id: str, customer_id: str) -> tuple[int, dict]:
    response = requests.get(f"{stack.info.api_url}/v1/audiences/{audience_id}/members/{customer_id}",
                            headers=_token(account), timeout=30)
    return response.status_code, response.json()


def test_create_status_replace_rename_list_and_delete_an_audience_list(stack, account, key):
    client = Client(stack, key)
    created = client.create(_form("VIPs"), b"customer_id\nc1\nc2\nc2\n")  # the path exactly as documented
    assert created.status_code == 202, created.text
    body = created.json()
    assert set(body) == {"activity_id", "audience_list_id"}
    audience_id = body["audience_list_id"]

    status = client.wait(body["activity_id"])
    assert status["status"] == "Completed", status
    assert status["activity_id"] == body["activity_id"] and status["audience_list_id"] == audience_id
    assert status["app_uuid"] == APP and status["error_reason"] is None and status["error_log"] is None
    assert status["upload_statistics"] == {"total_lines": "3", "audience_id": audience_id,
                                           "audience_list_id": audience_id, "failed_lines": "0",
                                           "successful_lines": "3"}
    assert _member(stack, account, audience_id, "c1") == (
        200, {"member": True, "audience_id": audience_id, "customer_id": "c1", "version": 1})
    assert _member(stack, account, audience_id, "c3")[0] == 404
    # The import is an ordinary upload job of the account, through the same pipeline.
    job = requests.get(f"{stack.info.api_url}/v1/uploads/{body['activity_id']}", headers=_token(account)).json()
    assert job["destination"]["destination_type"] == "audience_list" and job["status"] == "Completed"

    # Replace with a file without a header row: the members become exactly the new list.
    replaced = client.replace(audience_id, b"c3\nc4\n")
    assert replaced.status_code == 202, replaced.text
    assert replaced.json()["audience_list_id"] == audience_id
    assert replaced.json()["activity_id"] != body["activity_id"]
    status = client.wait(replaced.json()["activity_id"])
    assert status["status"] == "Completed" and status["app_uuid"] == APP, status
    assert status["upload_statistics"]["successful_lines"] == "2"
    assert [_member(stack, account, audience_id, c)[0] for c in ("c1", "c2", "c3", "c4")] == [404, 404, 200, 200]
    assert _member(stack, account, audience_id, "c4")[1]["version"] == 2

    renamed = client.call("PUT", f"{LIST}/{audience_id}/name", params={"name": "Gold members"})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "Gold members" and renamed.json()["id"] == audience_id

    listed = client.call("GET", f"{LIST}/app/{APP}")
    assert listed.status_code == 200, listed.text
    (entry,) = listed.json()
    assert {k: entry[k] for k in ("id", "name", "app_id", "version", "record_count")} == {
        "id": audience_id, "name": "Gold members", "app_id": APP, "version": 2, "record_count": 2}
    assert entry["created_at"] <= entry["updated_at"]

    deleted = client.call("DELETE", f"{LIST}/{audience_id}")
    assert deleted.status_code == 200, deleted.text
    assert deleted.json() == entry
    assert client.call("GET", f"{LIST}/app/{APP}").json() == []
    assert requests.get(f"{stack.info.api_url}/v1/audiences/{audience_id}", headers=_token(account)).status_code == 404
    assert _member(stack, account, audience_id, "c3")[0] == 404
    assert client.call("DELETE", f"{LIST}/{audience_id}").status_code == 404


def test_the_list_path_works_without_the_trailing_slash_too(stack, key):
    client = Client(stack, key)
    created = client.create(_form("no slash"), path=LIST)
    assert created.status_code == 202, created.text
    assert client.wait(created.json()["activity_id"])["status"] == "Completed"


def test_bad_credentials_get_401(stack, key):
    wrong = Client(stack, key, secret="not-the-secret")
    assert wrong.create(_form()).status_code == 401
    assert wrong.call("GET", f"{LIST}/app/{APP}").status_code == 401
    assert requests.get(f"{stack.info.api_url}{LIST}/app/{APP}", timeout=30).status_code == 401
    # An API token is not an import key.
    assert requests.delete(f"{stack.info.api_url}{LIST}/x", headers={"Auth-Api-Token": "nope"},
                           timeout=30).status_code == 401


def test_an_app_the_key_does_not_have_gets_403(stack, account, key):
    client = Client(stack, key)
    refused = client.create(_form(app_id="not-my-app"))
    assert refused.status_code == 403 and "not-my-app" in refused.json()["message"]
    assert client.call("GET", f"{LIST}/app/not-my-app").status_code == 403
    # An audience of the same account, but of an app this key lacks (made through /v1/uploads).
    upload = requests.post(stack.info.api_url + "/v1/uploads", headers=_token(account), timeout=30, json={
        "filename": "members.ndjson",
        "destination": {"destination_type": "audience_list", "audience_name": "theirs", "app_id": "other-app"}})
    assert upload.status_code == 201, upload.text
    theirs = upload.json()["destination"]["audience_id"]
    assert client.call("PUT", f"{LIST}/{theirs}/name", params={"name": "mine"}).status_code == 403
    assert client.replace(theirs, b"c1\n").status_code == 403
    assert client.call("DELETE", f"{LIST}/{theirs}").status_code == 403
    assert requests.get(f"{stack.info.api_url}/v1/audiences/{theirs}",
                        headers=_token(account)).json()["name"] == "theirs"


@pytest.mark.parametrize("fields, content, message", [
    ({"app_id": APP, "identifier_type": "customer_id"}, b"c1\n", "audience_name is required"),
    (_form(identifier_type="email"), b"c1\n", "identifier_type 'email' is not supported"),
    ({"app_id": APP, "audience_name": "x"}, b"c1\n", "identifier_type is required"),
    (_form(), None, "file is required"),
    (_form(), b"\n\n", "file is empty"),
])
def test_a_bad_form_gets_400_and_creates_nothing(stack, key, fields, content, message):
    client = Client(stack, key)
    response = client.create(fields, content)
    assert response.status_code == 400 and message in response.json()["message"], response.text
    assert client.call("GET", f"{LIST}/app/{APP}").json() == []


def test_bad_replace_and_rename_requests_get_400(stack, key):
    client = Client(stack, key)
    created = client.create(_form())
    assert created.status_code == 202, created.text
    audience_id = created.json()["audience_list_id"]
    assert client.replace(audience_id, None).status_code == 400
    assert client.replace(audience_id, b"c1\n", identifier_type="email").status_code == 400
    no_name = client.call("PUT", f"{LIST}/{audience_id}/name")
    assert no_name.status_code == 400 and "name is required" in no_name.json()["message"]


def test_another_accounts_audience_list_and_activity_get_404(stack, mint, key):
    client = Client(stack, key)
    created = client.create(_form())
    assert created.status_code == 202, created.text
    audience_id, activity_id = created.json()["audience_list_id"], created.json()["activity_id"]
    stranger = Client(stack, _mint_key(stack, mint("acct-audiences-other"), [APP]))  # same app name, other account
    assert stranger.replace(audience_id, b"c9\n").status_code == 404
    assert stranger.call("PUT", f"{LIST}/{audience_id}/name", params={"name": "taken"}).status_code == 404
    assert stranger.call("DELETE", f"{LIST}/{audience_id}").status_code == 404
    assert stranger.call("GET", f"{LIST}/status/{activity_id}").status_code == 404
    assert stranger.call("GET", f"{LIST}/app/{APP}").json() == []
    assert client.wait(activity_id)["status"] == "Completed"  # untouched
    assert client.call("GET", f"{LIST}/app/{APP}").json()[0]["name"] == "VIPs"


def test_the_eleventh_upload_in_an_hour_gets_429_with_retry_after(stack, key):
    # The quota's window is the clock hour: the handlers' clock stands still inside one, whatever the time.
    with faults.inject(faults.ServiceClock()):
        client = Client(stack, key)
        for attempt in range(10):
            response = client.create(_form(f"list {attempt}"))
            assert response.status_code == 202, (attempt, response.text)
        refused = client.create(_form("one too many"))
        assert refused.status_code == 429 and "10 audience import uploads per hour" in refused.json()["message"]
        assert 1 <= int(refused.headers["Retry-After"]) <= 3600
        # A replace is an upload too; the refused create made no audience.
        first = client.call("GET", f"{LIST}/app/{APP}").json()[0]["id"]
        assert client.replace(first, b"c2\n").status_code == 429
        assert len(client.call("GET", f"{LIST}/app/{APP}").json()) == 10


def test_a_multipart_body_over_10_mb_gets_413_pointing_to_the_presigned_flow(stack, key):
    client = Client(stack, key)
    response = client.create(_form(), b"c" * (10 * 1024 * 1024 + 1))
    assert response.status_code == 413 and "presigned" in response.json()["message"]
    assert client.call("GET", f"{LIST}/app/{APP}").json() == []
