"""FakeJobsTable, FakeDatasetsTable and FakeAccountsTable against JobsTable, DatasetsTable and
AccountsTable (adapters/control_tables.py) on moto."""

from __future__ import annotations

import pytest

from ingest.adapters.control_tables import AccountsTable, DatasetsTable, JobsTable
from ingest.errors import BadRequestError, ConflictError
from tests.contract.signatures import assert_same_methods
from tests.unit.fakes import FakeAccountsTable, FakeDatasetsTable, FakeJobsTable


@pytest.fixture(params=["fake", "adapter"])
def jobs(request, new_table):
    return FakeJobsTable() if request.param == "fake" else JobsTable(new_table("JobsTable"))


@pytest.fixture(params=["fake", "adapter"])
def datasets(request, new_table):
    return FakeDatasetsTable() if request.param == "fake" else DatasetsTable(new_table("DatasetsTable"))


@pytest.fixture(params=["fake", "adapter"])
def accounts(request, new_table):
    return FakeAccountsTable() if request.param == "fake" else AccountsTable(new_table("AccountsTable"))


def job(job_id: str, account_id: str = "acme", **fields) -> dict:
    return {"account_id": account_id, "job_id": job_id, "status": "Pending", "filename": "f.ndjson",
            "stats": {"total": 3, "loaded": 2}, "options": {"dry_run": False}, **fields}


def dataset(dataset_id: str, account_id: str = "acme", **fields) -> dict:
    return {"account_id": account_id, "dataset_id": dataset_id, "name": "Customers", "description": "",
            "record_counts": {}, "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:00Z",
            **fields}


def test_the_fakes_offer_the_adapters_methods_with_their_parameters():
    assert_same_methods(FakeJobsTable, JobsTable, not_faked={"update_unless_final"})
    assert_same_methods(FakeDatasetsTable, DatasetsTable, fake_only={"add"},
                        not_faked={"update"})
    assert_same_methods(FakeAccountsTable, AccountsTable)


# -- jobs ------------------------------------------------------------------------------------------
def test_a_job_reads_back_as_written_and_only_in_its_account(jobs):
    jobs.create(job("01A"))
    assert jobs.get("acme", "01A") == job("01A")
    assert jobs.get("other", "01A") is None
    assert jobs.get("acme", "01B") is None


def test_progress_starts_a_phase_with_its_totals_and_adds_work_done(jobs):
    jobs.create(job("01A"))
    with pytest.raises(ConflictError):  # no phase started yet: nothing to add to
        jobs.add_progress("acme", "01A", {"bytes_read": 5})
    jobs.set_progress("acme", "01A", "Inspecting", bytes_total=1000)
    assert jobs.get("acme", "01A")["progress"] == {"phase": "Inspecting", "bytes_total": 1000}
    jobs.add_progress("acme", "01A", {"bytes_read": 400, "lines_read": 7})
    jobs.add_progress("acme", "01A", {"bytes_read": 100, "chunks_done": 1})
    jobs.set_progress("acme", "01A", "Splitting", chunks_total=3)  # a new phase keeps what was counted
    assert jobs.get("acme", "01A")["progress"] == {"phase": "Splitting", "bytes_total": 1000, "bytes_read": 500,
                                                   "lines_read": 7, "chunks_done": 1, "chunks_total": 3}
    with pytest.raises(ConflictError):
        jobs.set_progress("acme", "01B", "Inspecting", bytes_total=1)
    assert jobs.get("acme", "01B") is None


def test_a_job_id_is_created_once(jobs):
    jobs.create(job("01A"))
    with pytest.raises(ConflictError):
        jobs.create(job("01A", status="Processing"))
    assert jobs.get("acme", "01A")["status"] == "Pending"


def test_update_sets_fields_of_an_existing_job_only(jobs):
    jobs.create(job("01A"))
    jobs.update("acme", "01A", status="Completed", stats={"total": 3, "loaded": 3, "rejected": 0})
    assert jobs.get("acme", "01A") == job("01A", status="Completed", stats={"total": 3, "loaded": 3, "rejected": 0})
    with pytest.raises(ConflictError):
        jobs.update("acme", "01B", status="Completed")
    assert jobs.get("acme", "01B") is None


def test_the_adapter_announces_each_status_change_once_with_the_item_as_it_now_is(new_table):
    """Job events hang on this (logic/job_events.py): creation and every change of status, once each;
    a write that sets no status, the same status again (a step's retry) or nothing at all, no event.
    Adapter only: the unit tests' fake publishes nothing."""
    heard: list[dict] = []
    jobs = JobsTable(new_table("JobsTable"), heard.append)
    jobs.create(job("01A"))
    with pytest.raises(ConflictError):
        jobs.create(job("01A", status="Processing"))
    jobs.update("acme", "01A", execution_arn="arn:x")
    jobs.update("acme", "01A", status="Processing", size=10)
    jobs.update("acme", "01A", status="Processing", size=11)
    assert jobs.update_unless_final("acme", "01A", status="Completed", stats={"total": 3, "loaded": 3})
    assert not jobs.update_unless_final("acme", "01A", status="Failed")
    assert [(item["status"], item.get("size")) for item in heard] == [
        ("Pending", None), ("Processing", 10), ("Completed", 11)]
    assert heard[-1] == jobs.get("acme", "01A")


