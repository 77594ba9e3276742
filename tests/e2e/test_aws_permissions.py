"""IAM on the local stack: a function's calls succeed only if its role in the template allows them.

local_stack/access_guard.py checks every call a handler (or a state machine execution) makes against
the synthesized template's policies; a refused call fails as on AWS and is recorded, and
tests/e2e/conftest.py fails any test during which one happened. These tests take a grant a real
flow needs away from the running stack (faults.RevokeGrant), as if the template lacked it, and check
both what a user sees and that the suite's check names the function, the action and the resource.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import boto3
import pytest
import requests
from botocore.exceptions import ClientError

from cli.client import put_file
from local_stack import access_guard, violations
from local_stack.iam import Statement
from local_stack.thread_context import Principal, working_for
from tests.e2e.conftest import fail_on_violations
from tests.support import faults
from tests.support.stats import line_counts

GOOD = json.dumps({"link": {"customer_id": "c-1"}, "first_name": "Ada"})
BAD = json.dumps({"first_name": "no link"})


def _suite_check_message() -> str:
    """What the end-to-end suite's own check says about the violations recorded so far (it takes them)."""
    with pytest.raises(pytest.fail.Exception) as failed:
        fail_on_violations("During this test")
    return str(failed.value)


def _upload(client, dataset, tmp_path, content: bytes, name: str = "customer_record-iam.ndjson") -> dict:
    path = tmp_path / name
    path.write_bytes(content)
    upload = client.request_upload(name, dataset["id"], "customer_record")
    put_file(upload["url"], str(path))
    return upload


def _settled(client, upload_id: str) -> dict:
    """The upload once its execution has ended (a job reads Failed while MarkFailed may still retry)."""
    upload = client.wait_for(upload_id, timeout=120, poll=0.2)
    sfn = boto3.client("stepfunctions")
    deadline = time.monotonic() + 120  # a hang guard only: the execution ends by logic
    while sfn.describe_execution(executionArn=upload["execution_arn"])["status"] == "RUNNING":
        assert time.monotonic() < deadline, f"execution of {upload_id} still running"
        time.sleep(0.2)
    return client.get_upload(upload_id)


def test_a_failed_job_keeps_the_error_log_of_the_lines_already_rejected(stack, account, client, dataset, tmp_path):
    """MarkFailed publishes the error log under results/ (it needs s3:PutObject there; without that
    grant the job stayed Processing on AWS while passing on moto)."""
    with faults.inject(faults.Crash("Finalize", account=account["name"])):
        upload = _settled(client, _upload(client, dataset, tmp_path, f"{GOOD}\n{BAD}\n".encode())["id"])
    assert upload["status"] == "Failed", upload
    # Its one partition was loaded before Finalize failed: the record is in the dataset, and counted.
    assert line_counts(upload["stats"]) == {"total": 2, "loaded": 1, "rejected": 1, "not_loaded": 0}
    logged = [json.loads(line) for line in requests.get(upload["error_log_url"], timeout=30).text.splitlines()]
    assert [entry["line"] for entry in logged] == [2]


def test_a_grant_a_flow_needs_taken_away_fails_the_flow_and_the_suite_naming_it(stack, account, client, dataset,
                                                                                  tmp_path):
    bucket = stack.info.uploads_bucket
    with faults.inject(faults.RevokeGrant("Finalize", "s3:PutObject", "/results/")) as revoked:
        upload = _settled(client, _upload(client, dataset, tmp_path, f"{GOOD}\n{BAD}\n".encode())["id"])
    assert [resources for _, resources in revoked.removed] == [(f"arn:aws:s3:::{bucket}/results/*",)]
    # On AWS, Finalize's PutObject of the error log is refused: the step fails (after its retries)
    # and MarkFailed, which may still write there, settles the job.
    assert upload["status"] == "Failed", upload
    assert upload["failure_reason"].startswith("the Finalize step failed unexpectedly"), upload["failure_reason"]
    error_log = f"arn:aws:s3:::{bucket}/results/{account['name']}/{upload['id']}/errors.ndjson"
    refused = [v for v in violations.recorded() if v.kind == violations.ACCESS_DENIED]
    assert {(v.principal, v.action, v.resource) for v in refused} == {
        (stack.deployment.functions[_logical_id(stack, "finalize")]["name"], "s3:PutObject", error_log)}
    assert len(refused) == 3  # one per attempt: the first and its two retries
    message = _suite_check_message()
    assert "functions did what AWS would refuse" in message
    assert "WorkflowFinalizeFunction" in message and f"AccessDenied s3:PutObject on {error_log}" in message


