"""Decompress: a gzip upload, in one streaming pass, into plain parts cut at record boundaries.

A gzip stream cannot be entered in the middle, so one function inflates it all (every member, as
lines.gunzip does) and cuts the output into parts of about `range_bytes`, each ending with the newline
that ends a record (ranges.next_boundary: for CSV, a newline outside quotes, the parity carried from
part to part). Each part is written as its own object, plain/<i>, through ObjectStore.writer (S3
multipart from a bounded buffer: at most one part of the writer plus one inflated piece in memory, no
/tmp). Counting the newlines of each part gives the next part's first line, so split-manifest.json
holds one whole-part RangeTask per part and Split reads parts exactly as it reads ranges of a plain
upload. Progress: bytes_read of the compressed object.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import orjson

from ingest.logic import formats
from ingest.logic import lines as line_reader
from ingest.logic.load.context import LoadContext
from ingest.logic.load.layout import WorkKeys
from ingest.logic.load.progress import ProgressReporter
from ingest.logic.load.ranges import NEWLINE, QUOTE, next_boundary
from ingest.models.workflow import LoadJob, RangeTask

JSON = "application/json"
# Parts of a plain part object uploading at once: inflating runs at several times what one S3
# connection moves (~90 MB/s), so a single connection would bound a 10:1 gzip file by its upload.
PART_UPLOADS = 4


class _PartCutter:
    """Receives the inflated bytes in order; writes them as parts cut at record boundaries."""

    def __init__(self, ctx: LoadContext, work: WorkKeys, range_bytes: int, csv: bool):
        self._ctx, self._work, self._range_bytes, self._csv = ctx, work, range_bytes, csv
        self._in_quotes = False
        self._writer: Any = None
        self._size = 0  # bytes in the open part
        self._newlines = 0  # newlines in the open part
        self._first_line = 1  # line number of the open part's first byte
        self._header_part: int | None = None  # the part where the first non-blank line starts
        self.tasks: list[RangeTask] = []

    def write(self, data: bytes) -> None:
        index = 0
        while index < len(data):
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
        self._size += len(piece)
        self._newlines += piece.count(NEWLINE)

    def _close(self) -> None:
        if self._writer is None:
            return
        self._writer.complete()
        index = len(self.tasks)
        self.tasks.append(RangeTask(index=index, source_key=self._work.plain_part(index), start=0, end=self._size,
                                    first_line=self._first_line, starts_in_quotes=False if self._csv else None,
                                    holds_header=self._csv and self._header_part == index))
        self._first_line += self._newlines
        self._writer, self._size, self._newlines = None, 0, 0

    def finish(self) -> None:
        self._close()

    def abandon(self) -> None:
        if self._writer is not None:
            self._writer.discard()


def decompress(ctx: LoadContext, job: LoadJob) -> LoadJob:
    """Inflate the upload into plain/<i> parts; writes split-manifest.json and returns the job with its
    number of ranges (parts). Safe to retry: the same parts are written again."""
    work = WorkKeys(job.account_id, job.upload_id)
    ctx.jobs.set_progress(job.account_id, job.upload_id, "Splitting")
    cutter = _PartCutter(ctx, work, job.range_bytes, job.format == formats.CSV)
    with ProgressReporter(ctx.jobs, job.account_id, job.upload_id) as progress:
        try:
            for data in line_reader.gunzip(_counted(ctx.objects.stream(job.object_key), progress)):
                cutter.write(data)
            cutter.finish()
        except BaseException:
            cutter.abandon()
            raise
    tasks = [task.state() for task in cutter.tasks]
    ctx.objects.put(work.split_manifest, orjson.dumps(tasks), content_type=JSON)
    ctx.jobs.set_progress(job.account_id, job.upload_id, "Splitting", chunks_total=len(tasks), chunks_done=0)
    plain_bytes = sum(task["end"] - task["start"] for task in tasks)
    return job.model_copy(update={"ranges": len(tasks), "partitions": ctx.settings.partitions_for(plain_bytes)})


def _counted(chunks: Iterable[bytes], progress: ProgressReporter) -> Iterator[bytes]:
    for chunk in chunks:
        progress.add(bytes_read=len(chunk))
        yield chunk
