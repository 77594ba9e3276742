"""API tokens: minted once, stored only as a SHA-256 hash, resolved to an account."""

from __future__ import annotations

import hashlib
import json

import pytest

from ingest.errors import BadRequestError, UnauthorizedError
from ingest.logic.tokens import TOKEN_PREFIX, account_for_token, mint_token, token_hash
from tests.unit.fakes import FakeAccountsTable, FakeTokensTable, FakeUsagePlanKeys

# Tests about the usage-plan keys make their own; the others share this one.
KEYS = FakeUsagePlanKeys()


def test_only_the_sha256_hash_is_stored():
    table = FakeTokensTable()
    token = mint_token(table, KEYS, "acme", label="ci")
    assert token.startswith(TOKEN_PREFIX)
    (item,) = table.items.values()
    assert item["token_hash"] == hashlib.sha256(token.encode("utf-8")).hexdigest()
    assert item["account_id"] == "acme"
    assert item["label"] == "ci"
    stored = json.dumps(item)
    assert token not in stored
    assert token[len(TOKEN_PREFIX):] not in stored


def test_minted_token_resolves_to_its_account():
    table = FakeTokensTable()
    token = mint_token(table, KEYS, "acme")
    assert account_for_token(table, token) == "acme"
    assert account_for_token(table, f"  {token}\n") == "acme"


def test_tokens_are_unique_per_mint():
    table = FakeTokensTable()
    tokens = {mint_token(table, KEYS, "acme") for _ in range(5)}
    assert len(tokens) == 5
    assert len(table.items) == 5


def test_unknown_token_is_unauthorized():
    table = FakeTokensTable()
    mint_token(table, KEYS, "acme")
    with pytest.raises(UnauthorizedError, match=r"unknown or revoked token"):
        account_for_token(table, "ing_not-a-real-token")


def test_missing_token_is_unauthorized():
    for value in (None, ""):
        with pytest.raises(UnauthorizedError, match=r"missing Auth-Api-Token"):
            account_for_token(FakeTokensTable(), value)


def test_the_hash_itself_is_not_a_valid_token():
    table = FakeTokensTable()
    token = mint_token(table, KEYS, "acme")
    with pytest.raises(UnauthorizedError):
        account_for_token(table, token_hash(token))


def test_revoked_token_is_unauthorized():
    table = FakeTokensTable()
    token = mint_token(table, KEYS, "acme")
    table.items[token_hash(token)]["revoked_at"] = "2024-01-01T00:00:00Z"
    with pytest.raises(UnauthorizedError, match=r"unknown or revoked token"):
        account_for_token(table, token)


@pytest.mark.parametrize("account", ["Acme", "-acme", "acme_co", "", "a" * 64, "acme co"])
def test_invalid_account_names_are_rejected(account):
    table = FakeTokensTable()
    with pytest.raises(BadRequestError, match=r"account must be 1-63 characters"):
        mint_token(table, KEYS, account)
    assert table.items == {}


@pytest.mark.parametrize("account", ["a", "acme-co", "0day", "a" * 63])
def test_valid_account_names_are_accepted(account):
    table = FakeTokensTable()
    assert account_for_token(table, mint_token(table, KEYS, account)) == account


# --- the active-token limit, listing and revocation -------------------------------------------

import importlib  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
from types import SimpleNamespace  # noqa: E402

from ingest.errors import ConflictError, NotFoundError  # noqa: E402
from ingest.handlers import wiring  # noqa: E402
from ingest.logic.tokens import (  # noqa: E402
    MAX_ACTIVE_TOKENS,
    TOKEN_LIMIT_MESSAGE,
    revoke_token,
)
from tests.unit.routes import create_token, create_token_from_request, list_tokens  # noqa: E402

LIMIT_MESSAGE = "an account may have at most 5 active tokens; revoke one first"


def test_the_limit_is_five_and_the_message_says_so():
    assert MAX_ACTIVE_TOKENS == 5
    assert TOKEN_LIMIT_MESSAGE == LIMIT_MESSAGE


def test_a_sixth_active_token_is_refused_and_nothing_is_stored():
    table = FakeTokensTable()
    for _ in range(5):
        mint_token(table, KEYS, "acme")
    with pytest.raises(ConflictError) as refused:
        mint_token(table, KEYS, "acme")
    assert str(refused.value) == LIMIT_MESSAGE
    assert len(table.items) == 5 and table.counters["acme"] == 5
    # Another account has its own five.
    assert account_for_token(table, mint_token(table, KEYS, "other")) == "other"


