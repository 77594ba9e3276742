"""Failed rows and unprocessed rows: lines of an upload given back in the upload's own format.

Every line of a finished upload is exactly one of: loaded (its partition's Load finished), rejected
(the error log names it; its bytes are in the failed rows file) or unprocessed (valid, or never
checked, and not loaded: the unprocessed rows file). docs/load_workflow.md defines them.

Split and Load write each rejected line as sent to work files rows/<name> ("<line> <length>\\n<bytes>\\n",
exact bytes, in line order per file); the merge streams them, in line order, into the failed rows
file. Unprocessed rows come from the partition work files (parts/<p>/<i>, which hold each valid line as
sent) of the partitions whose Load did not finish. Both files are written as the upload was: a CSV's
header row first, the rows as sent (a quoted multi-line field kept whole), gzip when the upload was
gzip; through ObjectStore.writer (S3 multipart from a bounded buffer), never /tmp. Memory: one read
chunk per merged stream plus one row.

A line map (`<file line>\\t<original line>\\n`, in file order) goes with an unprocessed rows file: a retry
that loads it (POST /v1/uploads/{id}/retry with rows=unprocessed) names the original upload's line
numbers in its own error log, failed rows and unprocessed rows. LineMap reads one as a stream.
"""

from __future__ import annotations

import heapq
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ingest.logic import formats
from ingest.logic import lines as line_reader
from ingest.logic.load import frames
from ingest.logic.load.layout import WorkKeys

CONTENT_TYPES = {formats.CSV: "text/csv", formats.NDJSON: "application/x-ndjson"}
GZIP_CONTENT_TYPE = "application/gzip"
MAP_CONTENT_TYPE = "text/tab-separated-values"


# -- the rows/<name> work files ---------------------------------------------------------------------
def row_frame(line: int, raw: bytes) -> bytes:
    """One rejected line as sent, length-prefixed so any byte (a tab, a newline in a CSV field) is exact."""
    return b"%d %d\n%b\n" % (line, len(raw), raw)


