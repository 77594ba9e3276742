"""`upload` of a large file as an S3 multipart upload: parallel parts, each retried, resumable.

The file is cut into parts (the service's part size, or --part-size); up to `parallel` parts are PUT
at once to presigned part URLs. A small state file (keyed by the file's path, size and mtime) names the
upload, so after an interruption (Ctrl-C, a dropped connection) the same command lists the parts S3
already holds (GET /v1/uploads/{id}/parts) and sends only the others: a part counts as held when S3's
ETag is the MD5 of the bytes this run would send.

With gzip, each part is one complete gzip member of whole lines, so the service can decompress the
parts in parallel. S3 takes parts of at least 5 MiB (all but the last), so a member is closed once its
*compressed* size reaches the part size: parts then vary in size and hold more lines the better the
file compresses. The compressor is deterministic (zlib level 6, no timestamp), so a resumed run makes
the same parts and recognises the held ones.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from cli.client import ApiError, IngestClient

MIB = 1024 * 1024
DEFAULT_THRESHOLD_BYTES = 100 * MIB  # files above it go as multipart uploads
DEFAULT_PARALLEL = 4
DEFAULT_RETRIES = 5  # attempts after the first, per part
RETRY_BASE_SECONDS = 0.5  # doubled after each failed attempt, at most RETRY_MAX_SECONDS
RETRY_MAX_SECONDS = 30.0
GZIP_READ_BYTES = MIB  # input read per step while a gzip member fills (then extended to the line's end)
STATE_DIR_ENV = "INGEST_UPLOAD_STATE_DIR"


class PartFailedError(RuntimeError):
    """A part could not be sent after its retries: the upload stays open, the same command resumes it."""


@dataclass(frozen=True)
class Part:
    number: int
    data: bytes
    source_bytes: int  # bytes of the file it holds (the progress bar counts the file)

    @property
    def etag(self) -> str:
        return f'"{hashlib.md5(self.data).hexdigest()}"'  # noqa: S324 (S3's ETag of a part is its MD5)


# -- the state file ---------------------------------------------------------------------------------
def state_dir() -> Path:
    return Path(os.environ.get(STATE_DIR_ENV) or Path.home() / ".cache" / "bulk-ingest" / "uploads")


def state_key(path: Path, destination: dict[str, Any], gzip: bool) -> str:
    """The upload of this file as it is now: path, size, mtime, where it goes and how it is sent."""
    stat = path.stat()
    ident = json.dumps([str(path.resolve()), stat.st_size, stat.st_mtime_ns, destination, gzip], sort_keys=True)
    return hashlib.sha256(ident.encode()).hexdigest()[:32]


class UploadState:
    """One small JSON file per interrupted upload: {upload_id, part_size}. Removed once it completes."""

    def __init__(self, key: str):
        self.path = state_dir() / f"{key}.json"

    def load(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None

    def save(self, upload_id: str, part_size: int) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps({"upload_id": upload_id, "part_size": part_size}))

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


# -- parts ------------------------------------------------------------------------------------------
def plain_parts(path: Path, part_size: int) -> Iterator[Part]:
    with path.open("rb") as handle:
        number = 1
        while data := handle.read(part_size):
            yield Part(number, data, len(data))
            number += 1


def gzip_parts(path: Path, part_size: int) -> Iterator[Part]:
    """One gzip member of whole lines per part, each at least part_size compressed (but the last)."""
    with path.open("rb") as handle:
        number = 1
        while True:
            compressor = zlib.compressobj(6, zlib.DEFLATED, 31)  # 31: gzip wrapper, mtime 0
            out: list[bytes] = []
            produced = consumed = 0
            while produced < part_size:
                block = handle.read(GZIP_READ_BYTES)
                if not block:
                    break
                if not block.endswith(b"\n"):
                    block += handle.readline()  # a member ends at a line's end
                consumed += len(block)
                chunk = compressor.compress(block)
                produced += len(chunk)
                out.append(chunk)
            if consumed == 0:
                return
            out.append(compressor.flush())
            yield Part(number, b"".join(out), consumed)
            number += 1


# -- sending ----------------------------------------------------------------------------------------
class PartSender:
    """PUTs parts to presigned URLs, each retried with exponential backoff on a network error or a 5xx
    (a fresh URL each attempt, so an expired one is no obstacle)."""

    def __init__(self, client: IngestClient, upload_id: str, retries: int, sleep: Callable[[float], None] = time.sleep,
                 timeout: float = 600.0):
        self._client, self._upload_id = client, upload_id
        self._retries, self._sleep, self._timeout = retries, sleep, timeout
        self._local = threading.local()

    def _session(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
        return self._local.session

    def send(self, part: Part) -> str:
        delay = RETRY_BASE_SECONDS
        for attempt in range(self._retries + 1):
            try:
                url = self._client.sign_parts(self._upload_id, [part.number])["parts"][0]["url"]
                # bytes as the body: requests sends Content-Length, no Content-Type (S3 stores the bytes).
                response = self._session().put(url, data=part.data, timeout=self._timeout)
                if response.status_code < 300:
                    return response.headers["ETag"]
                if response.status_code < 500 and response.status_code != 403:
                    raise PartFailedError(f"part {part.number}: HTTP {response.status_code}: {response.text[:300]}")
                problem = f"HTTP {response.status_code}"
            except (requests.ConnectionError, requests.Timeout) as exc:
                problem = type(exc).__name__
            except ApiError as exc:
                if exc.status < 500 and exc.status != 429:
                    raise
                problem = f"HTTP {exc.status}"
            if attempt == self._retries:
                raise PartFailedError(f"part {part.number} failed {self._retries + 1} times (last: {problem})")
            self._sleep(delay)
            delay = min(delay * 2, RETRY_MAX_SECONDS)
        raise AssertionError("unreachable")


def send_parts(parts: Iterator[Part], held: dict[int, str], sender: PartSender, parallel: int,
               on_progress: Callable[[int], object]) -> list[tuple[int, str]]:
    """Every part: those S3 holds with the same bytes are skipped, the others sent `parallel` at a time
    (holding at most that many in memory besides the one being made). Returns [(number, etag)]."""
    etags: dict[int, str] = {}
    slots = threading.BoundedSemaphore(parallel)
    pool = ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="part")
    pending: set[Future] = set()

    def send(part: Part) -> None:
        try:
            etags[part.number] = sender.send(part)
            on_progress(part.source_bytes)
        finally:
            slots.release()

    try:
        for part in parts:
            if held.get(part.number) == part.etag:
                etags[part.number] = part.etag
                on_progress(part.source_bytes)
                continue
            slots.acquire()
            failed = [future for future in pending if future.done() and future.exception()]
            if failed:
                slots.release()
                failed[0].result()
            pending = {future for future in pending if not future.done()}
            pending.add(pool.submit(send, part))
        done, not_done = wait(pending, return_when=FIRST_EXCEPTION)
        for future in [*done, *not_done]:
            future.result()  # the first failure is raised; the others are waited for
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return sorted(etags.items())
