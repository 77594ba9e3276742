"""The line format of work files parts/<partition>/<range> (Split writes them, Load reads them).

    <line number>\t<key hash>\t<record key as a JSON string>\t<row as sent, JSON string (CSV only)>\t<record JSON>\n

The record JSON is what the store keeps (for NDJSON, the line as sent). It comes last because JSON may
hold a tab as whitespace between tokens (`{"a":\t1}` is valid): only the four fields before it are split
on tabs, and none of them can hold one (numbers, and JSON strings, which escape tabs and newlines). A
record never holds a newline (NDJSON is split on them; a CSV row's JSON escapes them). NDJSON frames
leave the fourth field empty (the record is the line as sent); CSV frames carry the row as sent, for the
error log when the load kind refuses a record (a profile change that does not fit).

The key hash is record_store.key_hash(key): Split computes it once per line to route the line, and
Load takes the store's shard from it (RecordWrite.key_hash), so no line is hashed twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import msgspec
import orjson

from ingest.adapters.record_store import key_hash as hash_of_key

# The frame, for `%` with (line, key hash, key as a JSON string, row as a JSON string or b"", record).
FORMAT = b"%d\t%d\t%b\t%b\t%b\n"
# A str as a JSON string: msgspec writes a short one (a key) in about half orjson.dumps's time.
json_string = msgspec.json.Encoder().encode


# Not frozen: a frozen dataclass costs ~4x as much to build (object.__setattr__ per field), and Load
# builds one per line. Nothing changes a frame once decoded.
@dataclass(slots=True)
class Frame:
    line: int
    key: str
    record: bytes  # the record JSON, as stored
    raw: bytes  # the line as sent (NDJSON: the record itself)
    key_hash: int  # record_store.key_hash(key), as Split computed it


def encode(line: int, key: str, record: bytes, csv_raw: bytes | None = None, key_hash: int | None = None) -> bytes:
    """One work-file line (with its newline). Split builds the same bytes inline (split.line_router)."""
    raw = b"" if csv_raw is None else json_string(csv_raw.decode("utf-8", errors="replace"))
    return FORMAT % (line, hash_of_key(key) if key_hash is None else key_hash, json_string(key), raw, record)


def decode(framed: bytes) -> Frame:
    """One work-file line (without its newline)."""
    number, hashed, key, raw, record = framed.split(b"\t", 4)
    return Frame(int(number), orjson.loads(key), record, orjson.loads(raw).encode("utf-8") if raw else record,
                 int(hashed))


def decode_stream(chunks: Iterable[bytes]) -> Iterator[Frame]:
    """Frames from a work file read as a stream of byte chunks (any chunking). Runs once per line
    in Load: decode() is inlined."""
    loads, frame = orjson.loads, Frame
    pending = b""
    for chunk in chunks:
        pending += chunk
        lines = pending.split(b"\n")
        pending = lines.pop()
        for line in lines:
            if line:
                number, hashed, key, raw, record = line.split(b"\t", 4)
                yield frame(int(number), loads(key), record, loads(raw).encode("utf-8") if raw else record,
                            int(hashed))
    if pending:
        yield decode(pending)
