"""A boto3-shaped S3 client over files in a directory, so the real ObjectStore adapter (and whatever the
steps call on it) runs on GB-sized objects without holding them in memory: GETs stream from the file
(ranges included), PUTs and multipart parts go to files.

It counts what S3 would bill (requests by price class, bytes in and out) and the CPU time spent in
itself, which the bench subtracts from the step's own CPU time (reading a local file is not what a
Lambda does; the model charges S3 transfer time from figures.py instead).
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import quote

from botocore.exceptions import ClientError

READ_BLOCK = 1024 * 1024
# S3 price classes (aws.amazon.com/s3/pricing): PUT, COPY, POST, LIST at one price; GET, HEAD and the
# rest at a tenth of it; DELETE and aborting a multipart upload are free.
PUT_CLASS = {"put_object", "create_multipart_upload", "upload_part", "complete_multipart_upload",
             "list_objects_v2", "copy_object", "upload_file"}
FREE = {"delete_objects", "delete_object", "abort_multipart_upload", "generate_presigned_url"}


def _not_found(operation: str, key: str) -> ClientError:
    code = "404" if operation == "HeadObject" else "NoSuchKey"
    return ClientError({"Error": {"Code": code, "Message": f"{key} not found"}}, operation)


class _Body:
    """StreamingBody's reading surface over a byte range of a file; times itself into `meter`."""

    def __init__(self, path: Path, start: int, end: int, meter: S3Meter):
        self._file = open(path, "rb")  # noqa: SIM115 (closed by close(), as botocore's body)
        self._file.seek(start)
        self._left = end - start
        self._meter = meter

    def read(self, amt: int | None = None) -> bytes:
        started = time.thread_time()
        count = self._left if amt is None else min(amt, self._left)
        data = self._file.read(count) if count > 0 else b""
        self._left -= len(data)
        self._meter.add_cpu(time.thread_time() - started, bytes_out=len(data))
        return data

    def iter_chunks(self, chunk_size: int = READ_BLOCK):
        while True:
            data = self.read(chunk_size)
            if not data:
                return
            yield data

    def __iter__(self):
        return self.iter_chunks()

    def iter_lines(self, chunk_size: int = READ_BLOCK, keepends: bool = False):
        pending = b""
        for chunk in self.iter_chunks(chunk_size):
            lines = (pending + chunk).splitlines(True)
            pending = lines.pop() if lines and not lines[-1].endswith(b"\n") else b""
            for line in lines:
                yield line if keepends else line.rstrip(b"\r\n")
        if pending:
            yield pending

    def close(self) -> None:
        self._file.close()


