"""`python -m cli validate`: the service's line validation, run locally on a file.

No network and no token: the file goes through the very functions the load workflow uses.
Inspect's checks (logic/load/inspect.py: size, gzip by magic bytes, the format from the filename,
formats.check_start on the first non-blank line), then Split's (logic/load/split.py):
formats.records_of (a record.problem rejects the record) and record_limits.check_line on each record's JSON.
Error lines are error_log.error_line, the same {"line", "error", "raw"} the server writes to its
error log.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import click
from tqdm import tqdm

from ingest import record_types
from ingest.errors import FileRejectedError
from ingest.logic import formats
from ingest.logic import lines as line_reader
from ingest.logic.load import error_log, record_limits

READ_BYTES = 1024 * 1024
PROGRESS_ABOVE_BYTES = 10 * 1024 * 1024
EXIT_VALID, EXIT_INVALID, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class UnusableCommandLine(ValueError):
    """The command line names a record type, or a format for it, that the service does not take (exit 2)."""


@dataclass(frozen=True)
class LineError:
    line: int
    error: str
    raw: bytes

    def log_line(self) -> bytes:
        """This error as the server's error log has it: one NDJSON line."""
        return error_log.error_line(self.line, self.error, self.raw)


class Validation:
    """One file checked as an upload of record_type; counts fill in while errors() is consumed."""

    def __init__(self, path: Path, record_type: str, fmt: str | None = None):
        self.path = path
        self.record_type = record_types.get(record_type)  # a name or an alias, as the upload request takes
        if self.record_type is None:
            known = ", ".join(sorted(record_types.catalogue()))
            raise UnusableCommandLine(f"unknown record type {record_type!r}; known record types: {known}")
        self.format = fmt or formats.format_of(path.name)
        refusal = formats.format_refusal(self.record_type, self.format, format_from_filename=fmt is None)
        if refusal:  # the upload request would be refused with 400, before any file is sent
            taken = " or ".join(f"--format {name}" for name in self.record_type.formats)
            raise UnusableCommandLine(refusal if fmt is None else f"{refusal}; validate it with {taken}")
        self.size = path.stat().st_size
        with path.open("rb") as head:
            self.gzip = line_reader.is_gzip(head.read(2))
        self.total = self.valid = self.invalid = 0

    def check_start(self) -> None:
        """Inspect's checks; FileRejectedError carries the failure_reason the server would give."""
        if self.size > record_limits.MAX_OBJECT_BYTES:
            raise FileRejectedError(f"the file is {self.size} bytes, over the 5 GB limit; split it into smaller files")
        if self.size == 0:
            raise FileRejectedError("the uploaded file is empty (0 bytes)")
        formats.check_head(formats.head_of(self._stream()), self.format)
        formats.check_start(self._first_lines(), self.format, self.record_type)

    def _first_lines(self) -> list[bytes]:
        for line in line_reader.numbered_lines(self._stream(), too_long_at_once=True):  # as Inspect reads it
            return [] if line.too_long else [line.raw]
        return []

    def errors(self, on_read: Callable[[int], object] | None = None) -> Iterator[LineError]:
        """Every rejected record, in line order as the server's error log lists them.
        FileRejectedError midway (a corrupt gzip, a malformed CSV header) fails the whole file,
        as it fails the job."""
        for record in formats.records_of(self._stream(on_read), self.format, self.record_type):
            self.total += 1
            problem = record.problem or record_limits.check_line(self.record_type, cast(bytes, record.json))[0]
            if problem:
                self.invalid += 1
                yield LineError(record.number, problem, record.raw)
            else:
                self.valid += 1

    def _stream(self, on_read: Callable[[int], object] | None = None) -> Iterable[bytes]:
        chunks = _chunks(self.path, on_read)
        return line_reader.gunzip(chunks) if self.gzip else chunks


def _chunks(path: Path, on_read: Callable[[int], object] | None) -> Iterator[bytes]:
    with path.open("rb") as file:
        while chunk := file.read(READ_BYTES):
            if on_read:
                on_read(len(chunk))
            yield chunk


def run(path: Path, record_type: str, fmt: str | None, as_json: bool, max_errors: int) -> int:
    """Validate and report; the exit status: 0 all valid, 1 invalid lines or file rejected, 2 usage."""
    try:
        validation = Validation(path, record_type, fmt)
    except UnusableCommandLine as exc:
        click.echo(f"error: {exc}", err=True)
        return EXIT_USAGE
    shown: list[LineError] = []
    stdout = sys.stdout.buffer  # click.get_binary_stream's answer here; it is deprecated (gone in Click 9)
    try:
        validation.check_start()
        with tqdm(total=validation.size, unit="B", unit_scale=True, unit_divisor=1024, file=sys.stderr,
                  desc=path.name, dynamic_ncols=True, disable=validation.size <= PROGRESS_ABOVE_BYTES) as bar:
            for error in validation.errors(on_read=bar.update):
                if as_json:
                    stdout.write(error.log_line())
                elif len(shown) < max_errors:
                    shown.append(error)
    except FileRejectedError as exc:
        stdout.flush()
        click.echo(f"error: {exc}", err=True)
        return EXIT_INVALID
    except KeyboardInterrupt:
        stdout.flush()
        click.echo(f"\ninterrupted after {validation.total} lines", err=True)
        return EXIT_INTERRUPTED
    stdout.flush()
    summary = f"total: {validation.total}\nvalid: {validation.valid}\ninvalid: {validation.invalid}"
    click.echo(summary, err=as_json)
    for error in shown:
        click.echo(f"line {error.line}: {error.error}")
    if not as_json and validation.invalid > len(shown):
        click.echo(f"({validation.invalid - len(shown)} more errors not shown: raise --max-errors, "
                   "or --json lists every one)", err=True)
    return EXIT_INVALID if validation.invalid else EXIT_VALID
