"""Gzip uploads on in-memory fakes: Decompress as a chain of bounded invocations (logic/load/decompress.py,
resumable_gzip.py).

The property: however many invocations the chain takes, its plain parts and split manifest are byte for
byte what one invocation writes, and a damaged file fails with a reason a user can act on. The time
budget is configuration (0 s: every invocation writes one part), never the machine's speed.
"""

from __future__ import annotations

import gzip
import itertools
import random
import zlib

import orjson
import pytest

from ingest.errors import FileRejectedError
from ingest.logic.load import decompress, inspect
from ingest.logic.load.context import LoadContext, LoadSettings
from ingest.logic.load.layout import WorkKeys
from ingest.logic.load.resumable_gzip import (
    SENTINEL,
    ResumableGunzip,
    crc32_combine,
    crc32_of_suffix,
    trim_index,
)
from ingest.models.workflow import DecompressState, ExecutionInput, LoadJob
from tests.support.load_runner import run_upload
from tests.unit.fakes import FakeDatasetsTable, FakeJobsTable, FakeObjectStore, FakeRecordStore

ACCOUNT = "acme"
UPLOAD = "01J0000000000000000000GZIP"
DATASET = "ds-1"
WORK = WorkKeys(ACCOUNT, UPLOAD)
SEEK_POINTS = 64 * 1024  # zran's smallest useful spacing is above its 32 KiB window


def customers(count: int, seed: int = 7) -> bytes:
    rng = random.Random(seed)
    return b"".join(orjson.dumps({"link": {"customer_id": f"c{number}"}, "first_name": f"n{rng.randrange(10**9)}",
                                  "custom_fields": {"score": rng.random()}}) + b"\n" for number in range(count))


def csv_rows(count: int) -> bytes:
    head = "link.customer_id,first_name,last_name\r\n"
    rows = "".join(f'c{number},"multi\nline {number}","O""Brien {number}"\r\n' for number in range(count))
    return (head + rows).encode()


class Gzipped:
    """One gzip upload, its job and dataset, and the Decompress chain run invocation by invocation."""

    def __init__(self, compressed: bytes, filename: str = "f.ndjson.gz", *, range_bytes: int = 50_000,
                 budget: float = 0.0, read_size: int = 8192):
        self.objects = FakeObjectStore(read_size=read_size)
        self.jobs = FakeJobsTable()
        datasets = FakeDatasetsTable()
        datasets.add(ACCOUNT, DATASET)
        self.key = f"uploads/{ACCOUNT}/{UPLOAD}/{filename}"
        self.objects.put(self.key, compressed)
        self.jobs.create({"account_id": ACCOUNT, "job_id": UPLOAD, "job_type": "upload", "status": "Pending",
                          "filename": filename, "dataset_id": DATASET, "record_type": "customer_record",
                          "object_key": self.key, "stats": {"total": 0, "loaded": 0, "rejected": 0}})
        self.ctx = LoadContext(objects=self.objects, jobs=self.jobs, datasets=datasets, records=FakeRecordStore(),
                               settings=LoadSettings(range_bytes=range_bytes, decompress_budget_seconds=budget,
                                                     inflate_seek_point_bytes=SEEK_POINTS))
        self.job: LoadJob = inspect.inspect(self.ctx, ExecutionInput(account_id=ACCOUNT, upload_id=UPLOAD))
        self.states: list[DecompressState] = []

    def chain(self) -> LoadJob:
        state = decompress.decompress(self.ctx, self.job)
        self.states.append(state)
        while state.decompress is not None:
            # Through JSON, as Step Functions passes it to the next invocation.
            state = DecompressState.model_validate_json(orjson.dumps(state.state()))
            state = decompress.decompress(self.ctx, state.job, state.decompress)
            self.states.append(state)
        return state.job

    def outputs(self) -> tuple[list[dict], bytes]:
        tasks = orjson.loads(self.objects.read(WORK.split_manifest))
        return tasks, b"".join(self.objects.read(task["source_key"]) for task in tasks)


