"""Lambda's and Step Functions' limits on the local stack, end to end, read from the template.

No outcome here depends on the machine's speed: a timeout is reached by moving the hanging
invocation's clock past the function's timeout (faults.Timeout), a full /tmp by counting bytes
(faults.FullDisk), sizes by padding results (faults.Pad).
"""

from __future__ import annotations

import gzip
import json
import time

import boto3
import pytest
import requests
from botocore.exceptions import ClientError

from cli.client import put_file
from infra.retries import TIMEOUT_RETRY
from local_stack import access_guard
from local_stack.iam import Statement
from local_stack.limits import LAMBDA_PAYLOAD_BYTES, STATE_PAYLOAD_BYTES
from tests.support import faults

GOOD = [json.dumps({"link": {"customer_id": f"c-{i}"}, "first_name": "Ada"}) for i in range(60)]


def _function(stack, template, handler: str) -> tuple[dict, dict]:
    """(the deployed function, its template properties) of a handler."""
    logical_id, function = next((lid, f) for lid, f in stack.deployment.functions.items() if f["handler"] == handler)
    return function, template["Resources"][logical_id]["Properties"]


def _upload(client, dataset, tmp_path, content: bytes, filename: str = "customer_record-limits.ndjson") -> dict:
    path = tmp_path / filename
    path.write_bytes(content)
    upload = client.request_upload(path.name, dataset["id"], "customer_record")
    put_file(upload["url"], str(path))
    return upload


