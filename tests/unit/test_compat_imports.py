"""Unit tests of the compatible APIs' logic: multipart forms, per-key quotas, import keys and Basic
credentials, Localytics profile imports and their status, analytics file uploads. In-memory fakes only."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
import requests

from ingest.errors import BadRequestError, ForbiddenError, NotFoundError, QuotaExceededError, UnauthorizedError
from ingest.logic import import_keys, localytics, multipart, quotas, target_datasets
from tests.unit import routes
from tests.unit.fakes import (
    FakeAccountsTable,
    FakeDatasetsTable,
    FakeImportKeysTable,
    FakeJobsTable,
    FakeObjectStore,
    FakeQuotaCounters,
)

PROFILE_LINE = b'{"customer_id": "c1", "changes": [{"op": "assign", "attr": "team", "value": "Bruins"}]}\n'


def form_of(fields=(), files=()) -> multipart.Form:
    """A form as the requests library encodes it, parsed back: the client side is real."""
    # Fields as (None, value) parts, so the body is multipart even without a file.
    parts = [(name, (None, value)) for name, value in fields] + list(files)
    prepared = requests.Request("POST", "http://127.0.0.1/", files=parts).prepare()
    return multipart.parse_form(prepared.headers["Content-Type"], prepared.body)


# -- multipart ---------------------------------------------------------------------------------
def test_a_form_keeps_its_fields_and_the_file_bytes_exactly():
    data = b'{"a": 1}\r\n\x00\xff binary tail\n'
    form = form_of([("org_id", "acme"), ("format", "json")], [("file", ("profiles.json", data))])
    assert form.fields == {"org_id": "acme", "format": "json"}
    assert form.files["file"].filename == "profiles.json" and form.files["file"].data == data
    assert not form.repeated


def test_a_field_sent_twice_is_marked_repeated():
    form = form_of([("app_id", "a"), ("app_id", "b")], [("file", ("f.json", b"x"))])
    assert "app_id" in form.repeated


@pytest.mark.parametrize("content_type, body", [
    ("application/json", b"{}"),
    (None, b""),
    ("multipart/form-data; boundary=zzz", b"not a multipart body"),
])
def test_a_body_that_is_not_a_form_is_a_400(content_type, body):
    with pytest.raises(BadRequestError):
        multipart.parse_form(content_type, body)


# -- quotas ------------------------------------------------------------------------------------
def test_a_quota_refuses_past_its_limit_within_one_window_and_says_when_it_reopens():
    counters, quota = FakeQuotaCounters(), quotas.Quota("uploads", 2, 3600, "uploads")
    start = datetime(2026, 1, 1, 10, 0, 0, tzinfo=UTC)
    assert quotas.consume(counters, "key-1", quota, start) == 1
    assert quotas.consume(counters, "key-1", quota, start.replace(minute=30)) == 0
    with pytest.raises(QuotaExceededError) as refused:
        quotas.consume(counters, "key-1", quota, start.replace(minute=59, second=30))
    assert refused.value.retry_after_seconds == 30
    assert "2 uploads per hour" in str(refused.value)
    # Another key has its own counter; the next window starts afresh.
    assert quotas.consume(counters, "key-2", quota, start.replace(minute=59)) == 1
    assert quotas.consume(counters, "key-1", quota, start.replace(hour=11)) == 1
    # Every counter expires (TTL) after its window ends.
    assert all(expiry > start.timestamp() + 3600 for expiry in counters.expires_at.values())


# -- import keys and Basic credentials ---------------------------------------------------------
def basic(key: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()


def test_minting_stores_only_the_secret_hash_and_maps_org_and_apps_to_datasets():
    keys, datasets = FakeImportKeysTable(), FakeDatasetsTable()
    minted = routes.create_import_key(keys, datasets, "acme", ["app-1", "app-2", "app-1"])
    assert minted["org_id"] == "acme" and minted["app_ids"] == ["app-1", "app-2"]
    stored = keys.keys[minted["key"]]
    assert minted["secret"] not in repr(stored)
    assert stored["secret_hash"] == import_keys.secret_hash(minted["secret"])
    dataset_ids = {minted["datasets"]["org"], *minted["datasets"]["apps"].values()}
    assert len(dataset_ids) == 3 and all(datasets.get("acme", dataset_id) for dataset_id in dataset_ids)
    # A second key for the same app lands in the same dataset.
    again = routes.create_import_key(keys, datasets, "acme", ["app-2"])
    assert again["datasets"]["apps"]["app-2"] == minted["datasets"]["apps"]["app-2"]
    listed = routes.list_import_keys(keys, "acme")["import_keys"]
    assert {item["key"] for item in listed} == {minted["key"], again["key"]}
    assert all("secret" not in item for item in listed)


def test_a_key_carries_the_customers_localytics_org_id_as_a_label_within_its_account():
    keys, datasets = FakeImportKeysTable(), FakeDatasetsTable()
    acme = routes.create_import_key_from_request(keys, datasets, "acme", {"org_id": "60", "app_ids": ["app-1"]})
    assert acme["org_id"] == "60"
    assert acme["datasets"]["org"] == keys.get_target("acme", target_datasets.LOCALYTICS_ORG, "60")
    assert datasets.get("acme", acme["datasets"]["org"])["name"] == "Localytics org 60"
    # Another account with the same org id gets its own dataset; the default org id is still the account name.
    other = routes.create_import_key(keys, datasets, "globex", org_id=60)  # a JSON number, as Localytics writes it
    assert other["org_id"] == "60" and other["datasets"]["org"] != acme["datasets"]["org"]
    assert routes.create_import_key(keys, datasets, "acme")["org_id"] == "acme"
    decision = import_keys.authorize(keys, FakeAccountsTable(), basic(acme["key"], acme["secret"]), "127.0.0.1")
    assert (decision.account_id, decision.org_id) == ("acme", "60")
    assert [k["org_id"] for k in routes.list_import_keys(keys, "globex")["import_keys"]] == ["60"]


@pytest.mark.parametrize("org_id", ["", " ", "60 61", "org#1", "-60", "x" * 101, True, -1, 1.5, ["60"], {"id": 60}])
def test_a_bad_org_id_is_a_400_naming_the_field(org_id):
    keys = FakeImportKeysTable()
    with pytest.raises(BadRequestError, match=r"^org_id: "):
        routes.create_import_key_from_request(keys, FakeDatasetsTable(), "acme", {"org_id": org_id})
    assert not keys.keys and not keys.targets


def test_only_org_id_app_ids_and_label_can_be_given():
    with pytest.raises(BadRequestError, match=r"only org_id, app_ids and label can be given; got account_id"):
        routes.create_import_key_from_request(FakeImportKeysTable(), FakeDatasetsTable(), "acme",
                                                   {"account_id": "globex"})


def test_the_basic_authorizer_accepts_the_right_secret_only():
    keys, accounts = FakeImportKeysTable(), FakeAccountsTable()
    minted = routes.create_import_key(keys, FakeDatasetsTable(), "acme", ["app-1"])
    decision = import_keys.authorize(keys, accounts, basic(minted["key"], minted["secret"]), "127.0.0.1")
    assert (decision.account_id, decision.org_id, decision.app_ids, decision.ip_allowed) == (
        "acme", "acme", ("app-1",), True)
    for header in (None, "", "Bearer x", "Basic !!!", basic(minted["key"], "wrong"), basic("lk_unknown", "s"),
                   "Basic " + base64.b64encode(minted["key"].encode()).decode()):
        with pytest.raises(UnauthorizedError):
            import_keys.authorize(keys, accounts, header, "127.0.0.1")
    import_keys.revoke_import_key(keys, "acme", minted["key"])
    with pytest.raises(UnauthorizedError):
        import_keys.authorize(keys, accounts, basic(minted["key"], minted["secret"]), "127.0.0.1")
    with pytest.raises(NotFoundError):
        import_keys.revoke_import_key(keys, "other", minted["key"])


# -- Localytics profile imports ----------------------------------------------------------------
@pytest.fixture
def world():
    keys, datasets = FakeImportKeysTable(), FakeDatasetsTable()
    minted = routes.create_import_key(keys, datasets, "acme", ["app-1"])
    caller = routes.Caller("acme", minted["key"], "acme", ("app-1",))
    env = {"jobs": FakeJobsTable(), "datasets": datasets, "objects": FakeObjectStore(), "targets": keys,
           "counters": FakeQuotaCounters(), "limits": localytics.import_quotas(10, 60), "url_ttl_seconds": 3600}
    return caller, minted, env


def test_a_profile_import_is_an_upload_job_whose_file_is_written_to_its_object_key(world):
    caller, minted, env = world
    form = form_of([("app_id", "app-1"), ("format", "json")], [("file", ("p.json", PROFILE_LINE))])
    answer = routes.request_profile_import(caller, form, **env)
    job = env["jobs"].get("acme", answer["activity_id"])
    assert job["record_type"] == "profile_changes" and job["dataset_id"] == minted["datasets"]["apps"]["app-1"]
    assert job["import_target"] == {"app_id": "app-1"}
    assert env["objects"].objects[job["object_key"]] == PROFILE_LINE


@pytest.mark.parametrize("fields, error", [
    ([("format", "json")], BadRequestError),                                   # neither
    ([("org_id", "acme"), ("app_id", "app-1"), ("format", "json")], BadRequestError),  # both
    ([("app_id", "app-1"), ("app_id", "app-1"), ("format", "json")], BadRequestError),  # one, twice
    ([("app_id", "app-1"), ("format", "csv")], BadRequestError),
    ([("app_id", "app-1")], BadRequestError),                                   # no format
    ([("app_id", "app-9"), ("format", "json")], ForbiddenError),                # not the key's app
    ([("org_id", "other-org"), ("format", "json")], ForbiddenError),
])
def test_bad_forms_and_foreign_targets_are_refused_without_using_quota(world, fields, error):
    caller, _, env = world
    with pytest.raises(error):
        routes.request_profile_import(caller, form_of(fields, [("file", ("p.json", PROFILE_LINE))]), **env)
    assert not env["jobs"].items and not env["counters"].uses


def test_an_org_import_goes_to_the_dataset_of_the_keys_org_id_and_another_org_is_403():
    keys, datasets = FakeImportKeysTable(), FakeDatasetsTable()
    minted = routes.create_import_key(keys, datasets, "acme", org_id="60")
    caller = routes.Caller("acme", minted["key"], "60", ())
    env = {"jobs": FakeJobsTable(), "datasets": datasets, "objects": FakeObjectStore(), "targets": keys,
           "counters": FakeQuotaCounters(), "limits": localytics.import_quotas(10, 60), "url_ttl_seconds": 3600}
    form = form_of([("org_id", "60"), ("format", "json")], [("file", ("test_file.json", PROFILE_LINE))])
    activity = routes.request_profile_import(caller, form, **env)["activity_id"]
    job = env["jobs"].get("acme", activity)
    assert job["dataset_id"] == minted["datasets"]["org"] and job["import_target"] == {"org_id": "60"}
    with pytest.raises(ForbiddenError, match=r"no access to org acme"):
        routes.request_profile_import(caller, form_of([("org_id", "acme"), ("format", "json")],
                                                          [("file", ("f.json", PROFILE_LINE))]), **env)
    status_env = {name: env[name] for name in ("jobs", "objects", "counters", "limits", "url_ttl_seconds")}
    assert routes.profile_import_status(caller, activity, **status_env)["target"] == {"org_id": "60"}
    # A key of the same account for another org cannot read it; one of another account with org 60 finds nothing.
    with pytest.raises(ForbiddenError, match=r"no access to org 60"):
        routes.profile_import_status(routes.Caller("acme", "lk_2", "61", ()), activity, **status_env)
    with pytest.raises(NotFoundError):
        routes.profile_import_status(routes.Caller("globex", "lk_3", "60", ()), activity, **status_env)


def test_a_missing_or_empty_file_is_a_400(world):
    caller, _, env = world
    with pytest.raises(BadRequestError, match=r"file is required"):
        routes.request_profile_import(caller, form_of([("org_id", "acme"), ("format", "json")]), **env)
    with pytest.raises(BadRequestError, match=r"empty"):
        routes.request_profile_import(
            caller, form_of([("org_id", "acme"), ("format", "json")], [("file", ("p.json", b"\n"))]), **env)


def test_the_eleventh_upload_in_an_hour_is_refused(world):
    caller, _, env = world
    form = form_of([("org_id", "acme"), ("format", "json")], [("file", ("p.json", PROFILE_LINE))])
    for _ in range(10):
        routes.request_profile_import(caller, form, **env)
    with pytest.raises(QuotaExceededError):
        routes.request_profile_import(caller, form, **env)
    assert len(env["jobs"].items) == 10


@pytest.mark.parametrize("ours, theirs", [("Pending", "Pending"), ("Processing", "Running"),
                                          ("Completed", "Completed"), ("Failed", "Failed")])
def test_status_names_and_statistics_follow_localytics(ours, theirs):
    upload = {"id": "U1", "status": ours, "stats": {"total": 5, "loaded": 3, "rejected": 2},
              "error_log_url": "https://log", "failure_reason": "why"}
    view = routes.profile_status_view(upload, {"org_id": "acme"})
    assert view["status"] == theirs and view["error_log"] == "https://log" and view["target"] == {"org_id": "acme"}
    assert view["upload_statistics"] == {"successful_imports": 3, "parsed_imports": 5, "failed_imports": 2,
                                         "total_number_of_imports": 5}
    assert ("failure_reason" in view) == (ours == "Failed")


def test_status_of_another_apps_import_is_403_and_of_a_plain_upload_404(world):
    caller, _, env = world
    form = form_of([("app_id", "app-1"), ("format", "json")], [("file", ("p.json", PROFILE_LINE))])
    activity = routes.request_profile_import(caller, form, **env)["activity_id"]
    status_env = {name: env[name] for name in ("jobs", "objects", "counters", "limits", "url_ttl_seconds")}
    assert routes.profile_import_status(caller, activity, **status_env)["status"] == "Pending"
    other_key = routes.Caller("acme", "lk_other", "acme", ())
    with pytest.raises(ForbiddenError):
        routes.profile_import_status(other_key, activity, **status_env)
    env["jobs"].create({"account_id": "acme", "job_id": "PLAIN", "job_type": "upload"})
    with pytest.raises(NotFoundError):
        routes.profile_import_status(caller, "PLAIN", **status_env)
    # An audience import of the same key and app is not a profile import either.
    env["jobs"].create({"account_id": "acme", "job_id": "AUDIENCE", "job_type": "upload",
                        "record_type": "audience_member", "import_target": {"app_id": "app-1"}})
    with pytest.raises(NotFoundError):
        routes.profile_import_status(caller, "AUDIENCE", **status_env)
    with pytest.raises(NotFoundError):
        routes.profile_import_status(routes.Caller("other", "lk_x", "other", ()), activity, **status_env)


# -- analytics file uploads --------------------------------------------------------------------
def analytics_request(dataset_type="transactions", name="testprovider_transactions_2025-01-01.csv", file_type="csv"):
    return {"datasetType": dataset_type, "file": {"name": name, "type": file_type}}


def test_an_analytics_upload_targets_one_dataset_per_dataset_type():
    jobs, datasets, objects, targets = FakeJobsTable(), FakeDatasetsTable(), FakeObjectStore(), FakeImportKeysTable()
    first = routes.request_file_upload(jobs, datasets, objects, targets, "acme", analytics_request(), 3600)
    second = routes.request_file_upload(jobs, datasets, objects, targets, "acme", analytics_request(), 3600)
    assert first["status"] == "Pending" and first["url"] and first["expiresAt"]
    one, two = jobs.get("acme", first["id"]), jobs.get("acme", second["id"])
    assert one["record_type"] == "purchase" and one["dataset_id"] == two["dataset_id"]
    assert targets.get_target("acme", target_datasets.ANALYTICS, "transactions") == one["dataset_id"]
    view = routes.get_file_upload(jobs, objects, "acme", first["id"], 3600)
    assert view["status"] == "Pending" and "statistics" not in view and view["datasetType"] == "transactions"
    with pytest.raises(NotFoundError):
        routes.get_file_upload(jobs, objects, "other", first["id"], 3600)


@pytest.mark.parametrize("body, message", [
    (analytics_request(dataset_type="widgets"), "known types: transactions, customers, products, returns"),
    (analytics_request(file_type="json"), "does not match"),
    (analytics_request(name="x.csv", file_type="xml"), "file.type 'xml' is unknown"),
    (analytics_request(name="bad name.csv"), "file.name"),
    ({"datasetType": "transactions"}, "file must be a JSON object"),
])
def test_bad_analytics_requests_are_400_naming_the_field(body, message):
    with pytest.raises(BadRequestError, match=message):
        routes.request_file_upload(FakeJobsTable(), FakeDatasetsTable(), FakeObjectStore(), FakeImportKeysTable(),
                                      "acme", body, 3600)


def test_a_finished_analytics_upload_shows_its_statistics():
    upload = {"id": "U1", "status": "Completed", "created_at": "t0", "updated_at": "t1", "finished_at": "t1",
              "stats": {"total": 4, "loaded": 3, "rejected": 1}, "error_log_url": "https://log"}
    view = routes.file_view(upload, {"dataset_type": "transactions", "name": "t.csv", "type": "csv"})
    assert view["statistics"] == {"total": 4, "imported": 3, "rejected": 1} and view["errorLogUrl"] == "https://log"
