"""The job's error log: one JSON line per rejected line, {"line", "error", "raw"}, in line order.

Steps write rejected lines to work files errors/<name>.ndjson, each in line order; the merge streams
them into results/<account>/<upload>/errors.ndjson part by part (ObjectStore.writer), never through
/tmp: an error line is ~1.7x its raw line, so a mostly rejected upload of a few hundred MB would fill
the 512 MiB of ephemeral storage of the steps that merge.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator

import orjson

from ingest.logic import lines as line_reader
from ingest.logic.load import rows
from ingest.logic.load.layout import WorkKeys

ERROR_RAW_LIMIT = 64 * 1024  # longest raw line echoed in the error log
# Work files hold lines the Split step already bounded, plus a short frame.
WORK_LINE_LIMIT = line_reader.MAX_LINE_BYTES + 64 * 1024


def error_line(line_number: int, error: str, raw: bytes) -> bytes:
    text = raw[:ERROR_RAW_LIMIT].decode("utf-8", errors="replace")
    return orjson.dumps({"line": line_number, "error": error, "raw": text}) + b"\n"


def merge(objects, work: WorkKeys, line_map_key: str | None = None) -> tuple[str | None, int]:
    """Merge every errors/*.ndjson work file into the job's error log, in line order.
    (the log's key, its line count); (None, 0) when nothing was rejected (no log is written).
    With a line map (a retry of unprocessed rows, logic/load/rows.py) each line is named by its number
    in the original upload."""
    keys = objects.list_keys(work.errors_prefix)
    if not keys:
        return None, 0
    streams = [_numbered(objects.stream(key)) for key in keys]
    line_map = rows.line_map_of(objects, line_map_key)
    count = 0
    with objects.writer(work.error_log) as merged:
        for number, line in heapq.merge(*streams, key=lambda item: item[0]):
            if line_map is not None:
                merged.write(orjson.dumps({**orjson.loads(line), "line": line_map.original(number)}) + b"\n")
            else:
                merged.write(line)
            count += 1
    return work.error_log, count


def _numbered(chunks: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    for line in line_reader.numbered_lines(chunks, WORK_LINE_LIMIT):
        yield orjson.loads(line.raw)["line"], line.raw + b"\n"
