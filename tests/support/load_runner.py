"""Runs the load workflow's steps in-process, in the state machine's order (infra/workflow.py), for
unit tests on the fakes: every Map's iterations one after another, in manifest order (or in the order
a test asks for, to show that order does not matter), and any exception caught as Step Functions'
Catch does, into MarkFailed."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import orjson
from pydantic import BaseModel

from ingest.logic.load.context import LoadContext
from ingest.logic.load.layout import WorkKeys
from ingest.logic.load.steps import LoadSteps
from ingest.models.workflow import (
    ExecutionInput,
    FailedState,
    JobOutcome,
    LoadJob,
    MemberGroupTask,
    PartitionTask,
    PlannedLoad,
    RangeTask,
    StepError,
)

Order = Callable[[Sequence], Sequence]


def manifest[Task: BaseModel](ctx: LoadContext, key: str, model: type[Task]) -> list[Task]:
    """A Distributed Map's items, as its ItemReader reads them (a JSON array in S3)."""
    return [model.model_validate(item) for item in orjson.loads(ctx.objects.read(key))]


def run_to_finalize(ctx: LoadContext, account_id: str, upload_id: str, *, attempt: str = "attempt-1",
                    order: Order = lambda tasks: tasks,
                    seen: Callable[[LoadJob], None] = lambda job: None, load: bool = True) -> PlannedLoad:
    """Every state before Finalize (before Load with load=False), with no Catch: an exception comes out
    as the step raised it. PlanLoad's answer is returned (within_budget False: the job is already Failed,
    nothing loaded); `seen` gets the job each time a step describes it further (what MarkFailed is given)."""
    steps = LoadSteps(ctx)
    work = WorkKeys(account_id, upload_id)
    job = steps.inspect(ExecutionInput(account_id=account_id, upload_id=upload_id))
    seen(job)
    if job.gzip:
        if job.member_groups:  # in parallel by member; a job whose groups do not chain goes to the chain
            for group in order(manifest(ctx, work.inflate_manifest, MemberGroupTask)):
                steps.inflate_members(job, group)
            job = steps.join_members(job)
        if job.ranges is None:
            state = steps.decompress(job)
            while state.decompress is not None:  # the chain, as the state machine loops on it
                state = steps.decompress(state.job, state.decompress)
            job = state.job
    else:
        for task in order(manifest(ctx, work.scan_manifest, RangeTask)):
            steps.scan_range(job, task)
        job = steps.plan_split(job)
    seen(job)
    for task in order(manifest(ctx, work.split_manifest, RangeTask)):
        steps.split_range(job, task)
    planned = steps.plan_load(job)
    seen(planned.job)
    if planned.within_budget and load:
        for partition in order(manifest(ctx, work.load_manifest, PartitionTask)):
            steps.load_partition(planned.job, partition, attempt)
    return planned


def run_upload(ctx: LoadContext, account_id: str, upload_id: str, *, attempt: str = "attempt-1",
               order: Order = lambda tasks: tasks) -> JobOutcome:
    steps = LoadSteps(ctx)
    described: list[LoadJob] = []
    try:
        planned = run_to_finalize(ctx, account_id, upload_id, attempt=attempt, order=order, seen=described.append)
        if not planned.within_budget:  # settled as Failed by PlanLoad: the state machine stops here
            item = ctx.jobs.get(account_id, upload_id)
            return JobOutcome(upload_id=upload_id, status=item["status"], failure_reason=item.get("failure_reason"))
        return steps.finalize(planned.job)
    except Exception as exc:  # noqa: BLE001 (every state's Catch is States.ALL)
        error = StepError(Error=type(exc).__name__, Cause=orjson.dumps({"errorMessage": str(exc)}).decode())
        job = described[-1] if described else None
        return steps.mark_failed(FailedState(job=job, account_id=account_id, upload_id=upload_id, error=error))
