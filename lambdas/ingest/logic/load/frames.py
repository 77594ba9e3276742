"""The line format of work files parts/<partition>/<range> (Split writes them, Load reads them).

    <line number>\t<record key as a JSON string>\t<record JSON>\n                      (NDJSON)
    <line number>\t<record key as a JSON string>\t<record JSON>\t<line as sent, JSON string>\n   (CSV)

The record JSON is what the store keeps (for NDJSON, the line as sent); CSV frames also carry the row
as sent, for the error log when the load kind refuses a record (a profile change that does not fit).
JSON never holds a raw tab or newline, so splitting on tabs is exact.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import orjson


@dataclass(frozen=True, slots=True)
class Frame:
    line: int
    key: str
    record: bytes  # the record JSON, as stored
    raw: bytes  # the line as sent (NDJSON: the record itself)


def encode(line: int, key: str, record: bytes, csv_raw: bytes | None = None) -> bytes:
    framed = b"%d\t%b\t%b" % (line, orjson.dumps(key), record)
    if csv_raw is not None:
        framed += b"\t" + orjson.dumps(csv_raw.decode("utf-8", errors="replace"))
    return framed + b"\n"


def decode(framed: bytes) -> Frame:
    """One work-file line (without its newline)."""
    number, key, rest = framed.split(b"\t", 2)
    record, tab, raw = rest.partition(b"\t")
    return Frame(int(number), orjson.loads(key), record,
                 orjson.loads(raw).encode("utf-8") if tab else record)


def decode_stream(chunks: Iterable[bytes]) -> Iterator[Frame]:
    """Frames from a work file read as a stream of byte chunks (any chunking)."""
    pending = b""
    for chunk in chunks:
        pending += chunk
        lines = pending.split(b"\n")
        pending = lines.pop()
        for line in lines:
            if line:
                yield decode(line)
    if pending:
        yield decode(pending)
