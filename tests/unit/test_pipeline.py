"""The load workflow's steps (Inspect, Split, Load, Finalize, MarkFailed) run against in-memory fakes."""

from __future__ import annotations

import gzip
import json

import orjson
import pytest

from ingest import record_types
from ingest.errors import FileRejectedError
from ingest.logic import pipeline as pipeline_module
from ingest.logic.lines import MAX_LINE_BYTES
from ingest.logic.pipeline import (
    MAX_OBJECT_BYTES,
    MAX_STORED_RECORD_BYTES,
    Pipeline,
    WorkKeys,
    check_line,
)
from tests.unit.fakes import FakeDatasetsTable, FakeJobsTable, FakeObjectStore, FakeRecordStore

ACCOUNT = "acme"
UPLOAD = "01J0000000000000000000UPLD"
DATASET = "ds-1"


class World:
    """A pipeline wired to fakes, with one upload job and its dataset."""

    def __init__(self, data: bytes, record_type: str = "customer_record", chunk_target_bytes: int = 1 << 20,
                 max_chunks: int = 8, options: dict | None = None, read_size: int = 7,
                 filename: str = "file.ndjson"):
        self.objects = FakeObjectStore(read_size=read_size)
        self.jobs = FakeJobsTable()
        self.datasets = FakeDatasetsTable()
        self.records = FakeRecordStore()
        self.datasets.add(ACCOUNT, DATASET)
        self.key = f"uploads/{ACCOUNT}/{UPLOAD}/{filename}"
        self.objects.put(self.key, data)
        job = {
            "account_id": ACCOUNT,
            "job_id": UPLOAD,
            "job_type": "upload",
            "status": "Pending",
            "filename": filename,
            "dataset_id": DATASET,
            "record_type": record_type,
            "object_key": self.key,
            "stats": {"total": 0, "loaded": 0, "rejected": 0},
        }
        if options is not None:
            job["options"] = options
        self.jobs.create(job)
        self.pipeline = Pipeline(self.objects, self.jobs, self.datasets, self.records,
                                 chunk_target_bytes=chunk_target_bytes, max_chunks=max_chunks)
        self.work = WorkKeys(ACCOUNT, UPLOAD)

    @property
    def job(self) -> dict:
        return self.jobs.get(ACCOUNT, UPLOAD)

    def inspect(self) -> dict:
        return self.pipeline.inspect({"account_id": ACCOUNT, "upload_id": UPLOAD})

    def split(self) -> dict:
        return self.pipeline.split(self.inspect())

    def manifest(self, state: dict) -> list[dict]:
        return json.loads(self.objects.read(state["job"]["manifest_key"]))

    def run(self) -> dict:
        state = self.split()
        results = [self.pipeline.load_chunk(state["job"], chunk) for chunk in self.manifest(state)]
        self.chunk_results = results
        return self.pipeline.finalize({**state, "chunk_results": results})

    def error_log(self) -> list[dict]:
        return [json.loads(line) for line in self.objects.read(self.work.error_log).splitlines()]

    def stored(self, key: str, record_type: str = "customer_record"):
        raw = self.records.get(ACCOUNT, DATASET, record_type, key)
        return None if raw is None else json.loads(raw)


def customer(cid, **fields) -> bytes:
    return orjson.dumps({"link": {"customer_id": cid}, **fields})


def ndjson(*lines: bytes) -> bytes:
    return b"\n".join(lines) + b"\n"


# -- check_line ----------------------------------------------------------------------------------

def test_check_line_accepts_valid_record_and_returns_its_key():
    problem, key, stored = check_line(record_types.get("customer_record"), b' {"link": {"customer_id": 5}} ')
    assert problem is None
    assert key == "customer_id:5"
    assert orjson.loads(stored) == {"link": {"customer_id": 5}}  # stored as sent: the check converts nothing


def test_check_line_reports_invalid_json():
    problem, key, stored = check_line(record_types.get("customer_record"), b'{"link": ')
    assert problem.startswith("invalid JSON: ")
    assert (key, stored) == (None, None)


def test_check_line_reports_schema_problem():
    problem, key, _ = check_line(record_types.get("purchase"), b'{"link": {"email": "a@b.co"}, "action_at": 1,'
                                 b' "type": "ecommerce", "products": []}')
    assert problem == "purchase_id: is required"
    assert key is None


