"""A multi-member gzip upload inflated in parallel, member by member (InflateMembers, JoinMembers).

A gzip file written as independent members (the CLI writes one per multipart part; bgzip and
`cat a.gz b.gz` do too) can be inflated in parallel, if each worker knows where a member starts. Nothing
in the file says so: a member starts with 1f 8b 08, and so, by chance, do bytes inside compressed data
(about once in 16 MiB), and a stored deflate block can even hold a whole valid gzip member. So:

- Inspect cuts the compressed object into groups of `inflate_group_bytes` (inflate-manifest.json).
- InflateMembers (a Map, one MemberGroupTask each) tries the candidate headers of its group in order
  and inflates, with zlib (every member's CRC-32 and size checked), from the first one whose members
  inflate cleanly until one ends at or past the group's end, reading on past it for at most another
  group. Its output goes to members/<group> (S3 multipart, bounded buffer) with the counts the plan
  needs (MemberGroupResult, members/<group>.json).
- JoinMembers accepts the groups only as a chain: the first group starts at byte 0, and each group used
  starts exactly where the previous one's last member ended (a member that ends at a position ends the
  stream there, so the next member starts there: by induction every start is a true one, and the
  output is byte for byte what one pass gives); groups whose range the previous members cover are
  skipped; the last member ends at the object's end. Anything else (a false candidate taken, a
  member longer than the read-on, a corrupt or truncated member, data after the end) and the job goes
  to the sequential chain (decompress.py), which inflates it in order or fails it with its reason: a
  false candidate can cost time, never data.
- The groups' outputs are one logical stream cut at arbitrary points (a line crosses members), so the
  Split ranges are the outputs themselves with the counts before each (first line, CSV quote parity)
  and the byte before each: Split reads a range from its first record start and on into the next
  outputs to finish its last record (RangeTask.continues; pieces.json lists the outputs in order), as
  it reads a range of a plain upload.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

import orjson

from ingest.errors import StepFailedError
from ingest.logic import formats
from ingest.logic import lines as line_reader
from ingest.logic.load.context import LoadContext
from ingest.logic.load.decompress import PART_UPLOADS
from ingest.logic.load.layout import WorkKeys, missing_results, missing_results_message
from ingest.logic.load.progress import ProgressReporter
from ingest.logic.load.ranges import NEWLINE, QUOTE
from ingest.models.workflow import LoadJob, MemberGroupResult, MemberGroupTask, RangeTask

JSON = "application/json"
GZIP_MEMBER_START = b"\x1f\x8b\x08"
# Plain bytes one group may write: past it (a very high ratio), the sequential chain, whose invocations
# are bounded by time, takes the file. 2 GiB is about a minute on one vCPU (docs/capacity.md).
MAX_GROUP_PLAIN_BYTES = 2 * 1024**3


def group_tasks(job: LoadJob, group_bytes: int) -> list[MemberGroupTask]:
    return [MemberGroupTask(index=index, start=start, end=min(job.size, start + group_bytes))
            for index, start in enumerate(range(0, job.size, group_bytes))]


class _Unfinished(Exception):
    """A member went on past the read-on limit: the group cannot say where its members end."""


class _GroupOutput:
    """The inflated bytes of one group, written to members/<group> with the counts JoinMembers needs."""

    def __init__(self, ctx: LoadContext, key: str, csv: bool, max_bytes: int = MAX_GROUP_PLAIN_BYTES):
        self._writer = ctx.objects.writer(key, parallel=PART_UPLOADS)
        self._max_bytes = max_bytes
        self._csv = csv
        self.plain_bytes = self.newlines = self.quotes = 0
        self.last_byte: int | None = None
        self.text_at: int | None = None  # offset of the first byte that is not blank (nor a BOM)

    def write(self, data: bytes) -> None:
        if not data:
            return
        if self.text_at is None:
            text = data.removeprefix(line_reader.UTF8_BOM) if self.plain_bytes == 0 else data
            stripped = text.lstrip()
            if stripped:
                self.text_at = self.plain_bytes + len(data) - len(stripped)
        self._writer.write(data)
        self.plain_bytes += len(data)
        if self.plain_bytes > self._max_bytes:
            raise _Unfinished
        self.newlines += data.count(NEWLINE)
        if self._csv:
            self.quotes += data.count(QUOTE)
        self.last_byte = data[-1]

    def complete(self) -> None:
        self._writer.complete()

    def discard(self) -> None:
        self._writer.discard()


def inflate_group(ctx: LoadContext, job: LoadJob, task: MemberGroupTask) -> MemberGroupResult:
    """Inflate the members that start in one group (see the module's docstring); writes members/<index>
    and members/<index>.json. Safe to retry."""
    work = WorkKeys(job.account_id, job.upload_id)
    read_on_limit = min(job.size, task.end + (task.end - task.start))
    group = b"".join(ctx.objects.stream_range(job.object_key, task.start, task.end))
    result = MemberGroupResult(index=task.index)
    with ProgressReporter(ctx.jobs, job.account_id, job.upload_id) as progress:
        progress.add(bytes_read=len(group))
        candidate = group.find(GZIP_MEMBER_START)
        while candidate >= 0:
            output = _GroupOutput(ctx, work.member_output(task.index), job.format == formats.CSV)
            try:
                end = _inflate_from(ctx, job, group, task, task.start + candidate, read_on_limit, output)
            except zlib.error:  # not a member start after all, or a damaged member: try the next one
                output.discard()
                candidate = group.find(GZIP_MEMBER_START, candidate + 1)
                continue
            except _Unfinished:
                output.discard()
                break
            except BaseException:
                output.discard()
                raise
            output.complete()
            result = MemberGroupResult(index=task.index, start=task.start + candidate, end=end,
                                       plain_bytes=output.plain_bytes, newlines=output.newlines,
                                       quotes=output.quotes, last_byte=output.last_byte, text_at=output.text_at)
            break
    ctx.objects.put(work.member_result(task.index), orjson.dumps(result.state()), content_type=JSON)
    return result


def _inflate_from(ctx: LoadContext, job: LoadJob, group: bytes, task: MemberGroupTask, start: int,
                  limit: int, output: _GroupOutput) -> int:
    """Inflate whole members from `start` until one ends at or past the group's end; returns where the
    last one ended. zlib.error when the bytes are not members; _Unfinished past `limit`."""
    chunks = _bytes_from(ctx, job, group, task, start, limit)
    position = start  # where the member being inflated started
    pending: bytes | memoryview = b""
    while True:
        inflater = zlib.decompressobj(wbits=31)
        consumed = 0
        while not inflater.eof:
            if not pending:
                pending = next(chunks, b"")
                if not pending:
                    if limit < job.size:
                        raise _Unfinished
                    raise zlib.error("the file ends inside a member")
            output.write(inflater.decompress(pending))
            consumed += len(pending) - len(inflater.unused_data)
            pending = inflater.unused_data
        output.write(inflater.flush())
        position += consumed
        if position >= task.end:
            return position
        if not pending:
            pending = next(chunks, b"")
        if not pending:
            return position  # the end of the object
        # What follows must be another member: zlib refuses anything else.


def _bytes_from(ctx: LoadContext, job: LoadJob, group: bytes, task: MemberGroupTask, start: int,
                limit: int) -> Iterator[bytes | memoryview]:
    yield memoryview(group)[start - task.start:]
    yield from ctx.objects.stream_range(job.object_key, task.end, limit)


def join_members(ctx: LoadContext, job: LoadJob) -> LoadJob:
    """Accept the groups as one chain of members (the module's docstring) and write split-manifest.json
    over their outputs: the job with its ranges. When they do not chain, the job without ranges: the
    state machine runs the sequential chain (Decompress) instead."""
    work = WorkKeys(job.account_id, job.upload_id)
    tasks = [MemberGroupTask.model_validate(task) for task in orjson.loads(ctx.objects.read(work.inflate_manifest))]
    missing = missing_results(ctx.objects, work.members_prefix, work.member_result, [task.index for task in tasks])
    if missing:
        raise StepFailedError(missing_results_message("InflateMembers", missing, len(tasks), "member groups"))
    results = [MemberGroupResult.model_validate_json(ctx.objects.read(work.member_result(task.index)))
               for task in tasks]
    used = _chained(results, tasks, job.size)
    if used is None:
        return job.model_copy(update={"member_groups": None})  # to the sequential chain
    csv = job.format == formats.CSV
    ranges: list[RangeTask] = []
    pieces: list[str] = []
    first_line, quotes, byte_before = 1, 0, None
    header_seen = False
    for result in used:
        if not result.plain_bytes:
            continue
        key = work.member_output(result.index)
        holds_header = csv and not header_seen and result.text_at is not None
        header_seen = header_seen or result.text_at is not None
        ranges.append(RangeTask(index=len(ranges), source_key=key, start=0, end=result.plain_bytes,
                                first_line=first_line, starts_in_quotes=bool(quotes % 2) if csv else None,
                                holds_header=holds_header, continues=True, byte_before=byte_before))
        pieces.append(key)
        first_line += result.newlines
        quotes += result.quotes
        byte_before = result.last_byte
    ctx.objects.put(work.pieces, orjson.dumps(pieces), content_type=JSON)
    ctx.objects.put(work.split_manifest, orjson.dumps([task.state() for task in ranges]), content_type=JSON)
    ctx.jobs.set_progress(job.account_id, job.upload_id, "Splitting", chunks_total=len(ranges), chunks_done=0)
    plain_bytes = sum(result.plain_bytes for result in used)
    return job.model_copy(update={"ranges": len(ranges), "partitions": ctx.settings.partitions_for(plain_bytes)})


def _chained(results: list[MemberGroupResult], tasks: list[MemberGroupTask],
             size: int) -> list[MemberGroupResult] | None:
    """The groups whose members make the file, in order, or None when they do not chain exactly."""
    expected = 0  # where the next member starts: the end of the last member accepted
    used = []
    for result, task in zip(results, tasks, strict=True):
        if expected >= task.end:
            continue  # the members before cover this group's range: what it found is not used
        if result.start != expected or result.end is None:
            return None
        used.append(result)
        expected = result.end
    return used if expected == size else None


def piece_chunks(ctx: LoadContext, job: LoadJob, task: RangeTask) -> tuple[Iterator[bytes], int, int]:
    """What Split reads for a range over one group's output (RangeTask.continues): (the chunks, from the
    byte before the piece when there is one, reading on into the next pieces; the range's start and
    end in those chunks)."""
    offset = 0 if task.byte_before is None else 1

    def chunks() -> Iterator[bytes]:
        if task.byte_before is not None:
            yield bytes([task.byte_before])
        yield from ctx.objects.stream(task.source_key)
        # Only when the range's last record goes on past its piece (lazily: most ranges stop before).
        work_pieces: list[str] = orjson.loads(ctx.objects.read(WorkKeys(job.account_id, job.upload_id).pieces))
        for key in work_pieces[work_pieces.index(task.source_key) + 1:]:
            yield from ctx.objects.stream(key)

    return chunks(), offset, offset + task.end