def read_row_frames(chunks: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    """(line, bytes as sent) from a rows/<name> work file read as a stream of chunks (any chunking)."""
    pending = bytearray()
    want: tuple[int, int] | None = None  # (line, length) of the row being read
    for chunk in chunks:
        pending += chunk
        while True:
            if want is None:
                end = pending.find(b"\n")
                if end < 0:
                    break
                number, size = bytes(pending[:end]).split(b" ")
                want = int(number), int(size)
                del pending[:end + 1]
            line, length = want
            if len(pending) < length + 1:
                break
            yield line, bytes(pending[:length])
            del pending[:length + 1]
            want = None


# -- where the rows go, and in which format ---------------------------------------------------------
@dataclass(frozen=True)
class RowsFormat:
    """The upload's format, as a rows file must repeat it."""

    filename: str  # the upload's file name: its extension names the format (and .gz)
    fmt: str
    gzip: bool
    csv_header: bytes | None  # the CSV's header row, written first; None for NDJSON

    @classmethod
    def of(cls, item: dict[str, Any], gzip: bool | None = None, csv_header: str | None = None) -> RowsFormat:
        """From the job item (filename, gzip as Inspect found it) and the LoadJob's csv_header."""
        fmt = formats.format_of(item["filename"])
        header = csv_header.encode("utf-8") if fmt == formats.CSV and csv_header is not None else None
        return cls(filename=item["filename"], fmt=fmt, gzip=bool(item.get("gzip") if gzip is None else gzip),
                   csv_header=header)

    @property
    def content_type(self) -> str:
        return GZIP_CONTENT_TYPE if self.gzip else CONTENT_TYPES.get(self.fmt, "application/octet-stream")


class LineMap:
    """A rows file's line -> the original upload's line, read as a stream: asked in non-decreasing
    order (the merges go in line order), it holds one entry at a time. A line inside a multi-line CSV
    row maps to its row's original line plus its offset in the row (rows are copied as sent)."""

    def __init__(self, chunks: Iterable[bytes]):
        self._entries = (tuple(int(part) for part in line.raw.split(b"\t"))
                         for line in line_reader.numbered_lines(chunks))
        self._current: tuple[int, ...] = (0, 0)
        self._next = next(self._entries, None)

    def original(self, line: int) -> int:
        while self._next is not None and self._next[0] <= line:
            self._current, self._next = self._next, next(self._entries, None)
        here, there = self._current
        return there + (line - here)


def translated(numbered: Iterable[tuple[int, Any]], line_map: LineMap | None) -> Iterator[tuple[int, Any]]:
    if line_map is None:
        yield from numbered
        return
    for line, value in numbered:
        yield line_map.original(line), value


def line_map_of(objects, key: str | None) -> LineMap | None:
    return LineMap(objects.stream(key)) if key else None


class RowsWriter:
    """Writes a rows file (header first, gzip if the upload was) and, optionally, its line map."""

    def __init__(self, objects, key: str, rows_format: RowsFormat, map_key: str | None = None):
        self._file = objects.writer(key, content_type=rows_format.content_type)
        self._map = objects.writer(map_key, content_type=MAP_CONTENT_TYPE) if map_key else None
        self._gzip = zlib.compressobj(wbits=31) if rows_format.gzip else None
        self._next_line = 1
        self.rows = 0
        if rows_format.csv_header is not None:
            self._out(rows_format.csv_header + b"\n")
            self._next_line += rows_format.csv_header.count(b"\n") + 1

    def _out(self, data: bytes) -> None:
        self._file.write(self._gzip.compress(data) if self._gzip is not None else data)

    def write(self, original_line: int, raw: bytes) -> None:
        self._out(raw + b"\n")
        if self._map is not None:
            self._map.write(b"%d\t%d\n" % (self._next_line, original_line))
        self._next_line += raw.count(b"\n") + 1
        self.rows += 1

    def complete(self) -> None:
        if self._gzip is not None:
            self._file.write(self._gzip.flush())
        self._file.complete()
        if self._map is not None:
            self._map.complete()

    def discard(self) -> None:
        self._file.discard()
        if self._map is not None:
            self._map.discard()


def _write_all(writer: RowsWriter, rows: Iterable[tuple[int, bytes]]) -> int:
    try:
        for line, raw in rows:
            writer.write(line, raw)
    except BaseException:
        writer.discard()
        raise
    if not writer.rows:
        writer.discard()
        return 0
    writer.complete()
    return writer.rows


# -- the two files -----------------------------------------------------------------------------------
def publish_failed_rows(objects, work: WorkKeys, rows_format: RowsFormat,
                        line_map_key: str | None = None) -> str | None:
    """Merge every rows/* work file into the failed rows file, in line order; its key, or None when no
    rejected line has bytes to give back (a line too long to hold, or not UTF-8 in a CSV, has none)."""
    keys = objects.list_keys(work.rows_prefix)
    if not keys:
        return None
    key = work.failed_rows(rows_format.filename)
    merged = heapq.merge(*(read_row_frames(objects.stream(name)) for name in keys), key=lambda row: row[0])
    written = _write_all(RowsWriter(objects, key, rows_format), translated(merged, line_map_of(objects, line_map_key)))
    return key if written else None


def publish_unprocessed_rows(objects, work: WorkKeys, rows_format: RowsFormat, partitions: Iterable[int],
                             ranges: int, line_map_key: str | None = None) -> tuple[str, str, int] | None:
    """The valid lines of `partitions` (those whose Load did not finish) as the unprocessed rows file,
    in line order, with its line map: (file key, map key, rows), or None when there are none."""
    streams = [_partition_rows(objects, work, partition, ranges) for partition in sorted(partitions)]
    if not streams:
        return None
    key, map_key = work.unprocessed_rows(rows_format.filename), work.unprocessed_line_map
    merged = heapq.merge(*streams, key=lambda row: row[0])
    written = _write_all(RowsWriter(objects, key, rows_format, map_key),
                         translated(merged, line_map_of(objects, line_map_key)))
    return (key, map_key, written) if written else None


def _partition_rows(objects, work: WorkKeys, partition: int, ranges: int) -> Iterator[tuple[int, bytes]]:
    """A partition's lines as sent, in line order (its range files in range order; lazily opened)."""
    present = set(objects.list_keys(work.partition_prefix(partition)))
    for index in range(ranges):
        key = work.part(partition, index)
        if key in present:
            for frame in frames.decode_stream(objects.stream(key)):
                yield frame.line, frame.raw


def publish(objects, work: WorkKeys, item: dict[str, Any], job,
            unprocessed_partitions: Iterable[int] = ()) -> dict[str, Any]:
    """Write the job's failed rows (and the unprocessed rows of `unprocessed_partitions`); the job item's
    fields that name them. `job` is the LoadJob (gzip, CSV header, ranges); `item` the job item."""
    if not item.get("filename"):  # no job item (it is gone): nothing to name the files after, no one to show them
        return {}
    rows_format = RowsFormat.of(item, job.gzip, job.csv_header)
    line_map_key = item.get("line_map_key")
    fields: dict[str, Any] = {}
    failed = publish_failed_rows(objects, work, rows_format, line_map_key)
    if failed:
        fields["failed_rows_key"] = failed
    unprocessed = publish_unprocessed_rows(objects, work, rows_format, unprocessed_partitions, job.ranges or 0,
                                           line_map_key)
    if unprocessed:
        fields["unprocessed_rows_key"], fields["unprocessed_line_map_key"], fields["unprocessed_rows"] = unprocessed
    return fields


def whole_upload_unprocessed(item: dict[str, Any]) -> dict[str, Any]:
    """The job failed before its lines were checked: every line is unprocessed, and the upload itself is
    the unprocessed rows file (no copy); a retry's own line map carries on to its retries."""
    fields: dict[str, Any] = {"unprocessed_rows_key": item["object_key"]}
    if item.get("line_map_key"):
        fields["unprocessed_line_map_key"] = item["line_map_key"]
    return fields
