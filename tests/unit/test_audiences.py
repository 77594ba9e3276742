"""Audience lists: the 500 limit, upload requests, the version flip, rename, delete, membership."""

from __future__ import annotations

import json
import threading

import pytest

from ingest.errors import BadRequestError, ConflictError, DatasetBusyError, FileRejectedError, NotFoundError
from ingest.logic import audiences
from ingest.logic.load import inspect
from ingest.logic.load.context import LoadContext, LoadSettings
from ingest.logic.load.failure import mark_failed
from ingest.logic.load.finalize import finalize
from ingest.models.workflow import ExecutionInput, FailedState, JobOutcome, LoadJob, StepError
from tests.support.load_runner import run_to_finalize
from tests.unit import routes
from tests.unit.fakes import (
    FakeAudienceStore,
    FakeDatasetsTable,
    FakeJobsTable,
    FakeMemberStore,
    FakeObjectStore,
)

ACCOUNT = "acme"
LIMIT_MESSAGE = "an account may have at most 500 audiences; delete one first"


def _lines(*customers: str) -> bytes:
    return b"".join(json.dumps({"customer_id": c}).encode() + b"\n" for c in customers)


class World:
    """Upload requests and the load workflow's steps wired to fakes, as the API and workflow handlers wire them."""

    def __init__(self):
        self.objects = FakeObjectStore(read_size=64)
        self.jobs = FakeJobsTable()
        self.datasets = FakeDatasetsTable()
        self.records = FakeMemberStore()
        self.audiences = FakeAudienceStore()
        self.ctx = LoadContext(objects=self.objects, jobs=self.jobs, datasets=self.datasets, records=self.records,
                               audiences=self.audiences,
                               settings=LoadSettings(range_bytes=16, partitions=4, load_window_records=2))

    def request(self, destination: dict, account: str = ACCOUNT, filename: str = "members.ndjson", **body) -> dict:
        return routes.request_upload(self.jobs, self.datasets, self.objects, account,
                                      {"filename": filename, "destination": destination, **body}, 3600,
                                      audience_store=self.audiences)

    def create(self, name: str = "VIPs", account: str = ACCOUNT, filename: str = "members.ndjson",
               options: dict | None = None, **destination) -> dict:
        body = {"options": options} if options is not None else {}
        return self.request({"destination_type": "audience_list", "audience_name": name, **destination},
                            account=account, filename=filename, **body)

    def replace(self, audience_id: str) -> dict:
        return self.request({"destination_type": "audience_list", "audience_id": audience_id})

    def arrive(self, upload: dict, content: bytes, account: str = ACCOUNT) -> None:
        self.objects.put(self.jobs.get(account, upload["id"])["object_key"], content)

    def load(self, upload: dict, account: str = ACCOUNT) -> LoadJob:
        """Every step before Finalize; returns the job Finalize gets."""
        planned = run_to_finalize(self.ctx, account, upload["id"])
        assert planned.within_budget
        return planned.job

    def inspect(self, upload: dict) -> LoadJob:
        return inspect.inspect(self.ctx, ExecutionInput(account_id=ACCOUNT, upload_id=upload["id"]))

    def finalize(self, job: LoadJob) -> JobOutcome:
        return finalize(self.ctx, job)

    def mark_failed(self, job: LoadJob, error: str) -> JobOutcome:
        return mark_failed(self.ctx, FailedState(job=job, error=StepError(Error=error)))

    def run(self, upload: dict, content: bytes) -> JobOutcome:
        self.arrive(upload, content)
        return self.finalize(self.load(upload))

    def members(self, audience_id: str, *customers: str) -> list[str]:
        found = []
        for customer in customers:
            try:
                routes.membership(self.audiences, self.records, ACCOUNT, audience_id, customer)
                found.append(customer)
            except NotFoundError:
                pass
        return found

    def stored_sets(self) -> set[str]:
        return {dataset for (_, dataset, _, _) in self.records.items}


