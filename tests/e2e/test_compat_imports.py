"""The compatible APIs over real HTTP on the local stack: Localytics Profile Imports (multipart, HTTP
Basic auth with an import key, quotas) and the analytics file-upload API (presigned PUT). Clients
are written as those APIs' own documentation shows them, with `requests`, changing only the base URL
and the credentials."""

from __future__ import annotations

import json
import time

import pytest
import requests

from tests.support import faults

PROFILE_LINES = (
    b'{"customer_id": "fan-1", "changes": [{"op": "assign", "attr": "team", "value": "Bruins"},'
    b' {"op": "increment", "attr": "visits", "value": 2}]}\n'
    b'{"customer_id": "fan-2", "changes": [{"op": "assign", "attr": "team", "value": "Capitals"}]}\n'
    b'{"customer_id": "fan-1", "changes": [{"op": "increment", "attr": "visits", "value": 1}]}\n'
    b'{"customer_id": "fan-3", "changes": [{"op": "teleport", "attr": "x"}]}\n'
)
# Status requests are limited to 60 a minute per key: polling once a second at most stays inside it
# however long a job takes.
STATUS_POLL_SECONDS = 1.05
TRANSACTIONS_CSV = (
    b"purchase_id,link.customer_id,action_at,type,currency,products\n"
    b'order-1,c-1,2025-01-01T10:00:00Z,ecommerce,AUD,"[{""price_paid"": 10.5, ""quantity"": 1}]"\n'
    b"order-2,c-2,2025-01-01T11:00:00Z,ecommerce,AUD,not-a-list\n"
    b"order-3,c-3,2025-01-01T12:00:00Z,physical,AUD,[]\n"
)


def _token_headers(account) -> dict[str, str]:
    return {"Auth-Api-Token": account["token"]}


@pytest.fixture
def import_key(stack, account) -> dict:
    response = requests.post(stack.info.api_url + "/v1/import-keys", headers=_token_headers(account),
                             json={"app_ids": ["my-app"], "label": "e2e"})
    assert response.status_code == 201, response.text
    return response.json()


def _upload(stack, key: dict, fields: dict, content: bytes = PROFILE_LINES, secret: str | None = None):
    # As Localytics' docs show it: a multipart form with Basic auth (curl -u key:secret -F ...).
    return requests.post(stack.info.api_url + "/v1/imports/profiles/upload",
                         auth=(key["key"], secret or key["secret"]), data=fields,
                         files={"file": ("profiles.json", content, "application/json")})


def _status(stack, key: dict, activity_id: str):
    return requests.get(f"{stack.info.api_url}/v1/imports/profiles/status/{activity_id}",
                        auth=(key["key"], key["secret"]))


