"""API tokens: minted once, stored only as a SHA-256 hash, resolved to an account."""

from __future__ import annotations

import hashlib
import json

import pytest

from ingest.errors import BadRequestError, UnauthorizedError
from ingest.logic.tokens import TOKEN_PREFIX, account_for_token, mint_token, token_hash
from tests.unit.fakes import FakeTokensTable


def test_only_the_sha256_hash_is_stored():
    table = FakeTokensTable()
    token = mint_token(table, "acme", label="ci")
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
    token = mint_token(table, "acme")
    assert account_for_token(table, token) == "acme"
    assert account_for_token(table, f"  {token}\n") == "acme"


def test_tokens_are_unique_per_mint():
    table = FakeTokensTable()
    tokens = {mint_token(table, "acme") for _ in range(5)}
    assert len(tokens) == 5
    assert len(table.items) == 5


def test_unknown_token_is_unauthorized():
    table = FakeTokensTable()
    mint_token(table, "acme")
    with pytest.raises(UnauthorizedError, match="unknown or revoked token"):
        account_for_token(table, "ing_not-a-real-token")


def test_missing_token_is_unauthorized():
    for value in (None, ""):
        with pytest.raises(UnauthorizedError, match="missing Auth-Api-Token"):
            account_for_token(FakeTokensTable(), value)


def test_the_hash_itself_is_not_a_valid_token():
    table = FakeTokensTable()
    token = mint_token(table, "acme")
    with pytest.raises(UnauthorizedError):
        account_for_token(table, token_hash(token))


def test_revoked_token_is_unauthorized():
    table = FakeTokensTable()
    token = mint_token(table, "acme")
    table.items[token_hash(token)]["revoked_at"] = "2024-01-01T00:00:00Z"
    with pytest.raises(UnauthorizedError, match="unknown or revoked token"):
        account_for_token(table, token)


@pytest.mark.parametrize("account", ["Acme", "-acme", "acme_co", "", "a" * 64, "acme co"])
def test_invalid_account_names_are_rejected(account):
    table = FakeTokensTable()
    with pytest.raises(BadRequestError, match="account must be 1-63 characters"):
        mint_token(table, account)
    assert table.items == {}


@pytest.mark.parametrize("account", ["a", "acme-co", "0day", "a" * 63])
def test_valid_account_names_are_accepted(account):
    table = FakeTokensTable()
    assert account_for_token(table, mint_token(table, account)) == account
