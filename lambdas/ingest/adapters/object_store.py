"""S3 access for uploads, work files (chunks, manifests) and results (error logs)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime

from botocore.exceptions import ClientError

from ingest.adapters.aws_errors import error_code, translated
from ingest.errors import BadRequestError

READ_CHUNK_BYTES = 1024 * 1024
_DELETE_BATCH = 1000  # DeleteObjects accepts at most 1,000 keys per call
_LIST_PARTS_PAGE = 1000  # ListParts answers at most 1,000 parts a page
# CompleteMultipartUpload's refusals that are the caller's part list, not our fault: S3's message says which.
_BAD_PART_LIST = ("InvalidPart", "InvalidPartOrder", "EntityTooSmall", "MalformedXML")
# S3 multipart: every part but the last must be at least 5 MiB, and an upload has at most 10,000 parts.
MIN_PART_BYTES = 5 * 1024 * 1024
MAX_PARTS = 10_000
# 16 MiB parts: at most 16 MiB (plus one write) held in memory, objects up to 156 GiB. The largest
# error log we can write is ~1.7x the lines of a 5 GB upload - more when gzip expands it - well below.
STREAM_PART_BYTES = 16 * 1024 * 1024


class StreamingUpload:
    """One object written part by part (an S3 multipart upload), holding at most one part in memory.

    A writer for output of unknown length (an error log merged from many files): nothing goes
    through the local disk, whose 512 MiB a large error log would fill. An object smaller than one
    part is a single PutObject. Used as a context manager: completes on a clean exit, aborts the
    multipart upload (no orphaned parts) when the block raises; discard() drops what was written.
    """

    def __init__(self, s3_client, bucket: str, key: str, content_type: str, part_bytes: int, parallel: int = 1):
        self._s3 = s3_client
        # parallel > 1: up to that many parts upload at once on threads while the writer goes on (one
        # S3 connection moves ~90 MB/s; Decompress writes a gzip upload's lines at several times that),
        # holding at most `parallel` parts in memory besides the buffer.
        self._pool = (ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="part-upload")
                      if parallel > 1 else None)
        self._in_flight = threading.BoundedSemaphore(parallel)
        self._pending: list[Future] = []
        self._numbered = 0  # part numbers handed out
        self._bucket = bucket
        self._key = key
        self._content_type = content_type
        self._part_bytes = part_bytes
        self._buffer = bytearray()
        self._parts: list[dict] = []
        self._upload_id: str | None = None
        self._finished = False
        self.bytes_written = 0

    def __enter__(self) -> StreamingUpload:
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        if exc_type is None:
            if not self._finished:
                self.complete()
            return
        try:
            self.discard()
        except ClientError:
            pass  # keep the block's own error; the bucket's lifecycle rule aborts leftover parts in a day

    def write(self, data: bytes) -> None:
        self._buffer += data
        self.bytes_written += len(data)
        while len(self._buffer) >= self._part_bytes:
            self._send_part(bytes(self._buffer[:self._part_bytes]))
            del self._buffer[:self._part_bytes]

    def _send_part(self, body: bytes) -> None:
        if self._pool is None:
            self._upload_part(body)
            return
        number = self._next_part_number()
        self._in_flight.acquire()  # bounds the parts held in memory
        future = self._pool.submit(self._upload_numbered, number, body)
        future.add_done_callback(lambda _: self._in_flight.release())
        self._pending.append(future)

    def _wait_for_parts(self) -> None:
        pending, self._pending = self._pending, []
        for future in pending:
            future.result()  # raises the first failed part's error
        self._parts.sort(key=lambda part: part["PartNumber"])

    def complete(self) -> None:
        """Publish the object: the last part and CompleteMultipartUpload, or one PutObject if it is small."""
        try:
            if self._upload_id is None:
                self._s3.put_object(Bucket=self._bucket, Key=self._key, Body=bytes(self._buffer),
                                    ContentType=self._content_type)
            else:
                if self._buffer:
                    self._send_part(bytes(self._buffer))
                self._wait_for_parts()
                self._s3.complete_multipart_upload(Bucket=self._bucket, Key=self._key, UploadId=self._upload_id,
                                                   MultipartUpload={"Parts": self._parts})
        except BaseException:
            self.discard()
            raise
        self._buffer.clear()
        self._finished = True
        self._shutdown()

    def discard(self) -> None:
        """Publish nothing; abort the multipart upload if one was started (its parts are deleted)."""
        self._buffer.clear()
        self._finished = True
        for future in self._pending:
            future.cancel()
        self._shutdown()
        if self._upload_id is not None:
            upload_id, self._upload_id = self._upload_id, None
            self._s3.abort_multipart_upload(Bucket=self._bucket, Key=self._key, UploadId=upload_id)

    def _shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        self._pending = []

    def _next_part_number(self) -> int:
        if self._upload_id is None:
            self._upload_id = self._s3.create_multipart_upload(
                Bucket=self._bucket, Key=self._key, ContentType=self._content_type)["UploadId"]
        self._numbered += 1
        if self._numbered > MAX_PARTS:
            raise ValueError(f"{self._key}: over S3's {MAX_PARTS} parts of {self._part_bytes} bytes")
        return self._numbered

    def _upload_part(self, body: bytes) -> None:
        self._upload_numbered(self._next_part_number(), body)

    def _upload_numbered(self, number: int, body: bytes) -> None:
        response = self._s3.upload_part(Bucket=self._bucket, Key=self._key, UploadId=self._upload_id,
                                        PartNumber=number, Body=body)
        self._parts.append({"PartNumber": number, "ETag": response["ETag"]})  # list.append is atomic


@translated
class ObjectStore:
    def __init__(self, s3_client, bucket: str, part_bytes: int = STREAM_PART_BYTES):
        self._s3 = s3_client
        self.bucket = bucket
        self._part_bytes = part_bytes  # a test seam: tests use small parts (and lower moto's minimum)
        self._min_part_bytes = min(part_bytes, MIN_PART_BYTES)

    def size_of(self, key: str) -> int | None:
        try:
            return self._s3.head_object(Bucket=self.bucket, Key=key)["ContentLength"]
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def first_bytes(self, key: str, count: int) -> bytes:
        response = self._s3.get_object(Bucket=self.bucket, Key=key, Range=f"bytes=0-{count - 1}")
        return response["Body"].read()

    def stream(self, key: str) -> Iterator[bytes]:
        body = self._s3.get_object(Bucket=self.bucket, Key=key)["Body"]
        try:
            yield from body.iter_chunks(READ_CHUNK_BYTES)
        finally:
            body.close()

    def stream_range(self, key: str, start: int, end: int | None = None) -> Iterator[bytes]:
        """Bytes [start, end) of `key` (to its end when end is None), streamed by one ranged GET that
        starts only when the first piece is asked for; nothing when the range is empty or past the end."""
        if end is not None and end <= start:
            return
        byte_range = f"bytes={start}-" if end is None else f"bytes={start}-{end - 1}"
        try:
            body = self._s3.get_object(Bucket=self.bucket, Key=key, Range=byte_range)["Body"]
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "InvalidRange":  # start at or past the object's end
                return
            raise
        try:
            yield from body.iter_chunks(READ_CHUNK_BYTES)
        finally:
            body.close()

    def read(self, key: str) -> bytes:
        return self._s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def exists(self, key: str) -> bool:
        return self.size_of(key) is not None

    def put(self, key: str, data: bytes, content_type: str = "application/x-ndjson") -> None:
        self._s3.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)

    def writer(self, key: str, content_type: str = "application/x-ndjson",
               part_bytes: int | None = None, parallel: int = 1) -> StreamingUpload:
        """Write `key` piece by piece, straight to S3 (see StreamingUpload). `part_bytes` (at least S3's
        5 MiB minimum) bounds what the writer holds: Split keeps one writer per partition open at once.
        `parallel` parts upload at once (Decompress, whose output outruns one connection)."""
        return StreamingUpload(self._s3, self.bucket, key, content_type,
                               self._part_bytes if part_bytes is None else max(part_bytes, self._min_part_bytes),
                               parallel=parallel)

    def put_file(self, key: str, path: str, content_type: str = "application/x-ndjson") -> None:
        # upload_file switches to multipart for large files.
        self._s3.upload_file(path, self.bucket, key, ExtraArgs={"ContentType": content_type})

    def list_keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            keys.extend(item["Key"] for item in page.get("Contents", []))
        return keys

    def delete_prefix(self, prefix: str) -> int:
        keys = [{"Key": key} for key in self.list_keys(prefix)]
        for start in range(0, len(keys), _DELETE_BATCH):
            batch = keys[start:start + _DELETE_BATCH]
            self._s3.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
        return len(keys)

    def presigned_put(self, key: str, expires_in: int, content_length: int | None = None) -> str:
        """A PUT URL for one key; with content_length, S3 accepts only a body of exactly that size."""
        params: dict[str, str | int] = {"Bucket": self.bucket, "Key": key}
        if content_length is not None:
            params["ContentLength"] = content_length
        return self._s3.generate_presigned_url("put_object", Params=params, ExpiresIn=expires_in)

    def presigned_get(self, key: str, expires_in: int) -> str:
        return self._s3.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires_in
        )

    # -- multipart uploads a client sends through presigned part URLs (logic/multipart_uploads.py)
    def start_multipart(self, key: str, content_type: str = "application/octet-stream") -> str:
        """CreateMultipartUpload: S3's UploadId for `key`."""
        return self._s3.create_multipart_upload(Bucket=self.bucket, Key=key, ContentType=content_type)["UploadId"]

    def presigned_part(self, key: str, upload_id: str, part_number: int, expires_in: int) -> str:
        """An UploadPart URL. No Content-Length is signed: a client's parts may differ in size (gzip
        members per part, Uppy's own chunking); CompleteMultipartUpload checks S3's part-size rules."""
        return self._s3.generate_presigned_url(
            "upload_part", Params={"Bucket": self.bucket, "Key": key, "UploadId": upload_id,
                                   "PartNumber": part_number}, ExpiresIn=expires_in)

    def list_parts(self, key: str, upload_id: str) -> list[dict] | None:
        """[{part_number, size, etag}] of every part S3 holds, by number; None when the upload is gone."""
        parts: list[dict] = []
        request = {"Bucket": self.bucket, "Key": key, "UploadId": upload_id, "MaxParts": _LIST_PARTS_PAGE}
        try:
            while True:
                page = self._s3.list_parts(**request)
                parts.extend({"part_number": part["PartNumber"], "size": part["Size"], "etag": part["ETag"]}
                             for part in page.get("Parts", []))
                if not page.get("IsTruncated"):
                    return parts
                request["PartNumberMarker"] = page["NextPartNumberMarker"]
        except ClientError as exc:
            if error_code(exc) == "NoSuchUpload":
                return None
            raise

    def complete_multipart(self, key: str, upload_id: str, parts: list[tuple[int, str]]) -> bool:
        """CompleteMultipartUpload with (part_number, etag) in order; False when the upload is gone.
        BadRequestError with S3's reason when the list does not match the parts S3 holds."""
        try:
            self._s3.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id,
                MultipartUpload={"Parts": [{"PartNumber": number, "ETag": etag} for number, etag in parts]})
        except ClientError as exc:
            code = error_code(exc)
            if code == "NoSuchUpload":
                return False
            if code in _BAD_PART_LIST:
                message = exc.response.get("Error", {}).get("Message", "")
                raise BadRequestError(f"S3 refused the part list: {code}: {message}") from None
            raise
        return True

    def open_multipart_uploads(self, prefix: str, initiated_before: datetime) -> list[tuple[str, str]]:
        """(key, upload id) of every multipart upload under `prefix` still open and started before then."""
        found: list[tuple[str, str]] = []
        paginator = self._s3.get_paginator("list_multipart_uploads")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            found.extend((upload["Key"], upload["UploadId"]) for upload in page.get("Uploads", [])
                         if upload["Initiated"] < initiated_before)
        return found

    def abort_multipart(self, key: str, upload_id: str) -> bool:
        """AbortMultipartUpload (its parts are deleted); False when it was already gone (idempotent)."""
        try:
            self._s3.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        except ClientError as exc:
            if error_code(exc) == "NoSuchUpload":
                return False
            raise
        return True
