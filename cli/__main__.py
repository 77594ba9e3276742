"""`python -m cli`: upload files, follow jobs, list uploads and manage datasets over the HTTP API."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import click
import requests
from tqdm import tqdm

from cli import multipart
from cli.client import FINAL_STATUSES, ApiError, IngestClient, put_file
from cli.config import STACK_FILE_ENV, ConfigError, read_stack_file, stack_file

STATUSES = ("Pending", "Processing", "Completed", "Failed")
EXIT_OK, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 130

HELP = f"""Client for the bulk-ingest API.

\b
Where it connects (first found wins, separately for the URL and the token):
  --api-url / --token options
  INGEST_API_URL / INGEST_TOKEN environment variables
  the local stack's state file .local/stack.json, written by `make run`
  (another file with {STACK_FILE_ENV}=<path>)
The local stack's token is only ever sent to the local stack's own URL.

\b
Exit codes:
  0    success; for `upload`, the job ended Completed (also when some lines
       were rejected: a warning then says how many, and the error log URL is printed)
  1    the job ended Failed, the API answered with an error (printed as
       `error: HTTP <status>: <message>`), the API could not be reached,
       or `upload` gave up following the job (--timeout);
       for `validate`, the file has invalid lines or would be rejected whole
  2    bad command line (unknown option, missing argument, file not found,
       unknown record type for `validate`)
  130  interrupted with Ctrl-C
"""


def fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    raise click.exceptions.Exit(code)


def note(message: str) -> None:
    click.echo(message, err=True)


@dataclass
class Settings:
    api_url: str | None
    token: str | None
    stack_file: Path
    from_stack_file: bool = False

    def client(self) -> IngestClient:
        api_url, token = self.api_url, self.token
        if not api_url or not token:
            state = read_stack_file(self.stack_file) or {}
            if not api_url:
                api_url = state.get("api_url")
                self.from_stack_file = bool(api_url)
            # The local stack's dev token goes only to the local stack: never to an API named elsewhere.
            if not token and api_url and _same_url(api_url, state.get("api_url")):
                token = state.get("token")
        if not api_url:
            raise ConfigError(
                "no API to talk to: pass --api-url and --token, set INGEST_API_URL and INGEST_TOKEN, "
                "or start the local stack with `make run`"
            )
        if not token:
            raise ConfigError(
                f"no token for {api_url}: pass --token or set INGEST_TOKEN "
                "(`make token ACCOUNT=<name>` mints one)"
            )
        self.api_url = api_url
        return IngestClient(api_url, token)


def _same_url(a: str | None, b: str | None) -> bool:
    if not a or not b:
        return False
    return a.rstrip("/") == b.rstrip("/")


class IngestGroup(click.Group):
    """Turns the ways a call can fail into one `error: ...` line on stderr and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ApiError as exc:
            fail(f"HTTP {exc.status}: {exc.message}")
        except ConfigError as exc:
            fail(str(exc))
        except requests.RequestException as exc:
            settings: Settings | None = ctx.obj
            where = settings.api_url if settings and settings.api_url else "the API"
            hint = ""
            if settings and settings.from_stack_file:
                hint = f" (is `make run` still serving? {settings.stack_file} stays behind after it stops)"
            fail(f"cannot reach {where}: {type(exc).__name__}{hint}")