def test_list_is_newest_first_filtered_and_paged_to_the_end(jobs):
    for index in range(7):
        jobs.create(job(f"01J{index}", status="Completed" if index % 2 else "Failed"))
    jobs.create(job("01J9", account_id="other"))
    seen, token = [], None
    while True:
        page, token = jobs.list("acme", {}, 3, token)
        assert len(page) <= 3
        seen.extend(item["job_id"] for item in page)
        if token is None:
            break
    assert seen == [f"01J{index}" for index in reversed(range(7))]
    completed, _ = jobs.list("acme", {"status": "Completed"}, 10, None)
    assert [item["job_id"] for item in completed] == ["01J5", "01J3", "01J1"]
    assert completed[0] == job("01J5", status="Completed")


def test_a_token_that_list_did_not_return_is_a_bad_request(jobs):
    with pytest.raises(BadRequestError):
        jobs.list("acme", {}, 3, "not-a-token")


# -- datasets --------------------------------------------------------------------------------------
def test_a_dataset_reads_back_as_written_and_is_created_once(datasets):
    datasets.create(dataset("01D"))
    assert datasets.get("acme", "01D") == {**dataset("01D"), "shards": 64}  # the default count of a new dataset
    assert datasets.get("other", "01D") is None
    with pytest.raises(ConflictError):
        datasets.create(dataset("01D", name="again"))


def test_datasets_list_newest_first_and_paged_to_the_end(datasets):
    for index in range(5):
        datasets.create(dataset(f"01D{index}"))
    datasets.create(dataset("01D9", account_id="other"))
    seen, token = [], None
    while True:
        page, token = datasets.list("acme", 2, token)
        assert len(page) <= 2
        seen.extend(item["dataset_id"] for item in page)
        if token is None:
            break
    assert seen == [f"01D{index}" for index in reversed(range(5))]


def test_record_types_seen_are_remembered_on_an_existing_dataset_only(datasets):
    datasets.create(dataset("01D"))
    for record_type in ("customer_record", "purchase", "customer_record"):
        datasets.note_record_type("acme", "01D", record_type)
    assert set(datasets.get("acme", "01D")["record_types_seen"]) == {"customer_record", "purchase"}
    with pytest.raises(ConflictError):
        datasets.note_record_type("acme", "01X", "purchase")


def test_one_load_holds_a_dataset_at_a_time(datasets):
    datasets.create(dataset("01D"))
    assert datasets.hold_for_load("acme", "01D", "job-a", "2024-01-01T00:00:01Z")
    assert datasets.hold_for_load("acme", "01D", "job-a", "2024-01-01T00:00:02Z"), "the holder takes it again"
    assert not datasets.hold_for_load("acme", "01D", "job-b", "2024-01-01T00:00:03Z")
    held = datasets.get("acme", "01D")
    assert (held["loading_job"], held["loading_since"]) == ("job-a", "2024-01-01T00:00:02Z")
    datasets.release_load("acme", "01D", "job-b")  # not the holder: nothing happens
    assert datasets.get("acme", "01D")["loading_job"] == "job-a"
    assert datasets.hold_for_load("acme", "01D", "job-b", "2024-01-01T00:00:04Z", stale_holder="job-a")
    datasets.release_load("acme", "01D", "job-b")
    released = datasets.get("acme", "01D")
    assert "loading_job" not in released and "loading_since" not in released
    assert not datasets.hold_for_load("acme", "01X", "job-a", "2024-01-01T00:00:05Z"), "no such dataset"


def test_a_dataset_being_cleared_cannot_be_held_for_a_load(datasets):
    datasets.create(dataset("01D", clearing_job="clear-1"))
    assert not datasets.hold_for_load("acme", "01D", "job-a", "2024-01-01T00:00:01Z")


def test_record_load_sets_the_count_of_its_type_and_the_last_load(datasets):
    datasets.create(dataset("01D", record_counts={"purchase": 4}))
    load = {"job_id": "job-a", "record_type": "customer_record", "finished_at": "2024-01-02T00:00:00Z"}
    datasets.record_load("acme", "01D", "customer_record", 7, load)
    stored = datasets.get("acme", "01D")
    assert stored["record_counts"] == {"purchase": 4, "customer_record": 7}
    assert stored["last_load"] == load
    assert stored["updated_at"] == "2024-01-02T00:00:00Z"
    with pytest.raises(ConflictError):
        datasets.record_load("acme", "01X", "customer_record", 1, load)


# -- accounts --------------------------------------------------------------------------------------
def test_an_account_without_settings_has_no_item(accounts):
    assert accounts.get("acme") is None