@pytest.mark.parametrize(("plain", "filename"), [(customers(6000), "f.ndjson.gz"), (csv_rows(9000), "f.csv.gz")])
def test_the_chain_writes_byte_for_byte_what_one_invocation_writes(plain, filename):
    compressed = gzip.compress(plain, mtime=0)
    one = Gzipped(compressed, filename, budget=3600)
    one_job = one.chain()
    chained = Gzipped(compressed, filename, budget=0)
    chained_job = chained.chain()
    tasks, joined = chained.outputs()
    assert len(one.states) == 1
    assert len(chained.states) == len(tasks) > 5  # a budget of 0 s: one part per invocation
    assert (tasks, joined) == one.outputs()
    assert joined == plain
    assert chained_job == one_job and chained_job.ranges == len(tasks)
    # Every invocation after the first resumed from a checkpoint of constant size, not from the start.
    cursors = [state.decompress for state in chained.states if state.decompress is not None]
    assert [cursor.invocations for cursor in cursors] == list(range(1, len(tasks)))
    checkpoints = [chained.objects.read(WORK.inflate_checkpoint(cursor.invocations)) for cursor in cursors]
    assert max(len(point) for point in checkpoints) < 2 * 32 * 1024 + 200
    assert cursors[-1].plain_crc == zlib.crc32(plain[:cursors[-1].plain_offset])


def test_a_multi_member_file_goes_through_the_chain_unchanged():
    plain = customers(5000)
    cuts = [0, 1000, 123_457, 400_000, len(plain)]
    compressed = b"".join(gzip.compress(plain[a:b], mtime=0) for a, b in itertools.pairwise(cuts))
    world = Gzipped(compressed, budget=0)
    world.chain()
    assert world.outputs()[1] == plain and len(world.states) > 5


def test_an_invocation_retried_with_the_same_cursor_writes_the_same_parts():
    plain = customers(4000)
    world = Gzipped(gzip.compress(plain, mtime=0), budget=0)
    first = decompress.decompress(world.ctx, world.job)
    second = decompress.decompress(world.ctx, first.job, first.decompress)
    again = decompress.decompress(world.ctx, first.job, first.decompress)  # Lambda retried the invocation
    assert again == second
    state = again
    while state.decompress is not None:
        state = decompress.decompress(world.ctx, state.job, state.decompress)
    assert world.outputs()[1] == plain


