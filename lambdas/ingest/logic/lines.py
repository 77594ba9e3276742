"""Turn an uploaded object's byte stream into numbered lines.

Handles gzip (detected by its magic bytes, not the filename), a UTF-8 byte-order mark,
LF or CRLF endings and blank lines, in constant memory whatever the file size.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from ingest.errors import FileRejectedError

GZIP_MAGIC = b"\x1f\x8b"
UTF8_BOM = b"\xef\xbb\xbf"
# One record per line; a line longer than this is rejected on its own, the rest goes on.
MAX_LINE_BYTES = 1024 * 1024


def is_gzip(first_bytes: bytes) -> bool:
    return first_bytes[:2] == GZIP_MAGIC


def gunzip(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Decompress a (possibly multi-member) gzip stream; a truncated or corrupt one is rejected."""
    decompressor = zlib.decompressobj(wbits=31)
    member_open = False  # bytes of the current member were fed but its end not yet seen
    try:
        for chunk in chunks:
            pending = chunk
            while pending:
                member_open = True
                out = decompressor.decompress(pending)
                if out:
                    yield out
                if not decompressor.eof:
                    break
                member_open = False
                pending = decompressor.unused_data
                decompressor = zlib.decompressobj(wbits=31)
    except zlib.error as exc:
        raise FileRejectedError(
            f"the gzip file is corrupt ({exc}); re-create it and upload it again"
        ) from exc
    if member_open:
        raise FileRejectedError(
            "the gzip file is truncated: it ends before the end of its compressed data; "
            "upload the complete file again"
        )


@dataclass(frozen=True)
class Line:
    number: int  # 1-based physical line number in the (decompressed) file
    raw: bytes  # without line ending; empty when too_long
    too_long: bool = False


def numbered_lines(
    chunks: Iterable[bytes], max_line_bytes: int = MAX_LINE_BYTES, strip_cr: bool = True,
    first_number: int = 1, too_long_at_once: bool = False,
) -> Iterator[Line]:
    """Yield every non-blank line with its 1-based number; blank lines still count for numbering.

    A line over max_line_bytes is yielded with too_long=True and empty raw, without being held
    in memory. strip_cr=False keeps a trailing '\r' (for our own work files, whose lines are
    already exactly the uploaded lines). `first_number` is the number of the first line (a Split
    range that starts inside the file); a byte-order mark is dropped only at the file's start.
    too_long_at_once: yield a too-long line as soon as it is past the limit, before its end is read (a
    reader that stops at the first line, as Inspect, then reads no further).
    """
    number = first_number - 1
    buffer = bytearray()
    skipping_long_line = False
    for chunk in _without_bom(chunks) if first_number == 1 else chunks:
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            if end < 0:
                if not skipping_long_line:
                    buffer += chunk[start:]
                    # +1 leaves room for a trailing \r that is not part of the line
                    if len(buffer) > max_line_bytes + 1:
                        skipping_long_line = True
                        buffer.clear()
                        if too_long_at_once:
                            yield Line(number + 1, b"", too_long=True)
                break
            number += 1
            if skipping_long_line:
                skipping_long_line = False
                if not too_long_at_once:
                    yield Line(number, b"", too_long=True)
            else:
                if buffer:
                    buffer += chunk[start:end]
                    line = bytes(buffer)
                    buffer.clear()
                else:
                    line = chunk[start:end]
                if strip_cr and line.endswith(b"\r"):
                    line = line[:-1]
                if len(line) > max_line_bytes:
                    yield Line(number, b"", too_long=True)
                elif line.strip():
                    yield Line(number, line)
            start = end + 1
    if skipping_long_line:
        if not too_long_at_once:
            yield Line(number + 1, b"", too_long=True)
    else:
        line = bytes(buffer)
        if strip_cr and line.endswith(b"\r"):
            line = line[:-1]
        if len(line) > max_line_bytes:
            yield Line(number + 1, b"", too_long=True)
        elif line.strip():
            yield Line(number + 1, line)


def _without_bom(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Drop a UTF-8 byte-order mark at the start, even when it is split across chunks."""
    head = b""
    iterator = iter(chunks)
    for chunk in iterator:
        head += chunk
        if len(head) >= len(UTF8_BOM):
            break
    if head.startswith(UTF8_BOM):
        head = head[len(UTF8_BOM):]
    if head:
        yield head
    yield from iterator