def test_check_line_reports_non_object():
    problem, _, _ = check_line(record_types.get("purchase"), b"[1, 2, 3]")
    assert problem == "expected a JSON object, got an array"


def test_check_line_rejects_records_too_big_for_the_store():
    big = orjson.dumps({"link": {"customer_id": "c"}, "first_name": "x" * MAX_STORED_RECORD_BYTES})
    problem, key, stored = check_line(record_types.get("customer_record"), big)
    assert problem == (
        f"record is {len(big)} bytes, over the {MAX_STORED_RECORD_BYTES}-byte limit of the dataset store"
    )
    assert (key, stored) == (None, None)


# -- Inspect -------------------------------------------------------------------------------------

def test_inspect_marks_job_processing_and_describes_it():
    world = World(ndjson(customer("a"), customer("b")), options={"dry_run": True})
    state = world.inspect()
    job = state["job"]
    assert job["object_key"] == world.key
    assert job["dataset_id"] == DATASET
    assert job["record_type"] == "customer_record"
    assert job["gzip"] is False
    assert job["size"] == len(world.objects.read(world.key))
    assert job["chunk_count"] == 1
    assert job["dry_run"] is True
    stored = world.job
    assert stored["status"] == "Processing"
    assert stored["size"] == job["size"]
    assert stored["gzip"] is False