@click.group(cls=IngestGroup, help=HELP, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--api-url", envvar="INGEST_API_URL", metavar="URL", help="API base URL [env INGEST_API_URL].")
@click.option("--token", envvar="INGEST_TOKEN", metavar="TOKEN", help="API token [env INGEST_TOKEN].")
@click.pass_context
def cli(ctx: click.Context, api_url: str | None, token: str | None) -> None:
    ctx.obj = Settings(api_url=api_url or None, token=token or None, stack_file=stack_file())


# --- upload -----------------------------------------------------------------------------------


SINGLE_PUT_BYTES = 5 * 1024**3  # S3's largest single PUT


@dataclass(frozen=True)
class Sending:
    """How `upload` and `retry` send a file: one PUT, or a multipart upload (cli/multipart.py) over the
    threshold (always over 5 GB, and with --gzip)."""

    multipart_threshold: int
    parallel: int
    part_size: int | None
    part_retries: int
    gzip_parts: bool = False

    def multipart(self, size: int) -> bool:
        return self.gzip_parts or size > self.multipart_threshold or size > SINGLE_PUT_BYTES


@dataclass(frozen=True)
class Target:
    """What a sent file becomes: a new upload (`upload`) or the retry of one (`retry`)."""

    describe: str  # for the notes: "into dataset D as T", "as the retry of upload U"
    state: dict[str, Any]  # names it in the key of a multipart upload's resume state
    request_put: Callable[[str], dict]  # file name -> the upload, with its presigned PUT `url`
    request_multipart: Callable[[str, int, int | None], dict]  # file name, size, part size -> the upload


def _sending_options(threshold_help: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The options of Sending, alike for `upload` and `retry`."""
    options = [
        click.option("--multipart-threshold", type=click.IntRange(min=1), default=multipart.DEFAULT_THRESHOLD_BYTES,
                     show_default=True, metavar="BYTES", help=threshold_help),
        click.option("--parallel", type=click.IntRange(1, 64), default=multipart.DEFAULT_PARALLEL, show_default=True,
                     help="Multipart: parts sent at once."),
        click.option("--part-size", type=click.IntRange(5 * 1024 * 1024, 5 * 1024**3), default=None,
                     metavar="BYTES", help="Multipart: bytes per part (5 MiB to 5 GiB; the service chooses when "
                     "absent)."),
        click.option("--part-retries", type=click.IntRange(0, 20), default=multipart.DEFAULT_RETRIES,
                     show_default=True, help="Multipart: attempts after the first for a part (backoff from 0.5 s, "
                     "doubling)."),
    ]

    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):  # click lists the last applied first
            function = option(function)
        return function
    return decorate


@cli.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path))
@click.option("--dataset", "dataset_id", required=True, metavar="ID", help="Dataset to load into.")
@click.option("--record-type", required=True, metavar="TYPE",
              help="customer_record, purchase, ... (GET /v1/record-types)")
@click.option("--no-wait", is_flag=True, help="Exit once the file is sent; do not follow the job.")
@click.option("--timeout", type=click.FloatRange(min=1), default=3600, show_default=True, metavar="SECONDS",
              help="How long to follow the job before giving up (exit 1; the job carries on).")
@_sending_options("Files larger than this (or sent with --gzip) go as a multipart upload: parallel parts, "
                  "resumable. Over 5 GB always.")
@click.option("--gzip", "gzip_parts", is_flag=True,
              help="Multipart: compress on the fly, one gzip member per part (FILE must not be gzipped already).")
@click.pass_obj
def upload(settings: Settings, file: Path, dataset_id: str, record_type: str, no_wait: bool, timeout: float,
           multipart_threshold: int, parallel: int, part_size: int | None, part_retries: int,
           gzip_parts: bool) -> None:
    """Upload FILE into a dataset and follow the load job to its end.

    \b
    The file is uploaded under its own name, which must follow the API's rule:
    letters, digits, '-' and '_', then .json, .ndjson, .jsonl or .csv, optionally .gz.
    A progress bar (stderr) shows the bytes sent; then a bar per phase of the job
    (the file read while Splitting, partitions written while Loading) with its ETA.
    At the end stdout gets `key: value` lines: id, status, total, loaded, rejected,
    and error_log_url (when lines were rejected) or failure_reason (when Failed).

    \b
    Exit status: 0 Completed (a warning on stderr when lines were rejected),
    1 Failed, API error or --timeout reached, 130 interrupted.
    """
    client = settings.client()
    if gzip_parts and file.name.endswith(".gz"):
        fail(f"{file.name} is gzipped already: --gzip compresses a plain file", code=2)
    target = Target(
        describe=f"into dataset {dataset_id} as {record_type}",
        state={"dataset_id": dataset_id, "record_type": record_type},
        request_put=lambda name: client.request_upload(name, dataset_id, record_type),
        request_multipart=lambda name, size, part_size: client.request_multipart_upload(
            name, dataset_id, record_type, size, part_size))
    upload_id = _send_file(client, file, target, Sending(multipart_threshold, parallel, part_size, part_retries,
                                                         gzip_parts))

    if no_wait:
        click.echo(f"id: {upload_id}")
        note(f"sent; follow the job with: python -m cli status {upload_id}")
        return

    try:
        final = _follow(client, upload_id, timeout, _JobProgress(upload_id))
    except KeyboardInterrupt:
        note(f"\nstopped following upload {upload_id}; the job carries on: python -m cli status {upload_id}")
        raise click.exceptions.Exit(EXIT_INTERRUPTED) from None
    if final is None:
        fail(f"upload {upload_id} had not finished after {timeout:.0f}s; "
             f"the job carries on: python -m cli status {upload_id}")

    stats = final.get("stats", {})
    click.echo(f"id: {final['id']}")
    click.echo(f"status: {final['status']}")
    for name in ("total", "loaded", "rejected"):
        click.echo(f"{name}: {stats.get(name, 0)}")
    if final.get("error_log_url"):
        click.echo(f"error_log_url: {final['error_log_url']}")
    if final["status"] == "Failed":
        click.echo(f"failure_reason: {final.get('failure_reason', '')}")
        raise click.exceptions.Exit(EXIT_ERROR)
    if stats.get("rejected"):
        note(f"warning: {stats['rejected']} of {stats.get('total', 0)} lines rejected; "
             "the error log lists each one with its line number and the reason")


def _progress_bar(file: Path, size: int, initial: int = 0) -> tqdm:
    return tqdm(total=size, initial=initial, unit="B", unit_scale=True, unit_divisor=1024, file=sys.stderr,
                desc=file.name, dynamic_ncols=True)


def _send_file(client: IngestClient, file: Path, target: Target, sending: Sending) -> str:
    """Send FILE as `target` (one PUT, or a multipart upload): the upload's id once the file is sent."""
    size = file.stat().st_size
    if sending.multipart(size):
        return _multipart_upload(client, file, target, sending)
    return _single_put_upload(client, file, target, size)


def _single_put_upload(client: IngestClient, file: Path, target: Target, size: int) -> str:
    requested = target.request_put(file.name)
    upload_id = requested["id"]
    note(f"upload {upload_id}: sending {file.name} {target.describe}")
    try:
        with _progress_bar(file, size) as bar:
            put_file(requested["url"], str(file), on_progress=bar.update)
    except KeyboardInterrupt:
        note(f"\ninterrupted: {file.name} was not sent completely; upload {upload_id} stays Pending")
        raise click.exceptions.Exit(EXIT_INTERRUPTED) from None
    return upload_id


def _multipart_upload(client: IngestClient, file: Path, target: Target, sending: Sending) -> str:
    """Send FILE as a multipart upload (cli/multipart.py), resuming the one an earlier run left open."""
    size = file.stat().st_size
    gzip_parts, parallel = sending.gzip_parts, sending.parallel
    name = file.name + ".gz" if gzip_parts else file.name
    state = multipart.UploadState(multipart.state_key(file, {**target.state, "part_size": sending.part_size},
                                                      gzip_parts))
    held: dict[int, str] = {}
    resumed = state.load()
    if resumed:
        try:
            held = {part["part_number"]: part["etag"] for part in client.list_parts(resumed["upload_id"])["parts"]}
        except ApiError as exc:
            if exc.status not in (404, 409):
                raise
            note(f"upload {resumed['upload_id']} can no longer be resumed ({exc.message}); starting again")
            state.clear()
            resumed = None
    if resumed:
        upload_id, chosen_size = resumed["upload_id"], resumed["part_size"]
        note(f"upload {upload_id}: resuming {name}: S3 holds {len(held)} part(s)")
    else:
        # With --gzip the declared size is the plain file's: an upper bound of what is sent, near enough
        # for gzip's few bytes of overhead on incompressible data.
        requested = target.request_multipart(name, size, sending.part_size)
        upload_id, chosen_size = requested["id"], requested["multipart"]["part_size"]
        state.save(upload_id, chosen_size)
        note(f"upload {upload_id}: sending {name} {target.describe} in parts of {chosen_size} bytes, "
             f"{parallel} at once")
    parts = (multipart.gzip_parts if gzip_parts else multipart.plain_parts)(file, chosen_size)
    sender = multipart.PartSender(client, upload_id, sending.part_retries)
    try:
        with _progress_bar(file, size) as bar:
            lock = threading.Lock()

            def advance(count: int) -> None:
                with lock:
                    bar.update(count)

            sent = multipart.send_parts(parts, held, sender, parallel, advance)
    except KeyboardInterrupt:
        note(f"\ninterrupted: the parts sent so far are kept; run the same command again to resume "
             f"upload {upload_id}")
        # Now, not at the interpreter's exit: that joins the part threads, and one may hang on a stalled
        # connection for minutes. What a resume needs (the state file, the parts S3 holds) is kept already.
        sys.stdout.flush(), sys.stderr.flush()
        os._exit(EXIT_INTERRUPTED)
    except multipart.PartFailedError as exc:
        fail(f"{exc}; the parts sent so far are kept: run the same command again to resume upload {upload_id}")
    client.complete_upload(upload_id, sent)
    state.clear()
    return upload_id


# What a phase's bar counts, from the job's progress (docs/load_workflow.md): the file's bytes while
# it is read, the partitions while records are written.
PHASE_BARS = {
    "Splitting": ("bytes_read", "bytes_total", "B"),
    "Loading": ("chunks_done", "chunks_total", "partitions"),
}


class _JobProgress:
    """The job's progress on stderr: a bar per phase (tqdm: rate and ETA), then its end status.

    On a terminal the bar is redrawn in place; otherwise tqdm writes a line per update, which a log
    file can follow.
    """

    def __init__(self, upload_id: str):
        self.upload_id = upload_id
        self.phase: str | None = None
        self.bar: tqdm | None = None
        self.last_status: str | None = None

    def __call__(self, upload: dict) -> None:
        status = upload["status"]
        progress = upload.get("progress")
        if progress:
            self._show(progress)
        if status in FINAL_STATUSES:  # the bar ends before the status is said, on a line of its own
            stats = upload.get("stats")
            if status == "Completed" and self.bar is not None and stats:  # the polls may have missed the last counts
                self._counts(stats.get("total", 0), stats.get("loaded", 0))
            self.close(finished=status == "Completed")
        if status != self.last_status and not progress:
            note(f"upload {self.upload_id}: {status}")
        self.last_status = status

    def _show(self, progress: dict) -> None:
        phase = progress["phase"]
        if phase != self.phase:
            # Phases run in order: a job in the next one finished this one, with the counts it reports now.
            self._counts(progress.get("lines_read", 0), progress.get("records_loaded", 0))
            self.close(finished=True)
            self.phase = phase
            shape = PHASE_BARS.get(phase)
            if shape is None:  # Inspecting, Finalizing: short, and nothing to count
                note(f"upload {self.upload_id}: {phase}")
                return
            done_field, total_field, unit = shape
            bytes_bar = unit == "B"
            # What the phase had done before this first sight of it is the bar's start, not progress made
            # in its first instant (`status --follow` on a running job: a rate of 10^5 partitions a second).
            self.bar = tqdm(total=progress.get(total_field) or None, initial=progress.get(done_field, 0),
                            desc=phase, unit=unit.strip(), unit_scale=bytes_bar, unit_divisor=1024,
                            file=sys.stderr, dynamic_ncols=True)
        if self.bar is not None:
            done_field, total_field, _ = PHASE_BARS[phase]
            self.bar.total = progress.get(total_field) or self.bar.total
            self.bar.update(max(0, progress.get(done_field, 0) - self.bar.n))
            self._counts(progress.get("lines_read", 0), progress.get("records_loaded", 0))

    def _counts(self, lines: int, records: int) -> None:
        if self.bar is not None:
            # As text: tqdm would write a number in 3 significant digits when shorter (70000 as "7e+4").
            self.bar.set_postfix(lines=str(lines), records=str(records), refresh=True)

    def close(self, finished: bool = False) -> None:
        """End the bar; finished: its phase is over (the job moved on, or Completed), though the polls
        may have missed the last update (a Loading bar seen at 60 of 64 partitions ends at 64 of 64)."""
        if self.bar is not None:
            if finished and self.bar.total:
                self.bar.update(self.bar.total - self.bar.n)
            self.bar.close()
            self.bar = None


def _follow(client: IngestClient, upload_id: str, timeout: float, on_poll: Callable[[dict], None]) -> dict | None:
    """Poll until the job is Completed or Failed (None on timeout), backing off from 0.25 s to 2 s."""
    deadline = time.monotonic() + timeout
    pause = 0.25
    while True:
        upload = client.get_upload(upload_id)
        on_poll(upload)
        if upload["status"] in FINAL_STATUSES:
            return upload
        if time.monotonic() + pause > deadline:
            return None
        time.sleep(pause)
        pause = min(pause * 1.5, 2.0)


# --- status and list --------------------------------------------------------------------------


@cli.command()
@click.argument("upload_id", metavar="ID")
@click.option("--json", "raw", is_flag=True, help="Print the API's JSON on one line, as is.")
@click.option("--follow", is_flag=True,
              help="Follow the job to its end with a progress bar per phase (stderr), then print its JSON.")
@click.option("--timeout", type=click.FloatRange(min=1), default=3600, show_default=True, metavar="SECONDS",
              help="With --follow: how long to follow before giving up (exit 1; the job carries on).")
@click.pass_obj
def status(settings: Settings, upload_id: str, raw: bool, follow: bool, timeout: float) -> None:
    """Show upload ID (its status, stats, progress while it runs, error log URL or failure reason) as JSON.

    \b
    With --follow: exit status 0 Completed, 1 Failed or --timeout reached, 130 interrupted.
    """
    client = settings.client()
    if not follow:
        _print_json(client.get_upload(upload_id), raw)
        return
    display = _JobProgress(upload_id)
    try:
        final = _follow(client, upload_id, timeout, display)
    except KeyboardInterrupt:
        display.close()
        note(f"\nstopped following upload {upload_id}; the job carries on")
        raise click.exceptions.Exit(EXIT_INTERRUPTED) from None
    if final is None:
        display.close()
        fail(f"upload {upload_id} had not finished after {timeout:.0f}s; the job carries on")
    _print_json(final, raw)
    if final["status"] == "Failed":
        raise click.exceptions.Exit(EXIT_ERROR)


@cli.command("list")
@click.option("--status", "status_filter", type=click.Choice(STATUSES, case_sensitive=False),
              help="Only uploads in this status.")
@click.option("--dataset", "dataset_id", metavar="ID", help="Only uploads into this dataset.")
@click.option("--limit", type=click.IntRange(1, 100), default=50, show_default=True,
              help="Uploads per page (the API's maximum is 100).")
@click.option("--all", "everything", is_flag=True, help="Follow next_token through every page.")
@click.option("--json", "raw", is_flag=True, help="Print the uploads as a JSON array instead of a table.")
@click.pass_obj
def list_command(settings: Settings, status_filter: str | None, dataset_id: str | None, limit: int,
                 everything: bool, raw: bool) -> None:
    """List uploads, newest first: id, status, filename, total/loaded/rejected lines, created_at."""
    client = settings.client()
    uploads, next_token = _pages(
        lambda token: client.list_uploads(status=status_filter, dataset_id=dataset_id, limit=str(limit),
                                          next_token=token),
        "uploads", everything)
    if raw:
        click.echo(json.dumps(uploads, indent=2))
    elif not uploads:
        note("no uploads")
    else:
        rows = [(u["id"], u["status"], u["filename"], str(u["stats"]["total"]), str(u["stats"]["loaded"]),
                 str(u["stats"]["rejected"]), u["created_at"]) for u in uploads]
        _table(("ID", "STATUS", "FILENAME", "TOTAL", "LOADED", "REJECTED", "CREATED_AT"), rows, numeric={3, 4, 5})
    if next_token:
        note("more uploads than shown: add --all to list them all (or a larger --limit, up to 100)")


def _pages(fetch: Callable[[str | None], dict], key: str, everything: bool) -> tuple[list[dict], str | None]:
    items: list[dict] = []
    token = None
    while True:
        page = fetch(token)
        items.extend(page.get(key, []))
        token = page.get("next_token")
        if not token or not everything:
            return items, token


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]], numeric: set[int]) -> None:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(row: tuple[str, ...]) -> str:
        cells = [cell.rjust(widths[i]) if i in numeric else cell.ljust(widths[i]) for i, cell in enumerate(row)]
        return "  ".join(cells).rstrip()

    click.echo(line(header))
    for row in rows:
        click.echo(line(row))