def test_the_ip_allow_list_is_replaced_whole(accounts):
    first = accounts.put_ip_allowlist("acme", ["198.51.100.0/24", "2001:db8::/32"], "2024-01-01T00:00:00Z")
    assert first == {"account_id": "acme", "ip_allowlist": ["198.51.100.0/24", "2001:db8::/32"],
                     "updated_at": "2024-01-01T00:00:00Z"}
    assert accounts.get("acme") == first
    accounts.put_ip_allowlist("acme", [], "2024-01-02T00:00:00Z")
    assert accounts.get("acme") == {"account_id": "acme", "ip_allowlist": [], "updated_at": "2024-01-02T00:00:00Z"}
    assert accounts.get("other") is None


# -- the contract can fail -------------------------------------------------------------------------
def test_a_fake_that_drifts_from_its_adapter_fails_here():
    class Overwriting(FakeJobsTable):
        def create(self, job):  # forgets the condition: a second create replaces the job
            self.items[(job["account_id"], job["job_id"])] = dict(job)

    with pytest.raises(pytest.fail.Exception, match=r"DID NOT RAISE"):
        test_a_job_id_is_created_once(Overwriting())

    class Renamed(FakeJobsTable):
        def list(self, account_id, filters, limit, next_token):  # a parameter named otherwise
            return super().list(account_id, filters, limit, next_token)

    with pytest.raises(AssertionError, match=r"FakeJobsTable.list|Renamed.list"):
        assert_same_methods(Renamed, JobsTable, not_faked={"update_unless_final"})


# -- datasets: shards and the count delta of a load ----------------------------------------------------
def test_a_new_dataset_gets_the_configured_shard_count_unless_it_names_one(new_table):
    for made in (FakeDatasetsTable(new_dataset_shards=32), DatasetsTable(new_table("DatasetsTable"), 32)):
        made.create(dataset("01A"))
        made.create(dataset("01B", shards=16))
        assert made.get("acme", "01A")["shards"] == 32
        assert made.get("acme", "01B")["shards"] == 16


def test_a_loads_created_records_are_added_once_per_upload(datasets):
    datasets.create(dataset("01A", record_counts={"purchase": 5}))
    load = {"upload_id": "U1", "finished_at": "2024-02-01T00:00:00Z", "created": 3}
    assert datasets.add_load("acme", "01A", "purchase", 3, load)
    assert not datasets.add_load("acme", "01A", "purchase", 3, load)  # a retried Finalize
    assert datasets.add_load("acme", "01A", "customer_record", 2, {**load, "upload_id": "U2"})
    item = datasets.get("acme", "01A")
    assert item["record_counts"] == {"purchase": 8, "customer_record": 2}
    assert item["last_load"] == {**load, "upload_id": "U2"} and item["updated_at"] == load["finished_at"]
    assert not datasets.add_load("acme", "01Z", "purchase", 1, load)  # no such dataset


def test_a_clear_mark_is_refused_while_a_load_holds_and_empties_the_counts(datasets):
    datasets.create(dataset("01A", record_counts={"purchase": 5}))
    assert datasets.hold_for_load("acme", "01A", "U1", "t")
    assert not datasets.start_clear("acme", "01A", "C1", "t")
    datasets.release_load("acme", "01A", "U1")
    assert datasets.start_clear("acme", "01A", "C1", "t")
    assert not datasets.hold_for_load("acme", "01A", "U2", "t")
    datasets.end_clear("acme", "01A", "C-other", "t2", emptied=True)  # not the holder: nothing changes
    assert datasets.get("acme", "01A")["clearing_job"] == "C1"
    datasets.end_clear("acme", "01A", "C1", "t3", emptied=True)
    item = datasets.get("acme", "01A")
    assert "clearing_job" not in item and item["record_counts"] == {}


# -- reverts -----------------------------------------------------------------------------------------
def test_one_revert_claims_an_upload_and_only_its_own_failure_releases_it(jobs):
    jobs.create(job("01A", status="Completed"))
    assert not jobs.claim_revert("acme", "01Z", "R0")  # no such upload
    assert jobs.claim_revert("acme", "01A", "R1")
    assert not jobs.claim_revert("acme", "01A", "R2")
    jobs.release_revert("acme", "01A", "R2")  # not R2's: stays
    assert jobs.get("acme", "01A")["reverted_by"] == "R1"
    jobs.release_revert("acme", "01A", "R1")
    assert "reverted_by" not in jobs.get("acme", "01A")
    assert jobs.claim_revert("acme", "01A", "R3")


def test_a_reverts_removed_records_come_off_the_count_once(datasets):
    datasets.create(dataset("ds1", record_counts={"customer_record": 10}))
    assert datasets.remove_records("acme", "ds1", "customer_record", 3, "R1")
    assert not datasets.remove_records("acme", "ds1", "customer_record", 3, "R1")  # a retried Finish
    assert datasets.remove_records("acme", "ds1", "profile", 0, "R2")
    assert datasets.get("acme", "ds1")["record_counts"] == {"customer_record": 7, "profile": 0}
    assert not datasets.remove_records("acme", "nope", "customer_record", 1, "R3")
