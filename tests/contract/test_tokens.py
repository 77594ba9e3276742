"""FakeTokensTable and FakeUsagePlanKeys against TokensTable (adapters/control_tables.py) and
UsagePlanKeys (adapters/usage_plans.py) on moto."""

from __future__ import annotations

import uuid

import pytest

from ingest.adapters.control_tables import TokensTable
from ingest.adapters.usage_plans import UsagePlanKeys
from tests.contract.signatures import assert_same_methods
from tests.unit.fakes import FakeTokensTable, FakeUsagePlanKeys


@pytest.fixture(params=["fake", "adapter"])
def tokens(request, new_table):
    return FakeTokensTable() if request.param == "fake" else TokensTable(new_table("TokensTable"))


class PlanProbe:
    """What the usage plan holds (key value by key id), read the way each implementation keeps it."""

    def __init__(self, keys, client=None):
        self.keys, self._client = keys, client

    def values(self) -> dict[str, str]:
        if self._client is None:
            return {key_id: key["value"] for key_id, key in self.keys.keys.items()}
        plan_keys = self._client.get_usage_plan_keys(usagePlanId=self.keys.plan_id())["items"]
        values = {key["id"]: key["value"]
                  for key in self._client.get_api_keys(includeValues=True)["items"] if key.get("enabled")}
        return {key["id"]: values[key["id"]] for key in plan_keys if key["id"] in values}


@pytest.fixture(params=["fake", "adapter"])
def plan(request, aws):
    if request.param == "fake":
        return PlanProbe(FakeUsagePlanKeys())
    client = aws.client("apigateway")
    name = f"contract-{uuid.uuid4().hex[:8]}-per-token"
    client.create_usage_plan(name=name, throttle={"rateLimit": 25.0, "burstLimit": 50})
    return PlanProbe(UsagePlanKeys(client, name), client)


def token(number: int, account_id: str = "acme", **fields) -> dict:
    return {"token_hash": f"{number:064x}", "account_id": account_id, "token_id": f"01T{number:03d}",
            "label": f"token {number}", "created_at": "2024-01-01T00:00:00Z", "api_key_id": f"key{number}", **fields}


def test_the_fakes_offer_the_adapters_methods_with_their_parameters():
    assert_same_methods(FakeTokensTable, TokensTable)
    assert_same_methods(FakeUsagePlanKeys, UsagePlanKeys, not_faked={"plan_id"})


# -- the tokens table ------------------------------------------------------------------------------
def test_the_counter_starts_once(tokens):
    assert tokens.start_count("acme", 0)
    assert not tokens.start_count("acme", 3)


def test_tokens_are_added_only_while_the_account_is_under_its_limit(tokens):
    assert not tokens.add_within_limit(token(1), limit=2), "no counter yet"
    assert tokens.get(token(1)["token_hash"]) is None
    tokens.start_count("acme", 0)
    assert tokens.add_within_limit(token(1), limit=2)
    assert not tokens.add_within_limit(token(1, label="again"), limit=2), "the same hash twice"
    assert tokens.add_within_limit(token(2), limit=2)
    assert not tokens.add_within_limit(token(3), limit=2), "at the limit"
    assert tokens.get(token(1)["token_hash"]) == token(1)
    assert tokens.get(token(3)["token_hash"]) is None


def test_an_accounts_tokens_are_listed_by_id_revoked_ones_included(tokens):
    tokens.start_count("acme", 0)
    tokens.start_count("other", 0)
    for number in (3, 1, 2):
        tokens.add_within_limit(token(number), limit=5)
    tokens.add_within_limit(token(9, account_id="other"), limit=5)
    assert tokens.revoke("acme", token(2)["token_hash"], "2024-01-02T00:00:00Z")
    assert tokens.list_for_account("acme") == [token(1), token(2, revoked_at="2024-01-02T00:00:00Z"), token(3)]
    assert tokens.list_for_account("nobody") == []
    assert tokens.find("acme", "01T003") == token(3)
    assert tokens.find("acme", "01T009") is None, "another account's token"


def test_revoking_uncounts_the_token_once_and_only_in_its_account(tokens):
    tokens.start_count("acme", 0)
    tokens.add_within_limit(token(1), limit=1)
    assert not tokens.revoke("other", token(1)["token_hash"], "2024-01-02T00:00:00Z"), "not that account's token"
    assert not tokens.revoke("acme", f"{99:064x}", "2024-01-02T00:00:00Z"), "no such token"
    assert tokens.revoke("acme", token(1)["token_hash"], "2024-01-02T00:00:00Z")
    assert not tokens.revoke("acme", token(1)["token_hash"], "2024-01-03T00:00:00Z"), "already revoked"
    assert tokens.get(token(1)["token_hash"])["revoked_at"] == "2024-01-02T00:00:00Z"
    assert tokens.add_within_limit(token(2), limit=1), "the revoked token no longer counts"


def test_use_is_recorded_only_when_the_last_record_is_stale(tokens):
    tokens.start_count("acme", 0)
    tokens.add_within_limit(token(1), limit=5)
    hashed = token(1)["token_hash"]
    assert tokens.record_use(hashed, "2024-01-01T10:00:00Z", stale_before="2024-01-01T09:00:00Z")
    assert not tokens.record_use(hashed, "2024-01-01T10:30:00Z", stale_before="2024-01-01T09:30:00Z")
    assert tokens.get(hashed)["last_used_at"] == "2024-01-01T10:00:00Z"
    assert tokens.record_use(hashed, "2024-01-01T11:30:00Z", stale_before="2024-01-01T10:30:00Z")
    assert tokens.get(hashed)["last_used_at"] == "2024-01-01T11:30:00Z"
    assert not tokens.record_use(f"{99:064x}", "2024-01-01T12:00:00Z", stale_before="2024-01-01T11:00:00Z")
    tokens.revoke("acme", hashed, "2024-01-02T00:00:00Z")
    assert not tokens.record_use(hashed, "2024-01-03T00:00:00Z", stale_before="2024-01-02T23:00:00Z")


# -- usage-plan keys -------------------------------------------------------------------------------
def test_a_key_is_added_to_the_plan_with_its_value_and_deleted_once(plan):
    first = plan.keys.add_key("token 01T1 of acme", "a" * 64)
    second = plan.keys.add_key("token 01T2 of acme", "b" * 64)
    assert first != second
    assert plan.values() == {first: "a" * 64, second: "b" * 64}
    plan.keys.delete_key(first)
    assert plan.values() == {second: "b" * 64}
    plan.keys.delete_key(first)  # already deleted: fine
    assert plan.values() == {second: "b" * 64}