# --- failed rows and retry --------------------------------------------------------------------


@cli.command("failed-rows")
@click.argument("upload_id", metavar="ID")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True, allow_dash=True, path_type=Path),
              metavar="FILE",
              help="Where to write them (default: failed_rows-<the upload's file name> here; '-' for stdout).")
@click.option("--unprocessed", is_flag=True,
              help="The unprocessed rows instead (a Failed job's lines neither loaded nor rejected).")
@click.pass_obj
def failed_rows(settings: Settings, upload_id: str, output: Path | None, unprocessed: bool) -> None:
    """Download the rejected lines of upload ID, as sent, in the upload's own format.

    \b
    A CSV's header row comes first; a gzip upload gives a gzip file. Fix the rows
    and send the file back with: python -m cli retry ID FILE
    Exit status: 0 written, 1 the upload has no such rows or an API error.
    """
    upload = settings.client().get_upload(upload_id)
    field, what = ("unprocessed_rows_url", "unprocessed") if unprocessed else ("failed_rows_url", "failed")
    url = upload.get(field)
    if not url:
        fail(f"upload {upload_id} has no {what} rows")
    target = output or Path(f"{what}_rows-{upload['filename']}")
    with requests.get(url, stream=True, timeout=60) as response:
        response.raise_for_status()
        if str(target) == "-":
            for chunk in response.iter_content(1024 * 1024):
                sys.stdout.buffer.write(chunk)
            return
        with target.open("wb") as handle:
            for chunk in response.iter_content(1024 * 1024):
                handle.write(chunk)
    note(f"{what} rows of upload {upload_id} written to {target}")
    click.echo(str(target))


