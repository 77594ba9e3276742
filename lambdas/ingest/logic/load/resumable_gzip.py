"""Gzip inflation that a later invocation resumes where an earlier one stopped.

A gzip member cannot be entered in the middle, and Python's zlib cannot save its state, so one
invocation could only inflate a file as large as it can inflate in its timeout. indexed_gzip (zran)
inflates from seek points it records as it goes, each holding the deflate bit offset and the 32 KiB
window of output before it; it exports them. A checkpoint here is that index trimmed to its first
and last point (about 32 KiB whatever the file), and the next invocation imports it, seeks to where
the previous one stopped, and inflates on exactly as one pass would (docs/decision_log.md,
2026-11-30, "Decompress as a bounded chain", has the measurements and the alternatives).

zran stops without an error at the end of a truncated deflate stream, and ignores bytes after the
last member. So the object is read with a small gzip member of our own appended (SENTINEL): when the
file is whole, the output ends with its content, which is held back and checked; when it is cut
short, the sentinel's bytes are read as the cut member's continuation and its content never comes
out whole (or inflating fails); data after the last member hides the sentinel the same way. Both are
refused, as gunzip refuses them.

CRC-32: zran checks a member's CRC-32 and size only when it inflated the member from its start in one
run, and never after importing an index. So the caller keeps the CRC-32 of the output and checks the
file's last member against its trailer (check_trailer): the whole file when it is one member (the case
that needs the chain). The other members of a multi-member file that a chain resumed inside are checked
for valid deflate data only (multi-member uploads normally take the parallel path, which checks every
member with zlib).
"""

from __future__ import annotations

import gzip
import io
import struct
from collections.abc import Callable, Iterator
from typing import Any

import indexed_gzip

from ingest.errors import FileRejectedError

MIB = 1024 * 1024
WINDOW_BYTES = 32 * 1024  # deflate's window: what a seek point must hold to inflate on from it
# zran restarts inflation from the last seek point at every read, so reads span about two points:
# measured 1.75x zlib's CPU at 32 MiB points and 64 MiB reads, 7x at 16 MiB points and 1 MiB reads.
SEEK_POINT_SPACING = 32 * MIB
READ_BYTES = 64 * MIB
COMPRESSED_READ_BYTES = 4 * MIB
SENTINEL_CONTENT = b"\x00end of upload: bulk-ingest sentinel 7f3a9c21\x00"
SENTINEL = gzip.compress(SENTINEL_CONTENT, mtime=0)

# The exported index (zran.c zran_export_index, format version 1): a header, the points, then the
# window of each point that has one.
_HEADER = struct.Struct("<5sBBQQIII")  # "GZIDX", version, flags, compressed size, uncompressed size,
#                                         spacing, window size, number of points
_POINT = struct.Struct("<QQBB")  # compressed offset, uncompressed offset, bits, has a window


def truncated() -> FileRejectedError:
    return FileRejectedError(
        "the gzip file is truncated (it ends before the end of its compressed data) or has data after "
        "its last member; upload the complete file again")


def corrupt(detail: str) -> FileRejectedError:
    """Inflating failed: a cut file fails the same way once the sentinel's bytes are read as its end."""
    return FileRejectedError(f"the gzip file is truncated or corrupt ({detail}); re-create it and upload it again")


class _ObjectFile(io.RawIOBase):
    """A seekable, read-only file over an object (ranged GETs, streamed) with `tail` appended."""

    def __init__(self, objects: Any, key: str, size: int, tail: bytes, on_read: Callable[[int], None]):
        super().__init__()
        self._objects, self._key, self._size, self._tail = objects, key, size, tail
        self._on_read = on_read
        self._total = size + len(tail)
        self._position = 0
        self._chunks: Iterator[bytes] | None = None  # the open ranged GET, positioned at _position
        self._pending = b""
        self.failure: BaseException | None = None  # an error of our own, which zran only reports as a read failure

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        target = {io.SEEK_SET: offset, io.SEEK_CUR: self._position + offset, io.SEEK_END: self._total + offset}[whence]
        if target != self._position:
            self._drop_stream()
            self._position = target
        return self._position

    def readinto(self, buffer: Any) -> int:
        try:
            view = memoryview(buffer).cast("B")
            filled = 0
            while filled < len(view) and self._position < self._total:
                piece = self._piece(len(view) - filled)
                view[filled:filled + len(piece)] = piece
                filled += len(piece)
                self._position += len(piece)
            return filled
        except BaseException as exc:
            self.failure = exc
            raise

    def _piece(self, limit: int) -> bytes:
        if self._position >= self._size:
            offset = self._position - self._size
            return self._tail[offset:offset + limit]
        if not self._pending:
            if self._chunks is None:
                self._chunks = iter(self._objects.stream_range(self._key, self._position, self._size))
            self._pending = next(self._chunks, b"")
            if not self._pending:
                raise RuntimeError(f"{self._key} ended before its {self._size} bytes")
            self._on_read(len(self._pending))
        piece, self._pending = self._pending[:limit], self._pending[limit:]
        return piece

    def _drop_stream(self) -> None:
        if self._chunks is not None:
            close = getattr(self._chunks, "close", None)
            if close is not None:
                close()
        self._chunks, self._pending = None, b""

    def close(self) -> None:
        self._drop_stream()
        super().close()


