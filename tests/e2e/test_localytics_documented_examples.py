"""The examples of Localytics' Import APIs page, run as the page shows them against the local stack.

Each curl example is the page's command text (its line breaks, lost in the page's formatting, put
back) run by bash; each Python example is the page's `requests` code. Only three things change:
the host and credentials (`https://[api_key]:[api_secret]@api.localytics.com` becomes
`http://<key>:<secret>@127.0.0.1:<port>`, credentials still in the URL), the ids the page made up
(activity 3b4a65e5-..., audience list 31245) become the ones our answers gave, and curl gets
`-sS -w '\\n%{http_code}'` appended so the test can read the status. The files are the page's.

Where the page contradicts itself we chose, as docs/compatible_apis.md records: the rename's Python
example (a POST of a file to the list, the update's code pasted again) is not a rename, and gets 404
while the list stays as it was; the audience file's typographic quotes are straight JSON quotes.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from functools import partial
from urllib.parse import urlsplit

import pytest
import requests

PAGE_HOST = "https://[api_key]:[api_secret]@api.localytics.com"
PAGE_ACTIVITY = "3b4a65e5-2beb-4011-85df-c9f594217d90"
PAGE_LIST = "31245"
PAGE_ORG = "60"
# The app of the page's audience examples, and the one its profile scope example names.
PAGE_APP = "7d2e3219e6f93bececb44b6-97b87de8-75f4-1100-bf23-000099911bee"
PROFILE_APP = "329713ff0a13384015c3158-62b52efa-3912-11e8-7723-007c928ca240"

# -- the page's files ----------------------------------------------------------------------------
PROFILE_FILE = (  # "Import File Format", Profile Imports: five JSON lines
    b'{"customer_id":"abc","changes":[{"op":"assign","attr":"example1","value":"value1"}]}\n'
    b'{"customer_id":"123","changes":[{"op":"set-add","attr":"example2","value":["value1", "value2"]}]}\n'
    b'{"customer_id":"zxc","changes":[{"op":"set-remove","attr":"example3","value":["value1", "value2"]}]}\n'
    b'{"customer_id":"abc","changes":[{"op":"increment","attr":"foo","value":1}]}\n'
    b'{"customer_id":"zxc","changes":[{"op":"delete","attr":"foo"}]}\n'
)
# "Import File Format", Audience Imports
AUDIENCE_FILE = b'{"customer_id":"abc"}\n{"customer_id":"123"}\n{"customer_id":"abc123"}\n'

# -- the page's curl examples --------------------------------------------------------------------
PROFILE_UPLOAD = """curl \\
  -F org_id=60 \\
  -F format=json \\
  -F file=@test_file.json \\
  https://[api_key]:[api_secret]@api.localytics.com/v1/imports/profiles/upload"""
# The same request scoped to an app: the page's "Example: app_id:329713ff..." for the scope parameter.
PROFILE_UPLOAD_TO_APP = PROFILE_UPLOAD.replace("-F org_id=60", f"-F app_id={PROFILE_APP}")
PROFILE_STATUS = "curl https://[api_key]:[api_secret]@api.localytics.com/v1/imports/profiles/status/3b4a65e5-2beb-4011-85df-c9f594217d90"
AUDIENCE_CREATE = """curl \\
  -F app_id=7d2e3219e6f93bececb44b6-97b87de8-75f4-1100-bf23-000099911bee \\
  -F audience_name=my-audience-name \\
  -F identifier_type=customer_id \\
  -F file=@test_file.txt \\
  https://[api_key]:[api_secret]@api.localytics.com/v1/imports/audiences/list/"""
AUDIENCE_STATUS = "$ curl https://[api_key]:[api_secret]@api.localytics.com/v1/imports/audiences/list/status/3b4a65e5-2beb-4011-85df-c9f594217d90"
AUDIENCE_UPDATE = """curl -X PUT \\
  -F app_id=7d2e3219e6f93bececb44b6-97b87de8-75f4-1100-bf23-000099911bee \\
  -F identifier_type=customer_id \\
  -F file=@test_file.txt \\
  -F audience_list_id=31245 \\
  https://[api_key]:[api_secret]@api.localytics.com/v1/imports/audiences/list/31245"""
AUDIENCE_RENAME = "curl -X PUT https://[api_key]:[api_secret]@api.localytics.com/v1/imports/audiences/list/31245/name?name=my-renamed-list"
AUDIENCE_DELETE = "curl -X DELETE https://[api_key]:[api_secret]@api.localytics.com/v1/imports/audiences/list/31245"
AUDIENCE_LISTS = ("curl https://[api_key]:[api_secret]@api.localytics.com/v1/imports/audiences/list/app/"
                  "7d2e3219e6f93bececb44b6-97b87de8-75f4-1100-bf23-000099911bee")