def test_revoking_frees_a_place_and_the_revoked_token_stops_working():
    table = FakeTokensTable()
    minted = [create_token(table, KEYS, "acme", f"t{n}") for n in range(5)]
    revoke_token(table, KEYS, "acme", minted[2]["id"])
    with pytest.raises(UnauthorizedError, match=r"unknown or revoked token"):
        account_for_token(table, minted[2]["token"])
    assert account_for_token(table, minted[1]["token"]) == "acme"
    assert account_for_token(table, mint_token(table, KEYS, "acme")) == "acme"  # the freed place
    with pytest.raises(ConflictError):
        mint_token(table, KEYS, "acme")
    assert table.counters["acme"] == 5


def test_create_shows_the_token_once_and_listing_never_shows_a_secret():
    table = FakeTokensTable()
    created = create_token_from_request(table, KEYS, "acme", {"label": "ci"})
    assert set(created) == {"id", "label", "created_at", "last_used_at", "token"}
    assert created["label"] == "ci" and created["last_used_at"] is None
    listed = list_tokens(table, "acme")
    assert listed == {"tokens": [{k: v for k, v in created.items() if k != "token"}]}
    text = json.dumps(listed)
    assert created["token"] not in text and token_hash(created["token"]) not in text


def test_listing_shows_only_the_accounts_active_tokens_oldest_first():
    table = FakeTokensTable()
    first = create_token(table, KEYS, "acme", "first")
    second = create_token(table, KEYS, "acme", "second")
    create_token(table, KEYS, "other", "foreign")
    for item in table.items.values():  # same second: the order falls back to the id
        item["created_at"] = "2024-01-01T00:00:00Z"
    table.items[token_hash(first["token"])]["created_at"] = "2023-12-31T00:00:00Z"
    gone = create_token(table, KEYS, "acme", "gone")
    revoke_token(table, KEYS, "acme", gone["id"])
    assert [t["label"] for t in list_tokens(table, "acme")["tokens"]] == ["first", "second"]
    assert [t["label"] for t in list_tokens(table, "other")["tokens"]] == ["foreign"]
    assert second["id"] not in json.dumps(list_tokens(table, "other"))


@pytest.mark.parametrize("body, message", [
    ({"label": 7}, "label must be a string"),
    ({"label": "x" * 101}, "label must be at most 100 characters"),
    ({"account_id": "other"}, "only label can be given; got account_id"),
    ([], "request body must be a JSON object"),
])
def test_create_request_rules(body, message):
    table = FakeTokensTable()
    with pytest.raises(BadRequestError, match=message):
        create_token_from_request(table, KEYS, "acme", body)
    assert table.items == {}


def test_revoking_an_unknown_foreign_or_revoked_id_is_not_found():
    table = FakeTokensTable()
    mine = create_token(table, KEYS, "acme")
    theirs = create_token(table, KEYS, "other")
    for account, token_id in [("acme", "000000000000"), ("acme", theirs["id"])]:
        with pytest.raises(NotFoundError, match=f"token {token_id} not found"):
            revoke_token(table, KEYS, account, token_id)
    assert account_for_token(table, theirs["token"]) == "other"  # untouched
    revoke_token(table, KEYS, "acme", mine["id"])
    with pytest.raises(NotFoundError):
        revoke_token(table, KEYS, "acme", mine["id"])
    assert table.counters == {"acme": 0, "other": 1}


def _legacy_token(table, account: str, n: int) -> None:
    """A token stored before the counter existed: no counter item for its account."""
    table.items[f"legacy-{account}-{n}"] = {"token_hash": f"legacy-{account}-{n}", "token_id": f"legacy{n}",
                                            "account_id": account, "label": "", "created_at": "2024-01-01T00:00:00Z"}