def test_a_refused_call_reaches_the_handler_as_aws_access_denied(stack):
    """The error a handler gets: botocore's ClientError with AWS's code and wording, nothing sent."""
    finalize = stack.deployment.functions[_logical_id(stack, "finalize")]
    s3 = boto3.client("s3")
    key = "uploads/acct-x/upload-x/file.ndjson"
    with working_for(Principal(finalize["name"], finalize["role_arn"], "function")):
        with pytest.raises(ClientError) as put:
            s3.put_object(Bucket=stack.info.uploads_bucket, Key=key, Body=b"x")
        with pytest.raises(ClientError) as start:
            boto3.client("stepfunctions").start_execution(stateMachineArn=stack.info.state_machine_arn, name="x")
    assert put.value.response["Error"]["Code"] == "AccessDenied"
    assert put.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    role_name = finalize["role_arn"].rsplit("/", 1)[1]
    assert put.value.response["Error"]["Message"] == (
        f"User: arn:aws:sts::123456789012:assumed-role/{role_name}/{finalize['name']} is not authorized to perform: "
        f"s3:PutObject on resource: arn:aws:s3:::{stack.info.uploads_bucket}/{key} because no identity-based "
        "policy allows the s3:PutObject action")
    assert start.value.response["Error"]["Code"] == "AccessDeniedException"
    with pytest.raises(ClientError):  # nothing was written
        s3.head_object(Bucket=stack.info.uploads_bucket, Key=key)
    assert [(v.action, v.resource.split(":")[2]) for v in violations.take()] == [
        ("s3:PutObject", "s3"), ("states:StartExecution", "states")]


def test_delete_objects_deletes_the_allowed_keys_and_reports_the_others(stack):
    finalize = stack.deployment.functions[_logical_id(stack, "finalize")]
    s3, bucket = boto3.client("s3"), stack.info.uploads_bucket
    work, upload = "work/acct-x/u-1/chunks/0000", "uploads/acct-x/u-1/file.ndjson"
    for key in (work, upload):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    with working_for(Principal(finalize["name"], finalize["role_arn"], "function")):
        answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": work}, {"Key": upload}], "Quiet": True})
    assert [(error["Key"], error["Code"]) for error in answer["Errors"]] == [(upload, "AccessDenied")]
    assert s3.list_objects_v2(Bucket=bucket, Prefix="work/acct-x/u-1/").get("KeyCount") == 0
    assert s3.head_object(Bucket=bucket, Key=upload)["ContentLength"] == 1
    assert [(v.action, v.resource) for v in violations.take()] == [
        ("s3:DeleteObject", f"arn:aws:s3:::{bucket}/{upload}")]


