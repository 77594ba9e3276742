"""Load: one partition of the upload's valid records, in range order, in bounded windows.

Split routed every line of a key to one partition and wrote it, in line order, to parts/<p>/<i>;
reading those files in range order therefore gives each key's lines in file order. Load reads them
in windows of at most `load_window_records` frames: within a window only the last frame per key is
applied, and a window is written completely before the next is read, so a later line for a key
always lands after an earlier one ("the last line for a key wins"). Memory is bounded by the window.

The record type's load kind decides what a window does (one strategy each):
  upsert            the last line per key becomes the stored record (RecordWriter, counted by the
                    item each write replaced: docs/load_workflow.md "Writes, and counts ...")
  profile_changes   each customer's lines apply to its `profile` in order (logic/profiles.py), read
                    per window with get_many; the changed profile is written once per window
  audience_members  the members go into this load's own member set (logic/audiences.py); Finalize
                    makes it the audience's list

Dry runs write nothing (no records, and for profile changes no profiles) but count every line.
The upsert and profile_changes strategies keep what each window replaces for a revert, before they
replace it (logic/revert.py Journal). Profile changes read the window's profiles anyway and keep them as
read. Upserts keep a window either optimistically (every key as "created", unread; the writes refuse
to replace another writer's item and hand it back, and it is kept, then replaced) or by reading its
keys first, whichever is cheaper for the keys the previous window found (`reads_first`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Protocol

import orjson

from ingest import record_types
from ingest.adapters.record_store import Foreign, OwnWrite, RecordWrite, Stamp
from ingest.logic import audiences, profiles
from ingest.logic.load import frames as frame_codec
from ingest.logic.load import rows
from ingest.logic.load.context import LoadContext
from ingest.logic.load.error_log import error_line
from ingest.logic.load.layout import WorkKeys
from ingest.logic.load.progress import ProgressReporter
from ingest.logic.revert import Journal
from ingest.models.workflow import LoadJob, PartitionResult, PartitionTask


@dataclass
class WindowOutcome:
    """What one window did: lines applied, records created or replaced, lines the load kind refused."""

    loaded: int = 0
    created: int = 0
    replaced: int = 0
    refused: list[tuple[frame_codec.Frame, str]] = field(default_factory=list)

    def count(self, prior: dict[str, str] | None, stamp: Stamp) -> None:
        created, replaced = counted(prior, stamp)
        self.created += created
        self.replaced += replaced


def counted(prior: dict[str, str] | None, stamp: Stamp) -> tuple[int, int]:
    """(created, replaced) for one write, from the item it replaced (docs/load_workflow.md): exact
    when a Load is retried with a new attempt after writing part of its partition, and when one
    write is retried after its answer was lost (an OwnWrite: the previous writer is then the item's
    previous_attempt, the creator its created_by)."""
    if isinstance(prior, OwnWrite):  # this write's earlier try landed: judge by what that try replaced
        if prior.get("previous_attempt") == stamp.attempt:
            return 0, 0
        return (1, 0) if prior.get("created_by") == stamp.job_id else (0, 1)
    if prior is None:
        return 1, 0
    if prior.get("job_id") != stamp.job_id:
        return 0, 1
    if prior.get("attempt") == stamp.attempt:
        return 0, 0  # a later line of a key this attempt already wrote and counted
    return (1, 0) if prior.get("created_by") == stamp.job_id else (0, 1)  # written by a failed attempt


class WindowLoad(Protocol):
    """A load kind's strategy: apply() each window in file order; close() when the partition is done."""

    may_refuse: bool

    def apply(self, window: list[frame_codec.Frame]) -> WindowOutcome: ...

    def close(self) -> None: ...


def last_per_key(window: list[frame_codec.Frame]) -> list[frame_codec.Frame]:
    """The last frame of each key, in the order the keys first came."""
    return list({frame.key: frame for frame in window}.values())


