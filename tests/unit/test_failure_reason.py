"""failure_reason: what a failed job tells its user, for every error a step can end with.

The error names are those Step Functions reports for a Lambda task (lambda:invoke); infra/retries.py
decides which of them are retried first (tests/infra/test_retries.py).
"""

from __future__ import annotations

import json

import pytest

from ingest.logic.load import failure as pipeline
from ingest.logic.load.failure import failure_reason

# AWS's names for Lambda's transient service errors (a Lambda task reports them after its retries).
LAMBDA_SERVICE_ERRORS = ["Lambda.ClientExecutionTimeoutException", "Lambda.ServiceException",
                         "Lambda.AWSLambdaException", "Lambda.SdkClientException", "Lambda.TooManyRequestsException"]


def caught(name: str, message: str | None = None, error_type: str | None = None) -> dict:
    """A Catch result as Step Functions writes it: Cause is the function's error JSON."""
    cause = {} if message is None else {"errorMessage": message, "errorType": error_type or name}
    return {"Error": name, "Cause": json.dumps(cause)}


def test_a_rejected_file_says_why_in_its_own_words():
    assert failure_reason(caught("FileRejectedError", "the uploaded file is empty (0 bytes)")) == (
        "the uploaded file is empty (0 bytes)")


def test_a_step_failure_passes_its_safe_message_through():
    assert failure_reason(caught("StepFailedError", "the Load step failed unexpectedly (KeyError)")) == (
        "the Load step failed unexpectedly (KeyError)")


def test_a_file_rejection_without_a_message_is_generic():
    assert failure_reason({"Error": "FileRejectedError", "Cause": "{}"}) == (
        "processing failed unexpectedly (FileRejectedError); upload the file again to retry")


def test_a_timed_out_step_asks_for_smaller_files():
    # Sandbox.Timedout: what a Lambda task reports when the function reaches its timeout.
    timed_out = caught("Sandbox.Timedout", "2026-11-30T10:00:00Z abc Task timed out after 900.00 seconds")
    assert failure_reason(timed_out) == (
        "a processing step ran out of time (Sandbox.Timedout); split the file into smaller files and upload those")
    assert failure_reason({"Error": "States.Timeout", "Cause": ""}) == (
        "a processing step ran out of time (States.Timeout); split the file into smaller files and upload those")


def test_a_step_that_died_without_an_answer_suggests_memory_and_smaller_files():
    # Lambda.Unknown: an unhandled end of the function, e.g. out of memory; never retried.
    assert failure_reason(caught("Lambda.Unknown", "Runtime exited with error: signal: killed")) == (
        "a processing step stopped without an answer, most likely out of memory (Lambda.Unknown); "
        "split the file into smaller files and upload those")


@pytest.mark.parametrize("name", LAMBDA_SERVICE_ERRORS)
def test_lambda_service_errors_say_nothing_was_lost_and_to_try_again_later(name):
    assert failure_reason(caught(name, "Rate Exceeded.")) == (
        f"AWS Lambda could not run a processing step ({name}), also after retries; nothing was lost: "
        "upload the file again in a few minutes")


def test_the_five_lambda_service_errors_are_the_ones_aws_names():
    assert pipeline.LAMBDA_SERVICE_ERRORS == set(LAMBDA_SERVICE_ERRORS)


def test_a_failed_chunk_map_says_which_step_and_what_to_do():
    assert failure_reason({"Error": "States.ExceedToleratedFailureThreshold", "Cause": "x"}) == (
        "a step failed on some ranges or partitions of the file, also after retries; upload the file again, "
        "and if it fails the same way, split the file into smaller files and upload those")


def test_an_oversized_state_asks_for_smaller_files():
    assert failure_reason({"Error": "States.DataLimitExceeded", "Cause": "x"}) == (
        "the job outgrew Step Functions' 256 KiB state limit (States.DataLimitExceeded); "
        "split the file into smaller files and upload those")


def test_other_workflow_errors_are_named_and_retryable():
    assert failure_reason({"Error": "States.TaskFailed", "Cause": "not json"}) == (
        "the workflow failed (States.TaskFailed); upload the file again to retry")
    assert failure_reason({"Error": "Lambda.InvalidRequestContentException"}) == (
        "the workflow failed (Lambda.InvalidRequestContentException); upload the file again to retry")


def test_a_dataset_busy_for_too_long_says_to_wait_for_the_other_load():
    reason = failure_reason(caught("DatasetBusyError", "dataset ds-1 is busy loading upload 01J"))
    assert reason == ("gave up waiting for its turn: dataset ds-1 is busy loading upload 01J; "
                      "upload the file again when that load has finished")


def test_unexpected_errors_are_named_by_type_never_by_message():
    reason = failure_reason(caught("KeyError", "secret internal detail at /var/task/x.py"))
    assert reason == "processing failed unexpectedly (KeyError); upload the file again to retry"
    assert failure_reason({}) == "processing failed unexpectedly (unknown error); upload the file again to retry"
    for name in ("Sandbox.Timedout", "Lambda.Unknown", "Lambda.ServiceException", "States.TaskFailed"):
        assert "secret" not in failure_reason(caught(name, "secret internal detail")), name


def test_a_clear_job_gets_advice_for_a_clear():
    from ingest.logic.load.failure import CLEAR_REMEDY

    assert failure_reason(caught("Sandbox.Timedout", "Task timed out"), CLEAR_REMEDY) == (
        "a processing step ran out of time (Sandbox.Timedout); request the clear again: records already "
        "removed stay removed, so it goes on where this one stopped")
    assert failure_reason(caught("Lambda.TooManyRequestsException", "Rate Exceeded."), CLEAR_REMEDY) == (
        "AWS Lambda could not run a processing step (Lambda.TooManyRequestsException), also after retries; "
        "nothing was lost: request the clear again in a few minutes")
    assert failure_reason(caught("ClientError", "detail"), CLEAR_REMEDY) == (
        "processing failed unexpectedly (ClientError); request the clear again to retry")
    for name in ("Sandbox.Timedout", "Lambda.Unknown", "Lambda.ServiceException", "ClientError"):
        assert "file" not in failure_reason(caught(name, "x"), CLEAR_REMEDY), name
