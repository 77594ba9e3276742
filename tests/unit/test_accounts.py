"""Per-account settings: the IP allow-list's rules, the account view, and the allow-list decision."""

from __future__ import annotations

import pytest

from ingest.errors import BadRequestError, UnauthorizedError
from ingest.logic.accounts import (
    RateLimit,
    account_view,
    ip_allowed,
    normalise_allowlist,
    replace_ip_allowlist,
)
from ingest.logic.tokens import authorize, token_hash
from ingest.models.accounts import MAX_ALLOWLIST_ENTRIES, IpAllowlist
from ingest.models.base import parse
from tests.unit.fakes import FakeAccountsTable, FakeTokensTable, FakeUsagePlanKeys
from tests.unit.routes import create_token

LIMITS = RateLimit(per_second=25, burst=50)


def set_ip_allowlist_from_request(accounts, account_id, body, limits):
    """The route's path: the body read into its model at the edge, then the logic, then the answer."""
    return replace_ip_allowlist(accounts, account_id, parse(IpAllowlist, body), limits).body()


def test_entries_are_normalised_deduplicated_and_kept_in_order():
    assert normalise_allowlist(["203.0.113.0/24", " 198.51.100.7 ", "2001:DB8::/32", "198.51.100.7/32", "::1"]) == [
        "203.0.113.0/24", "198.51.100.7/32", "2001:db8::/32", "::1/128"]
    assert normalise_allowlist([]) == []


@pytest.mark.parametrize("cidrs, message", [
    (["203.0.113.0/24", "example.com"], "cidrs: 'example.com' is not an IPv4 or IPv6 address or network"),
    (["203.0.113.5/24"], "cidrs: '203.0.113.5/24' is not .* has host bits set"),
    (["10.0.0.0/33"], "cidrs: '10.0.0.0/33' is not"),
    (["256.1.1.1"], "cidrs: '256.1.1.1' is not"),
    ("203.0.113.0/24", "cidrs must be a list"),
    ([7], "cidrs must be a list"),
    ([f"10.0.0.{n}" for n in range(MAX_ALLOWLIST_ENTRIES + 1)], "cidrs may hold at most 50 entries; got 51"),
])
def test_bad_entries_are_refused_naming_the_entry(cidrs, message):
    with pytest.raises(BadRequestError, match=message):
        normalise_allowlist(cidrs)


def test_fifty_entries_are_accepted():
    assert len(normalise_allowlist([f"10.0.0.{n}" for n in range(MAX_ALLOWLIST_ENTRIES)])) == 50


@pytest.mark.parametrize("allowlist, source_ip, allowed", [
    ([], "203.0.113.9", True),
    ([], None, True),
    (["203.0.113.0/24"], "203.0.113.9", True),
    (["203.0.113.0/24"], "203.0.114.1", False),
    (["198.51.100.7/32", "2001:db8::/32"], "2001:db8:0:1::42", True),
    (["198.51.100.7/32"], "::ffff:198.51.100.8", False),
    (["198.51.100.7/32"], None, False),
    (["198.51.100.7/32"], "not-an-ip", False),
])
def test_ip_allowed(allowlist, source_ip, allowed):
    assert ip_allowed(allowlist, source_ip) is allowed


def test_setting_the_allow_list_shows_the_account_view():
    accounts = FakeAccountsTable()
    assert account_view(accounts, "acme", LIMITS).body() == {
        "account_id": "acme", "ip_allowlist": [], "rate_limit": {"per_second": 25, "burst": 50}}
    view = set_ip_allowlist_from_request(accounts, "acme", {"cidrs": ["198.51.100.7"]}, LIMITS)
    assert view == {"account_id": "acme", "ip_allowlist": ["198.51.100.7/32"],
                    "rate_limit": {"per_second": 25, "burst": 50}}
    assert account_view(accounts, "other", LIMITS).ip_allowlist == []
    assert set_ip_allowlist_from_request(accounts, "acme", {"cidrs": []}, LIMITS)["ip_allowlist"] == []


@pytest.mark.parametrize("body, message", [
    ({}, "cidrs is required"),
    ({"cidrs": [], "account_id": "other"}, "only cidrs can be given; got account_id"),
    ([], "request body must be a JSON object"),
])
def test_bad_allow_list_requests_change_nothing(body, message):
    accounts = FakeAccountsTable()
    accounts.put_ip_allowlist("acme", ["198.51.100.7/32"], "2024-01-01T00:00:00Z")
    with pytest.raises(BadRequestError, match=message):
        set_ip_allowlist_from_request(accounts, "acme", body, LIMITS)
    assert accounts.get("acme")["ip_allowlist"] == ["198.51.100.7/32"]


def test_the_authorizer_decision_follows_the_callers_own_account():
    tokens, keys, accounts = FakeTokensTable(), FakeUsagePlanKeys(), FakeAccountsTable()
    acme = create_token(tokens, keys, "acme")["token"]
    other = create_token(tokens, keys, "other")["token"]
    accounts.put_ip_allowlist("acme", ["198.51.100.0/24"], "2024-01-01T00:00:00Z")
    inside = authorize(tokens, accounts, acme, "198.51.100.20")
    assert (inside.account_id, inside.ip_allowed, inside.api_key_value) == ("acme", True, token_hash(acme))
    assert authorize(tokens, accounts, acme, "192.0.2.1").ip_allowed is False
    assert authorize(tokens, accounts, other, "192.0.2.1").ip_allowed is True
    with pytest.raises(UnauthorizedError):
        authorize(tokens, accounts, "ing_unknown", "198.51.100.20")