def _execution_ended(upload_or_arn) -> dict:
    """describe_execution once it has ended (the wait is a hang guard: the end comes by logic)."""
    sfn = boto3.client("stepfunctions")
    arn = upload_or_arn if isinstance(upload_or_arn, str) else upload_or_arn["execution_arn"]
    deadline = time.monotonic() + 120
    while (execution := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline, f"{arn} still running"
        time.sleep(0.2)
    return execution


def _task_failures(execution_arn: str) -> list[dict]:
    events = boto3.client("stepfunctions").get_execution_history(executionArn=execution_arn)["events"]
    return [event["taskFailedEventDetails"] for event in events if "taskFailedEventDetails" in event]


# -- timeout ---------------------------------------------------------------------------------------------
def test_a_step_past_its_timeout_is_stopped_and_the_workflow_sees_sandbox_timedout(stack, template, account,
                                                                                     client, dataset, tmp_path):
    _, inspect = _function(stack, template, "ingest.handlers.workflow.inspect")
    with faults.inject(faults.Timeout("Inspect", account=account["name"]), faults.Invocations()) as (hang, seen):
        upload = client.wait_for(_upload(client, dataset, tmp_path, "\n".join(GOOD).encode())["id"], timeout=120)
        execution = _execution_ended(upload)
    assert upload["status"] == "Failed"
    assert upload["failure_reason"].startswith("a processing step ran out of time (Sandbox.Timedout); split the file")
    # Inspect is idempotent, so a timeout gets one more try (infra/retries.py); this one hangs every time.
    failures = _task_failures(upload["execution_arn"])
    assert len(failures) == 1 + TIMEOUT_RETRY["max_attempts"]
    for failure in failures:
        assert failure["error"] == "Sandbox.Timedout"
        assert json.loads(failure["cause"])["errorMessage"].endswith(
            f"Task timed out after {inspect['Timeout']:.2f} seconds")
    assert (execution["status"], execution.get("error")) == ("FAILED", "JobFailed")
    assert hang.stopped == len(failures) and hang.resumed == 0, "the timed-out handler was not stopped"
    assert len(seen.of("MarkFailed", upload["id"])) == 1
    assert "loading_job" not in json.dumps(client.get_dataset(dataset["id"]))


def test_a_synchronous_invoke_past_its_timeout_answers_sandbox_timedout(stack, template):
    authorizer, properties = _function(stack, template, "ingest.handlers.authorizer.handler")
    with faults.inject(faults.Timeout("ingest.handlers.authorizer.handler", times=1)) as hang:
        answer = boto3.client("lambda").invoke(FunctionName=authorizer["name"], Payload=b"{}")
    payload = json.loads(answer["Payload"].read())
    assert "FunctionError" in answer
    assert payload["errorType"] == "Sandbox.Timedout"
    assert payload["errorMessage"].endswith(f"Error: Task timed out after {properties['Timeout']:.2f} seconds")
    assert hang.fired == 1


# -- ephemeral storage -------------------------------------------------------------------------------------
def test_no_workflow_step_needs_tmp(stack, template, account, client, dataset, tmp_path):
    """Every step streams (issue 12): with /tmp full in every workflow function (0 bytes free, which the
    local Lambda runtime enforces per invocation as ENOSPC), plain and gzip uploads still load."""
    content = "\n".join(GOOD).encode() + b"\n"
    steps = ("Inspect", "Scan", "PlanSplit", "Decompress", "InflateMembers", "JoinMembers", "Split", "PlanLoad",
             "Load", "Finalize", "MarkFailed")
    with faults.inject(*(faults.FullDisk(step, free_bytes=0, account=account["name"]) for step in steps)):
        plain = client.wait_for(_upload(client, dataset, tmp_path, content)["id"], timeout=120)
        packed = client.wait_for(_upload(client, dataset, tmp_path, gzip.compress(content), "tmp.ndjson.gz")["id"],
                                 timeout=120)
    for upload in (plain, packed):
        assert upload["status"] == "Completed", upload.get("failure_reason")
        assert upload["stats"]["loaded"] == len(GOOD)


# -- payload sizes -----------------------------------------------------------------------------------------
def test_a_response_over_6_mb_is_a_function_error_and_the_api_answers_502(stack, account):
    headers = {"Auth-Api-Token": account["token"]}
    with faults.inject(faults.Pad("ingest.handlers.api.handler", extra_bytes=1000, times=1)):
        assert requests.get(stack.info.api_url + "/v1/account", headers=headers, timeout=30).status_code == 200
    with faults.inject(faults.Pad("ingest.handlers.api.handler", extra_bytes=LAMBDA_PAYLOAD_BYTES, times=1)):
        refused = requests.get(stack.info.api_url + "/v1/account", headers=headers, timeout=30)
    assert refused.status_code == 502 and refused.json() == {"message": "Internal server error"}


def test_a_request_over_6_mb_is_refused_before_the_function_runs(stack):
    trigger = next(f for f in stack.deployment.functions.values() if f["handler"].endswith("upload_trigger.handler"))
    payload = json.dumps({"Records": [], "padding": "x" * LAMBDA_PAYLOAD_BYTES}).encode()
    with faults.inject(faults.Invocations()) as seen:
        with pytest.raises(ClientError) as refused:
            boto3.client("lambda").invoke(FunctionName=trigger["name"], Payload=payload)
    assert refused.value.response["Error"]["Code"] == "RequestEntityTooLargeException"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert seen.calls == []


def test_a_state_output_over_256_kib_fails_the_execution_past_its_catch(stack, account, client, dataset, tmp_path):
    """PlanSplit's result padded past Step Functions' state size: States.DataLimitExceeded, which its
    `States.ALL` Catch does not catch on AWS - MarkFailed never runs and the execution fails."""
    with faults.inject(faults.Pad("PlanSplit", extra_bytes=STATE_PAYLOAD_BYTES, account=account["name"]),
                       faults.Invocations()) as (_, seen):
        upload = _upload(client, dataset, tmp_path, "\n".join(GOOD).encode())
        execution = _execution_ended(_execution_arn(client, upload["id"]))
    assert execution["status"] == "FAILED"
    assert execution["error"] == "States.DataLimitExceeded"
    assert seen.of("MarkFailed", upload["id"]) == []
    # As on AWS, the job is left as PlanSplit left it: the workflow has no path for a terminal error.
    assert client.get_upload(upload["id"])["status"] == "Processing"


def _execution_arn(client, upload_id: str) -> str:
    deadline = time.monotonic() + 120
    while not (arn := client.get_upload(upload_id).get("execution_arn")):
        assert time.monotonic() < deadline, f"upload {upload_id} never started"
        time.sleep(0.2)
    return arn


@pytest.mark.parametrize("catches, expected", [(["States.ALL"], "FAILED"), (["States.DataLimitExceeded"], "SUCCEEDED")])
def test_only_a_catch_naming_data_limit_exceeded_catches_it(stack, catches, expected):
    """A task whose result is over 256 KiB (the trigger function's, padded): a States.ALL Catch lets the
    execution fail; a Catch naming States.DataLimitExceeded takes it."""
    trigger = next(f for f in stack.deployment.functions.values() if f["handler"].endswith("upload_trigger.handler"))
    role = "arn:aws:iam::123456789012:role/limits-test"
    definition = {"StartAt": "Big", "States": {
        "Big": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": trigger["arn"], "Payload": {"Records": []}},
                "Catch": [{"ErrorEquals": catches, "Next": "Caught"}], "End": True},
        "Caught": {"Type": "Pass", "End": True}}}
    sfn, guard = boto3.client("stepfunctions"), access_guard.current()
    machine = sfn.create_state_machine(name="limits-" + "-".join(c.replace(".", "") for c in catches),
                                       definition=json.dumps(definition), roleArn=role)["stateMachineArn"]
    guard.policies.roles[role] = [Statement.parse({"Effect": "Allow", "Action": "lambda:InvokeFunction",
                                                   "Resource": trigger["arn"]})]
    try:
        with faults.inject(faults.Pad("UploadTrigger", extra_bytes=STATE_PAYLOAD_BYTES)) as padded:
            execution = _execution_ended(sfn.start_execution(stateMachineArn=machine)["executionArn"])
    finally:
        del guard.policies.roles[role]
        sfn.delete_state_machine(stateMachineArn=machine)
    assert padded.fired == 1
    assert execution["status"] == expected
    if expected == "FAILED":
        assert execution["error"] == "States.DataLimitExceeded"
