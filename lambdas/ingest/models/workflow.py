"""The load workflow's typed state: what every Step Functions state takes and gives (issue 12).

One shape through every state, MarkFailed included: `$.job` is a LoadJob from Inspect to the end;
Map iterations get `{"job": LoadJob, "task": RangeTask | PartitionTask}`; results that grow with
the file (one per range, one per partition) go to S3 as small JSON objects (logic/load/layout.py),
never through the state, so an execution stays far below Step Functions' 256 KiB whatever the file.

    Inspect ─┬─ plain ─> Scan (Map over RangeTask) ─> PlanSplit ─────────────────────────┐
             ├─ gzip ──> InflateMembers (Map over MemberGroupTask) ─> JoinMembers ─┬──────┤
             │                                                  (not a chain) ─┐   │      │
             └─ gzip ──> Decompress ⟲ (DecompressState: a cursor while it goes on) <─┘   ─┴─> Split (Map over RangeTask)
       ─> PlanLoad ─┬─> Load (Map over PartitionTask) ─> Finalize
                    └─> ErrorBudgetExceeded
       every state's Catch ─> MarkFailed ({"job": LoadJob, "error": {Error, Cause}})
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ingest.models.common import Count

FileFormat = Literal["ndjson", "csv"]
Phase = Literal["Inspecting", "Splitting", "Loading", "Finalizing"]


class StateModel(BaseModel):
    """A model that travels through Step Functions: compact JSON, unknown fields refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def state(self) -> dict:
        return self.model_dump(mode="json", exclude_none=True)


class SplitTotals(StateModel):
    """What Split found, summed over every range (PlanLoad writes it on the job)."""

    total: Count  # non-blank lines (CSV: records), rejected ones included
    rejected: Count


class LoadJob(StateModel):
    """The job as the workflow carries it: set by Inspect, completed by the planning steps."""

    account_id: str
    upload_id: str
    object_key: str  # the upload as sent (uploads/<account>/<upload>/<filename>)
    dataset_id: str  # or the audience id, for an audience list's members
    record_type: str  # canonical name
    format: FileFormat
    gzip: bool
    size: int = Field(ge=1)  # bytes of the object as stored (compressed, for gzip)
    dry_run: bool = False
    max_rejected_percent: float = Field(default=100, ge=0, le=100)
    range_bytes: int = Field(ge=1)  # the size of one Split range (the last one may be shorter)
    partitions: int = Field(ge=1)  # Load's unit: records are routed by key_hash(key) % partitions
    shards: int = Field(ge=1)  # the dataset's records-table shard count (pk suffix)
    csv_header: str | None = None  # CSV: the header row as sent, for ranges that start past it
    ranges: int | None = Field(default=None, ge=0)  # set by PlanSplit (or Decompress/JoinMembers, for gzip)
    # gzip: the groups InflateMembers inflates in parallel (Inspect, when the file spans several);
    # JoinMembers clears it when they do not chain, and the sequential Decompress runs instead.
    member_groups: int | None = Field(default=None, ge=1)
    split: SplitTotals | None = None  # set by PlanLoad


class RangeTask(StateModel):
    """One Scan or Split iteration: a byte range of one plain object (the upload, or a part
    Decompress wrote), and where it sits in the file's line numbering (set by PlanSplit)."""

    index: int = Field(ge=0)
    source_key: str  # the plain object the range is in
    start: int = Field(ge=0)  # first byte of the range in source_key
    end: int = Field(ge=0)  # one past the last byte; records that start before `end` belong here
    first_line: int | None = Field(default=None, ge=1)  # 1-based line number of the byte at `start`
    starts_in_quotes: bool | None = None  # CSV: an odd number of '"' before `start` in the file
    holds_header: bool = False  # CSV: the range holding the file's first record (the header row)
    # A piece of a logical stream (a member group's output, logic/load/members.py): the range reads on
    # into the pieces after it (pieces.json) to finish its last record; byte_before is the byte before
    # the piece in the stream (None for the first piece).
    continues: bool = False
    byte_before: int | None = Field(default=None, ge=0, le=255)


class MemberGroupTask(StateModel):
    """One InflateMembers iteration: the members of a gzip upload that start in bytes [start, end)."""

    index: int = Field(ge=0)
    start: int = Field(ge=0)
    end: int = Field(ge=1)