# -- the limit ------------------------------------------------------------------------------------
def test_the_501st_audience_is_refused_and_nothing_is_stored():
    store = FakeAudienceStore()
    for n in range(500):
        audiences.create_audience(store, ACCOUNT, f"list {n}")
    with pytest.raises(ConflictError) as refused:
        audiences.create_audience(store, ACCOUNT, "one too many")
    assert str(refused.value) == LIMIT_MESSAGE
    assert len(store.list_for_account(ACCOUNT)) == 500 and store.counters[ACCOUNT] == 500
    # Another account has its own 500; deleting one frees a place.
    audiences.create_audience(store, "other", "theirs")
    first = store.list_for_account(ACCOUNT)[0]["audience_id"]
    audiences.delete_audience(store, FakeMemberStore(), ACCOUNT, first)
    audiences.create_audience(store, ACCOUNT, "fits again")
    assert store.counters[ACCOUNT] == 500


class RacingAudienceStore(FakeAudienceStore):
    """Every creator that has to start the counter lists the account's audiences at the same moment,
    so a count-then-write implementation would let all of them through."""

    def __init__(self, parties: int):
        super().__init__()
        self.barrier = threading.Barrier(parties, timeout=2)

    def list_for_account(self, account_id):
        try:
            self.barrier.wait()
        except threading.BrokenBarrierError:
            pass  # some callers never list; the others proceed together anyway
        return super().list_for_account(account_id)


