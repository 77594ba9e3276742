"""FakeImportKeysTable and FakeQuotaCounters against ImportKeysTable (adapters/import_keys_table.py)
and QuotaCounters (adapters/quota_counters.py) on moto."""

from __future__ import annotations

import pytest

from ingest.adapters.import_keys_table import ImportKeysTable
from ingest.adapters.quota_counters import QuotaCounters
from ingest.errors import ConflictError
from tests.contract.signatures import assert_same_methods
from tests.unit.fakes import FakeImportKeysTable, FakeQuotaCounters


@pytest.fixture(params=["fake", "adapter"])
def keys(request, new_table):
    return FakeImportKeysTable() if request.param == "fake" else ImportKeysTable(new_table("ImportsTable"))


@pytest.fixture(params=["fake", "adapter"])
def counters(request, new_table):
    return FakeQuotaCounters() if request.param == "fake" else QuotaCounters(new_table("QuotasTable"))


def key(key_id: str, account_id: str = "acme", **fields) -> dict:
    return {"key_id": key_id, "account_id": account_id, "org_id": "60", "app_ids": ["app-1", "app-2"],
            "secret_hash": "ab" * 32, "label": "CRM export", "created_at": "2024-01-01T00:00:00Z", **fields}


def stored(item: dict) -> dict:
    """A key as read back: with the table's partition key."""
    return {"pk": f"key#{item['key_id']}", **item}


def listed(item: dict) -> dict:
    """A key as the by-account index lists it: everything but the secret's hash."""
    return {name: value for name, value in stored(item).items() if name != "secret_hash"}


def test_the_fakes_offer_the_adapters_methods_with_their_parameters():
    assert_same_methods(FakeImportKeysTable, ImportKeysTable)
    assert_same_methods(FakeQuotaCounters, QuotaCounters)


# -- import keys -----------------------------------------------------------------------------------
def test_a_key_reads_back_as_written_and_is_stored_once(keys):
    keys.put_key(key("imp_1"))
    assert keys.get_key("imp_1") == stored(key("imp_1"))
    assert keys.get_key("imp_2") is None
    with pytest.raises(ConflictError):
        keys.put_key(key("imp_1", label="again"))
    assert keys.get_key("imp_1")["label"] == "CRM export"


def test_an_accounts_keys_are_listed_without_secret_hashes_revoked_ones_included(keys):
    keys.put_key(key("imp_1"))
    keys.put_key(key("imp_2", app_ids=[]))
    keys.put_key(key("imp_9", account_id="other"))
    assert keys.revoke("acme", "imp_2", "2024-01-02T00:00:00Z")
    listing = sorted(keys.list_for_account("acme"), key=lambda item: item["key_id"])
    assert listing == [listed(key("imp_1")), listed(key("imp_2", app_ids=[], revoked_at="2024-01-02T00:00:00Z"))]
    assert keys.list_for_account("nobody") == []


def test_a_key_is_revoked_once_and_only_by_its_account(keys):
    keys.put_key(key("imp_1"))
    assert not keys.revoke("other", "imp_1", "2024-01-02T00:00:00Z")
    assert not keys.revoke("acme", "imp_2", "2024-01-02T00:00:00Z")
    assert keys.revoke("acme", "imp_1", "2024-01-02T00:00:00Z")
    assert not keys.revoke("acme", "imp_1", "2024-01-03T00:00:00Z")
    assert keys.get_key("imp_1")["revoked_at"] == "2024-01-02T00:00:00Z"


def test_a_target_dataset_is_claimed_by_the_first_and_kept(keys):
    assert keys.get_target("acme", "localytics-org", "60") is None
    assert keys.claim_target("acme", "localytics-org", "60", "ds-1", "2024-01-01T00:00:00Z") == "ds-1"
    assert keys.claim_target("acme", "localytics-org", "60", "ds-2", "2024-01-01T00:00:01Z") == "ds-1"
    assert keys.get_target("acme", "localytics-org", "60") == "ds-1"
    assert keys.get_target("acme", "localytics-app", "60") is None
    assert keys.get_target("other", "localytics-org", "60") is None
    assert keys.list_for_account("acme") == [], "targets are not keys"


# -- quota counters --------------------------------------------------------------------------------
def test_a_counter_counts_up_to_its_limit(counters):
    assert [counters.increment_below("acme#uploads#2024010110", 3, 1_704_110_000) for _ in range(4)] == [1, 2, 3, None]
    assert counters.increment_below("acme#uploads#2024010111", 3, 1_704_113_600) == 1, "another window"
    assert counters.increment_below("acme#uploads#2024010110", 4, 1_704_110_000) == 4, "a higher limit"