# The share of a window's keys held by another writer's item above which reading the keys first is the
# cheaper way to journal them. Reading first costs every key one strongly consistent read unit (items
# up to 4 KiB, absent or not): USD 0.125 per million RRU, i.e. 0.2 of a write unit at USD 0.625 per
# million WRU (docs/capacity.md's figures). Writing optimistically costs nothing extra on a new key or
# one of this upload's, and one refused conditional write on a key another writer holds (DynamoDB still
# consumes write units for it: the existing item's size, at least 1; 1 for our records, under 1 KiB),
# then the write itself, which reading first also pays. Per key: 0.2 WRU reading first, share x 1 WRU
# optimistic; they are equal at share = 0.2. (The found items' S3 object, one PUT a window, is noise.)
FOREIGN_SHARE_BREAK_EVEN = 0.125 / 0.625
# An optimistic window writes its first PROBE_KEYS keys alone, and reads the rest first if they found
# too many keys held: over a dataset that has every key, a Load pays refused writes for PROBE_KEYS keys,
# not a window's (20,000: 12 % of a 160,000-record Load's write cost). One more journal object a window
# (an S3 PUT per 20,000 records: 0.04 % of their write cost) is what it costs.
PROBE_KEYS = 1_000
FOUND_ROUNDS = 5  # a found item replaced before we replace it, again and again: another writer is loose


def reads_first(foreign: int, keys: int) -> bool:
    """Whether the next window reads its keys first: when this window found more than the break-even
    share of its keys held by another writer (the first window is optimistic)."""
    return keys > 0 and foreign / keys > FOREIGN_SHARE_BREAK_EVEN


class UpsertLoad:
    """Load kind "upsert": the last line per key is written; counts from the items it replaced.

    Each window is journalled read first or optimistically (module docstring, logic/revert.py), as
    `reads_first` decides from the share of the keys another writer held in what went before: the
    previous window, or an optimistic window's first PROBE_KEYS keys for the rest of it."""

    may_refuse = False

    def __init__(self, ctx: LoadContext, job: LoadJob, stamp: Stamp, stored_type: str, journal: Journal | None):
        self._stamp, self._journal = stamp, journal
        self._records, self._job, self._stored_type = ctx.records, job, stored_type
        self.reading_first = False  # the first window is optimistic; then as the previous one found
        self._writer = None if job.dry_run else ctx.records.writer(
            job.account_id, job.dataset_id, stored_type, job.shards, stamp.job_id, stamp.attempt,
            ctx.settings.load_threads, ctx.settings.write_rate_per_load)

    def apply(self, window: list[frame_codec.Frame]) -> WindowOutcome:
        outcome = WindowOutcome(loaded=len(window))
        writer, journal = self._writer, self._journal
        if writer is None:
            return outcome
        latest = last_per_key(window)  # each frame as it is written: the shard from its key hash
        if journal is None:
            priors = writer.write_upserts(latest)
        else:
            priors, start = [], 0
            while start < len(latest):
                if self.reading_first:
                    batch = latest[start:]
                    answers, foreign = self._read_first(writer, journal, batch)
                else:  # the window's first PROBE_KEYS keys alone, then the rest as they say
                    batch = latest[start:start + PROBE_KEYS] if start == 0 else latest[start:]
                    answers, foreign = self._optimistic(writer, journal, batch)
                priors += answers
                start += len(batch)
                self.reading_first = reads_first(foreign, len(batch))
        for prior in priors:
            outcome.count(prior, self._stamp)
        return outcome

    def _read_first(self, writer, journal: Journal, latest: list[frame_codec.Frame]) -> tuple[list, int]:
        """Read the window's keys, keep them, write: (the writes' answers, keys another writer held)."""
        keys, job = [frame.key for frame in latest], self._job
        stored = self._records.get_many(job.account_id, job.dataset_id, self._stored_type, keys, job.shards)
        journal.keep(keys, stored)
        foreign = sum(1 for item in stored.values() if item.get("job_id") != self._stamp.job_id)
        return writer.write_upserts(latest), foreign

    def _optimistic(self, writer, journal: Journal, latest: list[frame_codec.Frame]) -> tuple[list, int]:
        """Keep every key as created, write only over no item or this upload's; keep what another
        writer held, then replace it while it is still what was kept: (the writes' answers, in order
        of the frames, and how many keys another writer held)."""
        journal.keep_unread([frame.key for frame in latest])
        priors = writer.write_upserts(latest, only_over=[None] * len(latest))
        refused = [index for index, prior in enumerate(priors) if isinstance(prior, Foreign)]
        foreign = sum(1 for index in refused if priors[index])
        for _ in range(FOUND_ROUNDS):
            if not refused:
                return priors, foreign
            journal.keep_found([(latest[index].key, dict(priors[index])) for index in refused if priors[index]])
            # Over the item kept; a key with no item (any more) as any new key.
            again = writer.write_upserts([latest[index] for index in refused],
                                         only_over=[priors[index] or None for index in refused])
            for index, prior in zip(refused, again, strict=True):
                priors[index] = prior
            refused = [index for index, prior in zip(refused, again, strict=True) if isinstance(prior, Foreign)]
        raise RuntimeError(f"{len(refused)} keys kept changing while this Load replaced them; "
                           "another writer is writing the dataset")

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


