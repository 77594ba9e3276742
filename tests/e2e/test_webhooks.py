"""Webhooks on the local stack, over HTTP: registration and its refusals, signed deliveries of a real
upload's events to a receiver on 127.0.0.1, retries after failures (the test template's backoff is 1 s,
then 2 s: tests/conftest.py TEST_CONTEXT) and the end of retries 24 hours on (the functions' clock)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from cli.client import IngestClient
from tests.support import faults

ROOT = Path(__file__).resolve().parents[2]
GOOD = b'{"link": {"customer_id": "c1"}}\n'


def documented_verify() -> Callable[..., bool]:
    """The verification snippet of docs/webhooks.md, run as a reader would paste it."""
    text = (ROOT / "docs" / "webhooks.md").read_text()
    block = re.search(r"## Verifying a delivery.*?```python\n(.*?)```", text, re.S)
    assert block, "docs/webhooks.md has no Python verification snippet"
    namespace: dict = {}
    exec(block.group(1), namespace)  # noqa: S102 (the documentation's own code, run to prove it works)
    return namespace["verify_webhook"]


class Receiver:
    """An endpoint on 127.0.0.1: answers each POST with the next of `codes` (the last one repeats)."""

    def __init__(self, codes: tuple[int, ...] = (200,)):
        self.requests: list[dict] = []
        self._codes = list(codes)
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._lock:
                    receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                    code = receiver._codes.pop(0) if len(receiver._codes) > 1 else receiver._codes[0]
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}/hook"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def received(self) -> list[dict]:
        with self._lock:
            return list(self.requests)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def receivers():
    made: list[Receiver] = []

    def make(*codes: int) -> Receiver:
        made.append(Receiver(codes or (200,)))
        return made[-1]

    yield make
    for receiver in made:
        receiver.close()


@pytest.fixture
def api(stack, account):
    """requests against the API as the test's account: api(method, path, **kwargs) -> response."""
    session = requests.Session()
    session.headers["Auth-Api-Token"] = account["token"]
    return lambda method, path, **kwargs: session.request(method, f"{stack.info.api_url}{path}", timeout=30, **kwargs)


def create(api, url: str, event_types: list[str]) -> requests.Response:
    return api("POST", "/v1/webhooks", json={"url": url, "event_types": event_types})


def wait_for(check: Callable[[], object], timeout: float = 60, what: str = "the condition"):
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


def deliveries(api, webhook_id: str) -> list[dict]:
    answer = api("GET", f"/v1/webhooks/{webhook_id}/deliveries")
    assert answer.status_code == 200, answer.text
    return answer.json()["deliveries"]


def settled(api, webhook_id: str, count: int) -> list[dict] | None:
    """The webhook's deliveries once there are `count` and none is pending."""
    found = deliveries(api, webhook_id)
    return found if len(found) == count and all(d["status"] != "pending" for d in found) else None


def test_an_upload_delivers_its_events_signed_to_the_endpoints_that_asked(api, load_file, receivers):
    every, completed_only = receivers(), receivers()
    first = create(api, every.url, ["upload.created", "upload.processing", "upload.completed"])
    assert first.status_code == 201, first.text
    webhook = first.json()
    assert webhook["secret"].startswith("whsec_") and webhook["url"] == every.url
    second = create(api, completed_only.url + "?only=completed", ["upload.completed"]).json()

    finished = load_file(GOOD)
    assert finished["status"] == "Completed"
    logged = wait_for(lambda: settled(api, webhook["id"], 3), what="three deliveries")
    wait_for(lambda: settled(api, second["id"], 1), what="one delivery")

    assert sorted(d["event_type"] for d in logged) == ["upload.completed", "upload.created", "upload.processing"]
    assert all(d["status"] == "succeeded" and d["attempts"] == 1 and d["last_response_code"] == 200
               and d["job_id"] == finished["id"] and len(d["attempt_log"]) == 1 for d in logged)
    # Exactly one POST per event: no duplicate, nothing else.
    got = every.received()
    assert len(got) == 3 and len(completed_only.received()) == 1
    verify = documented_verify()
    for request in got:
        assert verify(webhook["secret"], request["headers"], request["body"])
        assert not verify(second["secret"], request["headers"], request["body"])
        assert request["path"] == "/hook" and request["headers"]["Content-Type"] == "application/json"
    bodies = [json.loads(request["body"]) for request in got]
    assert sorted(body["type"] for body in bodies) == ["upload.completed", "upload.created", "upload.processing"]
    completed = next(body for body in bodies if body["type"] == "upload.completed")
    assert completed["data"]["id"] == finished["id"] and completed["data"]["stats"]["loaded"] == 1
    assert "account_id" not in completed["data"] and "url" not in json.dumps(bodies)
    only = completed_only.received()[0]
    assert only["path"] == "/hook?only=completed" and json.loads(only["body"])["type"] == "upload.completed"
    assert verify(second["secret"], only["headers"], only["body"])


