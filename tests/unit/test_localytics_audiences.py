"""Localytics Audience Imports mapped onto audience lists and the normal upload job, on fakes."""

from __future__ import annotations

import json

import pytest

from ingest.errors import BadRequestError, ConflictError, ForbiddenError, NotFoundError, QuotaExceededError
from ingest.logic import audiences, localytics_audiences as imports, uploads
from ingest.logic.localytics import Caller
from ingest.logic.multipart import FilePart, Form
from ingest.logic.pipeline import Pipeline
from tests.unit.fakes import (
    FakeAudienceStore,
    FakeDatasetsTable,
    FakeJobsTable,
    FakeMemberStore,
    FakeObjectStore,
    FakeQuotaCounters,
)

CALLER = Caller(account_id="acme", key_id="key-1", org_id="org-1", app_ids=("app-1",))
UPLOAD_QUOTA = imports.uploads_quota(3)
STATUS_QUOTA = imports.status_requests_quota(100)


def _form(file: bytes | None = b"customer_id\nc1\nc2\n", **fields: str) -> Form:
    files = {"file": FilePart("list.csv", "text/csv", file)} if file is not None else {}
    return Form(fields=dict(fields), files=files)


class World:
    def __init__(self):
        self.objects = FakeObjectStore(read_size=64)
        self.jobs = FakeJobsTable()
        self.datasets = FakeDatasetsTable()
        self.records = FakeMemberStore()
        self.store = FakeAudienceStore()
        self.counters = FakeQuotaCounters()
        self.pipeline = Pipeline(self.objects, self.jobs, self.datasets, self.records,
                                 chunk_target_bytes=1 << 20, max_chunks=2, audiences=self.store)

    def deps(self) -> dict:
        return {"jobs": self.jobs, "datasets": self.datasets, "objects": self.objects, "store": self.store,
                "counters": self.counters, "upload_quota": UPLOAD_QUOTA, "url_ttl_seconds": 3600}

    def create(self, form: Form, caller: Caller = CALLER) -> dict:
        return imports.create_audience_import(caller, form, **self.deps())

    def run(self, activity_id: str) -> None:
        """What the S3 trigger starts once the object is written."""
        state = self.pipeline.split(self.pipeline.inspect({"account_id": "acme", "upload_id": activity_id}))
        chunks = json.loads(self.objects.read(state["job"]["manifest_key"]))
        self.pipeline.finalize({**state, "chunk_results": [self.pipeline.load_chunk(state["job"], c) for c in chunks]})

    def status(self, activity_id: str, caller: Caller = CALLER) -> dict:
        return imports.audience_import_status(caller, activity_id, jobs=self.jobs, objects=self.objects,
                                              counters=self.counters, status_quota=STATUS_QUOTA, url_ttl_seconds=3600)


def test_create_writes_the_file_for_the_normal_workflow_and_reports_its_status():
    world = World()
    answer = world.create(_form(b"c1\nc2\nc2\n", app_id="app-1", audience_name="VIPs", identifier_type="customer_id"))
    assert set(answer) == {"activity_id", "audience_list_id"}
    job = world.jobs.get("acme", answer["activity_id"])
    assert job["destination"]["destination_type"] == "audience_list" and job["dataset_id"] == answer["audience_list_id"]
    # A header row is added when the file has none, so the pipeline reads it as audience_member CSV.
    assert world.objects.read(job["object_key"]) == b"customer_id\nc1\nc2\nc2\n"
    assert world.status(answer["activity_id"])["status"] == "Pending"
    world.run(answer["activity_id"])
    status = world.status(answer["activity_id"])
    assert status["status"] == "Completed" and status["audience_list_id"] == answer["audience_list_id"]
    assert status["upload_statistics"]["successful_imports"] == 3
    listed = imports.app_audience_lists(CALLER, world.store, "app-1")["audience_lists"]
    assert [(a["audience_list_id"], a["name"], a["record_count"], a["version"]) for a in listed] == [
        (answer["audience_list_id"], "VIPs", 2, 1)]


