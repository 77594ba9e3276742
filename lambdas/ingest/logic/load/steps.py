"""The load workflow's states as one object: what handlers/workflow.py calls, one method per state.

It only binds the context to the step functions of this package's modules, so the composition root
(handlers/wiring.py) makes one per function, and tests (tests/support/faults.py) can stand in for a
state through the same seam as for an adapter.
"""

from __future__ import annotations

from ingest.logic.load import decompress, failure, finalize, inspect, loading, members, scan, split
from ingest.logic.load.context import LoadContext
from ingest.models.workflow import (
    DecompressCursor,
    DecompressState,
    ExecutionInput,
    FailedState,
    JobOutcome,
    LoadJob,
    MemberGroupTask,
    PartitionResult,
    PartitionTask,
    PlannedLoad,
    RangeTask,
)


class LoadSteps:
    def __init__(self, ctx: LoadContext):
        self.ctx = ctx

    def inspect(self, execution: ExecutionInput) -> LoadJob:
        return inspect.inspect(self.ctx, execution)

    def scan_range(self, job: LoadJob, task: RangeTask) -> None:
        scan.scan_range(self.ctx, job, task)

    def plan_split(self, job: LoadJob) -> LoadJob:
        return scan.plan_split(self.ctx, job)

    def decompress(self, job: LoadJob, cursor: DecompressCursor | None = None) -> DecompressState:
        return decompress.decompress(self.ctx, job, cursor)

    def inflate_members(self, job: LoadJob, task: MemberGroupTask) -> None:
        members.inflate_group(self.ctx, job, task)

    def join_members(self, job: LoadJob) -> LoadJob:
        return members.join_members(self.ctx, job)

    def split_range(self, job: LoadJob, task: RangeTask) -> None:
        split.split_range(self.ctx, job, task)

    def plan_load(self, job: LoadJob) -> PlannedLoad:
        return split.plan_load(self.ctx, job)

    def load_partition(self, job: LoadJob, task: PartitionTask, attempt: str) -> PartitionResult:
        return loading.load_partition(self.ctx, job, task, attempt)

    def finalize(self, job: LoadJob) -> JobOutcome:
        return finalize.finalize(self.ctx, job)

    def mark_failed(self, failed: FailedState) -> JobOutcome:
        return failure.mark_failed(self.ctx, failed)