class ResumableGunzip:
    """Inflates an object from plain offset `offset`: 0, or where the run that made `checkpoint` stopped.

    chunks() yields the plain bytes in order (the object's every member, as lines.gunzip does);
    checkpoint() may be taken at any time and lets another instance go on from any plain offset at or
    after the last seek point passed (so, from wherever the caller has consumed to)."""

    def __init__(self, objects: Any, key: str, size: int, *, checkpoint: bytes | None = None, offset: int = 0,
                 on_read: Callable[[int], None] = lambda count: None, spacing: int = SEEK_POINT_SPACING,
                 read_bytes: int = READ_BYTES):
        self._file = _ObjectFile(objects, key, size, SENTINEL, on_read)
        self._offset = offset
        self._read_bytes = read_bytes
        self._gzip = indexed_gzip.IndexedGzipFile(
            fileobj=self._file, spacing=spacing, window_size=WINDOW_BYTES,
            readbuf_size=min(COMPRESSED_READ_BYTES, spacing // 2), buffer_size=read_bytes, drop_handles=False)
        try:
            if checkpoint is not None:
                self._gzip.import_index(fileobj=io.BytesIO(checkpoint))
            if offset:
                self._gzip.seek(offset)
        except Exception as exc:
            self.close()
            raise self._failure(exc) from exc

    def __enter__(self) -> ResumableGunzip:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._gzip.close()
        self._file.close()

    def chunks(self) -> Iterator[bytes]:
        held = b""  # the last bytes out: the sentinel's content when the stream ends
        keep = len(SENTINEL_CONTENT)
        while True:
            try:
                data = self._gzip.read(self._read_bytes)
            except Exception as exc:
                raise self._failure(exc) from exc
            if not data:
                break
            data = held + data
            held = data[-keep:]
            if len(data) > keep:
                yield data[:-keep]
        if held != SENTINEL_CONTENT:
            raise truncated()

    def checkpoint(self) -> bytes:
        """The index trimmed to its first and last seek point: what another instance resumes from."""
        exported = io.BytesIO()
        self._gzip.export_index(fileobj=exported)
        return trim_index(exported.getvalue())

    def _failure(self, exc: Exception) -> BaseException:
        if self._file.failure is not None:  # S3 failed under zran: say so, not that the file is corrupt
            return self._file.failure
        return corrupt("its compressed data is not valid deflate data")


# CRC-32 arithmetic (zlib's crc32.c, crc32_combine): the CRC of the bytes after a prefix, from the CRCs
# of the whole and of the prefix, without reading the bytes again.
_CRC_POLY = 0xEDB88320


def _multiply(a: int, b: int) -> int:
    """a(x) * b(x) modulo the CRC-32 polynomial (reflected bit order, as zlib's multmodp)."""
    product, mask = 0, 1 << 31
    while True:
        if a & mask:
            product ^= b
            if not a & (mask - 1):
                return product
        mask >>= 1
        b = (b >> 1) ^ _CRC_POLY if b & 1 else b >> 1


_X_2N = [1 << 30]  # x^(2^n) modulo the polynomial, n = 0..31
for _ in range(31):
    _X_2N.append(_multiply(_X_2N[-1], _X_2N[-1]))


def _x_to_8n(count: int) -> int:
    """x^(8 * count) modulo the polynomial: what appending `count` bytes does to a CRC."""
    power, k = 1 << 31, 3
    while count:
        if count & 1:
            power = _multiply(_X_2N[k & 31], power)
        count >>= 1
        k += 1
    return power


def crc32_combine(crc_first: int, crc_second: int, second_bytes: int) -> int:
    return _multiply(_x_to_8n(second_bytes), crc_first) ^ crc_second


def crc32_of_suffix(crc_whole: int, crc_prefix: int, suffix_bytes: int) -> int:
    """The CRC-32 of the last `suffix_bytes` of a stream, from the whole's CRC and the prefix's."""
    return _multiply(_x_to_8n(suffix_bytes), crc_prefix) ^ crc_whole


def check_trailer(trailer: bytes, plain_bytes: int, plain_crc: int, crc_at: Callable[[int], int]) -> None:
    """The file's last 8 bytes are its last member's CRC-32 and size (mod 2^32): check them against the
    output's end. `crc_at(offset)` gives the CRC-32 of the output's first `offset` bytes. The last
    member's length is its size plus a multiple of 4 GiB; any that fits and matches will do. A single
    member's check is the whole output's (crc_at(0), nothing read); data after the last member fails."""
    crc, size = struct.unpack("<II", trailer)
    lengths = range(size + (plain_bytes - size) // 2**32 * 2**32, size - 1, -(2**32)) if size <= plain_bytes else ()
    for length in lengths:  # the longest first: a single member's is the whole output
        if crc32_of_suffix(plain_crc, crc_at(plain_bytes - length), length) == crc:
            return
    raise corrupt(f"its last member's CRC-32 or size, {crc:08x} and {size}, do not match its data")


def trim_index(index: bytes) -> bytes:
    """Keep the first and the last seek point of an exported index (inflation resumes from the last
    point at or before the offset sought, and the first anchors the file's start)."""
    magic, version, flags, compressed, uncompressed, spacing, window, count = _HEADER.unpack_from(index, 0)
    if magic != b"GZIDX" or version != 1:
        raise ValueError(f"unexpected index format {magic!r} version {version}")
    points = [_POINT.unpack_from(index, _HEADER.size + number * _POINT.size) for number in range(count)]
    offset = _HEADER.size + count * _POINT.size
    windows: list[bytes | None] = []
    for point in points:
        if point[3]:
            windows.append(index[offset:offset + window])
            offset += window
        else:
            windows.append(None)
    if offset != len(index):
        raise ValueError("unexpected index length")
    kept = sorted({0, count - 1}) if count else []
    return b"".join([
        _HEADER.pack(magic, version, flags, compressed, uncompressed, spacing, window, len(kept)),
        *(_POINT.pack(*points[number]) for number in kept),
        *(window_bytes for number in kept if (window_bytes := windows[number]) is not None),
    ])
