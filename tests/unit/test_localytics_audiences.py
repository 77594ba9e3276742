"""Localytics Audience Imports mapped onto audience lists and the normal upload job, on fakes."""

from __future__ import annotations

import json
import re

import pytest

from ingest.errors import BadRequestError, ConflictError, ForbiddenError, NotFoundError, QuotaExceededError
from ingest.logic import audiences
from ingest.logic import localytics_audiences as imports
from ingest.logic.load.context import LoadContext, LoadSettings
from ingest.logic.multipart import FilePart, Form
from tests.support.load_runner import run_upload
from tests.unit import routes
from tests.unit.fakes import (
    FakeAudienceStore,
    FakeDatasetsTable,
    FakeJobsTable,
    FakeMemberStore,
    FakeObjectStore,
    FakeQuotaCounters,
)
from tests.unit.routes import Caller

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
        self.ctx = LoadContext(objects=self.objects, jobs=self.jobs, datasets=self.datasets, records=self.records,
                               audiences=self.store, settings=LoadSettings(range_bytes=16, partitions=2))

    def deps(self) -> dict:
        return {"jobs": self.jobs, "datasets": self.datasets, "objects": self.objects, "store": self.store,
                "counters": self.counters, "upload_quota": UPLOAD_QUOTA, "url_ttl_seconds": 3600}

    def create(self, form: Form, caller: Caller = CALLER) -> dict:
        return routes.create_audience_import(caller, form, **self.deps())

    def run(self, activity_id: str) -> None:
        """What the S3 trigger starts once the object is written: the load workflow, to its end."""
        outcome = run_upload(self.ctx, "acme", activity_id)
        assert outcome.status == "Completed", outcome.failure_reason

    def status(self, activity_id: str, caller: Caller = CALLER) -> dict:
        return routes.audience_import_status(caller, activity_id, jobs=self.jobs, objects=self.objects,
                                              counters=self.counters, status_quota=STATUS_QUOTA, url_ttl_seconds=3600)


DOCUMENTED_STATUS_FIELDS = {"status", "error_reason", "app_uuid", "created_at", "updated_at", "upload_statistics"}
LOCALYTICS_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$")  # "2017-04-25T08:00:00", as the page writes times
# The page's audience file: one {"customer_id": ...} per line.
JSON_LINES = b'{"customer_id":"abc"}\n{"customer_id":"123"}\n{"customer_id":"abc123"}\n'


def test_a_documented_json_lines_file_creates_the_list_and_the_status_answers_localytics_shape():
    world = World()
    answer = world.create(_form(JSON_LINES, app_id="app-1", audience_name="VIPs", identifier_type="customer_id"))
    assert set(answer) == {"activity_id", "audience_list_id"}
    job = world.jobs.get("acme", answer["activity_id"])
    assert job["destination"]["destination_type"] == "audience_list" and job["dataset_id"] == answer["audience_list_id"]
    # JSON lines go to the load workflow as they came, named so that it reads them as NDJSON.
    assert job["object_key"].endswith(".ndjson") and world.objects.read(job["object_key"]) == JSON_LINES

    pending = world.status(answer["activity_id"])
    assert DOCUMENTED_STATUS_FIELDS <= set(pending)
    assert (pending["status"], pending["error_reason"], pending["upload_statistics"], pending["app_uuid"]) == (
        "Pending", None, None, "app-1")
    assert LOCALYTICS_TIME.match(pending["created_at"]) and LOCALYTICS_TIME.match(pending["updated_at"])

    world.run(answer["activity_id"])
    status = world.status(answer["activity_id"])
    audience_id = answer["audience_list_id"]
    assert (status["status"], status["error_reason"], status["app_uuid"]) == ("Completed", None, "app-1")
    # Strings, as the page's complete example gives them; both ids are our one audience id.
    assert status["upload_statistics"] == {"total_lines": "3", "audience_id": audience_id,
                                           "audience_list_id": audience_id, "failed_lines": "0",
                                           "successful_lines": "3"}
    assert (status["activity_id"], status["audience_list_id"], status["error_log"]) == (
        answer["activity_id"], audience_id, None)
    for customer in ("abc", "123", "abc123"):
        assert routes.membership(world.store, world.records, "acme", audience_id, customer)["version"] == 1
    assert routes.app_audience_lists(CALLER, world.store, "app-1") == [{
        "id": audience_id, "name": "VIPs", "app_id": "app-1", "version": 1, "record_count": 3,
        "created_at": pending["created_at"], "updated_at": status["updated_at"]}]