@dataclass(frozen=True, slots=True)
class ChangeLine:
    """A profile_changes line as logic/profiles.py takes it."""

    number: int
    stored: bytes
    frame: frame_codec.Frame


class ProfileChangesLoad:
    """Load kind "profile_changes": per window, read the window's customers' profiles (get_many,
    strongly consistent, so a window sees the one before it), apply each customer's lines in order
    (profiles.apply_customer_lines: all or nothing per line, exactly once per upload through the
    profile's `applied` marker) and write each changed profile once, with its marker.

    A profile that a failed attempt of this Load already brought up to date is written again as it
    is, so that this attempt counts it (created or replaced) and its later windows do not.

    A dry run writes nothing, so later windows could not read what earlier ones changed: it keeps the
    changed profiles of the partition in memory instead (`_unwritten`), so its refusals are the ones a
    real load would give. That is the one place memory follows the partition, not the window (only
    customers the file changes, only in a dry run); docs/decision_log.md says why it is accepted."""

    may_refuse = True

    def __init__(self, ctx: LoadContext, job: LoadJob, stamp: Stamp, journal: Journal | None):
        self._records, self._job, self._stamp, self._journal = ctx.records, job, stamp, journal
        self._writer = None if job.dry_run else ctx.records.writer(
            job.account_id, job.dataset_id, profiles.PROFILE_TYPE, job.shards, stamp.job_id, stamp.attempt,
            ctx.settings.load_threads, ctx.settings.write_rate_per_load)
        self._unwritten: dict[str, dict[str, str]] = {}  # a dry run's changed profiles

    def apply(self, window: list[frame_codec.Frame]) -> WindowOutcome:
        job, stamp = self._job, self._stamp
        by_customer: dict[str, list[ChangeLine]] = {}
        for frame in window:
            by_customer.setdefault(frame.key, []).append(ChangeLine(frame.line, frame.record, frame))
        stored = self._records.get_many(job.account_id, job.dataset_id, profiles.PROFILE_TYPE, list(by_customer),
                                        job.shards)
        if self._writer is None:
            stored.update((key, self._unwritten[key]) for key in by_customer if key in self._unwritten)
        outcome = WindowOutcome()
        writes: list[RecordWrite] = []
        for customer_id, lines in by_customer.items():
            held = stored.get(customer_id)
            applied = profiles.apply_customer_lines(held, lines, job.upload_id)
            outcome.loaded += applied.loaded
            outcome.refused.extend((line.frame, reason) for line, reason in applied.rejected)
            if applied.item is not None:
                data, marker = applied.item
                writes.append(RecordWrite(customer_id, data, lines[-1].number, {"applied": marker}))
                if self._writer is None:
                    self._unwritten[customer_id] = {"data": data, "applied": marker, "job_id": stamp.job_id,
                                                    "attempt": stamp.attempt}
            elif held is not None and held.get("job_id") == stamp.job_id and held.get("attempt") != stamp.attempt:
                writes.append(RecordWrite(customer_id, held["data"], lines[-1].number,
                                          {"applied": held["applied"]} if held.get("applied") else {}))
        if self._journal is not None and self._writer is not None:
            self._journal.keep([write.key for write in writes], stored)  # the profiles as read, before the writes
        if self._writer is not None and writes:
            for prior in self._writer.write(writes):
                outcome.count(prior, stamp)
        return outcome

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


class AudienceMembersLoad:
    """Load kind "audience_members": the window's customer ids go into this load's member set
    (idempotent batched puts, so a retried Load is harmless); the audience is untouched until
    Finalize, which counts the set. Nothing here is created or replaced in a dataset."""

    may_refuse = False

    def __init__(self, ctx: LoadContext, job: LoadJob):
        self._records, self._job = ctx.records, job

    def apply(self, window: list[frame_codec.Frame]) -> WindowOutcome:
        job = self._job
        if not job.dry_run:
            self._records.put_records(
                job.account_id, audiences.member_set(job.dataset_id, job.upload_id), audiences.MEMBER_TYPE,
                [(frame.key, frame.record.decode()) for frame in last_per_key(window)],
                job_id=job.upload_id, shards=audiences.MEMBER_SET_SHARDS)
        return WindowOutcome(loaded=len(window))

    def close(self) -> None:
        pass


