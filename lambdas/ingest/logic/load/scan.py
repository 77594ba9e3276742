"""Scan (one byte range of a plain upload: its newlines and quotes) and PlanSplit (docs/load_workflow.md).

Scan is the cheap first pass that lets every Split range know where it sits in the file without
reading what comes before it: one ranged GET, streamed, and two bytes.count per piece (C speed, a few
GB/s, so a range costs about its transfer). PlanSplit turns the counts into each range's first line
number and, for CSV, the quote parity at its start (ranges.py says why parity finds the records).
"""

from __future__ import annotations

import orjson

from ingest.errors import StepFailedError
from ingest.logic import formats
from ingest.logic.load.context import LoadContext
from ingest.logic.load.layout import WorkKeys, missing_results, missing_results_message
from ingest.logic.load.ranges import NEWLINE, QUOTE
from ingest.models.workflow import LoadJob, RangeTask, ScanResult

JSON = "application/json"


def range_tasks(job: LoadJob, header_offset: int | None) -> list[RangeTask]:
    """The upload cut in ranges of job.range_bytes (the last one shorter). `header_offset`: where the
    CSV header row starts (the range holding it reads it; the others are given job.csv_header)."""
    tasks = []
    for index, start in enumerate(range(0, job.size, job.range_bytes)):
        end = min(job.size, start + job.range_bytes)
        holds_header = header_offset is not None and start <= header_offset < end
        tasks.append(RangeTask(index=index, source_key=job.object_key, start=start, end=end,
                               holds_header=holds_header))
    return tasks


def scan_range(ctx: LoadContext, job: LoadJob, task: RangeTask) -> None:
    """Count the newlines (and for CSV the quotes) of one range; writes scan/<index>.json."""
    csv = job.format == formats.CSV
    newlines = quotes = size = 0
    for chunk in ctx.objects.stream_range(task.source_key, task.start, task.end):
        newlines += chunk.count(NEWLINE)
        if csv:
            quotes += chunk.count(QUOTE)
        size += len(chunk)
    if size != task.end - task.start:  # the object changed, or the range is past its end
        raise RuntimeError(f"range {task.index} of {task.source_key} read {size} bytes, not {task.end - task.start}")
    result = ScanResult(index=task.index, newlines=newlines, quotes=quotes, bytes=size)
    ctx.objects.put(WorkKeys(job.account_id, job.upload_id).scan(task.index), orjson.dumps(result.state()),
                    content_type=JSON)


def plan_split(ctx: LoadContext, job: LoadJob) -> LoadJob:
    """Each range's first line number and starting quote parity from the scans before it; writes
    split-manifest.json (the Split Map's items) and returns the job with its number of ranges."""
    work = WorkKeys(job.account_id, job.upload_id)
    scanned = [RangeTask.model_validate(task) for task in orjson.loads(ctx.objects.read(work.scan_manifest))]
    missing = missing_results(ctx.objects, work.scan_prefix, work.scan, [task.index for task in scanned])
    if missing:
        raise StepFailedError(missing_results_message("Scan", missing, len(scanned), "ranges"))
    csv = job.format == formats.CSV
    tasks = []
    newlines_before = quotes_before = 0
    for task in scanned:
        scan = ScanResult.model_validate_json(ctx.objects.read(work.scan(task.index)))
        placed = task.model_copy(update={"first_line": 1 + newlines_before,
                                         "starts_in_quotes": bool(quotes_before % 2) if csv else None})
        tasks.append(placed.state())
        newlines_before += scan.newlines
        quotes_before += scan.quotes
    ctx.objects.put(work.split_manifest, orjson.dumps(tasks), content_type=JSON)
    ctx.jobs.set_progress(job.account_id, job.upload_id, "Splitting", chunks_total=len(tasks), chunks_done=0)
    return job.model_copy(update={"ranges": len(tasks)})