# -- what the page documents about the answers ----------------------------------------------------
STATUSES = {"Pending", "Running", "Completed", "Failed"}
AUDIENCE_STATUS_FIELDS = {"status", "error_reason", "app_uuid", "created_at", "updated_at", "upload_statistics"}
AUDIENCE_STATISTICS = {"total_lines", "audience_id", "audience_list_id", "failed_lines", "successful_lines"}
LIST_ENTRY_FIELDS = {"id", "name", "app_id", "version", "record_count", "created_at", "updated_at"}
PROFILE_STATISTICS = {"successful_imports", "parsed_imports", "failed_imports", "total_number_of_imports"}
LOCALYTICS_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$")  # "2017-04-25T08:00:00"
# Status requests are limited to 60 a minute per key: one a second at most keeps a poll inside it.
POLL_SECONDS = 1.05
POLL_TIMEOUT_SECONDS = 180


class Page:
    """The page's examples aimed at the local stack with one import key's credentials."""

    def __init__(self, stack, key: dict, workdir):
        api = urlsplit(stack.info.api_url)
        self.host = f"{api.scheme}://{key['key']}:{key['secret']}@{api.netloc}"  # credentials in the URL
        self.workdir = workdir

    def url(self, path: str) -> str:
        return self.host + path

    def curl(self, documented: str, **ids: str) -> tuple[int, object]:
        """Run the page's curl command as a shell would (from the directory holding its files): (status, JSON body)."""
        command = documented.removeprefix("$ ").replace(PAGE_HOST, self.host)
        for page_id, ours in ids.items():
            command = command.replace({"activity": PAGE_ACTIVITY, "audience_list": PAGE_LIST}[page_id], ours)
        ran = subprocess.run(["bash", "-c", command + " -sS -w '\\n%{http_code}'"], cwd=self.workdir,
                             check=False, capture_output=True, text=True, timeout=60)
        assert ran.returncode == 0, ran.stderr
        body, _, status = ran.stdout.rpartition("\n")
        return int(status), json.loads(body) if body.strip() else None

    def poll(self, ask, check) -> dict:
        """Ask for a status until the job ends, checking every answer on the way."""
        deadline = time.monotonic() + POLL_TIMEOUT_SECONDS
        while True:
            status_code, body = ask()
            assert status_code == 200, body
            check(body)
            if body["status"] in ("Completed", "Failed"):
                return body
            assert time.monotonic() < deadline, body
            time.sleep(POLL_SECONDS)


def _mint(stack, token: str, **body) -> dict:
    response = requests.post(stack.info.api_url + "/v1/import-keys", headers={"Auth-Api-Token": token}, json=body,
                             timeout=30)
    assert response.status_code == 201, response.text
    return response.json()


def _check_audience_status(body: dict, app_id: str = PAGE_APP) -> None:
    """The documented fields, exactly: null statistics and error_reason until the job ends."""
    assert AUDIENCE_STATUS_FIELDS <= set(body), body
    assert body["status"] in STATUSES and body["app_uuid"] == app_id
    assert LOCALYTICS_TIME.match(body["created_at"]) and LOCALYTICS_TIME.match(body["updated_at"]), body
    if body["status"] in ("Pending", "Running"):
        assert body["upload_statistics"] is None and body["error_reason"] is None, body
    else:
        assert set(body["upload_statistics"]) == AUDIENCE_STATISTICS, body
        assert all(isinstance(value, str) for value in body["upload_statistics"].values()), body
    if body["status"] != "Failed":
        assert body["error_reason"] is None, body


def _check_profile_status(body: dict) -> None:
    assert {"status", "error_log", "target", "upload_statistics"} <= set(body), body
    assert body["status"] in STATUSES and set(body["upload_statistics"]) == PROFILE_STATISTICS


def _check_list(entries, expected: list[dict]) -> None:
    assert isinstance(entries, list), entries  # a bare JSON array, as the page's example answer
    assert all(set(entry) == LIST_ENTRY_FIELDS for entry in entries), entries
    assert all(LOCALYTICS_TIME.match(e["created_at"]) and LOCALYTICS_TIME.match(e["updated_at"]) for e in entries)
    fields = expected[0] if expected else {}
    assert [{name: entry[name] for name in fields} for entry in entries] == expected