def test_a_failing_endpoint_is_retried_and_the_log_shows_each_attempt(api, client, dataset, receivers):
    receiver = receivers(500, 200)
    webhook = create(api, receiver.url, ["upload.created"]).json()
    upload = client.request_upload("customer_record-retry.ndjson", dataset["id"], "customer_record")

    delivery, = wait_for(lambda: settled(api, webhook["id"], 1), what="the retried delivery")
    assert delivery["status"] == "succeeded" and delivery["attempts"] == 2 and delivery["job_id"] == upload["id"]
    assert [entry["response_code"] for entry in delivery["attempt_log"]] == [500, 200]
    assert [entry["attempt"] for entry in delivery["attempt_log"]] == [1, 2]
    assert delivery["last_response_code"] == 200 and delivery["next_attempt_at"] is None
    first, second = receiver.received()
    assert first["body"] == second["body"]  # the same event, the same body
    assert first["headers"]["Bulk-Ingest-Delivery"] == second["headers"]["Bulk-Ingest-Delivery"] == delivery["id"]
    verify = documented_verify()
    assert verify(webhook["secret"], first["headers"], first["body"])
    assert verify(webhook["secret"], second["headers"], second["body"])


def test_an_endpoint_that_never_answers_2xx_is_given_up_24_hours_on(api, client, dataset, receivers):
    receiver = receivers(503)
    webhook = create(api, receiver.url, ["upload.created"]).json()
    with faults.inject(faults.ServiceClock()) as clock:
        client.request_upload("customer_record-down.ndjson", dataset["id"], "customer_record")
        pending, = wait_for(lambda: [d for d in deliveries(api, webhook["id"]) if d["attempts"] == 1
                                     and d["attempt_log"]], what="the first attempt")
        assert pending["status"] == "pending" and pending["last_response_code"] == 503 and pending["next_attempt_at"]
        # The clock stands still: the next attempt is not due, however long the test waits for it.
        time.sleep(2.5)
        assert len(receiver.received()) == 1
        clock.advance(25 * 3600)
        failed, = wait_for(lambda: settled(api, webhook["id"], 1), what="the delivery to fail")
    assert failed["status"] == "failed" and failed["attempts"] == 2 and failed["next_attempt_at"] is None
    assert [entry["response_code"] for entry in failed["attempt_log"]] == [503, 503]
    assert len(receiver.received()) == 2


@pytest.mark.parametrize("url", [
    "ftp://127.0.0.1/hook", "file:///etc/passwd", "gopher://127.0.0.1:70/", "http://93.184.215.14/hook",
    "https://10.0.0.1/hook", "http://10.0.0.1/hook", "https://192.168.1.20/", "https://172.16.5.4/",
    "https://169.254.169.254/latest/meta-data/", "http://169.254.169.254/latest/meta-data/",
    "https://[::1]/hook", "https://127.0.0.1/hook", "https://[fe80::1]/", "https://[::ffff:10.0.0.1]/",
    "https://[fd00::1]/", "https://0.0.0.0/", "https://localhost/hook", "not a url",
])
def test_other_schemes_and_private_addresses_are_refused(api, url):
    answer = create(api, url, ["*"])
    assert answer.status_code == 400, (url, answer.text)
    assert api("GET", "/v1/webhooks").json() == {"webhooks": []}


def test_bad_bodies_are_refused(api, receivers):
    url = receivers().url
    for body, message in (({"url": url}, "event_types is required"),
                          ({"url": url, "event_types": []}, "event_types is required"),
                          ({"url": url, "event_types": ["upload.done"]}, "'upload.done' is not an event type"),
                          ({"event_types": ["*"]}, "url is required"),
                          ({"url": url, "event_types": ["*"], "secret": "mine"}, "only url and event_types")):
        answer = api("POST", "/v1/webhooks", json=body)
        assert answer.status_code == 400 and message in answer.json()["message"], (body, answer.text)