@cli.command()
@click.argument("upload_id", metavar="ID")
@click.argument("file", required=False, type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path))
@click.option("--unprocessed", is_flag=True,
              help="Let the service load the upload's unprocessed rows itself (no FILE).")
@click.option("--follow", is_flag=True, help="Follow the retry to its end, then print its JSON.")
@click.option("--timeout", type=click.FloatRange(min=1), default=3600, show_default=True, metavar="SECONDS",
              help="With --follow: how long to follow before giving up (exit 1; the job carries on).")
@_sending_options("FILE larger than this goes as a multipart upload: parallel parts, resumable. Over 5 GB always.")
@click.pass_obj
def retry(settings: Settings, upload_id: str, file: Path | None, unprocessed: bool, follow: bool,
          timeout: float, multipart_threshold: int, parallel: int, part_size: int | None, part_retries: int) -> None:
    """Retry upload ID: send FILE (the corrected rows) as a new upload of the same dataset, record type
    and options, or with --unprocessed have the service load its unprocessed rows.

    \b
    FILE is sent as `upload` sends a file: one PUT, or over --multipart-threshold
    (always over 5 GB) a multipart upload, which the same command resumes.
    The retry's id goes to stdout; it names ID as its parent_id, and ID lists it in retries.
    FILE is loaded as the upload's format (its file name's extension), whatever FILE is called.
    Exit status: 0 sent (with --follow: Completed), 1 Failed, API error or --timeout, 2 bad command line.
    """
    if unprocessed == (file is not None):
        raise click.UsageError("give either FILE or --unprocessed")
    client = settings.client()
    if file is None:
        child_id = client.retry_upload(upload_id, "unprocessed")["id"]
    else:
        target = Target(
            describe=f"as the retry of upload {upload_id}",
            state={"retry_of": upload_id},
            request_put=lambda name: client.retry_upload(upload_id),
            request_multipart=lambda name, size, part_size: client.retry_multipart_upload(upload_id, size, part_size))
        child_id = _send_file(client, file, target, Sending(multipart_threshold, parallel, part_size, part_retries))
    note(f"retry {child_id} of upload {upload_id} started")
    if not follow:
        click.echo(child_id)
        return
    final = _follow(client, child_id, timeout, _JobProgress(child_id))
    if final is None:
        fail(f"retry {child_id} had not finished after {timeout:.0f}s; the job carries on")
    _print_json(final, False)
    if final["status"] == "Failed":
        raise click.exceptions.Exit(EXIT_ERROR)


