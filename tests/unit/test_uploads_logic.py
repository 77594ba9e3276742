"""Upload requests: the filename rule, the destination checks, job views and S3 event keys."""

from __future__ import annotations

import pytest

from ingest import ids, record_types
from ingest.errors import BadRequestError, NotFoundError
from ingest.logic.uploads import FILENAME_RULE_TEXT, parse_object_key
from tests.unit import routes
from tests.unit.fakes import FakeDatasetsTable, FakeJobsTable, FakeObjectStore
from tests.unit.routes import request_upload

ACCOUNT = "acme"
TTL = 900


@pytest.fixture
def env():
    jobs, datasets, objects = FakeJobsTable(), FakeDatasetsTable(), FakeObjectStore()
    datasets.add(ACCOUNT, "ds-mine")
    datasets.add("other-co", "ds-theirs")
    return jobs, datasets, objects


def body(filename="customer_record-2024-08-29-1.json", dataset_id="ds-mine", record_type="customer_record"):
    return {
        "filename": filename,
        "destination": {"destination_type": "dataset_load", "dataset_id": dataset_id, "record_type": record_type},
    }


def request(env, payload, account=ACCOUNT):
    jobs, datasets, objects = env
    return request_upload(jobs, datasets, objects, account, payload, TTL)


@pytest.mark.parametrize(
    "filename",
    ["customer_record-2024-08-29-1.json", "a.ndjson.gz", "x_y.csv", "data.jsonl", "A-1.json.gz", "z" * 195 + ".json"],
)
def test_filename_rule_accepts(env, filename):
    view = request(env, body(filename=filename))
    assert view["filename"] == filename
    assert view["status"] == "Pending"


def test_lexer_clients_default_filename_is_accepted(env):
    # Lexer's upload.py names the file {dataset_id}_{record_type}_{unix seconds}.ndjson when given none.
    dataset_id = ids.new_id()
    env[1].add(ACCOUNT, dataset_id)
    filename = f"{dataset_id}_customer_record_1732950000.ndjson"
    view = request(env, body(filename=filename, dataset_id=dataset_id))
    assert view["filename"] == filename and view["destination"]["dataset_id"] == dataset_id


@pytest.mark.parametrize(
    "filename",
    ["a.txt", "a b.json", "a.json.zip", "../a.json", "dir/a.json", ".json", "a.JSON", "a.json.gz.gz",
     "é.json", "", "z" * 196 + ".json", None, 42],
)
def test_filename_rule_rejects_with_the_rule_in_the_message(env, filename):
    jobs = env[0]
    with pytest.raises(BadRequestError) as info:
        request(env, body(filename=filename))
    message = str(info.value)
    assert message == FILENAME_RULE_TEXT
    assert "letters, digits, '-' and '_'" in message
    assert ".json, .ndjson, .jsonl or .csv" in message and ".gz" in message
    assert jobs.items == {}, "no job is created for a rejected request"


def test_request_upload_creates_pending_job_and_presigned_url(env):
    jobs, _, objects = env
    view = request(env, body())
    upload_id = view["id"]
    job = jobs.get(ACCOUNT, upload_id)
    assert job["status"] == "Pending"
    assert job["job_type"] == "upload"
    assert job["object_key"] == f"uploads/{ACCOUNT}/{upload_id}/customer_record-2024-08-29-1.json"
    assert job["dataset_id"] == "ds-mine" and job["record_type"] == "customer_record"
    assert view["destination"] == {
        "destination_type": "dataset_load", "dataset_id": "ds-mine", "record_type": "customer_record",
    }
    assert view["url"] == objects.presigned_put(job["object_key"], TTL)
    assert view["expires_at"].endswith("Z")
    assert view["stats"] == {"total": 0, "loaded": 0, "rejected": 0}
    assert parse_object_key(job["object_key"]) == (ACCOUNT, upload_id)


def test_each_request_gets_its_own_upload_id(env):
    first, second = request(env, body()), request(env, body())
    assert first["id"] != second["id"]
    assert len(env[0].items) == 2


def test_unknown_record_type_lists_known_types(env):
    with pytest.raises(BadRequestError) as info:
        request(env, body(record_type="invoice"))
    assert str(info.value) == (
        "destination.record_type 'invoice' is unknown; known types: " + ", ".join(sorted(record_types.catalogue()))
    )


def test_foreign_dataset_looks_absent(env):
    with pytest.raises(NotFoundError, match="dataset ds-theirs not found"):
        request(env, body(dataset_id="ds-theirs"))
    assert env[0].items == {}


