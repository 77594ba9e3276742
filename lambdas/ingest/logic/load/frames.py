"""The line format of work files parts/<partition>/<range> (Split writes them, Load reads them).

    [<line number>,<key hash>,"<record key>","<row as sent (CSV only), else empty>"]\t<record JSON>\n

A header, one JSON array, then the record JSON: what the store keeps (for NDJSON, the line as sent).
The header is written and read by msgspec in one call each (a typed decoder: tuple[int, int, str,
str]), which costs less than splitting four tab-separated fields and converting each (docs/
decision_log.md, the hot path's fourth pass). The record comes last because JSON may hold a tab as
whitespace between tokens (`{"a":\t1}` is valid): only the header is split off, at the first tab, and
the header holds none (JSON strings escape tabs and newlines). A record never holds a newline (NDJSON
is split on them; a CSV row's JSON escapes them). NDJSON frames leave the row empty (the record is the
line as sent); CSV frames carry the row as sent, for the error log when the load kind refuses a record
(a profile change that does not fit).

The key hash is record_store.key_hash(key): Split computes it once per line to route the line, and
Load takes the store's shard from it (the frame goes to RecordWriter.write_upserts as it is), so no line
is hashed twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import msgspec

from ingest.adapters.record_store import key_hash as hash_of_key

# header((line, key hash, key, row as sent or "")) -> the frame's header, a JSON array.
header = msgspec.json.Encoder().encode
_read_header = msgspec.json.Decoder(tuple[int, int, str, str]).decode


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
    row = "" if csv_raw is None else csv_raw.decode("utf-8", errors="replace")
    return header((line, hash_of_key(key) if key_hash is None else key_hash, key, row)) + b"\t" + record + b"\n"


def decode(framed: bytes) -> Frame:
    """One work-file line (without its newline)."""
    head, record = framed.split(b"\t", 1)
    number, hashed, key, row = _read_header(head)
    return Frame(number, key, record, row.encode("utf-8") if row else record, hashed)


def decode_stream(chunks: Iterable[bytes]) -> Iterator[Frame]:
    """Frames from a work file read as a stream of byte chunks (any chunking). Runs once per line
    in Load: decode() is inlined."""
    read_header, frame = _read_header, Frame
    pending = b""
    for chunk in chunks:
        pending += chunk
        lines = pending.split(b"\n")
        pending = lines.pop()
        for line in lines:
            if line:
                head, record = line.split(b"\t", 1)
                number, hashed, key, row = read_header(head)
                yield frame(number, key, record, row.encode("utf-8") if row else record, hashed)
    if pending:
        yield decode(pending)