def test_five_webhooks_per_account_and_the_sixth_is_refused(api, receivers):
    url = receivers().url
    made = [create(api, f"{url}/{number}", ["*"]) for number in range(5)]
    assert [answer.status_code for answer in made] == [201] * 5
    sixth = create(api, f"{url}/6", ["*"])
    assert sixth.status_code == 409
    assert sixth.json()["message"] == "an account may have at most 5 webhooks; delete one first"
    assert api("DELETE", f"/v1/webhooks/{made[0].json()['id']}").status_code == 204
    assert create(api, f"{url}/6", ["*"]).status_code == 201
    assert len(api("GET", "/v1/webhooks").json()["webhooks"]) == 5


def test_another_accounts_webhook_is_not_found(stack, api, mint, receivers):
    mine = create(api, receivers().url, ["*"]).json()
    other = IngestClient(stack.info.api_url, mint("acct-webhook-stranger"))
    theirs = other.create_webhook(receivers().url, ["upload.completed"])
    for method, path in (("DELETE", f"/v1/webhooks/{theirs['id']}"),
                         ("GET", f"/v1/webhooks/{theirs['id']}/deliveries"),
                         ("DELETE", "/v1/webhooks/wh_01NOSUCHWEBHOOK0000000000000"),
                         ("GET", "/v1/webhooks/wh_01NOSUCHWEBHOOK0000000000000/deliveries")):
        answer = api(method, path)
        assert answer.status_code == 404 and "not found" in answer.json()["message"], (method, path, answer.text)
    assert [webhook["id"] for webhook in api("GET", "/v1/webhooks").json()["webhooks"]] == [mine["id"]]
    assert [webhook["id"] for webhook in other.list_webhooks()["webhooks"]] == [theirs["id"]]
    other.delete_webhook(theirs["id"])
    assert other.list_webhooks() == {"webhooks": []}


def test_the_secret_is_shown_once_and_never_again(api, receivers):
    created = create(api, receivers().url, ["upload.completed", "upload.failed"])
    secret = created.json()["secret"]
    listed = api("GET", "/v1/webhooks")
    assert listed.status_code == 200 and secret not in listed.text and "secret" not in listed.text
    assert listed.json()["webhooks"] == [{key: value for key, value in created.json().items() if key != "secret"}]
    assert secret not in api("GET", f"/v1/webhooks/{created.json()['id']}/deliveries").text


def test_an_idempotent_create_replays_without_the_secret(api, receivers):
    url = receivers().url
    headers = {"Idempotency-Key": "webhook-create-1"}
    first = api("POST", "/v1/webhooks", json={"url": url, "event_types": ["*"]}, headers=headers)
    again = api("POST", "/v1/webhooks", json={"url": url, "event_types": ["*"]}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == {**first.json(), "secret": None}
    assert len(api("GET", "/v1/webhooks").json()["webhooks"]) == 1


def test_the_cli_creates_lists_shows_deliveries_of_and_deletes_a_webhook(stack, account, client, dataset, receivers,
                                                                          tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith("INGEST_")}
    env.update(INGEST_API_URL=stack.info.api_url, INGEST_TOKEN=account["token"],
               INGEST_STACK_FILE=str(tmp_path / "no-such-stack.json"))

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "cli", "webhooks", *args], cwd=ROOT, env=env,
                              check=False, capture_output=True, text=True, timeout=120)

    receiver = receivers()
    created = cli("create", receiver.url, "--events", "upload.created, upload.completed")
    assert created.returncode == 0, created.stderr
    lines = dict(line.split(None, 1) for line in created.stdout.splitlines())
    assert lines["secret"].startswith("whsec_") and "not shown again" in created.stderr
    webhook_id = lines["id"]
    listed = cli("list")
    assert listed.returncode == 0 and webhook_id in listed.stdout and "upload.created,upload.completed" in listed.stdout
    assert lines["secret"] not in listed.stdout

    upload = client.request_upload("customer_record-cli-hook.ndjson", dataset["id"], "customer_record")
    wait_for(receiver.received, what="the delivery")
    shown = wait_for(lambda: (result := cli("deliveries", webhook_id)).returncode == 0
                     and "succeeded" in result.stdout and result, what="the CLI to show the delivery")
    assert upload["id"] in shown.stdout and "upload.created" in shown.stdout

    refused = cli("create", "https://169.254.169.254/latest", "--events", "*")
    assert refused.returncode == 1 and "HTTP 400" in refused.stderr
    deleted = cli("delete", webhook_id)
    assert deleted.returncode == 0, deleted.stderr
    again = cli("delete", webhook_id)
    assert again.returncode == 1 and "HTTP 404" in again.stderr