def test_missing_dataset_is_not_found(env):
    with pytest.raises(NotFoundError, match="dataset ds-nope not found"):
        request(env, body(dataset_id="ds-nope"))


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([], "request body must be a JSON object"),
        ({"filename": "a.json"}, "destination must be a JSON object"),
        ({"filename": "a.json", "destination": {"dataset_id": "ds-mine", "record_type": "customer_record"}},
         "destination.destination_type is required and must be a non-empty string"),
        ({"filename": "a.json", "destination": {"destination_type": "s3_copy", "dataset_id": "ds-mine",
                                                "record_type": "customer_record"}},
         "destination.destination_type must be one of: dataset_load, audience_list"),
        ({"filename": "a.json", "destination": {"destination_type": "dataset_load", "record_type": "customer_record"}},
         "destination.dataset_id is required and must be a non-empty string"),
    ],
)
def test_destination_errors_name_the_field(env, payload, message):
    with pytest.raises(BadRequestError) as info:
        request(env, payload)
    assert str(info.value) == message


def test_get_upload_of_another_account_is_not_found(env):
    jobs, _, objects = env
    view = request(env, body())
    assert routes.get_upload(jobs, objects, ACCOUNT, view["id"], TTL)["id"] == view["id"]
    with pytest.raises(NotFoundError):
        routes.get_upload(jobs, objects, "other-co", view["id"], TTL)


def test_failed_upload_view_explains_why(env):
    jobs, _, objects = env
    view = request(env, body())
    jobs.update(ACCOUNT, view["id"], status="Failed", failure_reason="the uploaded file is empty (0 bytes)",
                finished_at="2024-01-01T00:00:00Z")
    shown = routes.get_upload(jobs, objects, ACCOUNT, view["id"], TTL)
    assert shown["status"] == "Failed"
    assert shown["failure_reason"] == "the uploaded file is empty (0 bytes)"
    assert shown["finished_at"] == "2024-01-01T00:00:00Z"


def test_completed_upload_with_rejections_links_the_error_log(env):
    jobs, _, objects = env
    view = request(env, body())
    jobs.update(ACCOUNT, view["id"], status="Completed", stats={"total": 3, "loaded": 2, "rejected": 1},
                error_log_key="results/acme/x/errors.ndjson")
    shown = routes.get_upload(jobs, objects, ACCOUNT, view["id"], TTL)
    assert shown["stats"] == {"total": 3, "loaded": 2, "rejected": 1}
    assert shown["error_log_url"] == objects.presigned_get("results/acme/x/errors.ndjson", TTL)
    assert "failure_reason" not in shown


def test_list_uploads_rejects_unknown_status(env):
    jobs, _, objects = env
    with pytest.raises(BadRequestError, match="status must be one of: Pending, Processing, Completed, Failed"):
        routes.list_uploads(jobs, objects, ACCOUNT, {"status": "Done"}, TTL)


def test_list_uploads_filters_by_status_and_account(env):
    jobs, _, objects = env
    first, second = request(env, body()), request(env, body())
    jobs.update(ACCOUNT, second["id"], status="Completed")
    listed = routes.list_uploads(jobs, objects, ACCOUNT, {"status": "Completed"}, TTL)
    assert [item["id"] for item in listed["uploads"]] == [second["id"]]
    assert routes.list_uploads(jobs, objects, "other-co", {}, TTL)["uploads"] == []
    assert {item["id"] for item in routes.list_uploads(jobs, objects, ACCOUNT, {}, TTL)["uploads"]} == {
        first["id"], second["id"],
    }


# -- S3 event keys -------------------------------------------------------------------------------

def test_parse_object_key_plain():
    assert parse_object_key("uploads/acme/01J8ZQ/customer_record-2024-08-29-1.json") == ("acme", "01J8ZQ")


def test_parse_object_key_url_encoded():
    assert parse_object_key("uploads/acme%2Dco/01J8ZQ/a%5Fb.json") == ("acme-co", "01J8ZQ")
    assert parse_object_key("uploads%2Facme%2F01J8ZQ%2Fa.json") == ("acme", "01J8ZQ")


@pytest.mark.parametrize(
    "key",
    [
        "results/acme/01J8ZQ/errors.ndjson",
        "work/acme/01J8ZQ/chunks/0000.ndjson",
        "uploads/acme/01J8ZQ",
        "uploads/acme/01J8ZQ/nested/a.json",
        "uploads//01J8ZQ/a.json",
        "uploads/acme//a.json",
        "upload/acme/01J8ZQ/a.json",
    ],
)
def test_parse_object_key_ignores_other_keys(key):
    assert parse_object_key(key) is None


def test_filename_with_a_trailing_newline_breaks_the_rule():
    import pytest as _pytest

    from ingest.errors import BadRequestError as _Bad
    from ingest.logic.uploads import FILENAME_RULE_TEXT
    from tests.unit.fakes import FakeDatasetsTable, FakeJobsTable, FakeObjectStore
    from tests.unit.routes import request_upload

    with _pytest.raises(_Bad) as error:
        request_upload(FakeJobsTable(), FakeDatasetsTable(), FakeObjectStore(), "acme",
                       {"filename": "a.json\n", "destination": {}}, 3600)
    assert str(error.value) == FILENAME_RULE_TEXT