def _poll_status(stack, key: dict, activity_id: str, timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    seen = []
    while True:
        response = _status(stack, key, activity_id)
        assert response.status_code == 200, response.text
        body = response.json()
        seen.append(body["status"])
        if body["status"] in ("Completed", "Failed") or time.monotonic() > deadline:
            body["seen"] = seen
            return body
        time.sleep(STATUS_POLL_SECONDS)


def test_a_localytics_client_imports_profiles_and_they_read_back_through_the_records_route(stack, account, import_key):
    assert import_key["org_id"] == account["name"] and import_key["app_ids"] == ["my-app"]
    started = _upload(stack, import_key, {"app_id": "my-app", "format": "json"})
    assert started.status_code == 202, started.text
    activity_id = started.json()["activity_id"]

    status = _poll_status(stack, import_key, activity_id)
    assert set(status["seen"]) <= {"Pending", "Running", "Completed"}
    assert status["status"] == "Completed", status
    assert status["target"] == {"app_id": "my-app"}
    assert status["upload_statistics"] == {"successful_imports": 3, "parsed_imports": 4, "failed_imports": 1,
                                           "total_number_of_imports": 4}
    error_log = requests.get(status["error_log"]).text.splitlines()
    assert [json.loads(line)["line"] for line in error_log] == [4]

    # The import is an ordinary upload job of the account, into the app's dataset.
    dataset_id = import_key["datasets"]["apps"]["my-app"]
    job = requests.get(f"{stack.info.api_url}/v1/uploads/{activity_id}", headers=_token_headers(account)).json()
    assert job["destination"] == {"destination_type": "dataset_load", "dataset_id": dataset_id,
                                  "record_type": "profile_changes"}
    profile = requests.get(f"{stack.info.api_url}/v1/datasets/{dataset_id}/records/profile/fan-1",
                           headers=_token_headers(account))
    assert profile.status_code == 200, profile.text
    assert json.dumps(profile.json()).count("Bruins") == 1 and _attribute(profile.json(), "visits") == 3
    listed = requests.get(stack.info.api_url + "/v1/import-keys", headers=_token_headers(account)).json()
    assert [(k["key"], k["datasets"]["apps"]) for k in listed["import_keys"]] == [
        (import_key["key"], {"my-app": dataset_id})]
    assert "secret" not in json.dumps(listed)


def _attribute(profile: dict, name: str):
    # The stored profile holds its attributes at the top level or under "attributes".
    return profile.get(name, (profile.get("attributes") or {}).get(name))


def test_bad_credentials_get_401(stack, import_key):
    assert _upload(stack, import_key, {"app_id": "my-app", "format": "json"}, secret="wrong").status_code == 401
    no_auth = requests.post(stack.info.api_url + "/v1/imports/profiles/upload", data={"app_id": "my-app"},
                            files={"file": ("p.json", PROFILE_LINES)})
    assert no_auth.status_code == 401
    # An API token is not an import key.
    assert requests.get(stack.info.api_url + "/v1/imports/profiles/status/x",
                        headers={"Authorization": "Basic " + "bm90OmFrZXk="}).status_code == 401


def test_another_org_or_app_gets_403_and_a_bad_form_400(stack, import_key):
    assert _upload(stack, import_key, {"app_id": "not-my-app", "format": "json"}).status_code == 403
    assert _upload(stack, import_key, {"org_id": "someone-else", "format": "json"}).status_code == 403
    both = _upload(stack, import_key, {"org_id": import_key["org_id"], "app_id": "my-app", "format": "json"})
    assert both.status_code == 400 and "exactly one of org_id and app_id" in both.json()["message"]
    neither = _upload(stack, import_key, {"format": "json"})
    assert neither.status_code == 400 and "exactly one of org_id and app_id" in neither.json()["message"]
    assert _upload(stack, import_key, {"org_id": import_key["org_id"], "format": "xml"}).status_code == 400


def test_the_eleventh_upload_in_an_hour_gets_429_with_retry_after(stack, import_key):
    # The quota's window is the clock hour: the handlers' clock stands still inside one, whatever the time.
    with faults.inject(faults.ServiceClock()):
        one_line = PROFILE_LINES.splitlines(keepends=True)[1]
        for attempt in range(10):
            response = _upload(stack, import_key, {"org_id": import_key["org_id"], "format": "json"}, one_line)
            assert response.status_code == 202, (attempt, response.text)
        refused = _upload(stack, import_key, {"org_id": import_key["org_id"], "format": "json"}, one_line)
        assert refused.status_code == 429 and "10 profile import uploads per hour" in refused.json()["message"]
        assert 1 <= int(refused.headers["Retry-After"]) <= 3600


def test_a_multipart_body_over_10_mb_gets_413_pointing_to_the_presigned_flow(stack, import_key):
    response = _upload(stack, import_key, {"app_id": "my-app", "format": "json"}, b"x" * (10 * 1024 * 1024 + 1))
    assert response.status_code == 413 and "presigned" in response.json()["message"]


def test_a_5_mb_file_is_refused_too_because_base64_makes_it_over_lambdas_6_mb(stack, import_key):
    # Under API Gateway's 10 MB, but multipart reaches the function base64-encoded: about 6.7 MB,
    # over what Lambda accepts. The local stack refuses it as AWS does, instead of accepting it.
    line = b'{"customer_id": "c", "changes": [{"op": "assign", "attr": "pad", "value": "' + b"x" * 1000 + b'"}]}\n'
    content = line * (5 * 1024 * 1024 // len(line))
    response = _upload(stack, import_key, {"app_id": "my-app", "format": "json"}, content)
    assert response.status_code == 413 and "presigned" in response.json()["message"]
    small = _upload(stack, import_key, {"app_id": "my-app", "format": "json"}, line * 3000)  # about 3 MB
    assert small.status_code == 202, small.text


def test_another_accounts_activity_answers_404(stack, mint, import_key):
    started = _upload(stack, import_key, {"app_id": "my-app", "format": "json"})
    assert started.status_code == 202
    other = requests.post(stack.info.api_url + "/v1/import-keys",
                          headers={"Auth-Api-Token": mint("acct-imports-other")},
                          json={}).json()
    assert _status(stack, other, started.json()["activity_id"]).status_code == 404


# -- the analytics file-upload API ------------------------------------------------------------
def test_an_analytics_client_uploads_a_file_through_a_presigned_url(stack, account, mint):
    api = stack.info.api_url
    created = requests.post(api + "/analytics/files/upload", headers=_token_headers(account), json={
        "datasetType": "transactions", "file": {"name": "testprovider_transactions_2025-01-01.csv", "type": "csv"}})
    assert created.status_code == 200, created.text
    body = created.json()
    assert body["status"] == "Pending" and body["expiresAt"] and body["url"].startswith("http")
    assert requests.put(body["url"], data=TRANSACTIONS_CSV).status_code == 200

    deadline = time.monotonic() + 120
    while True:
        view = requests.get(f"{api}/analytics/files/{body['id']}", headers=_token_headers(account)).json()
        if view["status"] in ("Completed", "Failed") or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert view["status"] == "Completed", view
    assert view["statistics"] == {"total": 3, "imported": 2, "rejected": 1}
    assert view["datasetType"] == "transactions" and view["file"]["type"] == "csv"
    assert [json.loads(line)["line"] for line in requests.get(view["errorLogUrl"]).text.splitlines()] == [3]

    foreign = requests.get(f"{api}/analytics/files/{body['id']}",
                           headers={"Auth-Api-Token": mint("acct-analytics-other")})
    assert foreign.status_code == 404
    unknown_type = requests.post(api + "/analytics/files/upload", headers=_token_headers(account), json={
        "datasetType": "widgets", "file": {"name": "w.csv", "type": "csv"}})
    assert unknown_type.status_code == 400 and "transactions" in unknown_type.json()["message"]


def test_an_operator_mints_an_import_key_with_the_admin_cli(stack, tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    state = tmp_path / "stack.json"
    state.write_text(json.dumps(stack.state()))  # what `make run` writes, less the dev token
    minted = subprocess.run(
        [sys.executable, "-m", "cli.admin", "mint-import-key", "--account", "acct-cli-imports", "--app-id", "cli-app",
         "--stack-file", str(state)],
        cwd=Path(__file__).resolve().parents[2], env={**os.environ},
        check=False, capture_output=True, text=True, timeout=120)
    assert minted.returncode == 0, minted.stderr
    key = json.loads(minted.stdout)
    assert key["org_id"] == "acct-cli-imports" and key["datasets"]["apps"]["cli-app"]
    assert key["secret"] not in minted.stderr
    started = _upload(stack, key, {"app_id": "cli-app", "format": "json"})
    assert started.status_code == 202, started.text
    assert _poll_status(stack, key, started.json()["activity_id"])["status"] == "Completed"


def test_a_revoked_import_key_gets_401_and_leaves_the_listing(stack, account, import_key, mint):
    url = f"{stack.info.api_url}/v1/import-keys/{import_key['key']}"
    assert requests.delete(url, headers={"Auth-Api-Token": mint("acct-imports-stranger")}).status_code == 404
    assert requests.delete(url, headers=_token_headers(account)).status_code == 204
    # Never used before the revocation, so no cached authorizer decision serves it.
    assert _upload(stack, import_key, {"app_id": "my-app", "format": "json"}).status_code == 401
    listed = requests.get(stack.info.api_url + "/v1/import-keys", headers=_token_headers(account)).json()
    assert listed == {"import_keys": []}
    assert requests.delete(url, headers=_token_headers(account)).status_code == 404


# -- org ids: the customer's Localytics org id on the key ---------------------------------------
def _mint_key(stack, token: str, body: dict) -> requests.Response:
    return requests.post(stack.info.api_url + "/v1/import-keys", headers={"Auth-Api-Token": token}, json=body,
                         timeout=30)


def test_two_accounts_may_both_use_org_60_and_never_see_each_others_imports(stack, account, mint):
    ours = _mint_key(stack, account["token"], {"org_id": "60", "app_ids": ["my-app"]}).json()
    other_token = mint("acct-org60-other")
    theirs = _mint_key(stack, other_token, {"org_id": 60}).json()  # a JSON number is taken as its digits
    assert ours["org_id"] == theirs["org_id"] == "60"
    assert ours["datasets"]["org"] != theirs["datasets"]["org"]

    started = _upload(stack, ours, {"org_id": "60", "format": "json"})
    assert started.status_code == 202, started.text
    status = _poll_status(stack, ours, started.json()["activity_id"])
    assert status["status"] == "Completed" and status["target"] == {"org_id": "60"}, status
    # Into our org dataset: the other account's org 60 has nothing, and our activity is unknown to it.
    profile_path = "/records/profile/fan-1"
    assert requests.get(f"{stack.info.api_url}/v1/datasets/{ours['datasets']['org']}{profile_path}",
                        headers=_token_headers(account), timeout=30).status_code == 200
    assert requests.get(f"{stack.info.api_url}/v1/datasets/{theirs['datasets']['org']}{profile_path}",
                        headers={"Auth-Api-Token": other_token}, timeout=30).status_code == 404
    assert _status(stack, theirs, started.json()["activity_id"]).status_code == 404
    # The account name is no longer this key's org; another org id neither.
    assert _upload(stack, ours, {"org_id": account["name"], "format": "json"}).status_code == 403
    assert _upload(stack, theirs, {"org_id": "61", "format": "json"}).status_code == 403


@pytest.mark.parametrize("org_id", ["60 61", "", "org#60", "x" * 101, -1, True, ["60"]])
def test_a_bad_org_id_gets_400_naming_the_field(stack, account, org_id):
    response = _mint_key(stack, account["token"], {"org_id": org_id})
    assert response.status_code == 400 and response.json()["message"].startswith("org_id: "), response.text
    listed = requests.get(stack.info.api_url + "/v1/import-keys", headers=_token_headers(account), timeout=30)
    assert listed.json() == {"import_keys": []}


def test_make_import_key_with_org_60_lets_the_documented_org_upload_through(stack, tmp_path):
    import os
    import subprocess
    from pathlib import Path

    state = tmp_path / "stack.json"
    state.write_text(json.dumps(stack.state()))  # what `make run` writes, less the dev token
    minted = subprocess.run(["make", "-s", "import-key", "ACCOUNT=acct-make-org", "ORG=60", "APPS=app-a app-b"],
                            cwd=Path(__file__).resolve().parents[2],
                            env={**os.environ, "INGEST_STACK_FILE": str(state)},
                            check=False, capture_output=True, text=True, timeout=300)
    assert minted.returncode == 0, minted.stderr
    key = json.loads(minted.stdout)
    assert (key["org_id"], key["app_ids"]) == ("60", ["app-a", "app-b"]) and key["datasets"]["org"]
    started = _upload(stack, key, {"org_id": "60", "format": "json"})
    assert started.status_code == 202, started.text
    assert _poll_status(stack, key, started.json()["activity_id"])["status"] == "Completed"
