"""Split (one range: its records checked, numbered and routed by key) and PlanLoad (docs/load_workflow.md).

Split reads the records of one range (ranges.RangeStream: from its first record start to the end of
its last record), numbered from the range's first line exactly as a one-pass read of the whole file
numbers them (formats.records_of), checks each, and writes the valid ones to parts/<p>/<range> with
p = partition_of(key, partitions), in line order, so Load reading parts/<p>/0, 1, ... sees every line of
a key in file order: the last line for a key wins. Rejected lines go to errors/split-<range>.ndjson.

Memory: one writer per partition that has records, opened when its first record comes, each holding
at most one S3 part (SPLIT_PART_BYTES, S3's 5 MiB minimum) before uploading it: at most partitions x
5 MiB (320 MiB for 64) whatever the range or file size; in practice about the range's valid bytes when
that is less. Nothing goes to /tmp.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any, cast

import orjson

from ingest import record_types
from ingest.adapters.object_store import MIN_PART_BYTES
from ingest.adapters.record_store import new_key_hasher
from ingest.clock import iso_now
from ingest.errors import StepFailedError
from ingest.logic import formats
from ingest.logic.load import error_log, frames, hold, members, rows
from ingest.logic.load.context import LoadContext
from ingest.logic.load.layout import WorkKeys, missing_results, missing_results_message
from ingest.logic.load.progress import ProgressReporter
from ingest.logic.load.ranges import RangeStream
from ingest.logic.load.record_limits import MAX_STORED_RECORD_BYTES, too_big
from ingest.models.workflow import LoadJob, PartitionTask, PlannedLoad, RangeTask, SplitResult, SplitTotals

SPLIT_PART_BYTES = MIN_PART_BYTES  # what one partition's writer holds at most before uploading a part
PROGRESS_EVERY_RECORDS = 4096  # records between two progress increments (the reporter writes every 2 s)
JSON = "application/json"


# route(line number, record JSON, CSV row as sent or None) -> (problem, partition, frame)
LineRouter = Callable[[int, bytes, bytes | None], tuple[str | None, int, bytes]]


def line_router(record_type, partitions: int) -> LineRouter:
    """Split's work on one record, in one call: check_line's verdict (the same checks, the same
    messages), then for an accepted record its partition, (key_hash(key) >> 8) % partitions as
    record_store.partition_of routes it, and its work-file line (frames.encode's bytes, carrying the
    key hash so Load does not hash the key again). A rejected record gets (problem, 0, b"").

    The pieces are inlined (key_hash too) because this runs once per line and each Python call costs
    a few per cent of parsing the line (docs/decision_log.md, the hot path's third and fourth passes);
    tests hold it equal to check_line, partition_of and frames.encode."""
    check, new_hasher, from_bytes, header = record_type.check_line, new_key_hasher, int.from_bytes, frames.header

    def route(number: int, line: bytes, csv_raw: bytes | None) -> tuple[str | None, int, bytes]:
        problem, key = check(line)
        if problem is not None:
            return problem, 0, b""
        if len(line) > MAX_STORED_RECORD_BYTES:
            return too_big(line), 0, b""
        hasher = new_hasher()
        hasher.update(key.encode())
        hashed = from_bytes(hasher.digest())
        row = "" if csv_raw is None else csv_raw.decode("utf-8", errors="replace")
        return None, (hashed >> 8) % partitions, header((number, hashed, key, row)) + b"\t" + line + b"\n"

    return route


def range_records(ctx: LoadContext, job: LoadJob, task: RangeTask) -> tuple[RangeStream, Any]:
    """(the range's byte stream, its records as formats.SourceRecord) numbered as in the whole file."""
    start, end = task.start, task.end
    chunks: Any
    if task.continues:  # a member group's output: its records go on into the next ones (members.py)
        chunks, start, end = members.piece_chunks(ctx, job, task)
    else:
        origin = start - 1 if start > 0 else 0
        chunks = ctx.objects.stream_range(task.source_key, origin, task.end)
        source_end = task.end if job.gzip else job.size  # a gzip part ends its range; the upload may go on
        if task.end < source_end:  # the range's last record may end past `end`: read on, lazily
            chunks = itertools.chain(chunks, ctx.objects.stream_range(task.source_key, task.end, None))
    csv = job.format == formats.CSV
    stream = RangeStream(chunks, start, end, csv, bool(task.starts_in_quotes))
    first_number = (task.first_line or 1) + stream.skipped_newlines
    header = None
    if csv and not task.holds_header and job.csv_header is not None:
        header = job.csv_header.encode("utf-8")
    record_type = record_types.get(job.record_type)
    return stream, formats.records_of(stream, job.format, record_type, first_number=first_number, csv_header=header)


def split_range(ctx: LoadContext, job: LoadJob, task: RangeTask) -> None:
    """Split one range: writes parts/<p>/<index> (valid records by partition), errors/split-<index>.ndjson
    (rejected lines) and split/<index>.json (its SplitResult). Safe to retry: it rewrites the same files."""
    work = WorkKeys(job.account_id, job.upload_id)
    record_type = record_types.get(job.record_type)
    csv = job.format == formats.CSV
    route = line_router(record_type, job.partitions)
    report_bytes = not job.gzip  # for gzip, Decompress counted the compressed bytes read
    total = rejected = 0
    reported_records = reported_bytes = 0
    with ExitStack() as open_files, ProgressReporter(ctx.jobs, job.account_id, job.upload_id) as progress:
        stream, records = range_records(ctx, job, task)
        writers: dict[int, Any] = {}
        errors: Any = None
        failed_rows: Any = None
        for record in records:
            total += 1
            problem = record.problem
            if problem is None:
                problem, partition, frame = route(record.number, cast(bytes, record.json), record.raw if csv else None)
            if problem is not None:
                rejected += 1
                if errors is None:
                    errors = open_files.enter_context(ctx.objects.writer(work.errors(f"split-{task.index:05d}")))
                    failed_rows = open_files.enter_context(ctx.objects.writer(work.rows(f"split-{task.index:05d}")))
                errors.write(error_log.error_line(record.number, problem, record.raw))
                if record.raw:  # a line too long to hold (or not UTF-8 in a CSV) has no bytes to give back
                    failed_rows.write(rows.row_frame(record.number, record.raw))
            else:
                writer = writers.get(partition)
                if writer is None:
                    writer = writers[partition] = open_files.enter_context(
                        ctx.objects.writer(work.part(partition, task.index), part_bytes=SPLIT_PART_BYTES))
                writer.write(frame)
            if total - reported_records >= PROGRESS_EVERY_RECORDS:
                read = min(stream.bytes_owned, task.end - task.start) if report_bytes else 0
                progress.add(lines_read=total - reported_records, bytes_read=read - reported_bytes)
                reported_records, reported_bytes = total, read
        # Every writer completes when the block ends cleanly; an error aborts them all (nothing half-written).
        result = SplitResult(index=task.index, total=total, rejected=rejected, bytes=stream.bytes_owned)
        ctx.objects.put(work.split_result(task.index), orjson.dumps(result.state()), content_type=JSON)
        progress.add(lines_read=total - reported_records,
                     bytes_read=(task.end - task.start - reported_bytes) if report_bytes else 0, chunks_done=1)


# -- PlanLoad ------------------------------------------------------------------------------------------
def plan_load(ctx: LoadContext, job: LoadJob) -> PlannedLoad:
    """Sum the ranges' results; over the error budget fail the job here (nothing was loaded), else
    write load-manifest.json: one PartitionTask per partition that has records."""
    work = WorkKeys(job.account_id, job.upload_id)
    ranges = job.ranges or 0
    missing = missing_results(ctx.objects, work.split_results_prefix, work.split_result, range(ranges))
    if missing:
        raise StepFailedError(missing_results_message("Split", missing, ranges, "ranges"))
    results = [SplitResult.model_validate_json(ctx.objects.read(work.split_result(index))) for index in range(ranges)]
    totals = SplitTotals(total=sum(result.total for result in results),
                         rejected=sum(result.rejected for result in results))
    job = job.model_copy(update={"split": totals})
    if not within_error_budget(totals, job.max_rejected_percent):
        _fail_over_budget(ctx, job, work, totals)
        return PlannedLoad(job=job, within_budget=False)
    tasks = [PartitionTask(partition=partition, ranges=ranges).state()
             for partition in partitions_with_records(ctx, work)]
    ctx.objects.put(work.load_manifest, orjson.dumps(tasks), content_type=JSON)
    ctx.jobs.update(job.account_id, job.upload_id, updated_at=iso_now(),
                    stats={"total": totals.total, "loaded": 0, "rejected": totals.rejected})
    ctx.jobs.set_progress(job.account_id, job.upload_id, "Loading", chunks_total=len(tasks), chunks_done=0)
    return PlannedLoad(job=job, within_budget=True)


def partitions_with_records(ctx: LoadContext, work: WorkKeys) -> list[int]:
    parts_prefix = f"{work.prefix}parts/"
    part_keys = ctx.objects.list_keys(parts_prefix)
    return sorted({int(key[len(parts_prefix):].split("/", 1)[0]) for key in part_keys})


def within_error_budget(totals: SplitTotals, max_rejected_percent: float) -> bool:
    return not totals.total or totals.rejected * 100 <= max_rejected_percent * totals.total


def _fail_over_budget(ctx: LoadContext, job: LoadJob, work: WorkKeys, totals: SplitTotals) -> None:
    """The job fails, loading nothing: its rejected lines are in its error log, its hold is released."""
    item = ctx.jobs.get(job.account_id, job.upload_id) or {}
    error_log_key, _ = error_log.merge(ctx.objects, work, item.get("line_map_key"))
    # Nothing was loaded: every valid line is unprocessed (the rejected ones are the failed rows).
    rows_fields = rows.publish(ctx.objects, work, item, job, partitions_with_records(ctx, work)) if item else {}
    percent = totals.rejected * 100 / totals.total
    allowed = job.max_rejected_percent
    allowed_text = int(allowed) if float(allowed).is_integer() else allowed
    finished = iso_now()
    ctx.jobs.update(
        job.account_id, job.upload_id,
        status="Failed",
        failure_reason=(
            f"error budget exceeded: {totals.rejected} of {totals.total} lines rejected ({percent:.1f}%), "
            f"over the {allowed_text}% allowed by max_rejected_percent; nothing was loaded"
        ),
        stats={"total": totals.total, "loaded": 0, "rejected": totals.rejected,
               "not_loaded": totals.total - totals.rejected},
        error_log_key=error_log_key, updated_at=finished, finished_at=finished, **rows_fields,
    )
    hold.release(ctx, job.account_id, job.upload_id)
    ctx.objects.delete_prefix(work.prefix)
