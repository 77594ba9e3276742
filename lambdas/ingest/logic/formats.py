"""File formats: turn an uploaded byte stream into numbered records, the same way everywhere.

The Split step and the offline `validate` command both read files through `records_of`, and both
check each record with `load/record_limits.check_line`, so they agree line for line.

NDJSON (.json/.ndjson/.jsonl): one JSON value per line; parsing happens in Load.
CSV (.csv): RFC 4180 with a header row. Dotted headers build nested objects (`link.email`); each
cell is typed by its column's declared kind (record_types: a cell converts as pydantic converts a
string, else stays text for the check to refuse); an empty cell means the field is absent. A record
that spans several physical lines (quoted newlines) is numbered by the line where it starts.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, cast

import orjson

from ingest.errors import FileRejectedError
from ingest.logic import lines as line_reader

NDJSON = "ndjson"
CSV = "csv"


def format_of(filename: str) -> str:
    name = filename[:-3] if filename.endswith(".gz") else filename
    return CSV if name.endswith(".csv") else NDJSON


def format_refusal(record_type, fmt: str, format_from_filename: bool = True) -> str | None:
    """Why a type does not take files of this format (profile_changes lines hold nested change
    lists, not CSV cells), or None when it does. The upload request and `validate` both say it; the
    hint to rename the file only when the format came from its name."""
    if fmt in record_type.formats:
        return None
    taken = " or ".join(name.upper() for name in record_type.formats)
    renamed = NDJSON in record_type.formats and format_from_filename
    hint = "; name the file .ndjson, .jsonl or .json (optionally .gz)" if renamed else ""
    return f"record type {record_type.name} takes {taken} files only, not {fmt.upper()}{hint}"


@dataclass(frozen=True)
class SourceRecord:
    number: int  # 1-based line number in the (decompressed) file where the record starts
    raw: bytes  # the original text, for the error log
    json: bytes | None  # NDJSON: same as raw; CSV: the converted record; None when problem is set
    problem: str | None = None  # rejected before validation (too long, malformed CSV, bad encoding)


def records_of(chunks: Iterable[bytes], fmt: str, record_type, first_number: int = 1,
               csv_header: bytes | None = None) -> Iterator[SourceRecord]:
    """The records of a file, or of a part of it that starts at a record's first line (a Split range):
    `first_number` is that line's number, and `csv_header` the file's header row when the part does
    not hold it."""
    if fmt == CSV:
        yield from _csv_records(chunks, record_type, first_number, csv_header)
        return
    for line in line_reader.numbered_lines(chunks, first_number=first_number):
        if line.too_long:
            yield SourceRecord(line.number, b"", None, f"line is longer than {line_reader.MAX_LINE_BYTES} bytes")
        else:
            yield SourceRecord(line.number, line.raw, line.raw)


# Text (JSON lines, CSV) holds no NUL byte; binary formats have one early, though not always in their
# first "line" (a PNG's is b"\x89PNG\r", its first NUL is byte 9). git calls a file binary on the same
# test over its first 8,000 bytes.
BINARY_SNIFF_BYTES = 8000
BINARY = "the file is binary, not text: upload UTF-8 NDJSON or CSV"
JSON_ARRAY = "the file holds one JSON array; send one JSON object per line (NDJSON)"
CR_LINE_ENDINGS = ("the file's lines end in a carriage return alone (CR, the classic Mac OS convention), which is "
                   "not a line break here: save it with LF or CRLF line endings")


def _is_json_array(head: bytes) -> bool:
    """The file starts `[` then a record (`{`) or a row (`[`): an array dump, whether pretty-printed or on
    one line (too long to hold, often). No NDJSON line starts so: a record is an object."""
    start = head.removeprefix(line_reader.UTF8_BOM).lstrip(b" \t\r\n")
    if not start.startswith(b"["):
        return False
    rest = start[1:].lstrip(b" \t\r\n")
    return rest in (b"", b"]") or rest.startswith((b"{", b"["))


def head_of(chunks: Iterable[bytes]) -> bytes:
    """The first BINARY_SNIFF_BYTES of a stream, read no further."""
    head = b""
    for chunk in chunks:
        head += chunk
        if len(head) >= BINARY_SNIFF_BYTES:
            break
    return head[:BINARY_SNIFF_BYTES]


def check_head(head: bytes, fmt: str) -> None:
    """Refuse a file whose first BINARY_SNIFF_BYTES (decompressed, for gzip) show it is not lines of
    records: binary, one JSON array, or lines ended by CR alone. Read before the first line: a one-line
    array of 5 GB is one line."""
    if b"\x00" in head[:BINARY_SNIFF_BYTES]:
        raise FileRejectedError(BINARY)
    if fmt != CSV and _is_json_array(head):
        raise FileRejectedError(JSON_ARRAY)
    if _ends_lines_in_cr(head):
        raise FileRejectedError(CR_LINE_ENDINGS)


def _ends_lines_in_cr(head: bytes) -> bool:
    """No LF in the head, but a CR with a record after it: lines ended by CR alone. Lines are split on LF
    (a CR before it is dropped), so such a file would be one line: refused as too long, or as a malformed
    CSV header. (A CR alone inside a record is JSON whitespace or a quoted CSV field's text; no LF in
    the first 8,000 bytes as well is a file of CR-ended lines in practice: docs/decision_log.md.)"""
    return b"\n" not in head and b"\r" in head.rstrip(b" \t\r")


def check_start(first_lines: list[bytes], fmt: str, record_type) -> None:
    """Fail fast, before anything is loaded, when the file cannot be what its name says. `first_lines`: its
    first non-blank line, or none when it has none or the line is too long to hold."""
    if not first_lines:
        return
    first = first_lines[0].strip()
    if b"\x00" in first:  # a first line longer than the head
        raise FileRejectedError(BINARY)
    if fmt == CSV:
        if first.startswith(b"{"):
            raise FileRejectedError(
                "the file is named .csv but holds JSON lines: name NDJSON files .json, .ndjson or .jsonl"
            )
        problems = header_problems(_parse_header(first_lines), record_type)
        if problems:
            raise FileRejectedError("the CSV header does not match " + record_type.name + ": " + "; ".join(problems))
        return
    if not first.startswith((b"{", b"[")) and b"," in first:
        raise FileRejectedError(
            "the file is named as NDJSON but its first line is not JSON (it looks like CSV): name CSV files .csv"
        )


# -- CSV ------------------------------------------------------------------------------------
def _text_lines(chunks: Iterable[bytes], first_number: int = 1) -> Iterator[tuple[int, str | None, str | None]]:
    """(number, text with '\\n', problem) for every physical line, blank ones included."""
    expected = first_number
    for line in line_reader.numbered_lines(chunks, first_number=first_number):
        while expected < line.number:
            yield expected, "\n", None
            expected += 1
        expected = line.number + 1
        if line.too_long:
            yield line.number, None, f"line is longer than {line_reader.MAX_LINE_BYTES} bytes"
            continue
        try:
            yield line.number, line.raw.decode("utf-8") + "\n", None
        except UnicodeDecodeError as exc:
            yield line.number, None, f"line is not valid UTF-8 (byte {exc.start + 1})"


class _BadLine(Exception):
    """A physical line that cannot be part of any record (too long, not UTF-8)."""

    def __init__(self, number: int, problem: str):
        super().__init__(problem)
        self.number = number
        self.problem = problem


class _LineFeed:
    """Feeds csv.reader one physical line at a time and remembers which lines a row used.

    A bad line aborts the record it falls in (csv.reader starts afresh on its next call), so
    that record is rejected whole, once, at its own first line - never loaded with a line missing.
    """

    def __init__(self, lines: Iterator[tuple[int, str | None, str | None]]):
        self._lines = lines
        self.used: list[str] = []
        self.last_number = 0

    def __iter__(self):
        return self

    def __next__(self) -> str:
        number, text, problem = next(self._lines)
        self.last_number = number
        if problem is not None:
            raise _BadLine(number, problem)
        text = cast(str, text)  # a line without a problem has its text
        self.used.append(text)
        return text


def _parse_header(first_lines: list[bytes]) -> list[str]:
    text = b"\n".join(first_lines).decode("utf-8", errors="replace").lstrip("\ufeff")
    return next(csv.reader(text.splitlines()), [])


def _csv_records(chunks: Iterable[bytes], record_type, first_number: int = 1,
                 header_row: bytes | None = None) -> Iterator[SourceRecord]:
    feed = _LineFeed(_text_lines(chunks, first_number))
    feed.last_number = first_number - 1
    reader = csv.reader(feed, strict=True)
    if header_row is not None:  # a part of the file past its header row
        header = _parse_header([header_row])
    else:
        try:
            header = next(reader)
            while not header:  # blank lines before the header
                header = next(reader)
        except StopIteration:
            return
        except (csv.Error, _BadLine) as exc:
            raise FileRejectedError(f"the CSV header row is malformed: {exc}") from exc
    columns = [_column(name, record_type) for name in header]
    while True:
        feed.used = []
        start = feed.last_number + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except _BadLine as bad:
            raw = "".join(feed.used).rstrip("\r\n").encode()
            if feed.used:
                yield SourceRecord(start, raw, None, f"line {bad.number} of this record: {bad.problem}")
            else:
                yield SourceRecord(bad.number, b"", None, bad.problem)
            continue
        except csv.Error as exc:
            raw = "".join(feed.used).rstrip("\r\n").encode()
            yield SourceRecord(start, raw, None, f"malformed CSV: {exc}")
            continue
        if not row:
            continue  # blank line
        start = feed.last_number - len(feed.used) + 1
        raw = "".join(feed.used).rstrip("\r\n").encode()
        if len(row) != len(header):
            yield SourceRecord(start, raw, None, f"row has {len(row)} fields; the header has {len(header)}")
            continue
        record: dict[str, Any] = {}
        for (path, typed), cell in zip(columns, row, strict=True):  # lengths checked above
            if cell == "":
                continue  # an empty cell means the field is absent
            _place(record, path, typed(cell))
        yield SourceRecord(start, raw, orjson.dumps(record))


def _column(name: str, record_type) -> tuple[list[str], Any]:
    """(path, cell typer); an unknown column (refused by the header check) keeps its text."""
    path = name.strip().split(".")
    return path, record_type.columns.column(path) or str


def _place(record: dict, path: list[str], value: Any) -> None:
    node = record
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[path[-1]] = value


def header_problems(header: list[str], record_type) -> list[str]:
    """Unknown, duplicate or empty columns, and required fields no column provides. A column is
    unknown when no record could hold it: below a field that is not an object, or a field a link
    does not have (Lexer's types keep other fields, as in NDJSON; our own types refuse them)."""
    problems = []
    names = [name.strip() for name in header]
    if any(not name for name in names):
        problems.append("a column has an empty name")
    duplicates = sorted({name for name in names if name and names.count(name) > 1})
    if duplicates:
        problems.append("duplicate columns: " + ", ".join(duplicates))
    unknown = [name for name in names if name and record_type.columns.column(name.split(".")) is None]
    if unknown:
        problems.append("unknown columns: " + ", ".join(unknown))
    missing = record_type.columns.missing({name for name in names if name})
    if missing:
        problems.append("missing required columns: " + ", ".join(missing))
    return problems
