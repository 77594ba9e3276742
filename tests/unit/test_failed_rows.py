"""Failed rows, unprocessed rows and retries (logic/load/rows.py, logic/retries.py) on the in-memory fakes.

A job runs through the real steps (Inspect, Scan/PlanSplit or Decompress, Split, PlanLoad, Load, Finalize
or MarkFailed); "a Load that failed for good" is a partition whose Load never wrote its result.
"""

from __future__ import annotations

import gzip
import json

import orjson
import pytest

from ingest import record_types
from ingest.adapters.record_store import partition_of
from ingest.errors import BadRequestError, ConflictError, NotFoundError
from ingest.logic import multipart_uploads, retries, uploads
from ingest.logic.load import decompress, error_log, failure, finalize, inspect, loading, rows, scan, split
from ingest.logic.load.context import LoadContext, LoadSettings
from ingest.logic.load.layout import WorkKeys
from ingest.logic.load.record_limits import check_line
from ingest.models.uploads import CompleteRequest, PartNumbers, RetryRequest
from ingest.models.workflow import ExecutionInput, FailedState, PartitionTask, RangeTask, StepError
from tests.unit.fakes import FakeDatasetsTable, FakeJobsTable, FakeObjectStore, FakeRecordStore

ACCOUNT = "acme"
OTHER = "globex"
DATASET = "ds-1"
TTL = 3600


class Service:
    """The API's and the workflow's logic over one set of fakes."""

    def __init__(self, range_bytes: int = 40, partitions: int = 4):
        self.objects = FakeObjectStore(read_size=5)
        self.jobs = FakeJobsTable()
        self.datasets = FakeDatasetsTable()
        self.datasets.add(ACCOUNT, DATASET)
        self.records = FakeRecordStore()
        self.ctx = LoadContext(objects=self.objects, jobs=self.jobs, datasets=self.datasets, records=self.records,
                               settings=LoadSettings(range_bytes=range_bytes, partitions=partitions,
                                                     load_threads=2, load_window_records=3))

    def upload(self, filename: str, data: bytes, account: str = ACCOUNT, **options) -> str:
        request = uploads.UploadRequest.model_validate(
            {"filename": filename, "options": options,
             "destination": {"destination_type": "dataset_load", "dataset_id": DATASET,
                             "record_type": "customer_record"}})
        if account != ACCOUNT:
            self.datasets.add(account, DATASET)
        view = uploads.request_upload(self.jobs, self.datasets, self.objects, None, account, request, TTL)
        self.objects.put(self.jobs.get(account, view.id)["object_key"], data)
        return view.id

    def run(self, upload_id: str, failing: set[int] | None = None, account: str = ACCOUNT) -> dict:
        """The workflow, as the state machine runs it; Loads of partitions in `failing` fail for good
        (failing=set() fails no Load, yet the job fails after them, as a crashed Finalize would)."""
        ctx = self.ctx
        job = inspect.inspect(ctx, ExecutionInput(account_id=account, upload_id=upload_id))
        work = WorkKeys(account, upload_id)
        if job.gzip:
            job = decompress.decompress_all(ctx, job)
        else:
            for task in _tasks(self.objects, work.scan_manifest, RangeTask):
                scan.scan_range(ctx, job, task)
            job = scan.plan_split(ctx, job)
        for task in _tasks(self.objects, work.split_manifest, RangeTask):
            split.split_range(ctx, job, task)
        planned = split.plan_load(ctx, job)
        job = planned.job
        if planned.within_budget:
            for task in _tasks(self.objects, work.load_manifest, PartitionTask):
                if failing is None or task.partition not in failing:
                    loading.load_partition(ctx, job, task, "attempt-1")
            if failing is None:
                finalize.finalize(ctx, job)
            else:
                failure.mark_failed(ctx, FailedState(job=job, error=StepError(
                    Error="States.ExceedToleratedFailureThreshold")))
        return self.jobs.get(account, upload_id)

    def url_key(self, url: str) -> str:
        return url.split("https://fake-s3.local/", 1)[1].split("?", 1)[0]

    def view(self, upload_id: str, account: str = ACCOUNT):
        return uploads.get_upload(self.jobs, self.objects, account, upload_id, TTL)

    def retry(self, upload_id: str, body: dict | None = None, account: str = ACCOUNT):
        return retries.retry_upload(self.jobs, self.datasets, self.objects, account, upload_id,
                                    RetryRequest.model_validate(body or {}), TTL)


def _tasks(objects, key: str, model):
    return [model.model_validate(task) for task in json.loads(objects.read(key))]


def customer(key: str, **fields) -> bytes:
    return orjson.dumps({"link": {"customer_id": key}, **fields})