def test_inspect_detects_gzip_by_content_and_sizes_chunks_for_expansion():
    data = gzip.compress(ndjson(*(customer(f"c{i}") for i in range(200))))
    world = World(data, chunk_target_bytes=1000, max_chunks=1000)
    job = world.inspect()["job"]
    assert job["gzip"] is True
    assert world.job["gzip"] is True
    assert job["chunk_count"] == -(-len(data) * 4 // 1000)


def test_inspect_chunk_count_is_capped():
    world = World(ndjson(*(customer(f"c{i}") for i in range(200))), chunk_target_bytes=10, max_chunks=3)
    assert world.inspect()["job"]["chunk_count"] == 3


def test_inspect_rejects_missing_object():
    world = World(b"x\n")
    del world.objects.objects[world.key]
    with pytest.raises(FileRejectedError, match="no longer in storage"):
        world.inspect()
    assert world.job["status"] == "Pending"


def test_inspect_rejects_empty_file():
    world = World(b"")
    with pytest.raises(FileRejectedError, match=r"empty \(0 bytes\)"):
        world.inspect()


def test_inspect_rejects_objects_over_5_gb():
    world = World(customer("a"))
    world.objects.sizes[world.key] = MAX_OBJECT_BYTES + 1
    with pytest.raises(FileRejectedError, match="over the 5 GB limit") as info:
        world.inspect()
    assert str(MAX_OBJECT_BYTES + 1) in str(info.value)


def test_inspect_accepts_exactly_5_gb():
    world = World(customer("a"), chunk_target_bytes=1 << 30, max_chunks=100)
    world.objects.sizes[world.key] = MAX_OBJECT_BYTES
    assert world.inspect()["job"]["chunk_count"] == 5


def test_inspect_rejects_upload_without_job():
    world = World(customer("a"))
    with pytest.raises(FileRejectedError, match="has no job record"):
        world.pipeline.inspect({"account_id": ACCOUNT, "upload_id": "01JUNKNOWN"})


# -- Split ---------------------------------------------------------------------------------------

def read_chunks(world: World, state: dict) -> dict[int, list[tuple[int, bytes]]]:
    chunks = {}
    for entry in world.manifest(state):
        lines = world.objects.read(entry["key"]).split(b"\n")
        assert lines[-1] == b""
        chunks[entry["index"]] = [(int(n), raw) for n, _, raw in (line.partition(b"\t") for line in lines[:-1])]
    return chunks


def test_split_routes_each_key_to_one_chunk_in_file_order():
    source = []
    for round_ in range(8):
        for cid in range(7):  # 7 keys per round, so line numbers alone would spread a key over chunks
            source.append(customer(f"cust-{cid}", first_name=f"v{round_}"))
    world = World(ndjson(*source), chunk_target_bytes=200, max_chunks=4)
    state = world.split()
    chunks = read_chunks(world, state)
    assert len(chunks) > 1, "the test needs several chunks"
    assert state["job"]["chunks"] == len(chunks)

    chunk_of_key: dict[str, int] = {}
    for index, framed in chunks.items():
        numbers = [number for number, _ in framed]
        assert numbers == sorted(numbers), "lines keep file order within a chunk"
        for number, raw in framed:
            assert raw == source[number - 1], "the frame carries the physical line number"
            key = orjson.loads(raw)["link"]["customer_id"]
            assert chunk_of_key.setdefault(key, index) == index, f"{key} split over chunks"
    assert sorted(n for framed in chunks.values() for n, _ in framed) == list(range(1, len(source) + 1))


def test_split_frames_physical_line_numbers_around_blank_lines():
    data = b"\xef\xbb\xbf" + customer("a") + b"\r\n\r\n\n" + customer("b") + b"\r\n  \n" + customer("c")
    world = World(data, read_size=5)
    state = world.split()
    (framed,) = read_chunks(world, state).values()
    assert [n for n, _ in framed] == [1, 4, 6]
    assert [raw for _, raw in framed] == [customer("a"), customer("b"), customer("c")]
    assert state["job"]["split"] == {"total": 3, "rejected": 0}
    assert world.job["stats"] == {"total": 3, "loaded": 0, "rejected": 0}


def test_split_gunzips_gzip_uploads():
    world = World(gzip.compress(ndjson(customer("a"))) + gzip.compress(ndjson(customer("b"))), read_size=9)
    state = world.split()
    (framed,) = read_chunks(world, state).values()
    assert framed == [(1, customer("a")), (2, customer("b"))]


def test_split_rejects_truncated_gzip():
    world = World(gzip.compress(ndjson(*(customer(f"c{i}") for i in range(50))))[:-10])
    with pytest.raises(FileRejectedError, match="truncated"):
        world.split()


def test_split_rejects_too_long_lines_and_writes_manifest():
    data = ndjson(customer("a"), b'{"x": "' + b"y" * MAX_LINE_BYTES + b'"}', customer("b"))
    world = World(data, chunk_target_bytes=1 << 30, read_size=256 * 1024)
    state = world.split()
    assert state["job"]["split"] == {"total": 3, "rejected": 1}
    errors = [json.loads(line) for line in world.objects.read(world.work.errors("split")).splitlines()]
    assert errors == [{"line": 2, "error": f"line is longer than {MAX_LINE_BYTES} bytes", "raw": ""}]
    assert world.manifest(state) == [{"index": 0, "key": world.work.chunk(0)}]


def test_split_without_rejections_writes_no_split_error_file():
    world = World(ndjson(customer("a")))
    world.split()
    assert not world.objects.exists(world.work.errors("split"))


# -- Load ----------------------------------------------------------------------------------------

def test_load_chunk_last_line_for_a_key_wins():
    data = ndjson(
        customer("a", first_name="first"),
        customer("b", first_name="only"),
        customer("a", first_name="second"),
        b'{"link": {"email": "a@example.com"}, "first_name": "by email"}',
        customer("a", first_name="third"),
    )
    world = World(data, chunk_target_bytes=50, max_chunks=3)
    world.run()
    assert world.stored("customer_id:a")["first_name"] == "third"
    assert world.stored("customer_id:b")["first_name"] == "only"
    assert world.stored("email:a@example.com")["first_name"] == "by email"
    assert world.records.count(ACCOUNT, DATASET, "customer_record") == 3
    assert all(item["job_id"] == UPLOAD for item in world.records.items.values())


def test_load_chunk_reports_rejected_lines_with_physical_line_numbers():
    data = (
        customer("a") + b"\r\n"           # 1
        + b"\r\n"                         # 2 blank
        + b'{"link": {}}\r\n'             # 3 schema
        + b"not json\n"                   # 4
        + b"\n"                           # 5 blank
        + customer("b") + b"\n"           # 6
        + b'["array"]\n'                  # 7
        + b'{"link": {"customer_id": []}}'  # 8, no newline
    )
    world = World(data, read_size=3)
    state = world.split()
    (chunk,) = world.manifest(state)
    result = world.pipeline.load_chunk(state["job"], chunk)
    assert result == {"index": 0, "total": 6, "loaded": 2, "rejected": 4}
    errors = [json.loads(line) for line in world.objects.read(world.work.errors("0000")).splitlines()]
    assert [(e["line"], e["raw"]) for e in errors] == [
        (3, '{"link": {}}'),
        (4, "not json"),
        (7, '["array"]'),
        (8, '{"link": {"customer_id": []}}'),
    ]
    assert errors[0]["error"].startswith("link: must hold one identifier: email;")
    assert errors[1]["error"].startswith("invalid JSON: ")
    assert errors[2]["error"] == "expected a JSON object, got an array"
    assert errors[3]["error"] == "link.customer_id: must be a string"
    assert world.stored("customer_id:a") == {"link": {"customer_id": "a"}}
    assert world.stored("customer_id:b") == {"link": {"customer_id": "b"}}


def test_load_chunk_stores_each_record_as_the_line_sent():
    # Byte for byte, spacing and escapes included: nothing is parsed into a copy and dumped again.
    line = b'{ "link" : { "customer_id" : 7 } ,  "first_name" : "Ad\\u0061", "n": 1.50 }'
    world = World(line + b"\n")
    world.run()
    assert world.records.get(ACCOUNT, DATASET, "customer_record", "customer_id:7") == line.decode()


def test_load_chunk_clips_very_long_raw_lines_in_the_error_log():
    long_invalid = b"{" + b"z" * (pipeline_module.ERROR_RAW_LIMIT + 500)
    world = World(ndjson(long_invalid), read_size=4096)
    world.run()
    (entry,) = world.error_log()
    assert entry["line"] == 1
    assert len(entry["raw"]) == pipeline_module.ERROR_RAW_LIMIT


# -- Finalize ------------------------------------------------------------------------------------

def test_end_to_end_stats_error_log_and_cleanup():
    lines = []
    expected_errors = []
    for n in range(1, 61):
        if n % 7 == 0:
            lines.append(b"{broken")
            expected_errors.append(n)
        elif n % 11 == 0:
            lines.append(b'{"link": {"email": "no"}}')  # no key: routed by its length, unlike {broken
            expected_errors.append(n)
        else:
            lines.append(customer(f"c{n % 20}", n=n))
    lines[29] = b'{"too": "' + b"l" * MAX_LINE_BYTES + b'"}'  # line 30
    expected_errors = sorted(set(expected_errors) | {30})
    world = World(ndjson(*lines), chunk_target_bytes=400, max_chunks=5, read_size=64 * 1024)

    result = world.run()

    assert sum(1 for r in world.chunk_results if r["rejected"]) >= 2, "errors come from several chunks"
    assert result["status"] == "Completed"
    assert result["stats"] == {"total": 60, "loaded": 60 - len(expected_errors), "rejected": len(expected_errors)}
    job = world.job
    assert job["status"] == "Completed"
    assert job["stats"] == result["stats"]
    assert job["finished_at"]
    assert job["error_log_key"] == world.work.error_log
    log = world.error_log()
    assert [entry["line"] for entry in log] == expected_errors, "merged across chunks in line order"
    assert next(e for e in log if e["line"] == 30)["error"] == f"line is longer than {MAX_LINE_BYTES} bytes"
    assert world.objects.list_keys(world.work.prefix) == [], "work files are deleted"
    assert world.objects.exists(world.key), "the upload itself is kept"
    dataset = world.datasets.get(ACCOUNT, DATASET)
    assert dataset["record_counts"] == {"customer_record": world.records.count(ACCOUNT, DATASET, "customer_record")}
    assert dataset["last_load"]["upload_id"] == UPLOAD
    assert dataset["last_load"]["rejected"] == len(expected_errors)


def test_finalize_without_rejections_has_no_error_log():
    world = World(ndjson(customer("a"), customer("b")))
    result = world.run()
    assert result["stats"] == {"total": 2, "loaded": 2, "rejected": 0}
    assert "error_log_key" not in world.job
    assert not world.objects.exists(world.work.error_log)


def test_finalize_sums_chunk_stats_and_split_rejections():
    world = World(ndjson(customer("a")))
    world.objects.put(world.work.errors("split"), b'{"line":4,"error":"too long","raw":""}\n')
    world.objects.put(world.work.errors("0000"), b'{"line":2,"error":"e","raw":"x"}\n{"line":9,"error":"e","raw":"y"}\n')
    world.objects.put(world.work.errors("0001"), b'{"line":1,"error":"e","raw":"z"}\n{"line":5,"error":"e","raw":"w"}\n')
    world.objects.put(world.work.chunk(0), b"ignored")
    state = {
        "job": {"account_id": ACCOUNT, "upload_id": UPLOAD, "dataset_id": DATASET, "record_type": "customer_record",
                "split": {"total": 10, "rejected": 1}},
        "chunk_results": [
            {"index": 0, "total": 5, "loaded": 3, "rejected": 2},
            {"index": 1, "total": 4, "loaded": 2, "rejected": 2},
        ],
    }
    result = world.pipeline.finalize(state)
    assert result == {"upload_id": UPLOAD, "status": "Completed", "stats": {"total": 10, "loaded": 5, "rejected": 5}}
    assert [entry["line"] for entry in world.error_log()] == [1, 2, 4, 5, 9]
    assert world.objects.list_keys(world.work.prefix) == []


def test_finalize_refuses_when_chunk_totals_do_not_add_up():
    world = World(ndjson(customer("a")))
    state = {
        "job": {"account_id": ACCOUNT, "upload_id": UPLOAD, "dataset_id": DATASET, "record_type": "customer_record",
                "split": {"total": 10, "rejected": 0}},
        "chunk_results": [{"index": 0, "total": 9, "loaded": 9, "rejected": 0}],
    }
    with pytest.raises(RuntimeError, match="do not match"):
        world.pipeline.finalize(state)
    assert world.job["status"] != "Completed"


# -- dry run -------------------------------------------------------------------------------------

def test_dry_run_validates_but_writes_nothing_to_the_record_store():
    world = World(ndjson(customer("a"), b"bad", customer("b")), options={"dry_run": True})
    result = world.run()
    assert result["stats"] == {"total": 3, "loaded": 2, "rejected": 1}
    assert world.records.items == {}
    assert world.records.put_calls == 0
    assert [entry["line"] for entry in world.error_log()] == [2]
    dataset = world.datasets.get(ACCOUNT, DATASET)
    assert dataset["record_counts"] == {}
    assert "last_load" not in dataset


# -- MarkFailed ----------------------------------------------------------------------------------

def test_mark_failed_sets_failed_with_reason_and_cleans_up():
    world = World(ndjson(customer("a"), customer("b")))
    state = world.split()
    world.records.put_records(ACCOUNT, DATASET, "customer_record", [("a", '{"x":1}')], job_id=UPLOAD)
    cause = json.dumps({"errorMessage": "the gzip file is truncated: upload again"})
    result = world.pipeline.mark_failed({**state, "error": {"Error": "FileRejectedError", "Cause": cause}})
    assert result == {"upload_id": UPLOAD, "status": "Failed", "failure_reason": "the gzip file is truncated: upload again"}
    job = world.job
    assert job["status"] == "Failed"
    assert job["failure_reason"] == "the gzip file is truncated: upload again"
    assert job["finished_at"]
    assert world.objects.list_keys(world.work.prefix) == []
    dataset = world.datasets.get(ACCOUNT, DATASET)
    assert dataset["record_counts"] == {"customer_record": 1}, "count stays true to records already loaded"
    assert dataset["last_load"]["status"] == "Failed"


def test_mark_failed_from_execution_input_before_inspect():
    world = World(b"")
    result = world.pipeline.mark_failed(
        {"account_id": ACCOUNT, "upload_id": UPLOAD, "error": {"Error": "Sandbox.Timedout"}}
    )
    assert result["status"] == "Failed"
    assert world.job["status"] == "Failed"
    assert world.job["failure_reason"] == (
        "a processing step ran out of time (Sandbox.Timedout); split the file into smaller files and upload those")
    assert "last_load" not in world.datasets.get(ACCOUNT, DATASET)


def test_inspect_notes_the_record_type_for_clear_data_unless_dry_run():
    world = World(b'{"link": {"customer_id": "a"}}\n')
    world.inspect()
    assert world.datasets.get(ACCOUNT, DATASET)["record_types_seen"] == {"customer_record"}
    dry = World(b'{"link": {"customer_id": "a"}}\n', options={"dry_run": True})
    dry.inspect()
    assert "record_types_seen" not in dry.datasets.get(ACCOUNT, DATASET)
