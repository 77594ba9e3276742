"""What the state machines retry, in one place (docs/decision_log.md, 2026-11-30, says why).

Error names are exactly those AWS uses for a Lambda task (the lambda:invoke integration); the
handlers' failure_reason (lambdas/ingest/logic/load/failure.py) turns the same names into messages.
"""

from __future__ import annotations

from typing import TypedDict

from aws_cdk import Duration
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks


class RetryPolicy(TypedDict):
    interval_seconds: int
    backoff_rate: int
    max_attempts: int


class SettleRetryPolicy(RetryPolicy):
    errors: list[str]


# Lambda's transient service errors (AWS's "Handle transient Lambda service exceptions"): the function
# did not run, or its answer was lost on the way. Every task retries them, with jitter so the chunks
# of a throttled Distributed Map do not come back together: up to 2, 4, 8, 16, 32, 64 s, six retries
# (the numbers CDK's own service-exception retrier uses).
LAMBDA_SERVICE_ERRORS = [
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
]
SERVICE_RETRY: RetryPolicy = {"interval_seconds": 2, "backoff_rate": 2, "max_attempts": 6}
# Our own: a step's unexpected error, wrapped (handlers/workflow.py); often a transient AWS error that
# outlasted boto3's own retries. Two more tries, 2 s then 4 s.
STEP_FAILED_ERROR = "StepFailedError"
STEP_FAILED_RETRY: RetryPolicy = {"interval_seconds": 2, "backoff_rate": 2, "max_attempts": 2}
# The function reached its timeout. Not retried by default (not States.Timeout: no task sets a
# TimeoutSeconds). One retry only where a timeout can be passing (throttled writes, a slow S3) and a
# retry is safe and cheap: see TIMEOUT_RETRIED below.
LAMBDA_TIMEOUT = "Sandbox.Timedout"
TIMEOUT_RETRY: RetryPolicy = {"interval_seconds": 5, "backoff_rate": 1, "max_attempts": 1}
# Lambda.Unknown (out of memory, a runtime crash) is never retried: the same input fails the same way.
LAMBDA_UNKNOWN = "Lambda.Unknown"
# A step that settles a failed job is the last word on it: it retries anything, three times.
SETTLE_FAILED_RETRY: SettleRetryPolicy = {
    "errors": [sfn.Errors.ALL], "interval_seconds": 2, "backoff_rate": 2, "max_attempts": 3,
}


def lambda_task(scope, state_name: str, function, *, step_failed: bool = True, timeout: bool = False,
                settles_failure: bool = False) -> tasks.LambdaInvoke:
    """A Lambda task with our retriers, in the order Step Functions tries them (first match wins).

    step_failed: retry StepFailedError (the function wraps its unexpected errors so);
    timeout: retry Sandbox.Timedout once (the step is idempotent and a second try is cheap);
    settles_failure: the step that marks a job Failed, which retries every error.
    """
    # CDK's own service-exception retrier lacks TooManyRequests; ours lists all five, once.
    task = tasks.LambdaInvoke(scope, state_name, lambda_function=function, output_path="$.Payload",
                              retry_on_service_exceptions=False)
    task.add_retry(errors=LAMBDA_SERVICE_ERRORS, interval=Duration.seconds(SERVICE_RETRY["interval_seconds"]),
                   backoff_rate=SERVICE_RETRY["backoff_rate"], max_attempts=SERVICE_RETRY["max_attempts"],
                   jitter_strategy=sfn.JitterType.FULL)
    if step_failed:
        task.add_retry(errors=[STEP_FAILED_ERROR], interval=Duration.seconds(STEP_FAILED_RETRY["interval_seconds"]),
                       backoff_rate=STEP_FAILED_RETRY["backoff_rate"], max_attempts=STEP_FAILED_RETRY["max_attempts"])
    if timeout:
        task.add_retry(errors=[LAMBDA_TIMEOUT], interval=Duration.seconds(TIMEOUT_RETRY["interval_seconds"]),
                       backoff_rate=TIMEOUT_RETRY["backoff_rate"], max_attempts=TIMEOUT_RETRY["max_attempts"])
    if settles_failure:
        task.add_retry(errors=SETTLE_FAILED_RETRY["errors"],
                       interval=Duration.seconds(SETTLE_FAILED_RETRY["interval_seconds"]),
                       backoff_rate=SETTLE_FAILED_RETRY["backoff_rate"],
                       max_attempts=SETTLE_FAILED_RETRY["max_attempts"])
    return task


# Loads and reverts into one dataset run one at a time: the step that takes the dataset's hold (Inspect,
# PlanRevert) raises DatasetBusyError while another job holds it, and is retried - 1 s, growing 1.5x to
# at most 20 s between tries, with full jitter so queued jobs do not wake together - for about two
# hours before the job fails saying why.
DATASET_BUSY_ERROR = "DatasetBusyError"
DATASET_BUSY_RETRY = {"interval_seconds": 1, "backoff_rate": 1.5, "max_delay_seconds": 20, "max_attempts": 400}


def wait_for_the_dataset(task: tasks.LambdaInvoke) -> tasks.LambdaInvoke:
    """Make the task retry DatasetBusyError (above) until the dataset's hold is free."""
    task.add_retry(
        errors=[DATASET_BUSY_ERROR],
        interval=Duration.seconds(DATASET_BUSY_RETRY["interval_seconds"]),
        backoff_rate=DATASET_BUSY_RETRY["backoff_rate"],
        max_delay=Duration.seconds(DATASET_BUSY_RETRY["max_delay_seconds"]),
        jitter_strategy=sfn.JitterType.FULL,
        max_attempts=DATASET_BUSY_RETRY["max_attempts"],
    )
    return task