def _print_json(value: Any, raw: bool) -> None:
    click.echo(json.dumps(value, separators=(",", ":")) if raw else json.dumps(value, indent=2))


# --- validate ---------------------------------------------------------------------------------


@cli.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path))
@click.option("--record-type", required=True, metavar="TYPE",
              help="customer_record, purchase, ... (GET /v1/record-types)")
@click.option("--format", "fmt", type=click.Choice(["ndjson", "csv"]),
              help="Read FILE as this format instead of the one its name implies (.csv[.gz] is CSV, else NDJSON).")
@click.option("--json", "as_json", is_flag=True,
              help="Print every error as the server's error-log line (NDJSON) on stdout; the summary goes to stderr.")
@click.option("--max-errors", type=click.IntRange(min=0), default=20, show_default=True, metavar="N",
              help="Errors listed after the summary (without --json).")
def validate(file: Path, record_type: str, fmt: str | None, as_json: bool, max_errors: int) -> None:
    """Check FILE locally exactly as an upload of it would be checked; no API, no token.

    \b
    Gzip is detected by its magic bytes. Prints `total`, `valid` and `invalid` line counts,
    then the first N errors as `line <n>: <error>`. A file the service would reject whole
    (e.g. a CSV header naming an unknown column) gives `error: <reason>`.
    A progress bar (stderr) shows the bytes read for files over 10 MB.

    \b
    Exit status: 0 every line valid, 1 invalid lines or the file rejected,
    2 bad command line or unknown record type.
    """
    from cli.validate import run  # imports the service's code: only this command needs it

    raise click.exceptions.Exit(run(file, record_type, fmt, as_json, max_errors))


