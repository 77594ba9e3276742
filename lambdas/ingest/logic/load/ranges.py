"""Record boundaries in a byte range of a plain file, found without reading the file before the range.

A record starts at byte 0 or just after a newline that ends a record: for NDJSON every newline; for
CSV a newline outside quotes, that is after an even number of '"' bytes from the file's start (RFC
4180 escapes a quote by doubling it, so parity is exact for well-formed files). Scan counts the quotes
of every range, so a range knows the parity at its start (RangeTask.starts_in_quotes) and every range
finds the same boundaries: range i owns the bytes from the first record start at or after its `start`
to the first record start at or after its `end`, so the ranges' records are the file's records, each
once. A malformed CSV file whose unquoted field holds a '"' (Python's reader takes it literally) flips
the parity after it: the range holding that quote then reads on to the next flip (or the end of the
file) and the ranges in between own nothing - slower, never a record lost or read twice.

Decompress cuts its plain parts at the same boundaries, with the same helper.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

NEWLINE = b"\n"
QUOTE = b'"'


def next_boundary(data: bytes, index: int, in_quotes: bool, csv: bool) -> tuple[int, bool]:
    """(the index just past the first record-ending newline at or after `index`, quote parity there), or
    (-1, quote parity at the end of `data`). `in_quotes` is the parity before `index`. C-speed searches."""
    while True:
        newline = data.find(NEWLINE, index)
        if newline < 0:
            return -1, in_quotes ^ bool(csv and data.count(QUOTE, index) & 1)
        if csv:
            in_quotes ^= bool(data.count(QUOTE, index, newline) & 1)
        if not in_quotes:
            return newline + 1, in_quotes
        index = newline + 1


class RangeStream:
    """The bytes a range owns, streamed: from the first record start at or after `start` to the first
    record start at or after `end` (past `end` to finish the range's last record).

    `chunks` are the file's bytes from `start - 1` (from 0 when start is 0: the byte before `start`
    says whether a record starts right at it). The constructor reads up to the first record start, so
    `skipped_newlines` (newlines between `start` and it) and `empty` (the range owns no record start)
    are known before the first owned byte is read. `bytes_owned` counts what was handed out.
    """

    def __init__(self, chunks: Iterable[bytes], start: int, end: int, csv: bool, starts_in_quotes: bool = False):
        self._chunks = iter(chunks)
        self._end = end
        self._csv = csv
        self._in_quotes = bool(starts_in_quotes) if start > 0 else False
        self._position = start - 1 if start > 0 else 0  # the file position of self._pending[0]
        self._pending = b""
        self.skipped_newlines = 0
        self.bytes_owned = 0
        self.empty = False
        if start > 0:
            self._seek()

    def _seek(self) -> None:
        first = True
        for chunk in self._chunks:
            if not chunk:
                continue
            if first:
                first = False
                # The byte before `start` is read again by the search: undo its quote and its newline.
                self._in_quotes ^= self._csv and chunk[:1] == QUOTE
                self.skipped_newlines -= chunk[:1] == NEWLINE
            found, self._in_quotes = next_boundary(chunk, 0, self._in_quotes, self._csv)
            if found < 0:
                self.skipped_newlines += chunk.count(NEWLINE)
                self._position += len(chunk)
                continue
            self.skipped_newlines += chunk.count(NEWLINE, 0, found)
            if self._position + found >= self._end:
                break  # the first record starting in the range starts at or after its end: none does
            self._pending = chunk[found:]
            self._position += found
            return
        self.empty = True

    def __iter__(self) -> Iterator[bytes]:
        if self.empty:
            return
        chunk: bytes | None = self._pending
        self._pending = b""
        chunks = self._chunks
        while chunk is not None:
            if chunk:
                search_from = self._end - 1 - self._position  # the last record ends at a newline from here on
                if search_from < len(chunk):
                    index = max(0, search_from)
                    if self._csv:
                        self._in_quotes ^= bool(chunk.count(QUOTE, 0, index) & 1)
                    found, self._in_quotes = next_boundary(chunk, index, self._in_quotes, self._csv)
                    if found >= 0:
                        self.bytes_owned += found
                        yield chunk[:found]
                        return
                elif self._csv:
                    self._in_quotes ^= bool(chunk.count(QUOTE) & 1)
                self._position += len(chunk)
                self.bytes_owned += len(chunk)
                yield chunk
            chunk = next(chunks, None)  # None: the end of the file ends the last record
