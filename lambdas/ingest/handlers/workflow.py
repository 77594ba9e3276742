"""Step Functions task entry points: one function per workflow state, all thin.

Each parses its event into the state's model (ingest/models/workflow.py), calls the state's step
(logic/load/steps.py, made by the composition root) and returns the result's compact state.
docs/load_workflow.md describes the states.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from ingest.errors import DatasetBusyError, FileRejectedError, StepFailedError
from ingest.handlers import wiring
from ingest.handlers.observability import logger, metrics, traced
from ingest.models.workflow import (
    DecompressState,
    ExecutionInput,
    FailedState,
    LoadJob,
    MemberGroupTask,
    PartitionTask,
    RangeTask,
)


def workflow_step(name: str) -> Callable:
    """Log the step by upload id, and turn unexpected errors into a safe, actionable message."""

    def decorate(step: Callable[[dict, Any], dict | None]) -> Callable[[dict, Any], dict | None]:
        @functools.wraps(step)
        @logger.inject_lambda_context(log_event=False)
        @traced
        @metrics.log_metrics
        def handler(event: dict, context: Any) -> dict | None:
            job = event.get("job") or event
            logger.append_keys(upload_id=job.get("upload_id"), step=name)
            try:
                return step(event, context)
            except FileRejectedError:
                logger.info("file rejected")
                raise
            except DatasetBusyError:  # the state machine retries: the upload waits for its turn
                logger.info("dataset busy with another load; waiting")
                raise
            except StepFailedError:  # already carries a safe, specific message
                logger.exception("step failed")
                raise
            except Exception as exc:
                logger.exception("step failed")
                raise StepFailedError(
                    f"the {name} step failed unexpectedly ({type(exc).__name__}); "
                    "nothing was lost: upload the file again to retry"
                ) from exc

        return handler

    return decorate


def _job(event: dict) -> LoadJob:
    return LoadJob.model_validate(event["job"])


@workflow_step("Inspect")
def inspect(event: dict, context: Any) -> dict:
    return {"job": wiring.load_steps().inspect(ExecutionInput.model_validate(event)).state()}


@workflow_step("Scan")
def scan(event: dict, context: Any) -> None:
    wiring.load_steps().scan_range(_job(event), RangeTask.model_validate(event["task"]))


@workflow_step("PlanSplit")
def plan_split(event: dict, context: Any) -> dict:
    return {"job": wiring.load_steps().plan_split(_job(event)).state()}


@workflow_step("Decompress")
def decompress(event: dict, context: Any) -> dict:
    state = DecompressState.model_validate(event)  # a cursor when the chain goes on from an earlier invocation
    return wiring.load_steps().decompress(state.job, state.decompress).state()


@workflow_step("InflateMembers")
def inflate_members(event: dict, context: Any) -> None:
    wiring.load_steps().inflate_members(_job(event), MemberGroupTask.model_validate(event["task"]))


@workflow_step("JoinMembers")
def join_members(event: dict, context: Any) -> dict:
    return {"job": wiring.load_steps().join_members(_job(event)).state()}


@workflow_step("Split")
def split(event: dict, context: Any) -> None:
    wiring.load_steps().split_range(_job(event), RangeTask.model_validate(event["task"]))


@workflow_step("PlanLoad")
def plan_load(event: dict, context: Any) -> dict:
    return wiring.load_steps().plan_load(_job(event)).state()


@workflow_step("Load")
def load(event: dict, context: Any) -> None:
    # The attempt is the invocation's request id: a retried Load writes as a new attempt, which is how
    # counting tells a key a failed attempt wrote from one this attempt wrote (docs/load_workflow.md).
    result = wiring.load_steps().load_partition(_job(event), PartitionTask.model_validate(event["task"]),
                                                attempt=context.aws_request_id)
    metrics.add_metric(name="RecordsLoaded", unit=MetricUnit.Count, value=result.loaded)
    metrics.add_metric(name="RecordsRejected", unit=MetricUnit.Count, value=result.rejected)


@workflow_step("Finalize")
def finalize(event: dict, context: Any) -> dict:
    return wiring.load_steps().finalize(_job(event)).state()


@workflow_step("MarkFailed")
def mark_failed(event: dict, context: Any) -> dict:
    metrics.add_metric(name="JobsFailed", unit=MetricUnit.Count, value=1)
    return wiring.load_steps().mark_failed(FailedState.model_validate(event)).state()