CSV = (
    b"link.customer_id,first_name,custom_fields\r\n"
    b"c1,Ann,\r\n"
    b',"no key\nover two lines",\r\n'  # rejected: no key; a quoted field over two lines
    b"c2,Bob,\r\n"
    b"c3,x,y,extra\r\n"  # rejected: four fields
    b'c4,"multi\nline, fine",\r\n'
    b',,"{""tier"": 1}"\r\n'  # rejected: no key
)


def test_csv_failed_rows_are_the_header_then_the_rejected_rows_as_sent_in_line_order():
    service = Service(range_bytes=16)  # several ranges: the rows come from several work files
    upload_id = service.upload("customers.csv", CSV)
    item = service.run(upload_id)
    assert item["status"] == "Completed" and item["stats"]["rejected"] == 3
    view = service.view(upload_id)
    assert view.failed_rows_url and view.unprocessed_rows_url is None
    failed = service.objects.read(service.url_key(view.failed_rows_url))
    assert failed == (b"link.customer_id,first_name,custom_fields\n"
                      b',"no key\nover two lines",\n'
                      b"c3,x,y,extra\n"
                      b',,"{""tier"": 1}"\n')
    assert service.url_key(view.failed_rows_url).endswith("/failed-rows/customers.csv")
    # The same lines, by number, as the error log names them.
    log = [json.loads(line) for line in service.objects.read(item["error_log_key"]).splitlines()]
    assert [entry["line"] for entry in log] == [3, 6, 9]


def test_gzip_ndjson_failed_rows_are_gzip_and_hold_the_lines_unchanged():
    lines = [customer("a"), b'{"link": ', customer("b"), b"[1, 2]", b'{"first_name": "\xc3\xa9 no key"}', customer("c")]
    service = Service()
    upload_id = service.upload("people.ndjson.gz", gzip.compress(b"\n".join(lines) + b"\n"))
    service.run(upload_id)
    key = service.url_key(service.view(upload_id).failed_rows_url)
    assert key.endswith("/failed-rows/people.ndjson.gz")
    assert gzip.decompress(service.objects.read(key)) == b"\n".join([lines[1], lines[3], lines[4]]) + b"\n"


def test_a_job_with_no_rejected_line_has_no_failed_rows():
    service = Service()
    upload_id = service.upload("ok.ndjson", customer("a") + b"\n" + customer("b") + b"\n")
    service.run(upload_id)
    assert service.view(upload_id).failed_rows_url is None


MIXED = [customer(f"k{number}", n=number) if number % 5 else b"not json" for number in range(1, 41)]


def _key(line: bytes) -> str:
    _, key, _ = check_line(record_types.get("customer_record"), line)
    assert key is not None
    return key


def _partition(line: bytes, partitions: int = 4) -> int:
    return partition_of(_key(line), partitions)


def _partition_lines(partitions: int, failing: set[int]) -> list[int]:
    return [number for number, line in enumerate(MIXED, 1) if number % 5 and _partition(line, partitions) in failing]


def test_unprocessed_rows_are_the_lines_of_the_partitions_whose_load_failed_with_their_line_map():
    service = Service()
    upload_id = service.upload("mixed.ndjson", b"\n".join(MIXED) + b"\n")
    failing = {1, 3}
    item = service.run(upload_id, failing=failing)
    expected = _partition_lines(4, failing)
    assert item["status"] == "Failed" and item["stats"]["not_loaded"] == len(expected) == item["unprocessed_rows"]
    view = service.view(upload_id)
    key = service.url_key(view.unprocessed_rows_url)
    assert key == f"results/{ACCOUNT}/{upload_id}/unprocessed-rows/mixed.ndjson"
    assert service.objects.read(key) == b"".join(MIXED[number - 1] + b"\n" for number in expected)
    line_map = service.objects.read(item["unprocessed_line_map_key"]).decode()
    assert line_map == "".join(f"{child}\t{parent}\n" for child, parent in enumerate(expected, 1))
    # Rejected lines are failed rows, never unprocessed ones.
    assert service.objects.read(service.url_key(view.failed_rows_url)) == b"not json\n" * 8


def test_over_the_error_budget_every_valid_line_is_unprocessed():
    service = Service()
    upload_id = service.upload("mixed.ndjson", b"\n".join(MIXED) + b"\n", max_rejected_percent=5)
    item = service.run(upload_id)
    assert item["status"] == "Failed"
    assert service.objects.read(item["unprocessed_rows_key"]) == b"".join(
        line + b"\n" for line in MIXED if line != b"not json")