class MemberGroupResult(StateModel):
    """InflateMembers of one group (work/.../members/<index>.json): where its members start and end in
    the compressed object (None: no member found to start in it, or one ran past the read-on) and what
    its output holds (JoinMembers plans the Split ranges from these)."""

    index: int = Field(ge=0)
    start: int | None = Field(default=None, ge=0)
    end: int | None = Field(default=None, ge=0)
    plain_bytes: Count = 0
    newlines: Count = 0
    quotes: Count = 0
    last_byte: int | None = Field(default=None, ge=0, le=255)
    text_at: int | None = Field(default=None, ge=0)  # the first byte that is not blank (the CSV header's group)


class DecompressCursor(StateModel):
    """Where a chained Decompress invocation stopped, at the end of a plain part: the next one goes on
    from here (logic/load/decompress.py). The parts so far are the first `parts` of split-manifest.json;
    the seek point to inflate on from is checkpoint `invocations` (layout.WorkKeys.inflate_checkpoint)."""

    invocations: int = Field(ge=1)  # Decompress invocations so far
    plain_offset: Count  # plain bytes written as whole parts (their sizes summed)
    parts: Count
    first_line: int = Field(ge=1)  # the line number of the next part's first byte
    header_part: int | None = Field(default=None, ge=0)  # the part where the first non-blank line starts
    plain_crc: int = Field(ge=0)  # CRC-32 of the plain bytes so far (checked against the file's trailer)


class DecompressState(StateModel):
    """Decompress's input and output: `decompress` present while the chain goes on (the Choice after it
    loops back), absent once every part is written and `job.ranges` is set."""

    job: LoadJob
    decompress: DecompressCursor | None = None


class ScanResult(StateModel):
    """Scan of one range (work/.../scan/<index>.json): what PlanSplit needs for every later range."""

    index: int = Field(ge=0)
    newlines: Count
    quotes: Count  # '"' bytes (CSV quote parity; RFC 4180 escapes a quote by doubling it)
    bytes: Count


class SplitResult(StateModel):
    """Split of one range (work/.../split/<index>.json)."""

    index: int = Field(ge=0)
    total: Count
    rejected: Count
    bytes: Count


class PartitionTask(StateModel):
    """One Load iteration: partition `partition` of every range, read in range order."""

    partition: int = Field(ge=0)
    ranges: int = Field(ge=1)


class PartitionResult(StateModel):
    """Load of one partition (work/.../load/<partition>.json); a retried Load overwrites it."""

    partition: int = Field(ge=0)
    loaded: Count  # valid lines applied (every line, also those a later line for the same key replaced)
    rejected: Count = 0  # lines the load kind refused (a profile change that does not fit the value held)
    created: Count = 0  # records that did not exist before this upload
    replaced: Count = 0  # records that existed and were overwritten


class Progress(StateModel):
    """A running job's progress, shown by GET /v1/uploads/{id} while it runs."""

    phase: Phase
    bytes_total: Count = 0
    bytes_read: Count = 0
    chunks_total: Count = 0
    chunks_done: Count = 0
    lines_read: Count = 0
    records_loaded: Count = 0


class JobStats(StateModel):
    """A finished job's figures (the job item's `stats`)."""

    total: Count
    loaded: Count
    rejected: Count
    created: Count | None = None  # records new to the dataset
    replaced: Count | None = None  # records that existed and were overwritten
    not_loaded: Count | None = None  # a failed job: valid lines it did not load


class PlannedLoad(StateModel):
    """PlanLoad's output: the Choice after it reads within_budget."""

    job: LoadJob
    within_budget: bool


class JobOutcome(StateModel):
    """The execution's output (Finalize, MarkFailed, and an error-budget failure)."""

    upload_id: str
    status: Literal["Completed", "Failed"]
    stats: JobStats | None = None
    failure_reason: str | None = None


class StepError(BaseModel):
    """A Step Functions Catch result: {Error, Cause}."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    Error: str = ""
    Cause: str | None = None


class ExecutionInput(StateModel):
    """What the upload trigger starts an execution with (the execution is named after the upload)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    account_id: str
    upload_id: str


class FailedState(BaseModel):
    """What MarkFailed gets: the state where the error was caught, plus the error. That is `{"job":
    LoadJob, ...}` from Inspect's output on, or the execution input when Inspect itself failed."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    job: LoadJob | None = None
    account_id: str | None = None
    upload_id: str | None = None
    error: StepError = StepError()

    @property
    def ids(self) -> tuple[str, str]:
        if self.job is not None:
            return self.job.account_id, self.job.upload_id
        if self.account_id is None or self.upload_id is None:
            raise ValueError("MarkFailed needs the job or the execution input's account_id and upload_id")
        return self.account_id, self.upload_id
