"""A small HTTP client for the service's API, used by the CLI, `make run` and the tests."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import requests

FINAL_STATUSES = ("Completed", "Failed")
PUT_CHUNK_BYTES = 256 * 1024
# A throttled call (429) is retried after the Retry-After the API sends, this many times at most.
THROTTLE_RETRIES = 5
MAX_RETRY_AFTER_SECONDS = 60.0


class ApiError(RuntimeError):
    def __init__(self, status: int, message: str):
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


class IngestClient:
    def __init__(self, api_url: str, token: str, timeout: float = 30.0, throttle_retries: int = THROTTLE_RETRIES,
                 sleep: Callable[[float], None] = time.sleep):
        self.api_url = api_url.rstrip("/")
        self._session = requests.Session()
        self._session.headers["Auth-Api-Token"] = token
        self._timeout = timeout
        self._throttle_retries = throttle_retries
        self._sleep = sleep

    def _call(self, method: str, path: str, **kwargs) -> Any:
        for _ in range(self._throttle_retries):
            response = self._session.request(method, self.api_url + path, timeout=self._timeout, **kwargs)
            if response.status_code != 429:
                break
            self._sleep(_retry_after(response))
        else:
            response = self._session.request(method, self.api_url + path, timeout=self._timeout, **kwargs)
        if response.status_code >= 400:
            try:
                message = response.json().get("message", response.text)
            except ValueError:
                message = response.text
            raise ApiError(response.status_code, message)
        return response.json() if response.content else None

    # -- webhooks (docs/webhooks.md) --
    def create_webhook(self, url: str, event_types: list[str]) -> dict:
        """The new webhook, with its signing secret (shown this once)."""
        return self._call("POST", "/v1/webhooks", json={"url": url, "event_types": event_types})

    def list_webhooks(self) -> dict:
        return self._call("GET", "/v1/webhooks")

    def delete_webhook(self, webhook_id: str) -> None:
        self._call("DELETE", f"/v1/webhooks/{quote(webhook_id, safe='')}")

    def webhook_deliveries(self, webhook_id: str) -> dict:
        return self._call("GET", f"/v1/webhooks/{quote(webhook_id, safe='')}/deliveries")

    def create_dataset(self, name: str, description: str = "") -> dict:
        return self._call("POST", "/v1/datasets", json={"name": name, "description": description})

    def get_dataset(self, dataset_id: str) -> dict:
        return self._call("GET", f"/v1/datasets/{dataset_id}")

    def list_datasets(self, **params: str | None) -> dict:
        return self._call("GET", "/v1/datasets", params={k: v for k, v in params.items() if v})

    def request_upload(self, filename: str, dataset_id: str, record_type: str) -> dict:
        body = {
            "filename": filename,
            "destination": {"destination_type": "dataset_load", "dataset_id": dataset_id, "record_type": record_type},
        }
        return self._call("POST", "/v1/uploads", json=body)

    def request_multipart_upload(self, filename: str, dataset_id: str, record_type: str, size: int,
                                 part_size: int | None = None) -> dict:
        body: dict[str, Any] = {
            "filename": filename, **_multipart_fields(size, part_size),
            "destination": {"destination_type": "dataset_load", "dataset_id": dataset_id, "record_type": record_type},
        }
        return self._call("POST", "/v1/uploads", json=body)

    def sign_parts(self, upload_id: str, part_numbers: list[int]) -> dict:
        return self._call("POST", f"/v1/uploads/{upload_id}/parts", json={"part_numbers": part_numbers})

    def list_parts(self, upload_id: str) -> dict:
        return self._call("GET", f"/v1/uploads/{upload_id}/parts")

    def complete_upload(self, upload_id: str, parts: list[tuple[int, str]]) -> dict:
        return self._call("POST", f"/v1/uploads/{upload_id}/complete",
                          json={"parts": [{"part_number": number, "etag": etag} for number, etag in parts]})

    def abort_upload(self, upload_id: str) -> None:
        self._call("DELETE", f"/v1/uploads/{upload_id}")

    def get_upload(self, upload_id: str) -> dict:
        return self._call("GET", f"/v1/uploads/{upload_id}")

    def retry_upload(self, upload_id: str, rows: str | None = None) -> dict:
        """POST /v1/uploads/{id}/retry: the child upload (with `url` unless rows="unprocessed")."""
        return self._call("POST", f"/v1/uploads/{upload_id}/retry", json={"rows": rows} if rows else None)

    def retry_multipart_upload(self, upload_id: str, size: int, part_size: int | None = None) -> dict:
        """POST /v1/uploads/{id}/retry as a multipart upload: the child, with `multipart` (no `url`)."""
        return self._call("POST", f"/v1/uploads/{upload_id}/retry", json=_multipart_fields(size, part_size))

    def list_uploads(self, **filters: str | None) -> dict:
        return self._call("GET", "/v1/uploads", params={k: v for k, v in filters.items() if v})

    def revert_upload(self, upload_id: str) -> dict:
        """POST /v1/uploads/{id}/revert: the revert job (202)."""
        return self._call("POST", f"/v1/uploads/{upload_id}/revert")

    def get_job(self, job_id: str) -> dict:
        return self._call("GET", f"/v1/jobs/{job_id}")

    def wait_for(self, upload_id: str, timeout: float = 600.0, poll: float = 0.5,
                 on_poll: Callable[[dict], None] | None = None) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            upload = self.get_upload(upload_id)
            if on_poll:
                on_poll(upload)
            if upload["status"] in FINAL_STATUSES:
                return upload
            if time.monotonic() > deadline:
                raise TimeoutError(f"upload {upload_id} still {upload['status']} after {timeout:.0f}s")
            time.sleep(poll)


def _multipart_fields(size: int, part_size: int | None) -> dict[str, Any]:
    """The request fields of a multipart upload, for POST /v1/uploads and a retry alike."""
    return {"multipart": True, "size": size, **({"part_size": part_size} if part_size is not None else {})}


def _retry_after(response: requests.Response) -> float:
    """Seconds to wait before retrying a throttled call: the Retry-After header (seconds), else 1."""
    try:
        seconds = float(response.headers.get("Retry-After", "1"))
    except ValueError:
        seconds = 1.0
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


def put_file(url: str, path: str, on_progress: Callable[[int], object] | None = None, timeout: float = 3600.0) -> None:
    """PUT a file to a presigned URL, streaming it from disk; on_progress gets bytes sent."""
    size = os.path.getsize(path)

    def chunks() -> Iterator[bytes]:
        with open(path, "rb") as handle:
            while True:
                data = handle.read(PUT_CHUNK_BYTES)
                if not data:
                    return
                yield data
                if on_progress:
                    on_progress(len(data))

    # A generator body would be sent chunked, which S3 refuses for presigned PUTs; a sized
    # file-like wrapper keeps Content-Length while still streaming.
    response = requests.put(url, data=_SizedStream(chunks(), size), headers={"Content-Length": str(size)},
                            timeout=timeout)
    if response.status_code >= 300:
        raise ApiError(response.status_code, response.text[:500])


class _SizedStream:
    def __init__(self, chunks: Iterator[bytes], size: int):
        self._chunks = chunks
        self._size = size
        self._buffer = b""

    def __len__(self) -> int:
        return self._size

    def read(self, amount: int = -1) -> bytes:
        while amount < 0 or len(self._buffer) < amount:
            try:
                self._buffer += next(self._chunks)
            except StopIteration:
                break
        if amount < 0:
            data, self._buffer = self._buffer, b""
        else:
            data, self._buffer = self._buffer[:amount], self._buffer[amount:]
        return data