def test_a_file_cut_short_fails_in_the_invocation_that_reaches_the_cut():
    plain = customers(6000)
    compressed = gzip.compress(plain, mtime=0)
    for cut in (len(compressed) - 3, len(compressed) - 9, len(compressed) * 2 // 3):
        world = Gzipped(compressed[:cut], budget=0)
        with pytest.raises(FileRejectedError, match=r"the gzip file is truncated"):
            world.chain()
        assert len(world.states) > 3  # the parts before the cut were written by earlier invocations


def test_data_after_the_last_member_is_refused():
    world = Gzipped(gzip.compress(customers(500), mtime=0) + b"not gzip at all\n", budget=3600)
    with pytest.raises(FileRejectedError, match=r"the gzip file is .*corrupt"):
        world.chain()


def test_the_last_members_trailer_is_checked_with_crc_arithmetic():
    first, second = customers(3000, seed=1), customers(2000, seed=2)
    assert crc32_combine(zlib.crc32(first), zlib.crc32(second), len(second)) == zlib.crc32(first + second)
    assert crc32_of_suffix(zlib.crc32(first + second), zlib.crc32(first), len(second)) == zlib.crc32(second)
    # A multi-member file whose last member starts inside a part: its CRC is found from the part's.
    members = gzip.compress(first, mtime=0) + gzip.compress(second, mtime=0)
    Gzipped(members, budget=0).chain()
    damaged = members[:-8] + (zlib.crc32(second) ^ 4).to_bytes(4, "little") + members[-4:]
    with pytest.raises(FileRejectedError, match=r"last member's CRC-32 or size"):
        Gzipped(damaged, budget=0).chain()


def test_a_single_member_whose_crc_does_not_match_fails_also_when_resumed():
    plain = customers(6000)
    compressed = gzip.compress(plain, mtime=0)
    bad_crc = compressed[:-8] + (zlib.crc32(plain) ^ 1).to_bytes(4, "little") + compressed[-4:]
    for budget in (3600, 0):  # one invocation (zran checks it) and a chain (zran cannot; the trailer check does)
        world = Gzipped(bad_crc, budget=budget)
        with pytest.raises(FileRejectedError, match=r"the gzip file is .*corrupt"):
            world.chain()


def test_corrupt_deflate_data_in_a_later_invocation_is_refused():
    plain = customers(6000)
    compressed = bytearray(gzip.compress(plain, mtime=0))
    for offset in range(len(compressed) * 3 // 4, len(compressed) * 3 // 4 + 64):
        compressed[offset] ^= 0xA5
    world = Gzipped(bytes(compressed), budget=0)
    with pytest.raises(FileRejectedError, match=r"the gzip file is .*corrupt"):
        world.chain()


def test_the_checkpoint_keeps_two_seek_points_and_resumes_exactly():
    plain = customers(8000)
    compressed = gzip.compress(plain, mtime=0)
    objects = FakeObjectStore(read_size=65536)
    objects.put("k", compressed)
    stop = len(plain) * 2 // 3 + 11
    out = b""
    with ResumableGunzip(objects, "k", len(compressed), spacing=SEEK_POINTS, read_bytes=2 * SEEK_POINTS) as inflating:
        for data in inflating.chunks():
            out += data
            if len(out) >= stop:
                break
        checkpoint = inflating.checkpoint()
    assert trim_index(checkpoint) == checkpoint and checkpoint.count(b"GZIDX") == 1
    with ResumableGunzip(objects, "k", len(compressed), checkpoint=checkpoint, offset=stop,
                         spacing=SEEK_POINTS, read_bytes=2 * SEEK_POINTS) as inflating:
        rest = b"".join(inflating.chunks())
    assert out[:stop] + rest == plain
    assert not rest.endswith(SENTINEL)


# -- in parallel by member (logic/load/members.py) --------------------------------------------------------
class RecordingStore(FakeObjectStore):
    """Remembers every key written, also after Finalize deletes the work files."""

    def __init__(self, read_size: int):
        super().__init__(read_size=read_size)
        self.written: list[str] = []

    def put(self, key: str, data: bytes, content_type: str = "application/x-ndjson") -> None:
        self.written.append(key)
        super().put(key, data, content_type)


class Upload:
    """A whole upload through the states (tests/support/load_runner), gzip or plain, on fakes."""

    def __init__(self, data: bytes, filename: str, *, group_bytes: int = 4000, budget: float = 3600,
                 range_bytes: int = 3000):
        self.objects = RecordingStore(read_size=1500)
        self.jobs = FakeJobsTable()
        self.datasets = FakeDatasetsTable()
        self.datasets.add(ACCOUNT, DATASET)
        self.records = FakeRecordStore()
        key = f"uploads/{ACCOUNT}/{UPLOAD}/{filename}"
        self.objects.put(key, data)
        self.jobs.create({"account_id": ACCOUNT, "job_id": UPLOAD, "job_type": "upload", "status": "Pending",
                          "filename": filename, "dataset_id": DATASET, "record_type": "customer_record",
                          "object_key": key, "stats": {"total": 0, "loaded": 0, "rejected": 0}})
        self.ctx = LoadContext(objects=self.objects, jobs=self.jobs, datasets=self.datasets, records=self.records,
                               settings=LoadSettings(range_bytes=range_bytes, partitions=4, load_window_records=50,
                                                     load_threads=2, inflate_group_bytes=group_bytes,
                                                     decompress_budget_seconds=budget,
                                                     inflate_seek_point_bytes=SEEK_POINTS))
        self.outcome = run_upload(self.ctx, ACCOUNT, UPLOAD)
        # Which way the file was inflated: members/ (in parallel by member), inflate-checkpoint/ (the chain).
        self.paths = {path for path in ("members", "inflate-checkpoint") if any(
            f"/{path}/" in key for key in self.objects.written)}

    def result(self) -> tuple:
        """What a user sees: the outcome, the error log's lines, every record with its line number."""
        log = self.objects.objects.get(WORK.error_log, b"")
        stored = {item_key[3]: (item["data"], item.get("line")) for item_key, item in self.records.items.items()}
        return self.outcome.status, self.outcome.stats, self.outcome.failure_reason, log, stored


def members_of(plain: bytes, cuts: list[int]) -> bytes:
    """`plain` gzipped as independent members cut at `cuts` (anywhere: inside lines, quoted fields)."""
    edges = [0, *cuts, len(plain)]
    return b"".join(gzip.compress(plain[a:b], mtime=0) for a, b in itertools.pairwise(edges))


def with_bad_lines(count: int) -> bytes:
    lines = customers(count).splitlines(keepends=True)
    for at in (3, 50, 51, 190, count - 1):
        lines[at] = b'{"link": {"customer_id": 5\n'  # invalid JSON, on a known line
    return b"".join(lines)


def test_a_multi_member_upload_is_inflated_by_member_and_loads_as_the_plain_file_does():
    plain = with_bad_lines(400)
    expected = Upload(plain, "f.ndjson").result()
    cuts = [*range(1, len(plain), 2345), 7000, 7001, 20_000]  # tiny members, members across groups
    upload = Upload(members_of(plain, sorted(set(cuts))), "f.ndjson.gz", group_bytes=3000)
    assert upload.result() == expected
    assert expected[1].rejected == 5 and expected[1].loaded == 395
    assert upload.paths == {"members"}  # inflated in parallel, never through the chain
    assert not upload.objects.list_keys(WORK.prefix)  # Finalize deleted the work files, member outputs included


def test_a_csv_upload_whose_quoted_fields_cross_members_loads_as_the_plain_file_does():
    plain = csv_rows(300)
    expected = Upload(plain, "f.csv").result()
    quoted_newlines = [index + 1 for index in range(len(plain)) if plain[index:index + 1] == b"\n"][::7]
    upload = Upload(members_of(plain, quoted_newlines), "f.csv.gz", group_bytes=2500)
    assert upload.result() == expected and expected[1].loaded == 300
    assert upload.paths == {"members"}


def test_a_single_member_upload_over_several_groups_goes_to_the_chain():
    plain = with_bad_lines(600)
    expected = Upload(plain, "f.ndjson").result()
    upload = Upload(gzip.compress(plain, mtime=0), "f.ndjson.gz", group_bytes=3000, budget=0)
    assert upload.result() == expected
    assert upload.paths == {"members", "inflate-checkpoint"}  # the groups did not chain: the sequential path


def test_a_false_member_start_inside_compressed_data_never_changes_the_records():
    # Stored deflate blocks (level 0) copy the data as is: a gzip member inside the data is a valid member
    # inside the compressed file, at a candidate position, which inflates cleanly (then what follows it is
    # not a member: the candidate is dropped and the group tries the next one, the true member start).
    # The inner member's bytes (NULs among them) start past the 8,000 bytes Inspect reads to tell a binary file.
    inner = gzip.compress(b'{"link": {"customer_id": "inner"}}\n', mtime=0)
    data = customers(100) + inner + b"\n" + customers(60, seed=5)
    expected = Upload(data, "f.ndjson").result()
    cut = data.find(inner) + len(inner) + 50  # the first member ends just after the false one
    compressed = gzip.compress(data[:cut], compresslevel=0, mtime=0) + gzip.compress(data[cut:], 0, mtime=0)
    at = compressed.find(inner)
    assert at > 0
    for group_bytes in (at, at - 1, at + 1, 1000, 4096):  # a group starting right at the false member, ...
        upload = Upload(compressed, "f.ndjson.gz", group_bytes=group_bytes)
        assert upload.result() == expected and upload.paths == {"members"}


def test_a_truncated_or_corrupt_multi_member_upload_fails_with_its_reason():
    plain = customers(400)
    compressed = members_of(plain, [9000, 30_000, 52_000])
    cut = Upload(compressed[:-5], "f.ndjson.gz", group_bytes=5000, budget=0)
    assert cut.outcome.status == "Failed" and cut.outcome.failure_reason.startswith("the gzip file is truncated")
    damaged = bytearray(compressed)
    for offset in range(len(damaged) * 2 // 3, len(damaged) * 2 // 3 + 40):
        damaged[offset] ^= 0x5A
    corrupt = Upload(bytes(damaged), "f.ndjson.gz", group_bytes=5000, budget=0)
    assert corrupt.outcome.status == "Failed"
    assert corrupt.outcome.failure_reason.startswith("the gzip file is truncated or corrupt")
    assert not corrupt.records.items  # it failed before any record was written