def test_a_missing_key_is_403_not_404_without_list_bucket(stack):
    guard = access_guard.current()
    role = "arn:aws:iam::123456789012:role/reader-without-list"
    bucket = stack.info.uploads_bucket
    read = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"}
    s3 = boto3.client("s3")
    try:
        guard.policies.roles[role] = [Statement.parse(read)]
        with working_for(Principal("Reader", role, "function")):
            with pytest.raises(ClientError) as refused:
                s3.head_object(Bucket=bucket, Key="uploads/none")
        guard.policies.roles[role] = [Statement.parse(read), Statement.parse(
            {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}"})]
        with working_for(Principal("Reader", role, "function")):
            with pytest.raises(ClientError) as missing:
                s3.head_object(Bucket=bucket, Key="uploads/none")
    finally:
        del guard.policies.roles[role]
    assert refused.value.response["Error"]["Code"] == "403"
    assert missing.value.response["Error"]["Code"] == "404"
    assert [(v.action, v.detail.split(",")[0]) for v in violations.take()] == [
        ("s3:ListBucket", "reading a missing key")]


def test_a_presigned_url_works_only_if_its_signers_role_may_do_what_it_signs(stack, account, client, dataset,
                                                                            tmp_path):
    path = tmp_path / "customer_record-presigned.ndjson"
    path.write_bytes(f"{GOOD}\n".encode())
    with faults.inject(faults.RevokeGrant("ingest.handlers.api.handler", "s3:PutObject", "/uploads/")) as revoked:
        upload = client.request_upload(path.name, dataset["id"], "customer_record")  # signing itself succeeds
        refused = requests.put(upload["url"], data=path.read_bytes(), timeout=30)
    assert len(revoked.removed) == 1
    assert refused.status_code == 403 and "<Code>AccessDenied</Code>" in refused.text
    object_key = urlsplit(upload["url"]).path.split("/", 2)[2]
    assert [(v.action, v.resource, v.detail.split(",")[0]) for v in violations.take()] == [
        ("s3:PutObject", f"arn:aws:s3:::{stack.info.uploads_bucket}/{object_key}", "presigned URL")]
    assert client.get_upload(upload["id"])["status"] == "Pending"  # nothing arrived

    # With the grant back the same URL works; altered to another key it does not (the signature covers it).
    parts = urlsplit(upload["url"])
    altered = urlunsplit(parts._replace(path=parts.path.rsplit("/", 1)[0] + "/other.ndjson"))
    assert requests.put(altered, data=b"x", timeout=30).status_code == 403
    assert requests.put(upload["url"], data=path.read_bytes(), timeout=30).status_code == 200
    assert _settled(client, upload["id"])["status"] == "Completed"


def test_an_expired_presigned_url_is_refused(stack, account, client, dataset):
    upload = client.request_upload("customer_record-late.ndjson", dataset["id"], "customer_record")
    parts = urlsplit(upload["url"])
    query = parse_qs(parts.query)
    assert query["X-Amz-Expires"] == ["3600"]
    signed_two_hours_ago = (datetime.now(UTC) - timedelta(hours=2)).strftime("%Y%m%dT%H%M%SZ")
    late = urlunsplit(parts._replace(query=urlencode({**query, "X-Amz-Date": signed_two_hours_ago}, doseq=True)))
    refused = requests.put(late, data=f"{GOOD}\n".encode(), timeout=30)
    assert refused.status_code == 403 and "<Message>Request has expired</Message>" in refused.text
    assert client.get_upload(upload["id"])["status"] == "Pending"


def test_a_state_machine_runs_as_its_role(stack, account, client, dataset, tmp_path):
    """The interpreter's calls for an execution are checked against the state machine's role: without
    lambda:InvokeFunction on Inspect the first task fails, and the Catch settles the job."""
    role = boto3.client("stepfunctions").describe_state_machine(stateMachineArn=stack.info.state_machine_arn)["roleArn"]
    inspect = stack.deployment.functions[_logical_id(stack, "inspect")]
    with faults.inject(faults.RevokeGrant(role, "lambda:InvokeFunction", inspect["name"])) as revoked:
        upload = _settled(client, _upload(client, dataset, tmp_path, f"{GOOD}\n".encode())["id"])
    assert revoked.removed, "the state machine's role did not grant invoking Inspect"
    assert upload["status"] == "Failed"
    assert upload["failure_reason"] == (
        "the workflow failed (Lambda.AccessDeniedException); upload the file again to retry")
    machine = stack.info.state_machine_arn.rsplit(":", 1)[1]
    assert {(v.principal, v.action, v.resource) for v in violations.take()} == {
        (machine, "lambda:InvokeFunction", inspect["arn"])}


def _logical_id(stack, handler_suffix: str) -> str:
    return next(logical_id for logical_id, function in stack.deployment.functions.items()
                if function["handler"] == f"ingest.handlers.workflow.{handler_suffix}")


def test_the_load_writers_wire_calls_are_checked_against_the_functions_role(stack):
    """A Load's UpdateItem calls go around botocore (adapters/dynamodb_wire.py): the guard checks them
    too. Load's role may write a record; Finalize's may not, and is refused as AWS refuses it."""
    import os

    from ingest.adapters import aws

    table = os.environ["RECORDS_TABLE"]  # the functions' environment, in this process
    request = {"TableName": table, "Key": {"pk": {"S": "acct-x#ds-x#customer_record#00"}, "sk": {"S": "k"}},
               "UpdateExpression": "SET #d = :d", "ExpressionAttributeNames": {"#d": "data"},
               "ExpressionAttributeValues": {":d": {"S": "{}"}}, "ReturnValues": "ALL_OLD"}
    wire = aws.dynamodb_wire(4)
    load, finalize = (stack.deployment.functions[_logical_id(stack, name)] for name in ("load", "finalize"))
    with working_for(Principal(load["name"], load["role_arn"], "function")):
        assert "Attributes" not in wire.call("UpdateItem", request)
    with working_for(Principal(finalize["name"], finalize["role_arn"], "function")):
        with pytest.raises(ClientError) as refused:
            wire.update_item(**{**request, "ExpressionAttributeValues": {":d": {"S": "changed"}}})
    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "is not authorized to perform: dynamodb:UpdateItem on resource: arn:aws:dynamodb:" in (
        refused.value.response["Error"]["Message"])
    assert [v.action for v in violations.take()] == ["dynamodb:UpdateItem"]
    stored = boto3.client("dynamodb").get_item(TableName=table, Key=request["Key"])["Item"]
    assert stored["data"] == {"S": "{}"}  # the refused call sent nothing
