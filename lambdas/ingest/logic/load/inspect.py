"""Inspect: the upload's object, its format and first record, the dataset's load hold, the plan's sizes.

Everything that can refuse the whole file before a byte of it is split: the job and object exist, the
object is not empty and within the 5 GB a presigned PUT can create, its first record fits its format
and type (a CSV header against the type's columns). Then the dataset's load hold (not for a dry run),
the job `Processing`, and the plan: ranges of `range_bytes`, `partitions`, the dataset's `shards`. For a
plain upload Inspect also writes scan-manifest.json, the ranges the Scan Map reads.
"""

from __future__ import annotations

from collections.abc import Iterable

import orjson

from ingest import record_types
from ingest.clock import iso_now
from ingest.errors import FileRejectedError
from ingest.logic import audiences, formats
from ingest.logic import lines as line_reader
from ingest.logic.load import hold, members
from ingest.logic.load.context import LoadContext
from ingest.logic.load.layout import WorkKeys
from ingest.logic.load.record_limits import MAX_OBJECT_BYTES
from ingest.logic.load.scan import range_tasks
from ingest.models.workflow import ExecutionInput, LoadJob

JSON = "application/json"


def inspect(ctx: LoadContext, execution: ExecutionInput) -> LoadJob:
    account_id, upload_id = execution.account_id, execution.upload_id
    item = ctx.jobs.get(account_id, upload_id)
    if item is None:
        raise FileRejectedError(f"upload {upload_id} has no job record; request a new upload URL")
    key = item["object_key"]
    size = ctx.objects.size_of(key)
    if size is None:
        raise FileRejectedError("the uploaded file is no longer in storage; upload it again with a new URL")
    if size > MAX_OBJECT_BYTES and not item.get("multipart"):
        raise FileRejectedError(f"the file is {size} bytes, over the 5 GB limit; split it into smaller files")
    if size > ctx.settings.max_upload_bytes:  # a multipart upload's parts may add up to more than it declared
        raise FileRejectedError(f"the file is {size} bytes, over the {ctx.settings.max_upload_bytes}-byte limit of "
                                "one upload; split it into smaller files")
    if size == 0:
        raise FileRejectedError("the uploaded file is empty (0 bytes)")
    start = ctx.objects.first_bytes(key, formats.BINARY_SNIFF_BYTES)  # one GET: gzip's magic, a plain file's head
    gzipped = line_reader.is_gzip(start)
    dataset_id = item["dataset_id"]
    target = hold.load_target(ctx, item)
    dataset = target.get(account_id, dataset_id)
    if dataset is None:
        raise FileRejectedError(f"dataset {dataset_id} no longer exists")
    if dataset.get("clearing_job"):
        raise FileRejectedError(hold.being_cleared(dataset_id))
    fmt = formats.format_of(item["filename"])
    record_type = record_types.get(item["record_type"])
    if record_type is None:
        raise FileRejectedError(f"record type {item['record_type']} no longer exists")
    # A gzip file's head is its text's, decompressed; a plain file's is the bytes read above.
    formats.check_head(formats.head_of(line_reader.gunzip(ctx.objects.stream(key))) if gzipped else start, fmt)
    first_line = _first_line(ctx, key, gzipped)
    content = None if first_line is None else first_line[1]
    formats.check_start([] if content is None else [content], fmt, record_type)
    if fmt == formats.CSV and first_line is not None and content is None:
        raise FileRejectedError(
            f"the CSV header row is malformed: line is longer than {line_reader.MAX_LINE_BYTES} bytes")
    options = item.get("options") or {}
    dry_run = bool(options.get("dry_run", False))
    if not dry_run:
        # Last check before Processing: a busy dataset makes this step fail with DatasetBusyError,
        # which the state machine retries, so the job waits (Pending, queued_behind) for its turn.
        hold.take(ctx, account_id, upload_id, dataset_id, target)
        # Before any record can be written, so a clear never misses a type.
        if not audiences.is_audience_load(item):  # audiences are never cleared, only replaced
            ctx.datasets.note_record_type(account_id, dataset_id, item["record_type"])
    ctx.jobs.update(account_id, upload_id, status="Processing", size=size, gzip=gzipped,
                    queued_behind=None, updated_at=iso_now())
    ctx.jobs.set_progress(account_id, upload_id, "Inspecting", bytes_total=size)
    settings = ctx.settings
    header = first_line[1] if fmt == formats.CSV and first_line is not None else None
    job = LoadJob(
        account_id=account_id, upload_id=upload_id, object_key=key, dataset_id=dataset_id,
        record_type=record_type.name, format=fmt,
        gzip=gzipped, size=size, dry_run=dry_run,
        max_rejected_percent=options.get("max_rejected_percent", 100),
        # A gzip file's partitions are chosen by Decompress, once its lines' size is known.
        range_bytes=settings.range_bytes if gzipped else settings.range_bytes_for(size),
        partitions=settings.partitions if gzipped else settings.partitions_for(size),
        shards=int(dataset.get("shards") or settings.legacy_dataset_shards),
        csv_header=None if header is None else header.decode("utf-8", errors="replace"),
    )
    if gzipped and size > settings.inflate_group_bytes:  # worth trying in parallel by member (members.py)
        groups = [task.state() for task in members.group_tasks(job, settings.inflate_group_bytes)]
        ctx.objects.put(WorkKeys(account_id, upload_id).inflate_manifest, orjson.dumps(groups), content_type=JSON)
        job = job.model_copy(update={"member_groups": len(groups)})
    if not gzipped:
        header_offset = first_line[0] if header is not None and first_line is not None else None
        tasks = [task.state() for task in range_tasks(job, header_offset)]
        ctx.objects.put(WorkKeys(account_id, upload_id).scan_manifest, orjson.dumps(tasks), content_type=JSON)
    return job


def _first_line(ctx: LoadContext, key: str, gzipped: bool) -> tuple[int, bytes | None] | None:
    """(where the first non-blank line starts, its bytes or None when it is too long), or None when the
    file has no such line; read without streaming the whole object. The offset is in the decompressed
    bytes for gzip (Decompress finds the header itself)."""
    stream: Iterable[bytes] = ctx.objects.stream(key)
    if gzipped:
        stream = line_reader.gunzip(stream)
    # A first line too long to hold is answered as soon as it is (not read to its end: it may be the file).
    for line in line_reader.numbered_lines(stream, too_long_at_once=True):
        content = None if line.too_long else line.raw
        if gzipped:
            return 0, content
        return _line_start(ctx.objects.stream(key), line.number), content
    return None


def _line_start(chunks: Iterable[bytes], number: int) -> int:
    """The byte offset where line `number` (1-based) starts: just past the (number - 1)th newline."""
    to_pass, position = number - 1, 0
    for chunk in chunks:
        if to_pass == 0:
            break
        index = 0
        while to_pass:
            found = chunk.find(b"\n", index)
            if found < 0:
                break
            to_pass -= 1
            index = found + 1
        if to_pass == 0:
            return position + index
        position += len(chunk)
    return position