def strategy(ctx: LoadContext, job: LoadJob, attempt: str, partition: int = 0) -> WindowLoad:
    """The record type's load kind's strategy for this Load. Dataset loads that write keep what each
    window replaces for a revert (logic/revert.py Journal); dry runs and audience lists keep nothing."""
    record_type = record_types.get(job.record_type)
    if record_type is None:
        raise ValueError(f"unknown record type {job.record_type!r}")  # Inspect checked it
    stamp = Stamp(job.upload_id, attempt)
    journal = None if job.dry_run else Journal(ctx.objects, job.account_id, job.upload_id, partition, attempt)
    if record_type.load == "profile_changes":
        return ProfileChangesLoad(ctx, job, stamp, journal)
    if record_type.load == audiences.AUDIENCE_MEMBERS_LOAD:
        return AudienceMembersLoad(ctx, job)
    if record_type.load != record_types.UPSERT:
        raise ValueError(f"no Load strategy for load kind {record_type.load!r}")
    return UpsertLoad(ctx, job, stamp, record_type.stored_type, journal)


def partition_frames(ctx: LoadContext, work: WorkKeys, task: PartitionTask) -> Iterator[frame_codec.Frame]:
    """The partition's frames in file order: parts/<p>/<i> for i in range order (a range with no
    record of the partition has no file)."""
    present = set(ctx.objects.list_keys(work.partition_prefix(task.partition)))
    for index in range(task.ranges):
        key = work.part(task.partition, index)
        if key in present:
            yield from frame_codec.decode_stream(ctx.objects.stream(key))


def windows(frames: Iterator[frame_codec.Frame], size: int) -> Iterator[list[frame_codec.Frame]]:
    """The frames in lists of `size` (the last one shorter); islice fills each in C, not a Python loop."""
    frames = iter(frames)
    while window := list(islice(frames, size)):
        yield window


def load_partition(ctx: LoadContext, job: LoadJob, task: PartitionTask, attempt: str) -> PartitionResult:
    """Apply one partition; writes load/<p>.json (and returns it) and errors/load-<p>.ndjson when
    the load kind refused lines. Safe to retry with a new `attempt` (Lambda's request id): the
    retry's figures are exact and overwrite the failed attempt's."""
    work = WorkKeys(job.account_id, job.upload_id)
    error_key = work.errors(f"load-{task.partition:05d}")
    rows_key = work.rows(f"load-{task.partition:05d}")
    load = strategy(ctx, job, attempt, task.partition)
    loaded = rejected = created = replaced = 0
    try:
        with ProgressReporter(ctx.jobs, job.account_id, job.upload_id) as progress, \
                ctx.objects.writer(error_key) as errors, ctx.objects.writer(rows_key) as failed_rows:
            for window in windows(partition_frames(ctx, work, task), max(1, ctx.settings.load_window_records)):
                outcome = load.apply(window)
                loaded += outcome.loaded
                created += outcome.created
                replaced += outcome.replaced
                # Windows follow each other in line order; the merge needs the file in line order too.
                for frame, reason in sorted(outcome.refused, key=lambda refused: refused[0].line):
                    errors.write(error_line(frame.line, reason, frame.raw))
                    failed_rows.write(rows.row_frame(frame.line, frame.raw))
                rejected += len(outcome.refused)
                progress.add(records_loaded=outcome.loaded)
            if not rejected:
                errors.discard()
                failed_rows.discard()
            progress.add(chunks_done=1)
    finally:
        load.close()
    if not rejected and load.may_refuse:
        ctx.objects.delete_prefix(error_key)  # a failed attempt's refusals, if it left any, are not this one's
        ctx.objects.delete_prefix(rows_key)
    result = PartitionResult(partition=task.partition, loaded=loaded, rejected=rejected,
                             created=created, replaced=replaced)
    ctx.objects.put(work.load_result(task.partition), orjson.dumps(result.state()), content_type="application/json")
    return result