def test_failed_lines_are_counted_and_the_status_gives_the_error_log_url():
    world = World()
    answer = world.create(_form(b'{"customer_id": "ok"}\n{"customer_id": 7}\nnot json\n', app_id="app-1",
                                audience_name="VIPs", identifier_type="customer_id"))
    world.run(answer["activity_id"])
    status = world.status(answer["activity_id"])
    assert status["status"] == "Completed" and status["error_reason"] is None
    assert {k: status["upload_statistics"][k] for k in ("total_lines", "failed_lines", "successful_lines")} == {
        "total_lines": "3", "failed_lines": "2", "successful_lines": "1"}
    job = world.jobs.get("acme", answer["activity_id"])
    assert status["error_log"] == world.objects.presigned_get(job["error_log_key"], 3600)
    logged = [json.loads(line)["line"] for line in world.objects.read(job["error_log_key"]).splitlines()]
    assert logged == [2, 3]


def test_a_failed_import_says_why_in_error_reason():
    upload = {"id": "U1", "status": "Failed", "destination": {"audience_id": "A1"},
              "created_at": "2026-01-02T03:04:05Z",
              "updated_at": "2026-01-02T03:04:09Z", "failure_reason": "the file is binary, not text",
              "stats": {"total": 0, "loaded": 0, "rejected": 0}}
    view = routes.audience_status_view(upload, "app-1")
    assert {name: view[name] for name in DOCUMENTED_STATUS_FIELDS} == {
        "status": "Failed", "error_reason": "the file is binary, not text", "app_uuid": "app-1",
        "created_at": "2026-01-02T03:04:05", "updated_at": "2026-01-02T03:04:09",
        "upload_statistics": {"total_lines": "0", "audience_id": "A1", "audience_list_id": "A1", "failed_lines": "0",
                              "successful_lines": "0"}}
    # While the job runs its counts are not final: null, as while Pending.
    assert routes.audience_status_view({**upload, "status": "Processing"}, "app-1")["upload_statistics"] is None
    assert routes.audience_status_view({**upload, "status": "Processing"}, "app-1")["status"] == "Running"


def test_a_csv_of_ids_is_still_taken_with_or_without_its_header_row():
    world = World()
    answer = world.create(_form(b"c1\nc2\nc2\n", app_id="app-1", audience_name="VIPs", identifier_type="customer_id"))
    job = world.jobs.get("acme", answer["activity_id"])
    # A header row is added when the file has none, so the load workflow reads it as audience_member CSV.
    assert job["object_key"].endswith(".csv") and world.objects.read(job["object_key"]) == b"customer_id\nc1\nc2\nc2\n"
    world.run(answer["activity_id"])
    assert world.status(answer["activity_id"])["upload_statistics"]["successful_lines"] == "3"
    assert routes.app_audience_lists(CALLER, world.store, "app-1")[0]["record_count"] == 2