# --- datasets ---------------------------------------------------------------------------------


@cli.group()
def datasets() -> None:
    """Create, show and list datasets (uploads load into a dataset)."""


@datasets.command("create")
@click.argument("name")
@click.option("--description", default="", help="Free text shown with the dataset.")
@click.pass_obj
def datasets_create(settings: Settings, name: str, description: str) -> None:
    """Create a dataset called NAME and print its id (alone on stdout)."""
    dataset = settings.client().create_dataset(name, description)
    note(f"created dataset {name!r}")
    click.echo(dataset["id"])


@datasets.command("show")
@click.argument("dataset_id", metavar="ID")
@click.option("--json", "raw", is_flag=True, help="Print the API's JSON on one line, as is.")
@click.pass_obj
def datasets_show(settings: Settings, dataset_id: str, raw: bool) -> None:
    """Show dataset ID as JSON: name, description, record counts per type, last load."""
    _print_json(settings.client().get_dataset(dataset_id), raw)


@datasets.command("list")
@click.option("--limit", type=click.IntRange(1, 100), default=50, show_default=True, help="Datasets per page.")
@click.option("--all", "everything", is_flag=True, help="Follow next_token through every page.")
@click.pass_obj
def datasets_list(settings: Settings, limit: int, everything: bool) -> None:
    """List datasets, newest first: id, name, created_at."""
    client = settings.client()
    found, next_token = _pages(lambda token: client.list_datasets(limit=str(limit), next_token=token),
                               "datasets", everything)
    if found:
        _table(("ID", "NAME", "CREATED_AT"), [(d["id"], d["name"], d["created_at"]) for d in found], numeric=set())
    else:
        note("no datasets")
    if next_token:
        note("more datasets than shown: add --all to list them all")


