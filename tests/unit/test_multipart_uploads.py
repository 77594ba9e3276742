"""Multipart uploads with the in-memory fakes: the part plan, and which state takes which request."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ingest.clock import now
from ingest.errors import BadRequestError, ConflictError, NotFoundError
from ingest.logic import multipart_uploads, uploads
from ingest.logic.multipart_sweep import lifecycle_reason, sweep
from ingest.logic.multipart_uploads import ABORTED_BY_CLIENT, DEFAULT_PART_BYTES, plan_parts
from ingest.models.base import parse
from ingest.models.uploads import (
    MAX_PARTS,
    MIN_PART_BYTES,
    CompleteRequest,
    PartNumbers,
    RetryRequest,
    UploadRequest,
)
from tests.unit import routes
from tests.unit.fakes import FakeDatasetsTable, FakeJobsTable, FakeObjectStore

MIB = 1024 * 1024
GIB = 1024 * MIB
TTL = 3600
LIMIT = 100 * GIB
HOUR = timedelta(hours=1)


# -- the part plan ----------------------------------------------------------------------------------
def test_the_service_picks_16_mib_parts_and_grows_them_to_stay_within_10000_parts():
    assert plan_parts(1, None, LIMIT) == multipart_uploads.PartPlan(DEFAULT_PART_BYTES, 1)
    assert plan_parts(50 * GIB, None, LIMIT) == multipart_uploads.PartPlan(16 * MIB, 3200)
    # 100 GiB in 16 MiB parts would be 6,400: still 16 MiB. 200 GiB needs 21 MiB (whole MiB, rounded up).
    assert plan_parts(100 * GIB, None, LIMIT).part_size == 16 * MIB
    big = plan_parts(200 * GIB, None, 300 * GIB)
    assert big.part_size == 21 * MIB and big.part_count <= MAX_PARTS
    assert big.part_size * big.part_count >= 200 * GIB


def test_a_named_part_size_is_kept_and_the_last_part_is_the_remainder():
    plan = plan_parts(12 * MIB + 1, 5 * MIB, LIMIT)
    assert plan == multipart_uploads.PartPlan(5 * MIB, 3)


def test_too_many_parts_and_sizes_over_the_limit_are_refused_with_the_way_out():
    with pytest.raises(BadRequestError, match=r"10000.*at least 5368710 bytes"):
        plan_parts(50 * GIB, 5 * MIB, LIMIT)
    with pytest.raises(BadRequestError, match=f"over the {LIMIT}-byte limit"):
        plan_parts(LIMIT + 1, None, LIMIT)
    assert plan_parts(LIMIT, None, LIMIT).part_count <= MAX_PARTS


UPLOAD_FIELDS = {"filename": "a.ndjson", "destination": {"destination_type": "dataset_load", "dataset_id": "d",
                                                          "record_type": "customer_record"}}


# A retry (POST /v1/uploads/{id}/retry) sends its corrected file as POST /v1/uploads does: the same
# fields, the same rules, the same words.
@pytest.mark.parametrize(("model", "fields"), [(UploadRequest, UPLOAD_FIELDS), (RetryRequest, {})],
                         ids=["upload", "retry"])
@pytest.mark.parametrize(("body", "message"), [
    ({"multipart": True}, "a multipart upload needs size"),
    ({"multipart": "yes", "size": 10}, "multipart must be true or false"),
    ({"size": 10, "part_size": 5 * MIB}, "part_size applies to multipart uploads only"),
    ({"multipart": True, "size": 10, "part_size": MIN_PART_BYTES - 1}, "part_size must be a whole number"),
    ({"multipart": True, "size": 10, "part_size": 5 * GIB + 1}, "part_size must be a whole number"),
    ({"size": 5 * GIB + 1}, 'send "multipart": true'),
    ({"size": 0}, "size must be the file's size in bytes"),
])
def test_the_request_says_what_is_wrong(model, fields, body, message):
    with pytest.raises(BadRequestError, match=message):
        parse(model, {**fields, **body})


@pytest.mark.parametrize("body", [{"multipart": True, "size": 10}, {"size": 10}, {"part_size": 5 * MIB}])
def test_a_retry_of_unprocessed_rows_takes_no_file_fields(body):
    with pytest.raises(BadRequestError, match="rows: unprocessed takes no size, multipart or part_size"):
        parse(RetryRequest, {"rows": "unprocessed", **body})
    assert parse(RetryRequest, {"rows": "unprocessed", "multipart": False}).rows == "unprocessed"


def test_a_retry_takes_the_fields_of_post_uploads_and_names_them_when_refusing_another():
    retry = parse(RetryRequest, {"multipart": True, "size": 12 * MIB, "part_size": 5 * MIB})
    assert (retry.multipart, retry.size, retry.part_size, retry.rows) == (True, 12 * MIB, 5 * MIB, None)
    with pytest.raises(BadRequestError, match="unknown fields filename; known: rows, size, multipart, part_size"):
        parse(RetryRequest, {"filename": "a.ndjson"})


@pytest.mark.parametrize(("body", "message"), [
    ({"part_numbers": []}, "list of 1 to 1000"),
    ({"part_numbers": [0]}, "from 1 to 10000"),
    ({"part_numbers": [10_001]}, "from 1 to 10000"),
    ({"part_numbers": [1, 1]}, "must not repeat"),
    ({"part_numbers": [True]}, "from 1 to 10000"),
])
def test_part_numbers_are_checked(body, message):
    with pytest.raises(BadRequestError, match=message):
        parse(PartNumbers, body)


def test_the_part_list_must_ascend_and_name_each_part_once():
    with pytest.raises(BadRequestError, match="ascending"):
        parse(CompleteRequest, {"parts": [{"part_number": 2, "etag": "a"}, {"part_number": 1, "etag": "b"}]})
    with pytest.raises(BadRequestError, match="etag"):
        parse(CompleteRequest, {"parts": [{"part_number": 1}]})


# -- states -----------------------------------------------------------------------------------------
class World:
    def __init__(self):
        self.jobs, self.datasets, self.objects = FakeJobsTable(), FakeDatasetsTable(), FakeObjectStore()
        self.datasets.create({"account_id": "acme", "dataset_id": "ds", "name": "d", "created_at": "x",
                              "updated_at": "x"})

    def create(self, size: int, part_size: int | None = None, account: str = "acme") -> dict:
        body = {"filename": "customer_record-big.ndjson", "multipart": True, "size": size,
                "destination": {"destination_type": "dataset_load", "dataset_id": "ds",
                                "record_type": "customer_record"}}
        if part_size:
            body["part_size"] = part_size
        return routes.request_upload(self.jobs, self.datasets, self.objects, account, body, TTL)

    def send(self, upload: dict, number: int, data: bytes) -> str:
        return self.objects.upload_part(upload["multipart"]["upload_id"], number, data)

    def complete(self, upload: dict, parts: list[tuple[int, str]], account: str = "acme") -> None:
        multipart_uploads.complete(self.jobs, self.objects, account, upload["id"], parse(CompleteRequest, {
            "parts": [{"part_number": number, "etag": etag} for number, etag in parts]}))

    def parts(self, upload: dict, account: str = "acme") -> list[dict]:
        return multipart_uploads.stored_parts(self.jobs, self.objects, account, upload["id"]).body()["parts"]


def test_a_multipart_upload_has_no_url_but_its_s3_upload_and_parts_are_signed_each_for_an_hour():
    world = World()
    upload = world.create(12 * MIB, 5 * MIB)
    assert "url" not in upload and "expires_at" not in upload
    assert upload["status"] == "Pending"
    assert upload["multipart"]["part_size"] == 5 * MIB and upload["multipart"]["part_count"] == 3
    assert upload["multipart"]["key"] == world.jobs.get("acme", upload["id"])["object_key"]
    signed = multipart_uploads.sign_parts(world.jobs, world.objects, "acme", upload["id"],
                                          parse(PartNumbers, {"part_numbers": [1, 3]}), TTL).body()["parts"]
    assert [part["part_number"] for part in signed] == [1, 3]
    assert all(f"uploadId={upload['multipart']['upload_id']}" in part["url"] and "expires=3600" in part["url"]
               for part in signed)


def test_the_listed_parts_are_what_s3_holds_so_a_client_resumes_and_completes():
    world = World()
    upload = world.create(11 * MIB, 5 * MIB)
    first = world.send(upload, 1, b"a" * (5 * MIB))
    assert world.parts(upload) == [{"part_number": 1, "size": 5 * MIB, "etag": first}]
    second, third = world.send(upload, 2, b"b" * (5 * MIB)), world.send(upload, 3, b"c\n" * MIB)
    world.complete(upload, [(1, first), (2, second), (3, third)])
    assert world.objects.read(world.jobs.get("acme", upload["id"])["object_key"]).startswith(b"a" * 10)
    # Completed: the S3 event's workflow takes it from here; the upload takes no more parts.
    for refused in (lambda: world.parts(upload),
                    lambda: world.complete(upload, [(1, first)]),
                    lambda: multipart_uploads.abort(world.jobs, world.objects, "acme", upload["id"])):
        with pytest.raises(ConflictError, match="is completed"):
            refused()
    assert world.jobs.get("acme", upload["id"])["status"] == "Pending"


def test_a_wrong_part_list_is_a_400_and_the_upload_stays_open_to_fix_it():
    world = World()
    upload = world.create(11 * MIB, 5 * MIB)
    small = world.send(upload, 1, b"a" * MIB)
    last = world.send(upload, 2, b"b")
    with pytest.raises(BadRequestError, match="EntityTooSmall"):
        world.complete(upload, [(1, small), (2, last)])
    with pytest.raises(BadRequestError, match="InvalidPart"):
        world.complete(upload, [(1, '"not-it"')])
    assert len(world.parts(upload)) == 2


def test_abort_deletes_the_parts_fails_the_job_and_refuses_what_follows():
    world = World()
    upload = world.create(11 * MIB, 5 * MIB)
    world.send(upload, 1, b"a" * (5 * MIB))
    multipart_uploads.abort(world.jobs, world.objects, "acme", upload["id"])
    assert world.objects.multipart == {}
    job = uploads.get_upload(world.jobs, world.objects, "acme", upload["id"], TTL).body()
    assert job["status"] == "Failed" and job["failure_reason"] == ABORTED_BY_CLIENT
    for refused in (lambda: world.parts(upload),
                    lambda: multipart_uploads.abort(world.jobs, world.objects, "acme", upload["id"])):
        with pytest.raises(ConflictError, match="is aborted"):
            refused()


def test_another_accounts_upload_is_not_found_and_a_single_put_upload_takes_no_parts():
    world = World()
    upload = world.create(11 * MIB, 5 * MIB)
    with pytest.raises(NotFoundError):
        world.parts(upload, account="other")
    with pytest.raises(NotFoundError):
        multipart_uploads.abort(world.jobs, world.objects, "other", upload["id"])
    single = routes.request_upload(world.jobs, world.datasets, world.objects, "acme", {
        "filename": "customer_record-small.ndjson",
        "destination": {"destination_type": "dataset_load", "dataset_id": "ds", "record_type": "customer_record"}},
        TTL)
    assert single["url"] and "multipart" not in single
    with pytest.raises(ConflictError, match="not a multipart upload"):
        world.parts(single)


def test_the_sweep_fails_uploads_left_open_past_the_deadline_once_and_aborts_orphans():
    world = World()
    stale, fresh = world.create(11 * MIB, 5 * MIB), world.create(6 * MIB)
    completed, aborted = world.create(6 * MIB, 5 * MIB), world.create(6 * MIB, 5 * MIB)
    world.complete(completed, [(1, world.send(completed, 1, b"x"))])
    multipart_uploads.abort(world.jobs, world.objects, "acme", aborted["id"])
    orphan = world.objects.start_multipart("uploads/acme/no-job/customer_record-x.ndjson")  # its job's write failed
    moment = now()
    week_ago = moment - timedelta(days=7)
    for upload_id in (stale["multipart"]["upload_id"], orphan):
        world.objects.initiated[upload_id] = week_ago
    # Not yet: 7 days less more than the interval.
    assert sweep(world.jobs, world.objects, moment - timedelta(hours=2), 7, HOUR) == 0
    assert world.jobs.get("acme", stale["id"])["status"] == "Pending"
    # Within the hour before the deadline (S3's rule never acts before it): aborted, and the job says why.
    assert sweep(world.jobs, world.objects, moment - timedelta(minutes=30), 7, HOUR) == 1
    job = uploads.get_upload(world.jobs, world.objects, "acme", stale["id"], TTL).body()
    assert job["status"] == "Failed" and job["failure_reason"] == lifecycle_reason(7)
    assert "not completed within 7 days" in job["failure_reason"]
    assert set(world.objects.multipart) == {fresh["multipart"]["upload_id"]}  # the stale one and the orphan
    assert world.jobs.get("acme", fresh["id"])["status"] == "Pending"
    assert world.jobs.get("acme", completed["id"])["status"] == "Pending"  # the workflow's to move
    assert world.jobs.get("acme", aborted["id"])["failure_reason"] == ABORTED_BY_CLIENT
    assert sweep(world.jobs, world.objects, moment, 7, HOUR) == 0  # again: nothing left to do
    with pytest.raises(ConflictError, match="is aborted"):
        world.parts(stale)