def _member(stack, account, audience_id: str, customer_id: str) -> int:
    return requests.get(f"{stack.info.api_url}/v1/audiences/{audience_id}/members/{customer_id}",
                        headers={"Auth-Api-Token": account["token"]}, timeout=30).status_code


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """The directory the page's commands and code run in: they name their files relatively."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_documented_profile_import_runs_with_org_id_60_and_with_app_id(stack, account, workdir):
    key = _mint(stack, account["token"], org_id=PAGE_ORG, app_ids=[PROFILE_APP])
    page = Page(stack, key, workdir)
    (workdir / "test_file.json").write_bytes(PROFILE_FILE)

    for command, target, dataset_id in ((PROFILE_UPLOAD, {"org_id": PAGE_ORG}, key["datasets"]["org"]),
                                        (PROFILE_UPLOAD_TO_APP, {"app_id": PROFILE_APP},
                                         key["datasets"]["apps"][PROFILE_APP])):
        status_code, started = page.curl(command)
        assert (status_code, list(started)) == (202, ["activity_id"]), started

        status = page.poll(partial(page.curl, PROFILE_STATUS, activity=started["activity_id"]), _check_profile_status)
        assert status["status"] == "Completed", status
        assert status["target"] == target and status["error_log"] is None
        assert status["upload_statistics"] == {"successful_imports": 5, "parsed_imports": 5, "failed_imports": 0,
                                               "total_number_of_imports": 5}
        # The five lines, applied in order, read back through the records route of the org's or app's dataset.
        profiles = {customer: requests.get(f"{stack.info.api_url}/v1/datasets/{dataset_id}/records/profile/{customer}",
                                           headers={"Auth-Api-Token": account["token"]}, timeout=30).json()
                    for customer in ("abc", "123")}
        assert profiles["abc"]["example1"] == "value1" and profiles["abc"]["foo"] == 1, profiles
        assert profiles["123"]["example2"] == ["value1", "value2"], profiles


def test_the_documented_audience_examples_run_with_curl(stack, account, workdir):
    key = _mint(stack, account["token"], app_ids=[PAGE_APP])
    page = Page(stack, key, workdir)
    (workdir / "test_file.txt").write_bytes(AUDIENCE_FILE)

    status_code, created = page.curl(AUDIENCE_CREATE)
    assert status_code == 202 and "activity_id" in created, created
    list_id = created["audience_list_id"]
    status = page.poll(lambda: page.curl(AUDIENCE_STATUS, activity=created["activity_id"]), _check_audience_status)
    assert (status["status"], status["error_reason"]) == ("Completed", None), status
    assert status["upload_statistics"] == {"total_lines": "3", "audience_id": list_id, "audience_list_id": list_id,
                                           "failed_lines": "0", "successful_lines": "3"}
    assert [_member(stack, account, list_id, c) for c in ("abc", "123", "abc123", "zzz")] == [200, 200, 200, 404]

    (workdir / "test_file.txt").write_bytes(b'{"customer_id":"123"}\n{"customer_id":"new"}\n')
    status_code, updated = page.curl(AUDIENCE_UPDATE, audience_list=list_id)
    assert status_code == 202 and updated["audience_list_id"] == list_id, updated
    status = page.poll(lambda: page.curl(AUDIENCE_STATUS, activity=updated["activity_id"]), _check_audience_status)
    assert status["status"] == "Completed" and status["upload_statistics"]["successful_lines"] == "2", status
    assert [_member(stack, account, list_id, c) for c in ("abc", "123", "new")] == [404, 200, 200]

    status_code, renamed = page.curl(AUDIENCE_RENAME, audience_list=list_id)
    assert status_code == 200 and renamed["name"] == "my-renamed-list", renamed

    status_code, listed = page.curl(AUDIENCE_LISTS)
    assert status_code == 200
    _check_list(listed, [{"id": list_id, "name": "my-renamed-list", "app_id": PAGE_APP,
                          "version": 2, "record_count": 2}])

    status_code, deleted = page.curl(AUDIENCE_DELETE, audience_list=list_id)
    assert status_code == 200 and deleted == listed[0], deleted
    assert page.curl(AUDIENCE_LISTS) == (200, [])
    assert page.curl(AUDIENCE_DELETE, audience_list=list_id)[0] == 404


def test_the_documented_audience_examples_run_with_python_requests(stack, account, workdir):
    key = _mint(stack, account["token"], app_ids=[PAGE_APP])
    page = Page(stack, key, workdir)
    (workdir / "test_file.txt").write_bytes(AUDIENCE_FILE)

    # "Example: Creating an audience", the Python tab.
    files = {
        'app_id': (None, '7d2e3219e6f93bececb44b6-97b87de8-75f4-1100-bf23-000099911bee'),
        'audience_name': (None, 'my-audience-name'),
        'identifier_type': (None, 'customer_id'),
        'file': ('test_file.txt', open('test_file.txt', 'rb')),  # noqa: SIM115 (the page's code as written)
    }
    response = requests.post(page.url('/v1/imports/audiences/list/'), files=files)
    assert response.status_code == 202 and "activity_id" in response.json(), response.text
    activity_id, list_id = response.json()["activity_id"], response.json()["audience_list_id"]

    # "Requesting the Status of Import Jobs", the Python tab.
    def status_of(activity: str):
        response = requests.get(page.url(f'/v1/imports/audiences/list/status/{activity}'))
        return response.status_code, response.json()

    status = page.poll(lambda: status_of(activity_id), _check_audience_status)
    assert status["status"] == "Completed" and status["upload_statistics"]["audience_list_id"] == list_id, status

    # "Updating an Audience Import", the Python tab.
    (workdir / "test_file.txt").write_bytes(b'{"customer_id":"only-one"}\n')
    files = {
        'app_id': (None, '7d2e3219e6f93bececb44b6-97b87de8-75f4-1100-bf23-000099911bee'),
        'identifier_type': (None, 'customer_id'),
        'file': ('test_file.txt', open('test_file.txt', 'rb')),  # noqa: SIM115 (the page's code as written)
        'audience_list_id': (None, list_id),
    }
    response = requests.put(page.url(f'/v1/imports/audiences/list/{list_id}'), files=files)
    assert response.status_code == 202 and response.json()["audience_list_id"] == list_id, response.text
    assert page.poll(lambda: status_of(response.json()["activity_id"]), _check_audience_status)["status"] == "Completed"

    # "Renaming an Audience List", the Python tab: the update's code again, as a POST. Not a rename,
    # and not a route of ours: 404, and the list is unchanged.
    files = {
        'app_id': (None, '7d2e3219e6f93becec b44b6-97b87de8-75f4-1100-bf23-000099911bee'),
        'identifier_type': (None, 'customer_id'),
        'file': ('test_file.txt', open('test_file.txt', 'rb')),  # noqa: SIM115 (the page's code as written)
        'audience_list_id': (None, list_id),
    }
    response = requests.post(page.url(f'/v1/imports/audiences/list/{list_id}'), files=files)
    assert response.status_code == 404 and "no such route" in response.json()["message"], response.text
    # The rename as the curl tab does it, in Python.
    response = requests.put(page.url(f'/v1/imports/audiences/list/{list_id}/name?name=my-renamed-list'))
    assert response.status_code == 200 and response.json()["name"] == "my-renamed-list", response.text

    # "Retrieving Audience Lists by App", the Python tab.
    response = requests.get(page.url('/v1/imports/audiences/list/app/7d2e3219e6f93bececb44b6-97b87de8-75f4-1100-bf23-000099911bee'))  # noqa: E501 (the page's code as written)
    assert response.status_code == 200
    _check_list(response.json(), [{"id": list_id, "name": "my-renamed-list", "version": 2, "record_count": 1}])

    # "Deleting an Audience List", the Python tab.
    response = requests.delete(page.url(f'/v1/imports/audiences/list/{list_id}'))
    assert response.status_code == 200 and response.json()["id"] == list_id, response.text
    assert requests.get(page.url(f'/v1/imports/audiences/list/app/{PAGE_APP}')).json() == []
    assert _member(stack, account, list_id, "only-one") == 404


def test_rejected_lines_show_in_the_audience_status_with_an_error_log_url(stack, account, workdir):
    key = _mint(stack, account["token"], app_ids=[PAGE_APP])
    page = Page(stack, key, workdir)
    # The page's file as it prints it, with typographic quotes: not JSON, so each line is rejected.
    (workdir / "test_file.txt").write_bytes('{“customer_id”:“abc”}\n{"customer_id":"123"}\n'.encode())
    status_code, created = page.curl(AUDIENCE_CREATE)
    assert status_code == 202, created
    status = page.poll(lambda: page.curl(AUDIENCE_STATUS, activity=created["activity_id"]), _check_audience_status)
    assert status["status"] == "Completed" and status["error_reason"] is None, status
    assert {name: status["upload_statistics"][name] for name in (
        "total_lines", "failed_lines", "successful_lines")} == {
        "total_lines": "2", "failed_lines": "1", "successful_lines": "1"}
    error_log = requests.get(status["error_log"], timeout=30)
    assert error_log.status_code == 200, error_log.text
    assert [json.loads(line)["line"] for line in error_log.text.splitlines()] == [1]