def test_replace_rename_and_delete_through_the_import_endpoints():
    world = World()
    created = world.create(_form(app_id="app-1", audience_name="VIPs", identifier_type="customer_id"))
    world.run(created["activity_id"])
    audience_id = created["audience_list_id"]
    # As documented: app_id and audience_list_id are sent with the file.
    replaced = routes.replace_audience_import(
        CALLER, audience_id, _form(b'{"customer_id": "c9"}\n', app_id="app-1", identifier_type="customer_id",
                                   audience_list_id=audience_id), **world.deps())
    assert replaced["audience_list_id"] == audience_id
    # A replace's status is the key's too, though its destination names only the audience.
    assert world.status(replaced["activity_id"])["app_uuid"] == "app-1"
    world.run(replaced["activity_id"])
    assert world.status(replaced["activity_id"])["upload_statistics"]["successful_lines"] == "1"
    assert routes.membership(world.store, world.records, "acme", audience_id, "c9")["version"] == 2
    with pytest.raises(NotFoundError):
        routes.membership(world.store, world.records, "acme", audience_id, "c1")
    renamed = routes.rename_audience_list(CALLER, world.store, audience_id, "Gold")
    assert (renamed["id"], renamed["name"], renamed["version"]) == (audience_id, "Gold", 2)
    with pytest.raises(BadRequestError, match="name is required"):
        routes.rename_audience_list(CALLER, world.store, audience_id, None)
    deleted = routes.delete_audience_list(CALLER, world.store, world.records, audience_id)
    assert deleted == {**renamed, "updated_at": deleted["updated_at"]}
    assert routes.app_audience_lists(CALLER, world.store, "app-1") == []


@pytest.mark.parametrize("fields, error, message", [
    ({"audience_list_id": "someone-else"}, BadRequestError, "does not match the list in the path"),
    ({"app_id": "app-2"}, ForbiddenError, "no access to app app-2"),
    ({"app_id": "app-3"}, BadRequestError, "app_id 'app-3' is not the app of audience list"),
])
def test_a_replace_whose_echoed_fields_name_another_list_or_app_is_refused(fields, error, message):
    world = World()
    created = world.create(_form(app_id="app-1", audience_name="VIPs", identifier_type="customer_id"))
    caller = Caller(account_id="acme", key_id="key-1", org_id="org-1", app_ids=("app-1", "app-3"))
    with pytest.raises(error, match=message):
        routes.replace_audience_import(caller, created["audience_list_id"],
                                        _form(identifier_type="customer_id", **fields), **world.deps())
    assert len(world.jobs.items) == 1  # only the create's


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
                 lambda: routes.rename_audience_list(other_app, world.store, created["audience_list_id"], "y"),
                 lambda: routes.delete_audience_list(other_app, world.store, world.records,
                                                     created["audience_list_id"]),
                 lambda: routes.app_audience_lists(other_app, world.store, "app-1")):
        with pytest.raises(ForbiddenError):
            call()
    stranger = Caller(account_id="other", key_id="key-3", org_id="org-9", app_ids=("app-1",))
    with pytest.raises(NotFoundError):
        world.status(created["activity_id"], stranger)
    with pytest.raises(NotFoundError):
        routes.delete_audience_list(stranger, world.store, world.records, created["audience_list_id"])


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
    upload = routes.request_upload(world.jobs, world.datasets, world.objects, "acme", {
        "filename": "p.ndjson", "destination": {"destination_type": "dataset_load", "dataset_id": "ds-1",
                                                "record_type": "customer_record"}}, 3600)
    world.jobs.update("acme", upload["id"], import_target={"app_id": "app-1"})
    with pytest.raises(NotFoundError, match=f"activity {upload['id']} not found"):
        world.status(upload["id"])


def test_status_requests_have_their_own_quota():
    world = World()
    created = world.create(_form(app_id="app-1", audience_name="x", identifier_type="customer_id"))
    quota = imports.status_requests_quota(2)
    check = lambda: routes.audience_import_status(CALLER, created["activity_id"], jobs=world.jobs,  # noqa: E731
                                                   objects=world.objects, counters=world.counters,
                                                   status_quota=quota, url_ttl_seconds=3600)
    check()
    check()
    with pytest.raises(QuotaExceededError, match="2 audience import status requests per minute"):
        check()
