"""FakeAudienceStore against AudienceStore (adapters/audience_store.py) on moto."""

from __future__ import annotations

import pytest

from ingest.adapters.audience_store import AudienceStore
from tests.contract.signatures import assert_same_methods
from tests.unit.fakes import FakeAudienceStore


@pytest.fixture(params=["fake", "adapter"])
def audiences(request, new_table):
    return FakeAudienceStore() if request.param == "fake" else AudienceStore(new_table("AudiencesTable"))


def audience(audience_id: str, account_id: str = "acme", **fields) -> dict:
    return {"account_id": account_id, "audience_id": audience_id, "name": f"list {audience_id}", "version": 0,
            "record_count": 0, "members_load": "", "created_at": "2024-01-01T00:00:00Z",
            "updated_at": "2024-01-01T00:00:00Z", **fields}


def with_retired(item: dict) -> dict:
    """An audience with its retired member sets as a sorted list (DynamoDB keeps them as a set)."""
    if "retired_loads" in item:
        item = {**item, "retired_loads": sorted(item["retired_loads"])}
    return item


def test_the_fake_offers_the_adapters_methods_with_their_parameters():
    assert_same_methods(FakeAudienceStore, AudienceStore)


def test_audiences_are_added_while_the_account_is_under_its_limit(audiences):
    assert not audiences.add_within_limit(audience("01A"), limit=2), "no counter yet"
    assert audiences.start_count("acme", 0) and not audiences.start_count("acme", 5)
    assert audiences.add_within_limit(audience("01A"), limit=2)
    assert not audiences.add_within_limit(audience("01A", name="again"), limit=2), "the same id twice"
    assert audiences.add_within_limit(audience("01B"), limit=2)
    assert not audiences.add_within_limit(audience("01C"), limit=2), "at the limit"
    assert audiences.get("acme", "01A") == audience("01A")
    assert audiences.get("acme", "01C") is None
    assert audiences.get("other", "01A") is None


def test_the_accounts_audiences_are_listed_without_the_counter(audiences):
    audiences.start_count("acme", 0)
    audiences.start_count("other", 0)
    for audience_id in ("01B", "01A"):
        audiences.add_within_limit(audience(audience_id), limit=5)
    audiences.add_within_limit(audience("01Z", account_id="other"), limit=5)
    assert sorted(audiences.list_for_account("acme"), key=lambda item: item["audience_id"]) == [
        audience("01A"), audience("01B")]
    assert audiences.list_for_account("nobody") == []
    assert audiences.get("acme", "#count") is None, "the counter is no audience"


def test_removing_uncounts_an_audience_once(audiences):
    audiences.start_count("acme", 0)
    audiences.add_within_limit(audience("01A"), limit=1)
    assert not audiences.remove("acme", "01B")
    assert audiences.remove("acme", "01A")
    assert not audiences.remove("acme", "01A")
    assert audiences.get("acme", "01A") is None
    assert audiences.add_within_limit(audience("01B"), limit=1), "the removed audience no longer counts"


def test_rename_answers_the_renamed_audience_or_none(audiences):
    audiences.start_count("acme", 0)
    audiences.add_within_limit(audience("01A"), limit=5)
    renamed = audiences.rename("acme", "01A", "VIPs", "2024-01-02T00:00:00Z")
    assert renamed == audience("01A", name="VIPs", updated_at="2024-01-02T00:00:00Z")
    assert audiences.get("acme", "01A") == renamed
    assert audiences.rename("acme", "01B", "VIPs", "2024-01-02T00:00:00Z") is None
    assert audiences.rename("acme", "#count", "VIPs", "2024-01-02T00:00:00Z") is None


def test_one_load_holds_an_audience_at_a_time(audiences):
    audiences.start_count("acme", 0)
    audiences.add_within_limit(audience("01A"), limit=5)
    assert audiences.hold_for_load("acme", "01A", "job-a", "2024-01-01T00:00:01Z")
    assert audiences.hold_for_load("acme", "01A", "job-a", "2024-01-01T00:00:02Z")
    assert not audiences.hold_for_load("acme", "01A", "job-b", "2024-01-01T00:00:03Z")
    audiences.release_load("acme", "01A", "job-b")
    assert audiences.get("acme", "01A")["loading_job"] == "job-a"
    assert audiences.hold_for_load("acme", "01A", "job-b", "2024-01-01T00:00:04Z", stale_holder="job-a")
    audiences.release_load("acme", "01A", "job-b")
    assert audiences.get("acme", "01A") == audience("01A")
    assert not audiences.hold_for_load("acme", "01B", "job-a", "2024-01-01T00:00:05Z"), "no such audience"


def test_a_flip_switches_members_from_the_set_it_read_by_the_holding_load_only(audiences):
    audiences.start_count("acme", 0)
    audiences.add_within_limit(audience("01A"), limit=5)
    audiences.hold_for_load("acme", "01A", "load-1", "2024-01-01T00:00:01Z")
    assert not audiences.flip("acme", "01A", "load-2", "", 3, "2024-01-01T00:00:02Z"), "not the holder"
    assert not audiences.flip("acme", "01A", "load-1", "load-0", 3, "2024-01-01T00:00:02Z"), "not the set it read"
    assert audiences.flip("acme", "01A", "load-1", "", 3, "2024-01-01T00:00:02Z")
    audiences.release_load("acme", "01A", "load-1")
    assert audiences.get("acme", "01A") == audience("01A", members_load="load-1", record_count=3, version=1,
                                                    updated_at="2024-01-01T00:00:02Z")

    audiences.hold_for_load("acme", "01A", "load-2", "2024-01-02T00:00:01Z")
    assert audiences.flip("acme", "01A", "load-2", "load-1", 5, "2024-01-02T00:00:02Z")
    audiences.release_load("acme", "01A", "load-2")
    assert with_retired(audiences.get("acme", "01A")) == audience(
        "01A", members_load="load-2", record_count=5, version=2, updated_at="2024-01-02T00:00:02Z",
        retired_loads=["load-1"])
    assert not audiences.flip("acme", "01B", "load-2", "", 1, "2024-01-02T00:00:03Z"), "no such audience"


def test_a_deleted_retired_set_is_forgotten(audiences):
    audiences.start_count("acme", 0)
    audiences.add_within_limit(audience("01A", members_load="load-2", version=2), limit=5)
    for load in ("load-3", "load-4"):
        audiences.hold_for_load("acme", "01A", load, "2024-01-02T00:00:01Z")
        previous = audiences.get("acme", "01A")["members_load"]
        assert audiences.flip("acme", "01A", load, previous, 1, "2024-01-02T00:00:02Z")
        audiences.release_load("acme", "01A", load)
    assert sorted(audiences.get("acme", "01A")["retired_loads"]) == ["load-2", "load-3"]
    audiences.forget_retired("acme", "01A", "load-2")
    assert sorted(audiences.get("acme", "01A")["retired_loads"]) == ["load-3"]
    audiences.forget_retired("acme", "01A", "load-3")
    assert "retired_loads" not in audiences.get("acme", "01A"), "an empty set is no attribute"
    audiences.forget_retired("acme", "01B", "load-3")  # the audience is gone: nothing to do, no error
