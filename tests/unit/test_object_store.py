"""ObjectStore's streaming writer against moto's S3 (a child process on loopback, tests/unit/conftest.py).

moto enforces S3's multipart rules (every part but the last at least its minimum, which the fixture
sets to the tests' own small part size), so a few hundred kilobytes make many parts.
"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from ingest.adapters import object_store
from ingest.adapters.object_store import ObjectStore
from tests.unit.conftest import PART_BYTES

KEY = "results/acct/upload-1/errors.ndjson"


class InjectedError(Exception):
    pass


def recorded_parts(client) -> list[int]:
    """Sizes of the parts uploaded through `client`, in order."""
    sizes: list[int] = []
    client.meta.events.register("before-parameter-build.s3.UploadPart",
                                lambda params, **_: sizes.append(len(params["Body"])))
    return sizes


def lines(count: int, width: int = 100) -> list[bytes]:
    return [(b"%08d " % number).ljust(width - 1, b"x") + b"\n" for number in range(count)]


def test_a_large_object_is_written_in_parts_of_the_part_size_and_reads_back_whole(s3):
    parts = recorded_parts(s3)
    data = lines(2_000)  # 200,000 bytes: three full 64 KiB parts and a last, smaller one
    with ObjectStore(s3, s3.test_bucket, part_bytes=PART_BYTES).writer(KEY) as writer:
        for line in data:
            writer.write(line)
    assert parts == [PART_BYTES, PART_BYTES, PART_BYTES, 200_000 - 3 * PART_BYTES]
    stored = s3.get_object(Bucket=s3.test_bucket, Key=KEY)
    assert stored["Body"].read() == b"".join(data)
    assert stored["ETag"].endswith('-4"'), stored["ETag"]  # S3's ETag of a 4-part multipart object
    assert stored["ContentType"] == "application/x-ndjson"
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=s3.test_bucket)


def test_an_object_smaller_than_a_part_is_one_put(s3):
    parts = recorded_parts(s3)
    with ObjectStore(s3, s3.test_bucket, part_bytes=PART_BYTES).writer(KEY, content_type="application/json") as writer:
        writer.write(b'{"a": 1}\n')
    assert parts == []
    stored = s3.get_object(Bucket=s3.test_bucket, Key=KEY)
    assert stored["Body"].read() == b'{"a": 1}\n'
    assert stored["ContentType"] == "application/json"
    assert "-" not in stored["ETag"]


def test_a_failure_while_writing_aborts_the_upload_and_publishes_nothing(s3):
    writer = ObjectStore(s3, s3.test_bucket, part_bytes=PART_BYTES).writer(KEY)
    with pytest.raises(InjectedError):
        with writer:
            for line in lines(1_000):  # 100,000 bytes: one part is already uploaded
                writer.write(line)
            raise InjectedError
    assert writer.bytes_written == 100_000
    assert "Contents" not in s3.list_objects_v2(Bucket=s3.test_bucket)
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=s3.test_bucket), "parts left behind"


def test_discard_publishes_nothing(s3):
    with ObjectStore(s3, s3.test_bucket, part_bytes=PART_BYTES).writer(KEY) as writer:
        for line in lines(1_000):
            writer.write(line)
        writer.discard()
    assert "Contents" not in s3.list_objects_v2(Bucket=s3.test_bucket)
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=s3.test_bucket)


def test_a_single_write_larger_than_several_parts_is_cut_into_parts(s3):
    parts = recorded_parts(s3)
    blob = bytes(range(256)) * 1_000  # 256,000 bytes in one write
    with ObjectStore(s3, s3.test_bucket, part_bytes=PART_BYTES).writer(KEY) as writer:
        writer.write(blob)
    assert parts == [PART_BYTES] * 3 + [256_000 - 3 * PART_BYTES]
    assert s3.get_object(Bucket=s3.test_bucket, Key=KEY)["Body"].read() == blob


def test_s3_refuses_parts_under_its_minimum_and_the_writer_then_leaves_nothing(s3):
    """The S3 here applies the minimum part size, so the tests above do check it."""
    writer = ObjectStore(s3, s3.test_bucket, part_bytes=PART_BYTES // 2).writer(KEY)
    with pytest.raises(ClientError) as refused:
        with writer:
            writer.write(b"x" * (PART_BYTES * 2))
    assert refused.value.response["Error"]["Code"] == "EntityTooSmall"
    assert "Contents" not in s3.list_objects_v2(Bucket=s3.test_bucket)
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=s3.test_bucket)


def test_the_deployed_part_size_meets_s3s_minimum():
    # S3 refuses (EntityTooSmall) a part under 5 MiB that is not the last one.
    assert object_store.STREAM_PART_BYTES >= object_store.MIN_PART_BYTES == 5 * 1024 * 1024
