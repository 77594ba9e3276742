"""Small in-memory stand-ins for the adapters the logic layer talks to.

They mirror the adapters' public methods (ingest/adapters/*.py) closely enough for the logic
to run unchanged, with no AWS, no moto and no network: the same answers, the same domain errors
(ConflictError for a failed condition, BadRequestError for a page token they did not hand out).
tests/contract/ runs the same assertions against each fake and against its adapter on moto, so a
fake that drifts from its adapter fails there. Import them as `tests.unit.fakes` (tests/ is a
package, so pytest imports its modules from the repository root), which cannot collide with a `fakes`
module elsewhere under tests/.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from ingest.adapters.aws_errors import CONFLICT_MESSAGE
from ingest.adapters.control_tables import BAD_PAGE_TOKEN, OPEN_MULTIPART, decode_token, encode_token
from ingest.adapters.record_store import (
    LEGACY_SHARDS,
    NEW_DATASET_SHARDS,
    NO_ATTEMPT,
    Foreign,
    RecordTarget,
    RecordWrite,
    Stamp,
    shard_of,
)
from ingest.errors import BadRequestError, ConflictError


class FakeObjectStore:
    """ObjectStore in memory. stream() yields `read_size`-byte pieces to exercise chunk boundaries."""

    def __init__(self, read_size: int = 7):
        self.objects: dict[str, bytes] = {}
        self.content_types: dict[str, str] = {}
        self.sizes: dict[str, int] = {}  # overrides what size_of reports (e.g. to fake a 6 GB object)
        self.read_size = read_size
        self.deleted_prefixes: list[str] = []
        self.ranged_reads: list[tuple[str, int, int | None]] = []  # (key, start, end) of each ranged GET begun
        self.writers: list[FakeStreamingUpload] = []  # every writer handed out, to check what they held
        self.multipart: dict[str, tuple[str, dict[int, bytes]]] = {}  # upload id -> (key, {number: bytes})
        self.initiated: dict[str, datetime] = {}  # upload id -> when it was started (tests move it back)

    # -- reads
    def size_of(self, key: str) -> int | None:
        if key in self.sizes:
            return self.sizes[key]
        data = self.objects.get(key)
        return None if data is None else len(data)

    def first_bytes(self, key: str, count: int) -> bytes:
        return self.objects[key][:count]

    def stream(self, key: str) -> Iterator[bytes]:
        data = self.objects[key]
        for start in range(0, len(data), self.read_size):
            yield data[start:start + self.read_size]

    def stream_range(self, key: str, start: int, end: int | None = None) -> Iterator[bytes]:
        data = self.objects[key][start:end]
        self.ranged_reads.append((key, start, end))
        for offset in range(0, len(data), self.read_size):
            yield data[offset:offset + self.read_size]

    def read(self, key: str) -> bytes:
        return self.objects[key]

    def exists(self, key: str) -> bool:
        return key in self.objects

    def list_keys(self, prefix: str) -> list[str]:
        return sorted(key for key in self.objects if key.startswith(prefix))

    # -- writes
    def put(self, key: str, data: bytes, content_type: str = "application/x-ndjson") -> None:
        self.objects[key] = bytes(data)
        self.content_types[key] = content_type

    def copy(self, source: str, key: str) -> None:
        self.put(key, self.objects[source], self.content_types.get(source, "application/octet-stream"))

    def put_file(self, key: str, path: str, content_type: str = "application/x-ndjson") -> None:
        with open(path, "rb") as handle:
            self.put(key, handle.read(), content_type)

    def writer(self, key: str, content_type: str = "application/x-ndjson",
               part_bytes: int | None = None, parallel: int = 1) -> FakeStreamingUpload:
        writer = FakeStreamingUpload(self, key, content_type, part_bytes or FAKE_PART_BYTES)
        self.writers.append(writer)
        return writer

    def delete_prefix(self, prefix: str) -> int:
        self.deleted_prefixes.append(prefix)
        keys = self.list_keys(prefix)
        for key in keys:
            del self.objects[key]
        return len(keys)

    def presigned_put(self, key: str, expires_in: int, content_length: int | None = None) -> str:
        length = "" if content_length is None else f"&content-length={content_length}"
        return f"https://fake-s3.local/{key}?method=PUT&expires={expires_in}{length}"

    def presigned_get(self, key: str, expires_in: int) -> str:
        return f"https://fake-s3.local/{key}?method=GET&expires={expires_in}"

    # -- multipart uploads a client sends part by part (S3's rules: parts but the last >= min_part_bytes)
    min_part_bytes = 5 * 1024 * 1024
    _upload_ids = itertools.count(1)

    def start_multipart(self, key: str, content_type: str = "application/octet-stream") -> str:
        upload_id = f"fake-upload-{next(self._upload_ids)}"
        self.multipart[upload_id] = (key, {})
        self.initiated[upload_id] = datetime.now(UTC)
        return upload_id

    def open_multipart_uploads(self, prefix: str, initiated_before: datetime) -> list[tuple[str, str]]:
        return [(key, upload_id) for upload_id, (key, _) in self.multipart.items()
                if key.startswith(prefix) and self.initiated[upload_id] < initiated_before]

    def presigned_part(self, key: str, upload_id: str, part_number: int, expires_in: int) -> str:
        return f"https://fake-s3.local/{key}?method=PUT&uploadId={upload_id}&partNumber={part_number}&expires={expires_in}"

    def upload_part(self, upload_id: str, part_number: int, data: bytes) -> str:
        """What a client's PUT to a part URL does; returns the part's ETag (quoted MD5, as S3's)."""
        self.multipart[upload_id][1][part_number] = bytes(data)
        return f'"{hashlib.md5(data).hexdigest()}"'  # noqa: S324 (S3's ETag is an MD5)

    def list_parts(self, key: str, upload_id: str) -> list[dict] | None:
        if upload_id not in self.multipart:
            return None
        parts = self.multipart[upload_id][1]
        return [{"part_number": number, "size": len(parts[number]),
                 "etag": f'"{hashlib.md5(parts[number]).hexdigest()}"'} for number in sorted(parts)]  # noqa: S324

    def complete_multipart(self, key: str, upload_id: str, parts: list[tuple[int, str]]) -> bool:
        if upload_id not in self.multipart:
            return False
        held = self.multipart[upload_id][1]
        for index, (number, etag) in enumerate(parts):
            data = held.get(number)
            if data is None or f'"{hashlib.md5(data).hexdigest()}"' != f'"{etag.strip(chr(34))}"':  # noqa: S324
                raise BadRequestError(f"S3 refused the part list: InvalidPart: part {number} is not the one uploaded")
            if index < len(parts) - 1 and len(data) < self.min_part_bytes:
                raise BadRequestError("S3 refused the part list: EntityTooSmall: "
                                      "Your proposed upload is smaller than the minimum allowed object size.")
        self.put(key, b"".join(held[number] for number, _ in parts), "application/octet-stream")
        del self.multipart[upload_id]
        return True

    def abort_multipart(self, key: str, upload_id: str) -> bool:
        return self.multipart.pop(upload_id, None) is not None


FAKE_PART_BYTES = 16 * 1024 * 1024  # ObjectStore's default part size


class FakeStreamingUpload:
    """ObjectStore.writer in memory: the object appears when the block ends cleanly, not before.
    `held_max` is the most the real writer would have held in memory at once (it uploads a part each
    time it holds `part_bytes`), so tests can check a step's memory bound."""

    def __init__(self, store: FakeObjectStore, key: str, content_type: str, part_bytes: int = FAKE_PART_BYTES):
        self._store, self._key, self._content_type = store, key, content_type
        self._pieces: list[bytes] = []
        self._finished = False
        self.key = key
        self.part_bytes = part_bytes
        self._held = 0
        self.held_max = 0

    def __enter__(self) -> FakeStreamingUpload:
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        if exc_type is not None:
            self.discard()
        elif not self._finished:
            self.complete()

    def write(self, data: bytes) -> None:
        self._pieces.append(bytes(data))
        self._held += len(data)
        self.held_max = max(self.held_max, self._held)
        self._held %= self.part_bytes  # whole parts are uploaded as soon as they are full

    def complete(self) -> None:
        self._store.put(self._key, b"".join(self._pieces), self._content_type)
        self._finished = True

    def discard(self) -> None:
        self._pieces.clear()
        self._finished = True


def condition_failed() -> ConflictError:
    """What an adapter raises when DynamoDB refuses a write on its condition (adapters/aws_errors.py)."""
    return ConflictError(CONFLICT_MESSAGE)


def newest_first_page(items: list[dict[str, Any]], account_id: str, key_name: str, limit: int,
                      token: str | None) -> tuple[list[dict[str, Any]], str | None]:
    """One page of an account's items (sorted newest first by key_name) and the token of the next,
    as the adapters page a DynamoDB query: the token names the last item handed out."""
    start = decode_token(token, ("account_id", key_name))
    if start:
        if start["account_id"] != account_id:
            raise BadRequestError(BAD_PAGE_TOKEN)
        items = [item for item in items if item[key_name] < start[key_name]]
    page = items[:limit]
    more = len(items) > limit
    return page, encode_token({"account_id": account_id, key_name: page[-1][key_name]}) if more else None


class FakeJobsTable:
    def __init__(self):
        self.items: dict[tuple[str, str], dict[str, Any]] = {}

    def create(self, job: dict[str, Any]) -> None:
        key = (job["account_id"], job["job_id"])
        if key in self.items:
            raise condition_failed()
        self.items[key] = copy.deepcopy(job)

    def get(self, account_id: str, job_id: str) -> dict[str, Any] | None:
        item = self.items.get((account_id, job_id))
        return copy.deepcopy(item) if item is not None else None

    def update(self, account_id: str, job_id: str, **fields: Any) -> None:
        key = (account_id, job_id)
        if key not in self.items:
            raise condition_failed()
        self.items[key].update(copy.deepcopy(fields))

    def add_retry(self, account_id: str, job_id: str, retry_id: str) -> None:
        key = (account_id, job_id)
        if key not in self.items:
            raise condition_failed()
        self.items[key].setdefault("retries", []).append(retry_id)

    def set_progress(self, account_id: str, job_id: str, phase: str, **totals: int) -> None:
        item = self.items.get((account_id, job_id))
        if item is None:
            raise condition_failed()
        item.setdefault("progress", {}).update(phase=phase, **totals)

    def add_progress(self, account_id: str, job_id: str, increments: dict[str, int]) -> None:
        item = self.items.get((account_id, job_id))
        if item is None or "progress" not in item:
            raise condition_failed()
        progress = item["progress"]
        for name, value in increments.items():
            progress[name] = progress.get(name, 0) + value

    def claim_revert(self, account_id: str, upload_id: str, revert_id: str) -> bool:
        item = self.items.get((account_id, upload_id))
        if item is None or item.get("reverted_by"):
            return False
        item["reverted_by"] = revert_id
        return True

    def release_revert(self, account_id: str, upload_id: str, revert_id: str) -> None:
        item = self.items.get((account_id, upload_id))
        if item is not None and item.get("reverted_by") == revert_id:
            del item["reverted_by"]

    def close_multipart(self, account_id: str, job_id: str, *, pending_only: bool = False, **fields: Any) -> bool:
        item = self.items.get((account_id, job_id))
        if item is None or OPEN_MULTIPART not in item or (pending_only and item.get("status") != "Pending"):
            return False
        del item[OPEN_MULTIPART]
        item.update(copy.deepcopy(fields))
        return True

    def list(self, account_id: str, filters: dict[str, str], limit: int, token: str | None):
        items = [
            copy.deepcopy(item)
            for (account, _), item in sorted(self.items.items(), key=lambda kv: kv[0][1], reverse=True)
            if account == account_id and all(item.get(name) == value for name, value in filters.items())
        ]
        return newest_first_page(items, account_id, "job_id", limit, token)


class FakeDatasetsTable:
    def __init__(self, new_dataset_shards: int = NEW_DATASET_SHARDS):
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        self._new_dataset_shards = new_dataset_shards

    def create(self, dataset: dict[str, Any]) -> None:
        key = (dataset["account_id"], dataset["dataset_id"])
        if key in self.items:
            raise condition_failed()
        self.items[key] = {"shards": self._new_dataset_shards, **copy.deepcopy(dataset)}

    def add(self, account_id: str, dataset_id: str, name: str = "test") -> dict[str, Any]:
        dataset = {
            "account_id": account_id,
            "dataset_id": dataset_id,
            "name": name,
            "description": "",
            "record_counts": {},
            "created_at": "2024-01-01T00:00:00Z",
            "updated_at": "2024-01-01T00:00:00Z",
        }
        self.create(dataset)
        return dataset

    def get(self, account_id: str, dataset_id: str) -> dict[str, Any] | None:
        item = self.items.get((account_id, dataset_id))
        return copy.deepcopy(item) if item is not None else None

    def list(self, account_id: str, limit: int, token: str | None):
        items = [copy.deepcopy(item) for (account, _), item in sorted(self.items.items(), reverse=True)
                 if account == account_id]
        return newest_first_page(items, account_id, "dataset_id", limit, token)

    def note_record_type(self, account_id: str, dataset_id: str, record_type: str) -> None:
        key = (account_id, dataset_id)
        if key not in self.items:
            raise condition_failed()
        self.items[key].setdefault("record_types_seen", set()).add(record_type)

    def hold_for_load(self, account_id: str, dataset_id: str, job_id: str, at: str,
                      stale_holder: str | None = None) -> bool:
        item = self.items.get((account_id, dataset_id))
        if item is None or item.get("clearing_job"):
            return False
        if item.get("loading_job") not in (None, job_id, stale_holder):
            return False
        item.update(loading_job=job_id, loading_since=at)
        return True

    def release_load(self, account_id: str, dataset_id: str, job_id: str) -> None:
        item = self.items.get((account_id, dataset_id))
        if item is not None and item.get("loading_job") == job_id:
            item.pop("loading_job")
            item.pop("loading_since", None)

    def record_load(self, account_id: str, dataset_id: str, record_type: str, count: int, load: dict) -> None:
        key = (account_id, dataset_id)
        if key not in self.items:
            raise condition_failed()
        item = self.items[key]
        item.setdefault("record_counts", {})[record_type] = count
        item["last_load"] = copy.deepcopy(load)
        item["updated_at"] = load["finished_at"]

    def start_clear(self, account_id: str, dataset_id: str, job_id: str, at: str) -> bool:
        item = self.items.get((account_id, dataset_id))
        if item is None or item.get("clearing_job") or item.get("loading_job"):
            return False
        item.update(clearing_job=job_id, updated_at=at)
        return True

    def end_clear(self, account_id: str, dataset_id: str, job_id: str, at: str, emptied: bool) -> None:
        item = self.items.get((account_id, dataset_id))
        if item is None or item.get("clearing_job") != job_id:
            return
        del item["clearing_job"]
        item["updated_at"] = at
        if emptied:
            item["record_counts"] = {}

    def remove_records(self, account_id: str, dataset_id: str, record_type: str, removed: int,
                       revert_id: str) -> bool:
        item = self.items.get((account_id, dataset_id))
        if item is None or item.get("last_revert") == revert_id:
            return False
        counts = item.setdefault("record_counts", {})
        counts[record_type] = counts.get(record_type, 0) - removed
        item["last_revert"] = revert_id
        return True

    def add_load(self, account_id: str, dataset_id: str, record_type: str, created: int, load: dict) -> bool:
        item = self.items.get((account_id, dataset_id))
        if item is None or (item.get("last_load") or {}).get("upload_id") == load["upload_id"]:
            return False
        counts = item["record_counts"]
        counts[record_type] = counts.get(record_type, 0) + created
        item["last_load"] = copy.deepcopy(load)
        item["updated_at"] = load["finished_at"]
        return True


class FakeRecordStore:
    """RecordStore in memory. Each item remembers the shard it was written to, and reads see it only
    with the same shard count, as the table's partition keys would (a reader using another dataset's
    count finds nothing). `fail_after_writes`: after that many more RecordWriter writes, the next
    raises (once), as a Load that dies mid-partition would. `writers` records each writer's settings."""

    def __init__(self):
        self.items: dict[tuple[str, str, str, str], dict[str, str]] = {}
        self.item_shards: dict[tuple[str, str, str, str], int] = {}
        self.put_calls = 0
        self.fail_after_writes: int | None = None
        self.writes = 0
        self.writers: list[dict[str, Any]] = []
        self.get_many_calls = 0

    def _visible(self, item_key: tuple[str, str, str, str], shards: int) -> bool:
        return item_key in self.items and self.item_shards[item_key] == shard_of(item_key[3], shards)

    def _store(self, item_key: tuple[str, str, str, str], item: dict[str, str], shards: int) -> None:
        self.items[item_key] = item
        self.item_shards[item_key] = shard_of(item_key[3], shards)

    def put_records(self, account_id, dataset_id, record_type, records, job_id, shards=LEGACY_SHARDS) -> int:
        self.put_calls += 1
        written = 0
        for key, record_json, *extra in records:
            self._store((account_id, dataset_id, record_type, key),
                        {"data": record_json, "job_id": job_id, **(extra[0] if extra else {})}, shards)
            written += 1
        return written

    def get(self, account_id, dataset_id, record_type, key, shards=LEGACY_SHARDS) -> str | None:
        item_key = (account_id, dataset_id, record_type, key)
        return self.items[item_key]["data"] if self._visible(item_key, shards) else None

    def count(self, account_id, dataset_id, record_type, shards=LEGACY_SHARDS) -> int:
        return sum(1 for item_key in self.items
                   if item_key[:3] == (account_id, dataset_id, record_type) and self._visible(item_key, shards))

    def get_many(self, account_id, dataset_id, record_type, keys, shards=LEGACY_SHARDS) -> dict[str, dict[str, str]]:
        self.get_many_calls += 1
        found = {}
        for key in keys:
            item_key = (account_id, dataset_id, record_type, key)
            if self._visible(item_key, shards):
                found[key] = dict(self.items[item_key])
        return found

    def put_back(self, account_id, dataset_id, record_type, shards, upload_id, entries, threads=16) -> list[str]:
        outcomes = []
        for key, item in entries:
            item_key = (account_id, dataset_id, record_type, key)
            current = self.items.get(item_key) if self._visible(item_key, shards) else None
            if current is None or current.get("job_id") != upload_id:
                outcomes.append("kept")
            elif item is None:
                del self.items[item_key], self.item_shards[item_key]
                outcomes.append("removed")
            else:
                self._store(item_key, dict(item), shards)
                outcomes.append("restored")
        return outcomes

    def writer(self, account_id, dataset_id, record_type, shards, job_id, attempt, threads,
               rate_per_second) -> FakeRecordWriter:
        self.writers.append({"target": RecordTarget(account_id, dataset_id, record_type, shards),
                             "stamp": Stamp(job_id, attempt), "threads": threads, "rate_per_second": rate_per_second})
        return FakeRecordWriter(self, RecordTarget(account_id, dataset_id, record_type, shards), Stamp(job_id, attempt))


class FakeRecordWriter:
    """RecordWriter in memory: the same items and answers, written one after another."""

    def __init__(self, store: FakeRecordStore, target: RecordTarget, stamp: Stamp):
        self._store, self.target, self._stamp = store, target, stamp

    def write(self, records: list[RecordWrite]) -> list[dict[str, str] | None]:
        return [self._write_one(record) for record in records]

    def write_upserts(self, records, only_over=None) -> list[dict[str, str] | None]:
        """As RecordWriter.write_upserts: with only_over, a key holding another writer's item (None), or
        not the item given, is left as it is and answered Foreign(what it holds); the rest are written."""
        writes = [RecordWrite(record.key, record.record.decode(), record.line, key_hash=record.key_hash)
                  for record in records]
        if only_over is None:
            return self.write(writes)
        refusals = [self._refusal(write.key, over) for write, over in zip(writes, only_over, strict=True)]
        written = iter(self.write([write for write, refused in zip(writes, refusals, strict=True) if refused is None]))
        return [next(written) if refused is None else refused for refused in refusals]

    def _refusal(self, key: str, over: dict[str, str] | None) -> Foreign | None:
        store, target = self._store, self.target
        item_key = (target.account_id, target.dataset_id, target.record_type, key)
        held = dict(store.items[item_key]) if store._visible(item_key, target.shards) else None
        if over is None:
            return Foreign(held) if held is not None and held.get("job_id") != self._stamp.job_id else None
        if held is None or any(held.get(name) != over.get(name) for name in ("job_id", "attempt")):
            return Foreign(held or {})
        return None

    def _write_one(self, record: RecordWrite) -> dict[str, str] | None:
        store, target = self._store, self.target
        if store.fail_after_writes is not None:
            if store.fail_after_writes == 0:
                store.fail_after_writes = None
                raise RuntimeError(f"injected: the Load died after {store.writes} writes")
            store.fail_after_writes -= 1
        item_key = (target.account_id, target.dataset_id, target.record_type, record.key)
        old = self._store.items.get(item_key) if store._visible(item_key, target.shards) else None
        item = {**(old or {}), "data": record.data, "job_id": self._stamp.job_id, "attempt": self._stamp.attempt,
                "created_by": (old or {}).get("created_by", self._stamp.job_id),
                "previous_attempt": (old or {}).get("attempt", NO_ATTEMPT), **record.extra}
        item.pop("line", None)  # a number attribute: get_many and the writer's answers leave it out
        store._store(item_key, item, target.shards)
        store.writes += 1
        return dict(old) if old is not None else None

    def close(self) -> None:
        pass

    def __enter__(self) -> FakeRecordWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        pass


class FakeProfileRecordStore(FakeRecordStore):
    """FakeRecordStore that also answers get_many (with every string attribute of the items, a
    profile's `applied` marker included). `crash_after_items`: the next put_records writes that many
    items, then raises, as a Load that dies mid-chunk would."""

    def __init__(self):
        super().__init__()
        self.crash_after_items: int | None = None

    def put_records(self, account_id, dataset_id, record_type, records, job_id, shards=LEGACY_SHARDS) -> int:
        self.put_calls += 1
        written = 0
        for key, record_json, *extra in records:
            if self.crash_after_items is not None and written == self.crash_after_items:
                self.crash_after_items = None
                raise RuntimeError(f"injected: crashed after writing {written} items")
            self._store((account_id, dataset_id, record_type, key),
                        {"data": record_json, "job_id": job_id, **(extra[0] if extra else {})}, shards)
            written += 1
        return written


class CountedItems:
    """Items counted per account, as the tokens, audiences and webhooks tables keep them: an item and
    its account's counter item change together under one lock (the adapter's transaction), an
    account's counter must be started (start_count) before anything is added to it, and reads take no
    lock. `counters` (account -> count) stays apart from `items`, as the adapters keep counter items
    out of listings and indexes."""

    def __init__(self):
        import threading

        self.items: dict[Any, dict[str, Any]] = {}
        self.counters: dict[str, int] = {}
        self.lock = threading.Lock()

    def start_count(self, account_id: str, existing: int) -> bool:
        with self.lock:
            if account_id in self.counters:
                return False
            self.counters[account_id] = existing
            return True

    def _add_counted(self, account_id: str, key: Any, item: dict[str, Any], limit: int) -> bool:
        with self.lock:
            count = self.counters.get(account_id)
            if count is None or count >= limit or key in self.items:
                return False
            self.counters[account_id] = count + 1
            self.items[key] = copy.deepcopy(item)
            return True

    def _remove_counted(self, account_id: str, key: Any) -> bool:
        with self.lock:
            count = self.counters.get(account_id)
            if key not in self.items or not count:
                return False
            del self.items[key]
            self.counters[account_id] = count - 1
            return True


class FakeTokensTable(CountedItems):
    """TokensTable in memory (items: token hash -> token); reads (get, list_for_account, find) take no
    lock. A revoked token stays, marked, and leaves its account's count."""

    def __init__(self):
        super().__init__()
        self.record_use_calls: list[tuple[str, str, str]] = []

    def get(self, token_hash: str) -> dict[str, Any] | None:
        item = self.items.get(token_hash)
        return copy.deepcopy(item) if item is not None else None

    def add_within_limit(self, item: dict[str, Any], limit: int) -> bool:
        return self._add_counted(item["account_id"], item["token_hash"], item, limit)

    def revoke(self, account_id: str, token_hash: str, at: str) -> bool:
        with self.lock:
            item = self.items.get(token_hash)
            count = self.counters.get(account_id)
            if item is None or item.get("account_id") != account_id or "revoked_at" in item or not count:
                return False
            item["revoked_at"] = at
            self.counters[account_id] = count - 1
            return True

    def list_for_account(self, account_id: str) -> list[dict[str, Any]]:
        return [copy.deepcopy(item) for item in sorted(self.items.values(), key=lambda i: i["token_id"])
                if item.get("account_id") == account_id]

    def find(self, account_id: str, token_id: str) -> dict[str, Any] | None:
        found = [i for i in self.list_for_account(account_id) if i["token_id"] == token_id]
        return found[0] if found else None

    def record_use(self, token_hash: str, at: str, stale_before: str) -> bool:
        with self.lock:
            self.record_use_calls.append((token_hash, at, stale_before))
            item = self.items.get(token_hash)
            if item is None or "revoked_at" in item or item.get("last_used_at", "") > stale_before:
                return False
            item["last_used_at"] = at
            return True


class FakeUsagePlanKeys:
    """UsagePlanKeys in memory: `keys` maps each API key's id to its name and value, as API Gateway
    holds them; a key in `keys` is in the plan. A value can be used by one key only, as in AWS."""

    def __init__(self):
        import threading

        self.keys: dict[str, dict[str, str]] = {}
        self.deleted: list[str] = []
        self._ids = iter(range(1, 1_000_000))
        self._lock = threading.Lock()

    def add_key(self, name: str, value: str) -> str:
        with self._lock:
            if any(key["value"] == value for key in self.keys.values()):
                raise ValueError("API key already exists")  # API Gateway's ConflictException
            key_id = f"key{next(self._ids)}"
            self.keys[key_id] = {"name": name, "value": value}
            return key_id

    def delete_key(self, key_id: str) -> None:
        with self._lock:
            if self.keys.pop(key_id, None) is not None:
                self.deleted.append(key_id)


class FakeAccountsTable:
    def __init__(self):
        self.items: dict[str, dict[str, Any]] = {}

    def get(self, account_id: str) -> dict[str, Any] | None:
        item = self.items.get(account_id)
        return copy.deepcopy(item) if item is not None else None

    def put_ip_allowlist(self, account_id: str, cidrs: list[str], at: str) -> dict[str, Any]:
        self.items[account_id] = {"account_id": account_id, "ip_allowlist": list(cidrs), "updated_at": at}
        return copy.deepcopy(self.items[account_id])


class FakeAudienceStore(CountedItems):
    """AudienceStore in memory (items: (account, audience id) -> audience). Each write holds the lock,
    as DynamoDB applies a conditional write or a transaction atomically; reads do not."""

    def add_within_limit(self, item: dict[str, Any], limit: int) -> bool:
        return self._add_counted(item["account_id"], (item["account_id"], item["audience_id"]), item, limit)

    def remove(self, account_id: str, audience_id: str) -> bool:
        return self._remove_counted(account_id, (account_id, audience_id))

    def get(self, account_id: str, audience_id: str) -> dict[str, Any] | None:
        item = self.items.get((account_id, audience_id))
        return copy.deepcopy(item) if item is not None else None

    def list_for_account(self, account_id: str) -> list[dict[str, Any]]:
        return [copy.deepcopy(item) for (account, _), item in sorted(self.items.items()) if account == account_id]

    def rename(self, account_id: str, audience_id: str, name: str, at: str) -> dict[str, Any] | None:
        with self.lock:
            item = self.items.get((account_id, audience_id))
            if item is None:
                return None
            item.update(name=name, updated_at=at)
            return copy.deepcopy(item)

    def hold_for_load(self, account_id: str, audience_id: str, job_id: str, at: str,
                      stale_holder: str | None = None) -> bool:
        with self.lock:
            item = self.items.get((account_id, audience_id))
            if item is None or item.get("loading_job") not in (None, job_id, stale_holder):
                return False
            item.update(loading_job=job_id, loading_since=at)
            return True

    def release_load(self, account_id: str, audience_id: str, job_id: str) -> None:
        with self.lock:
            item = self.items.get((account_id, audience_id))
            if item is not None and item.get("loading_job") == job_id:
                item.pop("loading_job")
                item.pop("loading_since", None)

    def flip(self, account_id: str, audience_id: str, load_id: str, previous_load: str,
             record_count: int, at: str) -> bool:
        with self.lock:
            item = self.items.get((account_id, audience_id))
            if item is None or item.get("loading_job") != load_id or item.get("members_load") != previous_load:
                return False
            item.update(members_load=load_id, record_count=record_count, updated_at=at, version=item["version"] + 1)
            if previous_load:
                item.setdefault("retired_loads", set()).add(previous_load)
            return True

    def forget_retired(self, account_id: str, audience_id: str, load_id: str) -> None:
        with self.lock:
            item = self.items.get((account_id, audience_id))
            if item is not None:
                item.get("retired_loads", set()).discard(load_id)
                if not item.get("retired_loads"):
                    item.pop("retired_loads", None)


class FakeMemberStore(FakeRecordStore):
    """FakeRecordStore that can also delete a whole record set (delete_all) and answer membership
    questions as AudienceMembers.contains does."""

    def delete_all(self, account_id, dataset_id, record_type, shards=LEGACY_SHARDS) -> int:
        keys = [key for key in self.items
                if key[:3] == (account_id, dataset_id, record_type) and self._visible(key, shards)]
        for key in keys:
            del self.items[key]
            del self.item_shards[key]
        return len(keys)

    def contains(self, account_id, member_set, record_type, customer_id) -> bool:
        return (account_id, member_set, record_type, customer_id) in self.items


class FakeImportKeysTable:
    """ImportKeysTable in memory: import keys by key id, and target datasets by (account, family, name)."""

    def __init__(self):
        self.keys: dict[str, dict[str, Any]] = {}
        self.targets: dict[tuple[str, str, str], str] = {}

    def put_key(self, item: dict[str, Any]) -> None:
        if item["key_id"] in self.keys:
            raise condition_failed()
        self.keys[item["key_id"]] = copy.deepcopy(item)

    def get_key(self, key_id: str) -> dict[str, Any] | None:
        item = self.keys.get(key_id)
        return {"pk": "key#" + key_id, **copy.deepcopy(item)} if item is not None else None

    def list_for_account(self, account_id: str) -> list[dict[str, Any]]:
        # As the index projects them: no secret hash.
        return [{k: v for k, v in self.get_key(key_id).items() if k != "secret_hash"}
                for key_id, item in self.keys.items() if item["account_id"] == account_id]

    def revoke(self, account_id: str, key_id: str, at: str) -> bool:
        item = self.keys.get(key_id)
        if item is None or item["account_id"] != account_id or item.get("revoked_at"):
            return False
        item["revoked_at"] = at
        return True

    def get_target(self, account_id: str, family: str, name: str) -> str | None:
        return self.targets.get((account_id, family, name))

    def claim_target(self, account_id: str, family: str, name: str, dataset_id: str, at: str) -> str:
        return self.targets.setdefault((account_id, family, name), dataset_id)


class FakeQuotaCounters:
    """QuotaCounters in memory: counter -> uses (expires_at kept to check the TTL is set)."""

    def __init__(self):
        self.uses: dict[str, int] = {}
        self.expires_at: dict[str, int] = {}

    def increment_below(self, counter: str, limit: int, expires_at: int) -> int | None:
        if self.uses.get(counter, 0) >= limit:
            return None
        self.uses[counter] = self.uses.get(counter, 0) + 1
        self.expires_at[counter] = expires_at
        return self.uses[counter]


class FakeWebhooksTable(CountedItems):
    """WebhooksTable in memory: webhooks counted per account (`webhooks`, the same dict as `items`),
    and deliveries keyed by (account, webhook, delivery id). A claim is a compare-and-set, as the
    adapter's conditional update."""

    def __init__(self):
        super().__init__()
        self.webhooks = self.items
        self.deliveries: dict[tuple[str, str, str], dict[str, Any]] = {}

    def add_within_limit(self, item: dict[str, Any], limit: int) -> bool:
        return self._add_counted(item["account_id"], (item["account_id"], item["webhook_id"]), item, limit)

    def remove(self, account_id: str, webhook_id: str) -> bool:
        return self._remove_counted(account_id, (account_id, webhook_id))

    def get_webhook(self, account_id: str, webhook_id: str) -> dict[str, Any] | None:
        item = self.webhooks.get((account_id, webhook_id))
        return copy.deepcopy(item) if item is not None else None

    def list_webhooks(self, account_id: str) -> list[dict[str, Any]]:
        return [copy.deepcopy(item) for (account, _), item in sorted(self.webhooks.items()) if account == account_id]

    def add_delivery(self, item: dict[str, Any]) -> bool:
        with self.lock:
            key = (item["account_id"], item["webhook_id"], item["delivery_id"])
            if key in self.deliveries:
                return False
            self.deliveries[key] = copy.deepcopy(item)
            return True

    def get_delivery(self, account_id: str, webhook_id: str, delivery_id: str) -> dict[str, Any] | None:
        item = self.deliveries.get((account_id, webhook_id, delivery_id))
        return copy.deepcopy(item) if item is not None else None

    def claim_attempt(self, account_id: str, webhook_id: str, delivery_id: str, attempt: int,
                      at: str) -> dict[str, Any] | None:
        with self.lock:
            item = self.deliveries.get((account_id, webhook_id, delivery_id))
            if item is None or item.get("delivery_status") != "pending" or item.get("attempts") != attempt - 1:
                return None
            item.update(attempts=attempt, last_attempt_at=at)
            item.pop("next_attempt_at", None)
            return copy.deepcopy(item)

    def record_attempt(self, account_id: str, webhook_id: str, delivery_id: str, entry: dict[str, Any],
                       status: str, next_attempt_at: str | None) -> None:
        with self.lock:
            item = self.deliveries.setdefault((account_id, webhook_id, delivery_id),
                                              {"account_id": account_id, "webhook_id": webhook_id,
                                               "delivery_id": delivery_id})
            item["attempt_log"] = [*item.get("attempt_log", []), copy.deepcopy(entry)]
            item.update(delivery_status=status, last_response_code=entry["response_code"], last_error=entry["error"])
            if next_attempt_at is not None:
                item["next_attempt_at"] = next_attempt_at

    def list_deliveries(self, account_id: str, webhook_id: str, limit: int) -> list[dict[str, Any]]:
        found = [item for (account, webhook, _), item in self.deliveries.items()
                 if account == account_id and webhook == webhook_id]
        return [copy.deepcopy(item) for item in sorted(found, key=lambda i: i["delivery_id"], reverse=True)[:limit]]
