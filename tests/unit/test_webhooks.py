"""Webhooks' pure decisions: signatures, which addresses a delivery may reach, the backoff schedule and
the event type names (the HTTP flows are in tests/e2e/test_webhooks.py)."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from ingest.errors import BadRequestError
from ingest.logic import webhook_signatures, webhook_targets
from ingest.logic.webhook_targets import UnsafeTargetError, check_url, resolve_target
from ingest.logic.webhooks import (
    Backoff,
    Delivering,
    attempt,
    checked_event_types,
    event_type,
    fan_out,
    known_event_types,
    payload,
)
from tests.unit.fakes import FakeWebhooksTable


# -- signatures -----------------------------------------------------------------------------------------
def test_the_signature_is_hmac_sha256_of_timestamp_dot_body_with_the_secret():
    secret, body = "whsec_test", b'{"id":"e1"}'
    headers = webhook_signatures.headers(secret, 1_700_000_000, body)
    expected = hmac.new(b"whsec_test", b'1700000000.{"id":"e1"}', hashlib.sha256).hexdigest()
    assert headers == {"Bulk-Ingest-Timestamp": "1700000000", "Bulk-Ingest-Signature": f"v1={expected}"}


def test_verify_accepts_the_signed_body_and_refuses_any_change():
    secret, body, at = webhook_signatures.new_secret(), b'{"type":"upload.completed"}', 1_700_000_000
    headers = webhook_signatures.headers(secret, at, body)
    stamp, signature = headers["Bulk-Ingest-Timestamp"], headers["Bulk-Ingest-Signature"]
    assert webhook_signatures.verify(secret, stamp, signature, body, now=at + 10)
    assert not webhook_signatures.verify(secret, stamp, signature, body + b" ", now=at + 10)
    assert not webhook_signatures.verify(secret + "x", stamp, signature, body, now=at + 10)
    assert not webhook_signatures.verify(secret, str(at + 1), signature, body, now=at + 10)  # timestamp is signed
    assert not webhook_signatures.verify(secret, stamp, signature, body, now=at + 301)  # too old: a replay


def test_secrets_are_long_random_and_prefixed():
    first, second = webhook_signatures.new_secret(), webhook_signatures.new_secret()
    assert first != second and first.startswith("whsec_") and len(first) >= 6 + 43


# -- addresses ------------------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def as_on_aws(monkeypatch):
    """The rules as on AWS, even in a worker whose local stack has switched its exception on."""
    monkeypatch.setattr(webhook_targets, "_plain_http_loopback", False)


def public(host, port):
    return ["93.184.215.14"]


@pytest.mark.parametrize("url", [
    "https://10.0.0.5/hook", "https://172.16.0.1/", "https://192.168.1.1/", "https://127.0.0.1/",
    "https://169.254.169.254/latest/meta-data/", "https://0.0.0.0/", "https://224.0.0.1/", "https://240.0.0.1/",
    "https://100.64.0.1/", "https://[::1]/", "https://[fe80::1]/", "https://[fc00::1]/", "https://[ff02::1]/",
    "https://[::ffff:10.0.0.1]/", "https://[::ffff:127.0.0.1]/", "https://[::ffff:169.254.169.254]/",
    "https://[64:ff9b::a9fe:a9fe]/", "https://[2002:a00:1::]/", "https://[::]/",
])
def test_private_loopback_link_local_multicast_and_reserved_addresses_are_refused(url):
    with pytest.raises(UnsafeTargetError, match=r"may not be sent"):
        check_url(url, public)


def test_a_name_is_judged_by_every_address_it_resolves_to():
    assert check_url("https://hooks.example.com/x", public) == "https://hooks.example.com/x"
    with pytest.raises(UnsafeTargetError, match=r"10.1.2.3 is a private address"):
        check_url("https://hooks.example.com/x", lambda host, port: ["93.184.215.14", "10.1.2.3"])
    with pytest.raises(UnsafeTargetError, match=r"private"):
        check_url("https://rebound.example.com/", lambda host, port: ["::ffff:192.168.0.10"])


def test_the_target_keeps_the_checked_address_host_port_and_path():
    target = resolve_target("https://Hooks.Example.com:8443/in?x=1", public)
    assert (target.scheme, target.host, target.port, target.path, target.address) == (
        "https", "hooks.example.com", 8443, "/in?x=1", "93.184.215.14")


@pytest.mark.parametrize("url", ["http://hooks.example.com/", "ftp://hooks.example.com/", "file:///etc/passwd",
                                 "gopher://hooks.example.com/", "hooks.example.com/x", "//hooks.example.com/",
                                 "http://127.0.0.1:8080/"])
def test_only_https_is_accepted_on_aws(url):
    with pytest.raises(UnsafeTargetError, match=r"https"):
        check_url(url, public)


def test_credentials_in_the_url_are_refused():
    with pytest.raises(UnsafeTargetError, match=r"credentials"):
        check_url("https://user:pw@hooks.example.com/", public)


def test_the_local_stacks_exception_is_plain_http_to_loopback_and_nothing_else():
    restore = webhook_targets.allow_plain_http_loopback()
    try:
        assert check_url("http://127.0.0.1:8080/hook", public) == "http://127.0.0.1:8080/hook"
        assert check_url("http://[::1]:8080/hook", public)
        for refused in ("http://10.0.0.1/", "http://169.254.169.254/", "http://hooks.example.com/",
                        "https://127.0.0.1/", "https://[::1]/", "ftp://127.0.0.1/"):
            with pytest.raises(UnsafeTargetError):
                check_url(refused, public)
    finally:
        restore()
    with pytest.raises(UnsafeTargetError):
        check_url("http://127.0.0.1:8080/hook", public)


def test_the_exception_cannot_come_from_the_environment(monkeypatch):
    # Nothing a template sets reaches the switch: only local_stack/stack.py's call does.
    for name in ("ALLOW_PLAIN_HTTP_LOOPBACK", "WEBHOOK_ALLOW_LOOPBACK", "LOCAL_STACK"):
        monkeypatch.setenv(name, "true")
    with pytest.raises(UnsafeTargetError):
        check_url("http://127.0.0.1:8080/hook", public)


def test_a_name_that_does_not_resolve_is_refused():
    with pytest.raises(UnsafeTargetError, match=r"does not resolve"):
        check_url("https://nowhere.invalid/", lambda host, port: [])


# -- backoff --------------------------------------------------------------------------------------------
def test_waits_double_from_the_first_up_to_the_maximum():
    backoff = Backoff(first_seconds=30, max_seconds=3600)
    assert [backoff.delay(n) for n in range(1, 10)] == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]


def test_attempts_stop_after_24_hours():
    schedule = Backoff(first_seconds=30, max_seconds=3600).schedule()
    # 30 s, 1, 2, 4, 8, 16, 32 min (3,810 s), then hourly while within 86,400 s: 22 more.
    assert len(schedule) == 30
    assert schedule[:8] == [0, 30, 90, 210, 450, 930, 1890, 3810]
    assert schedule[-1] == 3810 + 22 * 3600 <= 86_400 < schedule[-1] + 3600
    assert Backoff(first_seconds=1, max_seconds=2, window=timedelta(seconds=10)).schedule() == [0, 1, 3, 5, 7, 9]


# -- event types ----------------------------------------------------------------------------------------
def test_event_types_are_derived_from_the_job_events():
    assert event_type("Upload Job State Change", "Pending") == "upload.created"
    assert event_type("Upload Job State Change", "Processing") == "upload.processing"
    assert event_type("Clear Job State Change", "Completed") == "clear.completed"
    assert event_type("Revert Job State Change", "Failed") == "revert.failed"  # a job type added later
    assert {"upload.created", "upload.completed", "upload.failed", "clear.completed"} <= set(known_event_types())


def test_unknown_event_types_are_refused_naming_the_known_ones():
    assert checked_event_types(["*"]) == ["*"]
    with pytest.raises(BadRequestError, match=r"'upload.done' is not an event type.*upload.completed"):
        checked_event_types(["upload.completed", "upload.done"])


def test_the_payload_is_the_event_without_the_account():
    event = {"id": "e-1", "time": "2026-11-30T10:00:00Z", "detail-type": "Upload Job State Change",
             "detail": {"account_id": "acct", "id": "job-1", "status": "Completed"}}
    assert payload(event, "upload.completed") == (
        b'{"created_at":"2026-11-30T10:00:00Z","data":{"id":"job-1","status":"Completed"},"id":"e-1",'
        b'"type":"upload.completed"}')


# -- delivery flow (fan-out, claims, retries), on fakes of the table (tests/unit/fakes.py, held to the
# adapter by tests/contract/test_webhooks_table.py), the queue, the secrets and the sender ---------------
class FakeSender:
    def __init__(self, *codes):
        self.codes, self.sent = list(codes), []

    def post(self, target, body, headers):
        from ingest.adapters.webhook_sender import SendOutcome

        self.sent.append((target, body, headers))
        return SendOutcome(self.codes.pop(0) if len(self.codes) > 1 else self.codes[0], None, 5)


class FakeSecrets:
    def __init__(self, broken=False):
        self.broken = broken

    def open(self, sealed, account_id, webhook_id):
        if self.broken:
            raise RuntimeError("KMS unavailable")
        return "whsec_fake"


class FakeQueue:
    def __init__(self):
        self.messages = []

    def send(self, message, delay_seconds=0):
        self.messages.append((message, min(900, delay_seconds)))


NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
EVENT = {"id": "ev-1", "time": "2026-11-30T10:00:00Z", "detail-type": "Upload Job State Change",
         "detail": {"account_id": "acct", "id": "job-1", "status": "Completed"}}
HOOK = {"account_id": "acct", "webhook_id": "wh_1", "url": "https://hooks.example.com/in",
        "event_types": ["upload.completed"], "sealed_secret": "sealed"}


def delivering(sender, secrets=None, table=None):
    if table is None:
        table = FakeWebhooksTable()
        table.webhooks[(HOOK["account_id"], HOOK["webhook_id"])] = HOOK
    return Delivering(table=table, secrets=secrets or FakeSecrets(), sender=sender,
                      queue=FakeQueue(), backoff=Backoff(30, 3600), resolve=public)


def run_queue(system, now):
    """Handle every queued message whose wait has passed (delays are the clock's business here)."""
    while system.queue.messages:
        message, _delay = system.queue.messages.pop(0)
        attempt(system, message, now)


def test_an_event_handed_over_twice_is_posted_once():
    system = delivering(FakeSender(200))
    fan_out(system, EVENT, NOW)
    fan_out(system, EVENT, NOW)  # SQS delivered the event twice before its first attempt ran
    run_queue(system, NOW)
    assert len(system.sender.sent) == 1
    (delivery,) = system.table.deliveries.values()
    assert delivery["delivery_status"] == "succeeded" and delivery["attempts"] == 1


def test_a_webhook_gets_only_the_types_it_asked_for():
    system = delivering(FakeSender(200))
    assert fan_out(system, {**EVENT, "detail": {**EVENT["detail"], "status": "Processing"}}, NOW)["deliveries"] == 0
    assert fan_out(system, {**EVENT, "detail-type": "Something Else"}, NOW) == {"outcome": "not a job event"}


def test_a_failure_of_our_own_is_a_failed_attempt_retried_not_a_stuck_delivery():
    system = delivering(FakeSender(200), secrets=FakeSecrets(broken=True))
    fan_out(system, EVENT, NOW)
    message, _ = system.queue.messages.pop(0)
    report = attempt(system, message, NOW)
    assert report["outcome"] == "retrying" and report["error"] == "not sent: RuntimeError"
    (delivery,) = system.table.deliveries.values()
    assert delivery["delivery_status"] == "pending" and delivery["next_attempt_at"] == "2026-11-30T10:00:30Z"
    (retry, delay), = system.queue.messages
    assert retry["delivery"]["attempt"] == 2 and delay == 30
    system.secrets.broken = False
    assert attempt(system, retry, NOW + timedelta(seconds=30))["outcome"] == "succeeded"
    assert attempt(system, retry, NOW + timedelta(seconds=30))["outcome"] == "duplicate"  # the message again


def test_an_attempt_not_yet_due_waits_at_most_15_minutes_a_hop():
    system = delivering(FakeSender(500))
    fan_out(system, EVENT, NOW)
    message, _ = system.queue.messages.pop(0)
    message = {"delivery": {**message["delivery"], "due_at": "2026-11-30T11:00:00Z"}}
    assert attempt(system, message, NOW)["outcome"] == "postponed"
    assert system.queue.messages == [(message, 900)] and system.sender.sent == []


def test_every_failing_attempt_is_logged_and_the_last_one_falls_within_24_hours():
    system = delivering(FakeSender(500))
    fan_out(system, EVENT, NOW)
    now = NOW
    while system.queue.messages:
        message, _ = system.queue.messages.pop(0)
        now = datetime.fromisoformat(message["delivery"]["due_at"])
        attempt(system, message, now)
    (delivery,) = system.table.deliveries.values()
    assert delivery["delivery_status"] == "failed" and delivery["attempts"] == 30 == len(system.sender.sent)
    assert [entry["response_code"] for entry in delivery["attempt_log"]] == [500] * 30
    assert now - NOW <= timedelta(hours=24) and "next_attempt_at" not in delivery
    # Each attempt is signed for its own time over the same body.
    bodies = {body for _target, body, _headers in system.sender.sent}
    stamps = {headers["Bulk-Ingest-Timestamp"] for _target, _body, headers in system.sender.sent}
    assert len(bodies) == 1 and len(stamps) == 30