# --- webhooks ---------------------------------------------------------------------------------


@cli.group()
def webhooks() -> None:
    """Register HTTPS endpoints for job events (at most 5), list them, see their deliveries."""


@webhooks.command("create")
@click.argument("url")
@click.option("--events", "event_types", required=True, metavar="TYPES",
              help="Comma-separated event types (upload.created, upload.completed, clear.completed, ...) or '*'.")
@click.pass_obj
def webhooks_create(settings: Settings, url: str, event_types: str) -> None:
    """Register URL for the event types; prints the webhook's id and its signing secret (shown once)."""
    names = [name.strip() for name in event_types.split(",") if name.strip()]
    webhook = settings.client().create_webhook(url, names)
    note(f"created webhook {webhook['id']} for {', '.join(webhook['event_types'])}; "
         "keep the secret: it is not shown again")
    click.echo(f"id      {webhook['id']}")
    click.echo(f"secret  {webhook['secret']}")


@webhooks.command("list")
@click.pass_obj
def webhooks_list(settings: Settings) -> None:
    """List the account's webhooks: id, event types, url."""
    found = settings.client().list_webhooks()["webhooks"]
    if found:
        _table(("ID", "EVENTS", "URL"), [(w["id"], ",".join(w["event_types"]), w["url"]) for w in found],
               numeric=set())
    else:
        note("no webhooks")