def test_a_job_that_failed_before_its_lines_were_checked_has_the_whole_upload_unprocessed():
    service = Service()
    upload_id = service.upload("mixed.ndjson", b"\n".join(MIXED) + b"\n")
    failure.mark_failed(service.ctx, FailedState(account_id=ACCOUNT, upload_id=upload_id,
                                                 error=StepError(Error="Sandbox.Timedout")))
    item = service.jobs.get(ACCOUNT, upload_id)
    assert item["unprocessed_rows_key"] == item["object_key"]
    # ...but a file the service refused is not "unprocessed": loading it again would fail the same way.
    refused = service.upload("refused.ndjson", b"\n".join(MIXED) + b"\n")
    failure.mark_failed(service.ctx, FailedState(account_id=ACCOUNT, upload_id=refused,
                                                 error=StepError(Error="FileRejectedError", Cause="{}")))
    assert service.view(refused).unprocessed_rows_url is None


def test_a_retry_of_unprocessed_rows_loads_them_and_names_the_original_lines_down_the_chain():
    service = Service()
    parent = service.upload("mixed.ndjson", b"\n".join(MIXED) + b"\n")
    service.run(parent, failing={0, 1, 3})
    retry = service.retry(parent, {"rows": "unprocessed"})
    assert retry.url is None and retry.parent_id == parent and retry.status == "Pending"
    # The rows are copied to the child's own upload key, whose S3 event starts it as any upload.
    child_item = service.jobs.get(ACCOUNT, retry.id)
    assert child_item["object_key"] == f"uploads/{ACCOUNT}/{retry.id}/mixed.ndjson"
    assert service.objects.read(child_item["object_key"]) == service.objects.read(
        service.jobs.get(ACCOUNT, parent)["unprocessed_rows_key"])
    assert service.view(parent).retries == [retry.id]
    # The child fails too, in other partitions: its own unprocessed rows still name the parent's lines.
    child = service.run(retry.id, failing={1})  # its keys go where the parent's went: 0, 1 and 3
    child_lines = _partition_lines(4, {0, 1, 3})
    grand_expected = [number for number in child_lines if _partition(MIXED[number - 1]) == 1]
    assert grand_expected and len(grand_expected) < len(child_lines), "the data must put lines in partition 1"
    assert child["stats"]["total"] == len(child_lines)
    assert child["stats"]["loaded"] == len(child_lines) - len(grand_expected)
    line_map = service.objects.read(child["unprocessed_line_map_key"]).decode().splitlines()
    assert [int(entry.split("\t")[1]) for entry in line_map] == grand_expected
    grandchild = service.retry(retry.id, {"rows": "unprocessed"})
    done = service.run(grandchild.id)
    assert done["status"] == "Completed" and done["stats"]["loaded"] == len(grand_expected)
    shards = service.datasets.get(ACCOUNT, DATASET)["shards"]
    for number in child_lines:
        assert service.records.get(ACCOUNT, DATASET, "customer_record", _key(MIXED[number - 1]), shards) is not None


def test_the_error_log_of_a_retry_names_the_original_line_numbers():
    objects = FakeObjectStore(read_size=3)
    work = WorkKeys(ACCOUNT, "child")
    objects.put(work.errors("split-00000"), error_log.error_line(2, "bad", b"x") + error_log.error_line(4, "bad", b"y"))
    objects.put(work.errors("load-00001"), error_log.error_line(3, "worse", b"z\nw"))
    objects.put("results/acme/parent/unprocessed-lines.tsv", b"2\t17\n3\t40\n5\t41\n")
    key, count = error_log.merge(objects, work, "results/acme/parent/unprocessed-lines.tsv")
    assert count == 3
    # Line 4 of the retry's file is the second line of the row that starts at its line 3 (parent line 40).
    assert [json.loads(line)["line"] for line in objects.read(key).splitlines()] == [17, 40, 41]


def test_row_frames_keep_any_bytes_whatever_the_chunking():
    rows_in = [(3, b"a\tb\nc"), (9, b""), (12, b"\xff\xfe not utf-8 \n\n")]
    data = b"".join(rows.row_frame(line, raw) for line, raw in rows_in)
    for size in (1, 2, 7, len(data)):
        chunks = [data[start:start + size] for start in range(0, len(data), size)]
        assert list(rows.read_row_frames(chunks)) == rows_in


def test_retry_without_rows_answers_a_presigned_url_for_the_corrected_file():
    service = Service()
    parent = service.upload("customers.csv", CSV, dry_run=True, max_rejected_percent=50)
    service.run(parent)
    retry = service.retry(parent)
    assert retry.url and retry.expires_at and retry.status == "Pending" and retry.parent_id == parent
    child = service.jobs.get(ACCOUNT, retry.id)
    assert service.url_key(retry.url) == child["object_key"] == f"uploads/{ACCOUNT}/{retry.id}/customers.csv"
    assert child["options"] == {"dry_run": True, "max_rejected_percent": 50}
    assert child["destination"] == service.jobs.get(ACCOUNT, parent)["destination"]
    assert not service.objects.exists(child["object_key"])  # the corrected file's PUT starts it, as any upload
    second = service.retry(parent)
    assert service.view(parent).retries == [retry.id, second.id]