@pytest.mark.parametrize("already", [0, 497])
def test_concurrent_creates_never_exceed_the_limit(already):
    callers = 10
    store = RacingAudienceStore(callers)
    for n in range(already):  # audiences created before the counter existed still count
        store.items[(ACCOUNT, f"OLD{n:04d}")] = {"account_id": ACCOUNT, "audience_id": f"OLD{n:04d}", "name": "x"}
    outcomes: list[str] = []
    start = threading.Barrier(callers)

    def create_one():
        start.wait()
        try:
            audiences.create_audience(store, ACCOUNT, "racing")
            outcomes.append("created")
        except ConflictError as exc:
            outcomes.append(str(exc))

    threads = [threading.Thread(target=create_one) for _ in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    allowed = min(callers, 500 - already)
    assert outcomes.count("created") == allowed
    assert outcomes.count(LIMIT_MESSAGE) == callers - allowed
    assert len(store.items) == already + allowed == store.counters[ACCOUNT]


# -- upload requests ------------------------------------------------------------------------------
def test_an_upload_request_creates_an_empty_audience_at_once():
    world = World()
    upload = world.create("VIPs", app_id="app-1")
    destination = upload["destination"]
    assert destination["destination_type"] == "audience_list" and destination["record_type"] == "audience_member"
    assert destination["audience_name"] == "VIPs" and destination["app_id"] == "app-1"
    audience = routes.get_audience(world.audiences, ACCOUNT, destination["audience_id"])
    assert audience | {"created_at": None, "updated_at": None} == {
        "id": destination["audience_id"], "name": "VIPs", "app_id": "app-1", "version": 0, "record_count": 0,
        "created_at": None, "updated_at": None}
    assert world.jobs.get(ACCOUNT, upload["id"])["dataset_id"] == destination["audience_id"]
    assert world.members(destination["audience_id"], "c1") == []


@pytest.mark.parametrize("destination, message", [
    ({"destination_type": "audience_list"}, "give audience_name to create an audience list, or audience_id"),
    ({"destination_type": "audience_list", "audience_name": "x", "audience_id": "y"}, "one of the two"),
    ({"destination_type": "audience_list", "audience_name": "x", "record_type": "customer_record"},
     "record_type must be audience_member"),
    ({"destination_type": "audience_list", "audience_id": "y", "app_id": "a"}, "only when creating"),
    ({"destination_type": "audience_list", "audience_name": "x", "dataset_id": "d"}, "unknown fields dataset_id"),
])
def test_bad_audience_destinations_are_refused_and_create_nothing(destination, message):
    world = World()
    with pytest.raises(BadRequestError, match=message):
        world.request(destination)
    assert world.audiences.items == {} and world.jobs.items == {}


def test_a_refused_request_creates_no_audience():
    world = World()
    with pytest.raises(BadRequestError, match="filename"):
        world.create(filename="members.txt")
    with pytest.raises(BadRequestError, match="dry run cannot create"):
        world.create(options={"dry_run": True})
    assert world.audiences.items == {}


def test_replacing_an_unknown_or_foreign_audience_is_not_found():
    world = World()
    theirs = world.create("theirs", account="other")["destination"]["audience_id"]
    for audience_id in (theirs, "01NOSUCHAUDIENCE0000000000"):
        with pytest.raises(NotFoundError, match=f"audience {audience_id} not found"):
            world.replace(audience_id)


def test_audience_members_cannot_be_loaded_into_a_dataset():
    world = World()
    world.datasets.add(ACCOUNT, "ds-1")
    with pytest.raises(BadRequestError, match="use destination_type audience_list"):
        world.request({"destination_type": "dataset_load", "dataset_id": "ds-1", "record_type": "audience_member"})


# -- loading and replacing ------------------------------------------------------------------------
def test_a_load_fills_the_audience_and_a_replace_flips_it_whole():
    world = World()
    upload = world.create()
    audience_id = upload["destination"]["audience_id"]
    outcome = world.run(upload, _lines("c1", "c2", "c2", "c3") + b'{"customer_id": ""}\n')
    assert outcome.stats.state() == {"total": 5, "loaded": 4, "rejected": 1}  # no dataset records created
    view = routes.get_audience(world.audiences, ACCOUNT, audience_id)
    assert (view["version"], view["record_count"]) == (1, 3)
    assert world.members(audience_id, "c1", "c2", "c3", "c4") == ["c1", "c2", "c3"]

    replace = world.replace(audience_id)
    world.arrive(replace, _lines("c3", "c4", "c5"))
    job = world.load(replace)
    # Loaded but not finalized: readers still see the old list whole.
    assert world.members(audience_id, "c1", "c2", "c3", "c4", "c5") == ["c1", "c2", "c3"]
    world.finalize(job)
    assert world.members(audience_id, "c1", "c2", "c3", "c4", "c5") == ["c3", "c4", "c5"]
    view = routes.get_audience(world.audiences, ACCOUNT, audience_id)
    assert (view["version"], view["record_count"]) == (2, 3)
    # The replaced set is gone; only the current one is stored, and the audience is free for the next load.
    assert world.stored_sets() == {audiences.member_set(audience_id, replace["id"])}
    assert "retired_loads" not in world.audiences.get(ACCOUNT, audience_id)
    assert "loading_job" not in world.audiences.get(ACCOUNT, audience_id)


def test_finalize_retried_after_the_flip_changes_nothing():
    world = World()
    upload = world.create()
    audience_id = upload["destination"]["audience_id"]
    world.arrive(upload, _lines("c1", "c2"))
    job = world.load(upload)
    update = world.jobs.update

    def dies_on_completion(account_id, job_id, **fields):  # Finalize crashes after the flip, once
        world.jobs.update = update
        if fields.get("status") == "Completed":
            raise RuntimeError("injected: Finalize died after the flip")
        update(account_id, job_id, **fields)

    world.jobs.update = dies_on_completion
    with pytest.raises(RuntimeError, match="injected"):
        world.finalize(job)
    assert routes.get_audience(world.audiences, ACCOUNT, audience_id)["version"] == 1
    assert world.finalize(job).status == "Completed"  # the retry
    view = routes.get_audience(world.audiences, ACCOUNT, audience_id)
    assert (view["version"], view["record_count"]) == (1, 2)
    assert world.members(audience_id, "c1", "c2") == ["c1", "c2"]


def test_a_failed_replace_keeps_the_old_list_and_deletes_what_it_wrote():
    world = World()
    upload = world.create()
    audience_id = upload["destination"]["audience_id"]
    world.run(upload, _lines("c1", "c2"))
    replace = world.replace(audience_id)
    world.arrive(replace, _lines("c3", "c4"))
    job = world.load(replace)
    assert audiences.member_set(audience_id, replace["id"]) in world.stored_sets()
    world.mark_failed(job, "States.Timeout")
    assert world.members(audience_id, "c1", "c2", "c3", "c4") == ["c1", "c2"]
    assert world.stored_sets() == {audiences.member_set(audience_id, upload["id"])}
    view = routes.get_audience(world.audiences, ACCOUNT, audience_id)
    assert (view["version"], view["record_count"]) == (1, 2)
    assert "loading_job" not in world.audiences.get(ACCOUNT, audience_id)


def test_two_replaces_of_one_audience_take_turns():
    world = World()
    audience_id = world.create()["destination"]["audience_id"]
    first, second = world.replace(audience_id), world.replace(audience_id)
    world.arrive(first, _lines("a"))
    world.arrive(second, _lines("b"))
    first_job = world.load(first)
    with pytest.raises(DatasetBusyError, match=f"busy loading upload {first['id']}"):
        world.inspect(second)
    world.finalize(first_job)
    world.finalize(world.load(second))
    assert world.members(audience_id, "a", "b") == ["b"]
    assert routes.get_audience(world.audiences, ACCOUNT, audience_id)["version"] == 2


def test_deleting_an_audience_while_it_loads_keeps_nothing():
    world = World()
    upload = world.create()
    audience_id = upload["destination"]["audience_id"]
    world.arrive(upload, _lines("c1"))
    job = world.load(upload)
    audiences.delete_audience(world.audiences, world.records, ACCOUNT, audience_id)
    with pytest.raises(FileRejectedError, match="was deleted while this file was loading"):
        world.finalize(job)
    world.mark_failed(job, "FileRejectedError")
    assert world.stored_sets() == set()


# -- the API's operations ---------------------------------------------------------------------------
def test_list_by_account_and_app_rename_and_foreign_ids():
    world = World()
    first = world.create("First", app_id="app-1")["destination"]["audience_id"]
    second = world.create("Second")["destination"]["audience_id"]
    world.create("Theirs", account="other")
    assert sorted(a["name"] for a in routes.list_audiences(world.audiences, ACCOUNT)["audiences"]) == [
        "First", "Second"]
    assert [a["id"] for a in routes.list_audiences(world.audiences, ACCOUNT, "app-1")["audiences"]] == [first]
    renamed = routes.rename_audience(world.audiences, ACCOUNT, second, {"name": "Renamed"})
    assert renamed["name"] == "Renamed" and renamed["version"] == 0
    with pytest.raises(BadRequestError, match="only name can be changed"):
        routes.rename_audience(world.audiences, ACCOUNT, second, {"name": "x", "app_id": "y"})
    with pytest.raises(BadRequestError, match="name is required"):
        routes.rename_audience(world.audiences, ACCOUNT, second, {"name": " "})
    for call in (lambda: routes.get_audience(world.audiences, "other", first),
                 lambda: routes.rename_audience(world.audiences, "other", first, {"name": "x"}),
                 lambda: audiences.delete_audience(world.audiences, world.records, "other", first),
                 lambda: routes.membership(world.audiences, world.records, "other", first, "c1")):
        with pytest.raises(NotFoundError, match=f"audience {first} not found"):
            call()


def test_delete_removes_the_audience_and_its_members():
    world = World()
    upload = world.create()
    audience_id = upload["destination"]["audience_id"]
    world.run(upload, _lines("c1", "c2"))
    audiences.delete_audience(world.audiences, world.records, ACCOUNT, audience_id)
    assert world.stored_sets() == set() and world.audiences.counters[ACCOUNT] == 0
    with pytest.raises(NotFoundError):
        routes.get_audience(world.audiences, ACCOUNT, audience_id)
    with pytest.raises(NotFoundError):
        audiences.delete_audience(world.audiences, world.records, ACCOUNT, audience_id)


def test_membership_answer_names_the_version():
    world = World()
    upload = world.create()
    audience_id = upload["destination"]["audience_id"]
    world.run(upload, _lines("c1"))
    assert routes.membership(world.audiences, world.records, ACCOUNT, audience_id, "c1") == {
        "member": True, "audience_id": audience_id, "customer_id": "c1", "version": 1}
    with pytest.raises(NotFoundError, match=r"not a member of audience .* \(version 1\)"):
        routes.membership(world.audiences, world.records, ACCOUNT, audience_id, "c2")