@webhooks.command("delete")
@click.argument("webhook_id", metavar="ID")
@click.pass_obj
def webhooks_delete(settings: Settings, webhook_id: str) -> None:
    """Delete webhook ID: no more deliveries to it, pending retries stop."""
    settings.client().delete_webhook(webhook_id)
    note(f"deleted webhook {webhook_id}")


@webhooks.command("deliveries")
@click.argument("webhook_id", metavar="ID")
@click.option("--json", "raw", is_flag=True, help="Print the API's JSON on one line, as is.")
@click.pass_obj
def webhooks_deliveries(settings: Settings, webhook_id: str, raw: bool) -> None:
    """The latest deliveries to webhook ID, newest first: event, status, attempts, last response code."""
    answer = settings.client().webhook_deliveries(webhook_id)
    if raw:
        _print_json(answer, raw)
        return
    found = answer["deliveries"]
    if not found:
        note("no deliveries")
        return
    _table(("CREATED_AT", "EVENT", "JOB", "STATUS", "ATTEMPTS", "LAST_CODE", "NEXT_ATTEMPT_AT"),
           [(d["created_at"], d["event_type"], d["job_id"], d["status"], str(d["attempts"]),
             str(d["last_response_code"] if d["last_response_code"] is not None else "-"),
             d["next_attempt_at"] or "-") for d in found], numeric={4, 5})
# --- revert -----------------------------------------------------------------------------------


@cli.command()
@click.argument("upload_id", metavar="ID")
@click.option("--follow", is_flag=True, help="Follow the revert job to its end, then print its JSON.")
@click.option("--timeout", type=click.FloatRange(min=1), default=3600, show_default=True, metavar="SECONDS",
              help="With --follow: how long to follow before giving up (exit 1; the job carries on).")
@click.option("--json", "raw", is_flag=True, help="Print the API's JSON on one line, as is.")
@click.pass_obj
def revert(settings: Settings, upload_id: str, follow: bool, timeout: float, raw: bool) -> None:
    """Undo upload ID: put back what its load replaced, remove what it created.

    \b
    Records a later load or a clear changed since are left as they are and
    counted as `kept`. Prints the revert job as JSON (also at GET /v1/jobs/{id}).
    With --follow: exit status 0 Completed, 1 Failed or --timeout reached.
    """
    client = settings.client()
    job = client.revert_upload(upload_id)
    if follow:
        note(f"revert job {job['id']} started; following it")
        deadline, pause = time.monotonic() + timeout, 0.25
        while job["status"] not in FINAL_STATUSES:
            if time.monotonic() + pause > deadline:
                fail(f"revert job {job['id']} had not finished after {timeout:.0f}s; the job carries on")
            time.sleep(pause)
            pause = min(pause * 1.5, 2.0)
            job = client.get_job(job["id"])
    _print_json(job, raw)
    if job["status"] == "Failed":
        raise click.exceptions.Exit(EXIT_ERROR)


def main() -> None:
    cli(prog_name="python -m cli")


if __name__ == "__main__":
    main()