def test_replace_rename_and_delete_through_the_import_endpoints():
    world = World()
    created = world.create(_form(app_id="app-1", audience_name="VIPs", identifier_type="customer_id"))
    world.run(created["activity_id"])
    audience_id = created["audience_list_id"]
    replaced = imports.replace_audience_import(CALLER, audience_id, _form(b"customer_id\nc9\n", identifier_type="customer_id"),
                                               **world.deps())
    assert replaced["audience_list_id"] == audience_id
    # A replace's status is the key's too, though its destination names only the audience.
    assert world.status(replaced["activity_id"])["target"] == {"app_id": "app-1"}
    world.run(replaced["activity_id"])
    assert world.status(replaced["activity_id"])["upload_statistics"]["successful_imports"] == 1
    assert audiences.membership(world.store, world.records, "acme", audience_id, "c9")["version"] == 2
    with pytest.raises(NotFoundError):
        audiences.membership(world.store, world.records, "acme", audience_id, "c1")
    renamed = imports.rename_audience_list(CALLER, world.store, audience_id, "Gold")
    assert renamed["name"] == "Gold"
    with pytest.raises(BadRequestError, match="name is required"):
        imports.rename_audience_list(CALLER, world.store, audience_id, None)
    imports.delete_audience_list(CALLER, world.store, world.records, audience_id)
    assert imports.app_audience_lists(CALLER, world.store, "app-1") == {"audience_lists": []}


@pytest.mark.parametrize("form, message", [
    (_form(audience_name="x", identifier_type="customer_id"), "app_id is required"),
    (_form(app_id="app-1", identifier_type="customer_id"), "audience_name is required"),
    (_form(app_id="app-1", audience_name="x"), "identifier_type is required"),
    (_form(app_id="app-1", audience_name="x", identifier_type="email"), "identifier_type 'email' is not supported"),
    (_form(None, app_id="app-1", audience_name="x", identifier_type="customer_id"), "file is required"),
    (_form(b"\n", app_id="app-1", audience_name="x", identifier_type="customer_id"), "file is empty"),
])
def test_bad_forms_are_400_and_create_nothing(form, message):
    world = World()
    with pytest.raises(BadRequestError, match=message):
        world.create(form)
    assert world.store.items == {} and world.jobs.items == {}


def test_another_apps_audiences_are_403_and_another_accounts_404():
    world = World()
    with pytest.raises(ForbiddenError, match="no access to app app-2"):
        world.create(_form(app_id="app-2", audience_name="x", identifier_type="customer_id"))
    created = world.create(_form(app_id="app-1", audience_name="x", identifier_type="customer_id"))
    other_app = Caller(account_id="acme", key_id="key-2", org_id="org-1", app_ids=("app-2",))
    for call in (lambda: world.status(created["activity_id"], other_app),
                 lambda: imports.rename_audience_list(other_app, world.store, created["audience_list_id"], "y"),
                 lambda: imports.delete_audience_list(other_app, world.store, world.records, created["audience_list_id"]),
                 lambda: imports.app_audience_lists(other_app, world.store, "app-1")):
        with pytest.raises(ForbiddenError):
            call()
    stranger = Caller(account_id="other", key_id="key-3", org_id="org-9", app_ids=("app-1",))
    with pytest.raises(NotFoundError):
        world.status(created["activity_id"], stranger)
    with pytest.raises(NotFoundError):
        imports.delete_audience_list(stranger, world.store, world.records, created["audience_list_id"])


def test_the_upload_quota_and_the_audience_limit_apply():
    world = World()
    form = _form(app_id="app-1", audience_name="x", identifier_type="customer_id")
    for _ in range(3):
        world.create(form)
    with pytest.raises(QuotaExceededError, match="3 audience import uploads per hour"):
        world.create(form)
    world = World()
    for n in range(audiences.MAX_AUDIENCES):
        audiences.create_audience(world.store, "acme", f"list {n}")
    with pytest.raises(ConflictError, match="at most 500 audiences"):
        world.create(form)


def test_a_profile_import_id_is_not_an_audience_activity():
    world = World()
    world.datasets.add("acme", "ds-1")
    upload = uploads.request_upload(world.jobs, world.datasets, world.objects, "acme", {
        "filename": "p.ndjson", "destination": {"destination_type": "dataset_load", "dataset_id": "ds-1",
                                                "record_type": "customer_record"}}, 3600)
    world.jobs.update("acme", upload["id"], import_target={"app_id": "app-1"})
    with pytest.raises(NotFoundError, match=f"activity {upload['id']} not found"):
        world.status(upload["id"])


def test_status_requests_have_their_own_quota():
    world = World()
    created = world.create(_form(app_id="app-1", audience_name="x", identifier_type="customer_id"))
    quota = imports.status_requests_quota(2)
    check = lambda: imports.audience_import_status(CALLER, created["activity_id"], jobs=world.jobs,  # noqa: E731
                                                   objects=world.objects, counters=world.counters,
                                                   status_quota=quota, url_ttl_seconds=3600)
    check()
    check()
    with pytest.raises(QuotaExceededError, match="2 audience import status requests per minute"):
        check()