class S3Meter:
    """Requests by operation, bytes in and out, and CPU seconds spent in the fake (all threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Counter = Counter()
        self.bytes_in = 0  # PUT bodies
        self.bytes_out = 0  # GET bodies
        self.work_bytes_written = 0  # under work/: the files that live until the job ends
        self.cpu_s = 0.0

    def add_cpu(self, seconds: float, bytes_out: int = 0) -> None:
        with self._lock:
            self.cpu_s += seconds
            self.bytes_out += bytes_out

    def count(self, operation: str, bytes_in: int = 0, key: str = "") -> None:
        with self._lock:
            self.requests[operation] += 1
            self.bytes_in += bytes_in
            if key.startswith("work/"):
                self.work_bytes_written += bytes_in

    def state(self) -> dict:
        return {"requests": dict(self.requests), "bytes_in": self.bytes_in, "bytes_out": self.bytes_out,
                "work_bytes_written": self.work_bytes_written, "cpu_s": self.cpu_s}


class _Paginator:
    def __init__(self, client: FileS3):
        self._client = client

    def paginate(self, **params):
        token = None
        while True:
            page = self._client.list_objects_v2(**params, **({"ContinuationToken": token} if token else {}))
            yield page
            token = page.get("NextContinuationToken")
            if not token:
                return


class FileS3:
    """One directory per bucket under `root`; object keys are file paths below it (keys ending in '/'
    are not supported: the service writes none)."""

    LIST_PAGE = 1000

    def __init__(self, root: Path, meter: S3Meter | None = None):
        self.root = Path(root)
        self.meter = meter or S3Meter()
        self._uploads: dict[str, Path] = {}
        self._lock = threading.Lock()

    # -- paths -------------------------------------------------------------------------------------
    def path(self, bucket: str, key: str) -> Path:
        return self.root / bucket / key

    def _timed(self, operation: str, started: float, bytes_in: int = 0, key: str = "") -> None:
        self.meter.count(operation, bytes_in, key)
        self.meter.add_cpu(time.thread_time() - started)

    # -- reads ---------------------------------------------------------------------------------------
    def head_object(self, *, Bucket: str, Key: str, **_) -> dict:
        started = time.thread_time()
        path = self.path(Bucket, Key)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise _not_found("HeadObject", Key) from None
        finally:
            self._timed("head_object", started)
        return {"ContentLength": size}

    def get_object(self, *, Bucket: str, Key: str, Range: str | None = None, **_) -> dict:
        started = time.thread_time()
        path = self.path(Bucket, Key)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            self._timed("get_object", started)
            raise _not_found("GetObject", Key) from None
        start, end = 0, size
        if Range:
            first, _, last = Range.removeprefix("bytes=").partition("-")
            if first == "":  # bytes=-N: the last N bytes
                start = max(0, size - int(last))
            else:
                start = int(first)
                end = min(size, int(last) + 1) if last else size
        self._timed("get_object", started)
        return {"Body": _Body(path, start, end, self.meter), "ContentLength": end - start}

    def list_objects_v2(self, *, Bucket: str, Prefix: str = "", ContinuationToken: str | None = None,
                        MaxKeys: int = LIST_PAGE, **_) -> dict:
        started = time.thread_time()
        base = self.root / Bucket
        directory = (base / Prefix).parent if not Prefix.endswith("/") else base / Prefix
        keys = []
        if directory.exists():
            for folder, _dirs, files in os.walk(directory):
                for name in files:
                    key = os.path.relpath(os.path.join(folder, name), base)
                    if key.startswith(Prefix) and ".multipart-" not in name:
                        keys.append(key)
        keys.sort()
        begin = int(ContinuationToken) if ContinuationToken else 0
        page = keys[begin:begin + MaxKeys]
        result: dict = {"Contents": [{"Key": key, "Size": (base / key).stat().st_size} for key in page],
                        "KeyCount": len(page)}
        if begin + MaxKeys < len(keys):
            result["IsTruncated"] = True
            result["NextContinuationToken"] = str(begin + MaxKeys)
        self._timed("list_objects_v2", started)
        return result

    def get_paginator(self, operation: str) -> _Paginator:
        assert operation == "list_objects_v2", operation
        return _Paginator(self)

    # -- writes --------------------------------------------------------------------------------------
    def put_object(self, *, Bucket: str, Key: str, Body=b"", **_) -> dict:
        started = time.thread_time()
        path = self.path(Bucket, Key)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = Body if isinstance(Body, bytes | bytearray | memoryview) else Body.read()
        path.write_bytes(data)
        self._timed("put_object", started, len(data), Key)
        return {"ETag": '"bench"'}

    def upload_file(self, Filename: str, Bucket: str, Key: str, ExtraArgs=None, **_) -> None:
        started = time.thread_time()
        path = self.path(Bucket, Key)
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Filename, path)
        self._timed("upload_file", started, path.stat().st_size, Key)

    def create_multipart_upload(self, *, Bucket: str, Key: str, **_) -> dict:
        started = time.thread_time()
        path = self.path(Bucket, Key)
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            upload_id = f"{len(self._uploads) + 1}"
            self._uploads[upload_id] = path
        self._part_dir(path, upload_id).mkdir(parents=True, exist_ok=True)
        self._timed("create_multipart_upload", started)
        return {"UploadId": upload_id}

    def _part_dir(self, path: Path, upload_id: str) -> Path:
        return path.parent / f".multipart-{path.name}-{upload_id}"

    def upload_part(self, *, Bucket: str, Key: str, UploadId: str, PartNumber: int, Body, **_) -> dict:
        started = time.thread_time()
        data = Body if isinstance(Body, bytes | bytearray | memoryview) else Body.read()
        (self._part_dir(self.path(Bucket, Key), UploadId) / f"{PartNumber:05d}").write_bytes(data)
        self._timed("upload_part", started, len(data), Key)
        return {"ETag": f'"part-{PartNumber}"'}

    def complete_multipart_upload(self, *, Bucket: str, Key: str, UploadId: str, MultipartUpload: dict,
                                  **_) -> dict:
        started = time.thread_time()
        path = self.path(Bucket, Key)
        parts = self._part_dir(path, UploadId)
        with open(path, "wb") as whole:
            for part in MultipartUpload["Parts"]:
                with open(parts / f"{part['PartNumber']:05d}", "rb") as piece:
                    shutil.copyfileobj(piece, whole, READ_BLOCK)
        shutil.rmtree(parts)
        self._timed("complete_multipart_upload", started)
        return {"ETag": '"bench"'}

    def abort_multipart_upload(self, *, Bucket: str, Key: str, UploadId: str, **_) -> dict:
        shutil.rmtree(self._part_dir(self.path(Bucket, Key), UploadId), ignore_errors=True)
        self.meter.count("abort_multipart_upload")
        return {}

    def delete_objects(self, *, Bucket: str, Delete: dict, **_) -> dict:
        for entry in Delete["Objects"]:
            self.path(Bucket, entry["Key"]).unlink(missing_ok=True)
        self.meter.count("delete_objects")
        return {"Deleted": [{"Key": entry["Key"]} for entry in Delete["Objects"]]}

    def delete_object(self, *, Bucket: str, Key: str, **_) -> dict:
        self.path(Bucket, Key).unlink(missing_ok=True)
        self.meter.count("delete_object")
        return {}

    def generate_presigned_url(self, operation: str, Params: dict, ExpiresIn: int = 0, **_) -> str:
        return f"file://{self.path(Params['Bucket'], quote(Params['Key']))}"
