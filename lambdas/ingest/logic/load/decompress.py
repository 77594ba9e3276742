"""Decompress: a gzip upload, in a chain of bounded invocations, into plain parts cut at record boundaries.

A gzip stream cannot be entered in the middle, so the file is inflated in order (every member, as
lines.gunzip does), by a chain of invocations: each inflates for at most `decompress_budget_seconds`,
stops at the end of the part it is writing, and hands the next one a DecompressCursor and a
checkpoint to inflate on from (resumable_gzip.py; the state machine loops on the cursor). Each cuts
the output into parts of about `range_bytes`, each ending with the newline
that ends a record (ranges.next_boundary: for CSV, a newline outside quotes, the parity carried from
part to part). Each part is written as its own object, plain/<i>, through ObjectStore.writer (S3
multipart from a bounded buffer: at most one part of the writer plus one inflated piece in memory, no
/tmp). Counting the newlines of each part gives the next part's first line, so split-manifest.json
holds one whole-part RangeTask per part and Split reads parts exactly as it reads ranges of a plain
upload. Progress: bytes_read of the compressed object.

The chain's output is byte for byte one pass's: each invocation starts at the plain offset where the
previous one's last whole part ended, with the line number, the header's part and the CRC-32 so far
from the cursor (a part ends at a record boundary, so a CSV part never ends inside quotes).
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable
from typing import Any

import orjson

from ingest.logic import formats
from ingest.logic import lines as line_reader
from ingest.logic.load.context import LoadContext
from ingest.logic.load.layout import WorkKeys
from ingest.logic.load.progress import ProgressReporter
from ingest.logic.load.ranges import NEWLINE, QUOTE, next_boundary
from ingest.logic.load.resumable_gzip import ResumableGunzip, check_trailer
from ingest.models.workflow import DecompressCursor, DecompressState, LoadJob, RangeTask

JSON = "application/json"
# Parts of a plain part object uploading at once: inflating runs at several times what one S3
# connection moves (~90 MB/s), so a single connection would bound a 10:1 gzip file by its upload.
PART_UPLOADS = 4


class _PartCutter:
    """Receives the inflated bytes in order; writes them as parts cut at record boundaries."""

    def __init__(self, ctx: LoadContext, work: WorkKeys, range_bytes: int, csv: bool,
                 tasks: list[RangeTask], crcs: list[int], cursor: DecompressCursor | None):
        self._ctx, self._work, self._range_bytes, self._csv = ctx, work, range_bytes, csv
        self._in_quotes = False  # a part ends at a record boundary: never inside quotes
        self._writer: Any = None
        self._size = 0  # bytes in the open part
        self._newlines = 0  # newlines in the open part
        self._first_line = 1 if cursor is None else cursor.first_line  # line number of the open part's first byte
        # the part where the first non-blank line starts
        self._header_part: int | None = None if cursor is None else cursor.header_part
        self._crc = 0 if cursor is None else cursor.plain_crc  # CRC-32 of every byte taken
        self.closed_crc = self._crc  # ... up to the end of the last whole part
        self.tasks: list[RangeTask] = tasks
        self.crcs: list[int] = crcs  # per part, the CRC-32 of the output before it (the trailer check)
        self.stop_at_next_cut = False  # the invocation's time is up: stop when the open part ends
        self.stopped = False

    def write(self, data: bytes) -> None:
        index = 0
        while index < len(data) and not self.stopped:
            search_from = index + max(0, self._range_bytes - 1 - self._size)  # the part is full from here on
            if search_from >= len(data):
                self._take(data[index:])
                return
            in_quotes = self._in_quotes ^ bool(self._csv and data.count(QUOTE, index, search_from) & 1)
            found, _ = next_boundary(data, search_from, in_quotes, self._csv)
            if found < 0:
                self._take(data[index:])
                return
            self._take(data[index:found])
            self._close()
            index = found
            self.stopped = self.stop_at_next_cut

    def _take(self, piece: bytes) -> None:
        """Add bytes to the open part (opened by its first byte)."""
        if not piece:
            return
        if self._csv:
            self._in_quotes ^= bool(piece.count(QUOTE) & 1)
        if self._writer is None:
            self._writer = self._ctx.objects.writer(self._work.plain_part(len(self.tasks)), parallel=PART_UPLOADS)
        if self._header_part is None:
            text = piece.removeprefix(line_reader.UTF8_BOM) if not self.tasks and not self._size else piece
            if text.strip():
                self._header_part = len(self.tasks)
        self._writer.write(piece)
        self._crc = zlib.crc32(piece, self._crc)
        self._size += len(piece)
        self._newlines += piece.count(NEWLINE)

    def _close(self) -> None:
        if self._writer is None:
            return
        self._writer.complete()
        index = len(self.tasks)
        self.crcs.append(self.closed_crc)
        self.tasks.append(RangeTask(index=index, source_key=self._work.plain_part(index), start=0, end=self._size,
                                    first_line=self._first_line, starts_in_quotes=False if self._csv else None,
                                    holds_header=self._csv and self._header_part == index))
        self._first_line += self._newlines
        self.closed_crc = self._crc
        self._writer, self._size, self._newlines = None, 0, 0

    def finish(self) -> None:
        self._close()

    def cursor(self, invocations: int) -> DecompressCursor:
        """Where the next invocation goes on: the end of the last whole part."""
        return DecompressCursor(invocations=invocations, plain_offset=sum(task.end for task in self.tasks),
                                parts=len(self.tasks), first_line=self._first_line,
                                header_part=self._header_part, plain_crc=self.closed_crc)

    def abandon(self) -> None:
        if self._writer is not None:
            self._writer.discard()


def decompress(ctx: LoadContext, job: LoadJob, cursor: DecompressCursor | None = None,
               clock: Callable[[], float] = time.monotonic) -> DecompressState:
    """One invocation of the chain: inflate from `cursor` (the start when None) into plain/<i> parts
    until the budget is spent, then stop at the end of a part. Returns the job with its cursor (the
    chain goes on) or, once the file is inflated, the job with its number of ranges (parts) and
    split-manifest.json complete. Safe to retry with the same cursor: the same parts are written again."""
    work = WorkKeys(job.account_id, job.upload_id)
    invocation = 1 if cursor is None else cursor.invocations + 1
    if cursor is None:
        ctx.jobs.set_progress(job.account_id, job.upload_id, "Splitting")
        tasks: list[RangeTask] = []
        crcs: list[int] = []
        checkpoint = None
    else:
        done = orjson.loads(ctx.objects.read(work.split_manifest))[:cursor.parts]
        tasks = [RangeTask.model_validate(task) for task in done]
        crcs = orjson.loads(ctx.objects.read(work.inflate_crcs))[:cursor.parts]
        checkpoint = ctx.objects.read(work.inflate_checkpoint(cursor.invocations))
    cutter = _PartCutter(ctx, work, job.range_bytes, job.format == formats.CSV, tasks, crcs, cursor)
    started = clock()
    budget = ctx.settings.decompress_budget_seconds
    with ProgressReporter(ctx.jobs, job.account_id, job.upload_id) as progress:
        try:
            with ResumableGunzip(ctx.objects, job.object_key, job.size, checkpoint=checkpoint,
                                 offset=0 if cursor is None else cursor.plain_offset,
                                 on_read=lambda count: progress.add(bytes_read=count),
                                 spacing=ctx.settings.inflate_seek_point_bytes,
                                 read_bytes=2 * ctx.settings.inflate_seek_point_bytes) as inflating:
                for data in inflating.chunks():
                    cutter.stop_at_next_cut = clock() - started >= budget
                    cutter.write(data)
                    if cutter.stopped:
                        break
                if cutter.stopped:
                    cutter.abandon()  # bytes past the last whole part: the next invocation inflates them again
                    ctx.objects.put(work.inflate_checkpoint(invocation), inflating.checkpoint(),
                                    content_type="application/octet-stream")
                    next_cursor = cutter.cursor(invocation)
                else:
                    cutter.finish()
                    next_cursor = None
        except BaseException:
            cutter.abandon()
            raise
    tasks_state = [task.state() for task in cutter.tasks]
    ctx.objects.put(work.split_manifest, orjson.dumps(tasks_state), content_type=JSON)
    ctx.objects.put(work.inflate_crcs, orjson.dumps(cutter.crcs), content_type=JSON)
    if next_cursor is not None:
        return DecompressState(job=job, decompress=next_cursor)
    plain_bytes = sum(task.end for task in cutter.tasks)
    check_trailer(b"".join(ctx.objects.stream_range(job.object_key, job.size - 8, job.size)), plain_bytes,
                  cutter.closed_crc, lambda offset: _crc_at(ctx, work, cutter.tasks, offset))
    ctx.jobs.set_progress(job.account_id, job.upload_id, "Splitting", chunks_total=len(tasks_state), chunks_done=0)
    return DecompressState(job=job.model_copy(update={"ranges": len(tasks_state),
                                                      "partitions": ctx.settings.partitions_for(plain_bytes)}))


def _crc_at(ctx: LoadContext, work: WorkKeys, tasks: list[RangeTask], offset: int) -> int:
    """The CRC-32 of the plain output's first `offset` bytes: the CRC before the part holding it (the
    crcs file) and that part's bytes up to it (at most one part read)."""
    if offset == 0:
        return 0
    crcs = orjson.loads(ctx.objects.read(work.inflate_crcs))
    position = 0
    for task, crc_before in zip(tasks, crcs, strict=True):
        if position <= offset <= position + task.end:
            return zlib.crc32(b"".join(ctx.objects.stream_range(task.source_key, 0, offset - position)), crc_before)
        position += task.end
    raise ValueError(f"offset {offset} is past the output's {position} bytes")


def decompress_all(ctx: LoadContext, job: LoadJob, clock: Callable[[], float] = time.monotonic) -> LoadJob:
    """The whole chain in one process, as the state machine runs it (tests and the bench)."""
    state = decompress(ctx, job, clock=clock)
    while state.decompress is not None:
        state = decompress(ctx, state.job, state.decompress, clock=clock)
    return state.job