def test_a_retry_with_a_declared_size_signs_it_into_the_url_as_post_uploads_does():
    service = Service()
    parent = service.upload("customers.csv", CSV)
    service.run(parent)
    retry = service.retry(parent, {"size": 123})
    assert retry.url.endswith("&content-length=123") and retry.multipart is None
    assert service.jobs.get(ACCOUNT, retry.id)["declared_size"] == 123


def test_a_multipart_retry_is_a_multipart_upload_whose_parts_complete_into_the_childs_load():
    service = Service()
    parent = service.upload("mixed.ndjson", b"\n".join(MIXED) + b"\n", max_rejected_percent=50)
    service.run(parent)
    fixed = b"".join(customer(f"fixed{number}") + b"\n" for number in range(1, 9))
    retry = service.retry(parent, {"multipart": True, "size": len(fixed), "part_size": 5 * 1024 * 1024})
    assert retry.url is None and retry.expires_at is None and retry.parent_id == parent
    assert "url" not in retry.body() and retry.body()["multipart"]["part_count"] == 1
    child = service.jobs.get(ACCOUNT, retry.id)
    assert retry.multipart.key == child["object_key"] == f"uploads/{ACCOUNT}/{retry.id}/mixed.ndjson"
    assert child["options"] == {"dry_run": False, "max_rejected_percent": 50}
    assert service.view(parent).retries == [retry.id]
    # Its parts are signed and completed as any multipart upload's (logic/multipart_uploads.py).
    signed = multipart_uploads.sign_parts(service.jobs, service.objects, ACCOUNT, retry.id,
                                          PartNumbers(part_numbers=[1]), TTL).parts
    assert f"uploadId={retry.multipart.upload_id}&partNumber=1" in signed[0].url
    etag = service.objects.upload_part(retry.multipart.upload_id, 1, fixed)
    multipart_uploads.complete(service.jobs, service.objects, ACCOUNT, retry.id,
                               CompleteRequest(parts=[{"part_number": 1, "etag": etag}]))
    item = service.run(retry.id)
    assert item["status"] == "Completed" and item["stats"]["loaded"] == 8 and item["stats"]["rejected"] == 0


def test_a_multipart_retry_past_the_deployments_limit_is_refused_and_creates_nothing():
    service = Service()
    parent = service.upload("a.ndjson", customer("a") + b"\n")
    service.run(parent)
    with pytest.raises(BadRequestError, match="over the 1000-byte limit of one upload"):
        retries.retry_upload(service.jobs, service.datasets, service.objects, ACCOUNT, parent,
                             RetryRequest(multipart=True, size=1001), TTL, max_upload_bytes=1000)
    assert service.view(parent).retries is None
    assert [item["job_id"] for item in service.jobs.items.values()] == [parent]


def test_retry_refusals():
    service = Service()
    running = service.upload("a.ndjson", customer("a") + b"\n")
    with pytest.raises(ConflictError, match="Pending"):
        service.retry(running)
    with pytest.raises(NotFoundError):
        service.retry("01JNOSUCHUPLOAD00000000000")
    with pytest.raises(NotFoundError):  # another account's upload is not there at all
        service.retry(running, account=OTHER)
    service.run(running)
    with pytest.raises(ConflictError, match="no unprocessed rows"):
        service.retry(running, {"rows": "unprocessed"})
    with pytest.raises(BadRequestError, match="rows must be one of: unprocessed"):
        service.retry(running, {"rows": "all"})
    with pytest.raises(BadRequestError, match="rows: unprocessed takes no size, multipart or part_size"):
        service.retry(running, {"rows": "unprocessed", "multipart": True, "size": 10})
    assert service.view(running).retries is None


def test_a_retry_whose_rows_cannot_be_copied_ends_failed_at_once_and_is_not_listed():
    service = Service()
    parent = service.upload("mixed.ndjson", b"\n".join(MIXED) + b"\n")
    service.run(parent, failing={0})
    key = service.jobs.get(ACCOUNT, parent)["unprocessed_rows_key"]

    def broken_copy(source: str, target: str) -> None:
        raise OSError("S3 is unreachable")

    service.objects.copy = broken_copy  # type: ignore[method-assign]
    with pytest.raises(OSError):
        service.retry(parent, {"rows": "unprocessed"})
    children = [item for item in service.jobs.items.values() if item.get("parent_id") == parent]
    assert [child["status"] for child in children] == ["Failed"]
    assert "could not be copied" in children[0]["failure_reason"]
    assert service.view(parent).retries is None
    del service.objects.objects[key]  # expired with the upload
    with pytest.raises(ConflictError, match="no longer stored"):
        service.retry(parent, {"rows": "unprocessed"})