def test_tokens_minted_before_the_counter_count_towards_the_limit():
    table = FakeTokensTable()
    for n in range(4):
        _legacy_token(table, "acme", n)
    mint_token(table, KEYS, "acme")
    with pytest.raises(ConflictError):
        mint_token(table, KEYS, "acme")
    revoke_token(table, KEYS, "acme", "legacy0")
    assert table.counters["acme"] == 4
    # Revoking first, on an account whose counter was never started, also works.
    _legacy_token(table, "old", 0)
    revoke_token(table, KEYS, "old", "legacy0")
    assert table.counters["old"] == 0 and list_tokens(table, "old") == {"tokens": []}


class RacingTokensTable(FakeTokensTable):
    """Every caller reads the account's tokens at the same moment (a barrier), so a limit decided
    by counting what is stored would let them all through."""

    def __init__(self, parties: int):
        super().__init__()
        self.barrier = threading.Barrier(parties, timeout=2)

    def list_for_account(self, account_id):
        try:
            self.barrier.wait()
        except threading.BrokenBarrierError:
            pass  # some callers never list; the others proceed together anyway
        return super().list_for_account(account_id)


@pytest.mark.parametrize("already", [0, 4])
def test_concurrent_mints_never_exceed_the_limit(already):
    callers = 10
    table = RacingTokensTable(callers)
    for n in range(already):
        _legacy_token(table, "acme", n)
    outcomes: list[str] = []
    start = threading.Barrier(callers)

    def mint_one():
        start.wait()
        try:
            mint_token(table, KEYS, "acme")
            outcomes.append("minted")
        except ConflictError as exc:
            outcomes.append(str(exc))

    threads = [threading.Thread(target=mint_one) for _ in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(outcomes) == callers
    assert outcomes.count("minted") == 5 - already
    assert outcomes.count(LIMIT_MESSAGE) == callers - (5 - already)
    active = [i for i in table.items.values() if i["account_id"] == "acme" and "revoked_at" not in i]
    assert len(active) == 5 and table.counters["acme"] == 5


# --- last use --------------------------------------------------------------------------------

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def test_use_is_recorded_at_most_once_a_minute():
    table = FakeTokensTable()
    token = mint_token(table, KEYS, "acme")
    hashed = token_hash(token)
    assert account_for_token(table, token, now=T0) == "acme"
    assert table.items[hashed]["last_used_at"] == "2024-05-01T12:00:00Z"
    for seconds in (1, 30, 59):
        account_for_token(table, token, now=T0 + timedelta(seconds=seconds))
    assert len(table.record_use_calls) == 1  # no write while the last one is fresh
    account_for_token(table, token, now=T0 + timedelta(seconds=60))
    assert table.items[hashed]["last_used_at"] == "2024-05-01T12:01:00Z"
    assert len(table.record_use_calls) == 2
    (view,) = list_tokens(table, "acme")["tokens"]
    assert view["last_used_at"] == "2024-05-01T12:01:00Z"


def test_a_revoked_token_records_no_use():
    table = FakeTokensTable()
    created = create_token(table, KEYS, "acme")
    revoke_token(table, KEYS, "acme", created["id"])
    with pytest.raises(UnauthorizedError):
        account_for_token(table, created["token"], now=T0)
    assert table.record_use_calls == [] and "last_used_at" not in table.items[token_hash(created["token"])]


# --- the authorizer handler itself ------------------------------------------------------------

HANDLER = "ingest.handlers.authorizer"
METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:api/prod/GET/v1/tokens"


@pytest.fixture
def authorizer(monkeypatch):
    """The authorizer module on a FakeTokensTable, imported fresh and forgotten afterwards (the
    e2e local stack imports it again with its own environment)."""
    monkeypatch.setenv("TOKENS_TABLE", "unit-test-tokens")
    monkeypatch.setenv("ACCOUNTS_TABLE", "unit-test-accounts")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    saved = sys.modules.pop(HANDLER, None)
    module = importlib.import_module(HANDLER)
    table = FakeTokensTable()
    # The composition root's seam: the authorizer's adapters, built from fakes.
    adapters = wiring.AuthAdapters(tokens=table, accounts=FakeAccountsTable())
    monkeypatch.setattr(wiring, "authorizer", lambda: adapters)
    yield module, table
    sys.modules.pop(HANDLER, None)
    if saved is not None:
        sys.modules[HANDLER] = saved


def _context():
    return SimpleNamespace(function_name="authorizer", memory_limit_in_mb=256, aws_request_id="req-1",
                           invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:authorizer")


def _authorize(module, token, source_ip="203.0.113.9"):
    return module.handler({"methodArn": METHOD_ARN, "headers": {"Auth-Api-Token": token},
                           "requestContext": {"identity": {"sourceIp": source_ip}}}, _context())


def test_the_authorizer_refuses_a_revoked_token_and_records_use_of_a_good_one(authorizer):
    module, table = authorizer
    kept, revoked = create_token(table, KEYS, "acme"), create_token(table, KEYS, "acme")
    revoke_token(table, KEYS, "acme", revoked["id"])
    allowed = _authorize(module, kept["token"])
    assert allowed["context"] == {"account_id": "acme"}
    assert allowed["policyDocument"]["Statement"][0]["Resource"] == (
        "arn:aws:execute-api:us-east-1:123456789012:api/prod/*")
    assert table.items[token_hash(kept["token"])]["last_used_at"]
    for token in (revoked["token"], "ing_unknown"):
        with pytest.raises(Exception, match=r"^Unauthorized$"):
            _authorize(module, token)
    assert allowed["usageIdentifierKey"] == token_hash(kept["token"])


def test_the_authorizer_denies_a_source_ip_outside_the_accounts_allow_list(authorizer):
    module, table = authorizer
    created = create_token(table, KEYS, "acme")
    wiring.authorizer().accounts.put_ip_allowlist("acme", ["198.51.100.0/24", "2001:db8::/32"], "2024-01-01T00:00:00Z")
    for source_ip, effect in [("198.51.100.77", "Allow"), ("2001:db8::5", "Allow"), ("203.0.113.9", "Deny")]:
        decision = _authorize(module, created["token"], source_ip)
        (statement,) = decision["policyDocument"]["Statement"]
        assert statement["Effect"] == effect, source_ip
        assert statement["Resource"] == "arn:aws:execute-api:us-east-1:123456789012:api/prod/*"
    # Another account's tokens are not restricted by acme's list.
    other = create_token(table, KEYS, "other")
    assert _authorize(module, other["token"], "203.0.113.9")["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    # An unknown token is still 401, wherever it comes from.
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        _authorize(module, "ing_unknown", "198.51.100.77")


# --- usage-plan keys: one per token, made at mint, gone at revoke -----------------------------


def test_each_token_gets_its_own_api_key_valued_by_its_hash_never_the_token():
    keys, table = FakeUsagePlanKeys(), FakeTokensTable()
    first, second = create_token(table, keys, "acme"), create_token(table, keys, "acme")
    assert len(keys.keys) == 2
    for created in (first, second):
        item = table.items[token_hash(created["token"])]
        key = keys.keys[item["api_key_id"]]
        assert key["value"] == token_hash(created["token"])
        assert created["token"] not in json.dumps(keys.keys)
        assert created["id"] in key["name"] and "acme" in key["name"]
    assert "api_key_id" not in first  # not part of the view


def test_revoking_deletes_the_tokens_api_key_only():
    keys, table = FakeUsagePlanKeys(), FakeTokensTable()
    kept, gone = create_token(table, keys, "acme"), create_token(table, keys, "acme")
    gone_key = table.items[token_hash(gone["token"])]["api_key_id"]
    revoke_token(table, keys, "acme", gone["id"])
    assert keys.deleted == [gone_key]
    assert list(keys.keys) == [table.items[token_hash(kept["token"])]["api_key_id"]]


def test_a_refused_mint_leaves_no_api_key_behind():
    keys, table = FakeUsagePlanKeys(), FakeTokensTable()
    for _ in range(5):
        create_token(table, keys, "acme")
    with pytest.raises(ConflictError):
        create_token(table, keys, "acme")
    assert len(keys.keys) == 5 and len(keys.deleted) == 1
    with pytest.raises(BadRequestError):
        create_token(table, keys, "Not Valid")  # refused before any key is made
    assert len(keys.keys) == 5 and len(keys.deleted) == 1


def test_a_failing_table_write_deletes_the_new_api_key():
    class BrokenTable(FakeTokensTable):
        def add_within_limit(self, item, limit):
            raise RuntimeError("DynamoDB is down")

    keys = FakeUsagePlanKeys()
    with pytest.raises(RuntimeError, match=r"DynamoDB is down"):
        create_token(BrokenTable(), keys, "acme")
    assert keys.keys == {} and len(keys.deleted) == 1
