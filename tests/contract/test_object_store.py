"""FakeObjectStore against ObjectStore (adapters/object_store.py) on moto's S3."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from ingest.adapters.object_store import ObjectStore
from ingest.errors import BadRequestError
from tests.contract.signatures import assert_same_methods
from tests.support.moto_server import PART_BYTES
from tests.unit.fakes import FakeObjectStore


class Broken(Exception):
    pass


@pytest.fixture(params=["fake", "adapter"])
def objects(request, aws):
    if request.param == "fake":
        fake = FakeObjectStore()
        fake.min_part_bytes = PART_BYTES  # as the moto server these tests run on (tests/support/moto_server.py)
        return fake
    s3 = aws.client("s3")
    bucket = f"contract-{uuid.uuid4().hex}"
    s3.create_bucket(Bucket=bucket)
    return ObjectStore(s3, bucket, part_bytes=PART_BYTES)


def test_the_fake_offers_the_adapters_methods_with_their_parameters():
    assert_same_methods(FakeObjectStore, ObjectStore, fake_only={"upload_part"})


def test_an_object_reads_back_whole_in_pieces_and_from_its_start(objects):
    data = bytes(range(256)) * 5
    objects.put("uploads/acme/u1/f.ndjson", data)
    assert objects.exists("uploads/acme/u1/f.ndjson")
    assert objects.size_of("uploads/acme/u1/f.ndjson") == len(data)
    assert objects.read("uploads/acme/u1/f.ndjson") == data
    assert b"".join(objects.stream("uploads/acme/u1/f.ndjson")) == data
    assert objects.first_bytes("uploads/acme/u1/f.ndjson", 2) == data[:2]
    assert objects.first_bytes("uploads/acme/u1/f.ndjson", 10_000) == data


def test_a_byte_range_streams_only_its_bytes(objects):
    data = bytes(range(256)) * 5
    objects.put("uploads/acme/u1/f.ndjson", data)
    for start, end in ((0, 1), (3, 700), (700, 1280), (1279, 1280), (1000, None), (0, None)):
        assert b"".join(objects.stream_range("uploads/acme/u1/f.ndjson", start, end)) == data[start:end]
    assert b"".join(objects.stream_range("uploads/acme/u1/f.ndjson", 5, 5)) == b""
    assert b"".join(objects.stream_range("uploads/acme/u1/f.ndjson", 1280, None)) == b""  # at the end
    assert b"".join(objects.stream_range("uploads/acme/u1/f.ndjson", 1200, 5000)) == data[1200:]


def test_a_writer_with_its_own_part_size_writes_the_same_object(objects):
    lines = [b"%07d\n" % number for number in range(30_000)]  # 240,000 bytes
    with objects.writer("work/u1/parts/00001/00000", part_bytes=PART_BYTES) as writer:
        for line in lines:
            writer.write(line)
    assert objects.read("work/u1/parts/00001/00000") == b"".join(lines)


def test_a_missing_object_has_no_size(objects):
    assert objects.size_of("uploads/acme/u1/none") is None
    assert not objects.exists("uploads/acme/u1/none")


def test_an_empty_object_exists_with_size_zero(objects):
    objects.put("work/empty", b"")
    assert objects.exists("work/empty") and objects.size_of("work/empty") == 0
    assert b"".join(objects.stream("work/empty")) == b""


def test_a_file_is_stored_as_its_bytes(objects, tmp_path):
    path = tmp_path / "chunk"
    path.write_bytes(b'{"a": 1}\n' * 1000)
    objects.put_file("work/u1/chunk-0", str(path))
    assert objects.read("work/u1/chunk-0") == path.read_bytes()


def test_keys_are_listed_by_prefix_in_order_and_deleted_by_prefix(objects):
    for key in ("work/u1/b", "work/u1/a", "work/u10/a", "work/u2/a", "results/u1/errors"):
        objects.put(key, b"x")
    assert objects.list_keys("work/u1/") == ["work/u1/a", "work/u1/b"]
    assert objects.list_keys("work/u1") == ["work/u1/a", "work/u1/b", "work/u10/a"]
    assert objects.list_keys("nothing/") == []
    assert objects.delete_prefix("work/u1/") == 2
    assert objects.list_keys("work/") == ["work/u10/a", "work/u2/a"]
    assert objects.delete_prefix("work/u1/") == 0


def test_a_writer_publishes_its_object_only_when_its_block_ends_cleanly(objects):
    lines = [b"%06d\n" % number for number in range(20_000)]  # 140,000 bytes: several parts
    with objects.writer("results/u1/errors.ndjson") as writer:
        for line in lines:
            writer.write(line)
        assert not objects.exists("results/u1/errors.ndjson"), "visible before the block ended"
    assert objects.read("results/u1/errors.ndjson") == b"".join(lines)

    with pytest.raises(Broken):
        with objects.writer("results/u2/errors.ndjson") as writer:
            writer.write(b"x" * (PART_BYTES + 1))
            raise Broken()
    assert not objects.exists("results/u2/errors.ndjson")

    with objects.writer("results/u3/errors.ndjson") as writer:
        writer.write(b"partial\n")
        writer.discard()
    assert not objects.exists("results/u3/errors.ndjson")


def test_presigned_urls_name_their_key_and_lifetime(objects):
    put = urlsplit(objects.presigned_put("uploads/acme/u1/f.ndjson", 3600, content_length=42))
    get = urlsplit(objects.presigned_get("results/acme/u1/errors.ndjson", 600))
    assert put.path.endswith("/uploads/acme/u1/f.ndjson") and get.path.endswith("/results/acme/u1/errors.ndjson")
    assert "3600" in [value for values in parse_qs(put.query).values() for value in values]
    assert "600" in [value for values in parse_qs(get.query).values() for value in values]


# -- multipart uploads sent by a client through presigned part URLs
def _send_part(objects, key: str, upload_id: str, number: int, data: bytes) -> str:
    if isinstance(objects, FakeObjectStore):
        return objects.upload_part(upload_id, number, data)
    response = requests.put(objects.presigned_part(key, upload_id, number, 60), data=data, timeout=30)
    assert response.status_code == 200, response.text
    return response.headers["ETag"]


def test_parts_sent_to_signed_urls_are_listed_and_complete_into_the_object(objects):
    key = "uploads/acme/u9/customer_record-big.ndjson"
    upload_id = objects.start_multipart(key)
    first, second = b"a" * PART_BYTES, b"b" * PART_BYTES
    etag_1 = _send_part(objects, key, upload_id, 1, first)
    assert objects.list_parts(key, upload_id) == [{"part_number": 1, "size": PART_BYTES, "etag": etag_1}]
    etag_2 = _send_part(objects, key, upload_id, 2, second)
    etag_3 = _send_part(objects, key, upload_id, 3, b"c")
    assert [part["part_number"] for part in objects.list_parts(key, upload_id)] == [1, 2, 3]
    with pytest.raises(BadRequestError, match="InvalidPart"):
        objects.complete_multipart(key, upload_id, [(1, etag_1), (2, etag_1)])
    assert objects.complete_multipart(key, upload_id, [(1, etag_1), (2, etag_2), (3, etag_3)]) is True
    assert objects.read(key) == first + second + b"c"
    assert objects.list_parts(key, upload_id) is None


def test_a_part_under_the_minimum_but_the_last_is_refused_and_abort_is_idempotent(objects):
    key = "uploads/acme/u8/customer_record-big.ndjson"
    upload_id = objects.start_multipart(key)
    small = _send_part(objects, key, upload_id, 1, b"x" * (PART_BYTES - 1))
    last = _send_part(objects, key, upload_id, 2, b"y")
    with pytest.raises(BadRequestError, match="EntityTooSmall"):
        objects.complete_multipart(key, upload_id, [(1, small), (2, last)])
    started_before = datetime.now(UTC) + timedelta(minutes=1)
    assert (key, upload_id) in objects.open_multipart_uploads("uploads/acme/", started_before)
    assert (key, upload_id) not in objects.open_multipart_uploads("uploads/acme/", started_before - timedelta(hours=1))
    assert objects.abort_multipart(key, upload_id) is True
    assert objects.list_parts(key, upload_id) is None
    assert objects.abort_multipart(key, upload_id) is False
    assert (key, upload_id) not in objects.open_multipart_uploads("uploads/", started_before)
