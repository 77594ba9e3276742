"""FakeWebhooksTable against WebhooksTable (adapters/webhooks_table.py) on moto."""

from __future__ import annotations

import pytest

from ingest.adapters.webhooks_table import WebhooksTable
from tests.contract.signatures import assert_same_methods
from tests.unit.fakes import FakeWebhooksTable


@pytest.fixture(params=["fake", "adapter"])
def table(request, new_table):
    return FakeWebhooksTable() if request.param == "fake" else WebhooksTable(new_table("WebhooksTable"))


def webhook(webhook_id: str, account_id: str = "acme") -> dict:
    return {"account_id": account_id, "webhook_id": webhook_id, "url": f"https://hooks.example.com/{webhook_id}",
            "event_types": ["*"], "created_at": "2026-11-30T10:00:00Z", "sealed_secret": "c2VhbGVk"}


def delivery(delivery_id: str, webhook_id: str = "wh_1", account_id: str = "acme") -> dict:
    return {"account_id": account_id, "webhook_id": webhook_id, "delivery_id": delivery_id, "event_id": "ev",
            "event_type": "upload.completed", "job_id": "job", "body": "{}", "delivery_status": "pending",
            "attempts": 0, "created_at": "2026-11-30T10:00:00Z", "expires_at": 1798000000}


def test_the_fake_offers_the_adapters_methods_with_their_parameters():
    assert_same_methods(FakeWebhooksTable, WebhooksTable)


def test_webhooks_are_added_while_the_account_is_under_its_limit_and_removed_once(table):
    assert not table.add_within_limit(webhook("wh_1"), limit=2), "no counter yet"
    assert table.start_count("acme", 0) and not table.start_count("acme", 5)
    assert table.add_within_limit(webhook("wh_1"), limit=2)
    assert not table.add_within_limit(webhook("wh_1"), limit=2), "the same id twice"
    assert table.add_within_limit(webhook("wh_2"), limit=2)
    assert not table.add_within_limit(webhook("wh_3"), limit=2), "at the limit"
    assert [item["webhook_id"] for item in table.list_webhooks("acme")] == ["wh_1", "wh_2"]
    assert table.get_webhook("acme", "wh_1") == webhook("wh_1")
    assert table.list_webhooks("acme")[1] == webhook("wh_2")
    assert table.remove("acme", "wh_1") and not table.remove("acme", "wh_1")
    assert table.add_within_limit(webhook("wh_3"), limit=2)


def test_webhooks_belong_to_their_account(table):
    table.start_count("acme", 0)
    table.add_within_limit(webhook("wh_1"), limit=5)
    assert table.get_webhook("other", "wh_1") is None and table.list_webhooks("other") == []
    assert not table.remove("other", "wh_1")


def test_a_delivery_is_added_once_and_each_attempt_claimed_once(table):
    assert table.add_delivery(delivery("d1")) and not table.add_delivery(delivery("d1"))
    claimed = table.claim_attempt("acme", "wh_1", "d1", 1, "2026-11-30T10:00:01Z")
    assert claimed["attempts"] == 1 and claimed["last_attempt_at"] == "2026-11-30T10:00:01Z"
    assert claimed == {**delivery("d1"), "attempts": 1, "last_attempt_at": "2026-11-30T10:00:01Z"}
    assert table.claim_attempt("acme", "wh_1", "d1", 1, "2026-11-30T10:00:02Z") is None, "the same attempt again"
    assert table.claim_attempt("acme", "wh_1", "d1", 3, "2026-11-30T10:00:02Z") is None, "not the next one"
    table.record_attempt("acme", "wh_1", "d1", {"attempt": 1, "at": "2026-11-30T10:00:01Z", "response_code": 500,
                                                "error": None}, "pending", "2026-11-30T10:00:31Z")
    stored = table.get_delivery("acme", "wh_1", "d1")
    assert stored["next_attempt_at"] == "2026-11-30T10:00:31Z" and stored["last_response_code"] == 500
    assert table.claim_attempt("acme", "wh_1", "d1", 2, "2026-11-30T10:00:31Z")["attempts"] == 2
    table.record_attempt("acme", "wh_1", "d1", {"attempt": 2, "at": "2026-11-30T10:00:31Z", "response_code": 200,
                                                "error": None}, "succeeded", None)
    stored = table.get_delivery("acme", "wh_1", "d1")
    assert stored["delivery_status"] == "succeeded" and "next_attempt_at" not in stored
    assert [entry["response_code"] for entry in stored["attempt_log"]] == [500, 200]
    assert table.claim_attempt("acme", "wh_1", "d1", 3, "2026-11-30T10:01:00Z") is None, "a finished delivery"


def test_deliveries_are_listed_per_webhook_newest_first_up_to_the_limit(table):
    for number in range(4):
        table.add_delivery(delivery(f"2026113{number}-x"))
    table.add_delivery(delivery("20261139-y", webhook_id="wh_2"))
    table.add_delivery(delivery("20261139-z", account_id="other"))
    listed = table.list_deliveries("acme", "wh_1", 3)
    assert [item["delivery_id"] for item in listed] == ["20261133-x", "20261132-x", "20261131-x"]
    assert table.list_deliveries("other", "wh_1", 10)[0]["delivery_id"] == "20261139-z"
    assert table.list_deliveries("acme", "wh_3", 10) == []
