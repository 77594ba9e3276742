"""The local stack's seams into moto and botocore: these fail loudly if an upgrade moves one."""

from __future__ import annotations

import inspect
import json

import boto3
from botocore.client import BaseClient
from botocore.signers import RequestSigner
from moto.awslambda import models as lambda_models
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.stepfunctions.parser.asl.component.common.error_name.error_equals_decl import ErrorEqualsDecl
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

from local_stack import lambda_runtime
from local_stack.moto_server import MotoServer


def test_moto_routes_lambda_invocations_to_our_patch(stack):
    assert lambda_models.LambdaFunction._invoke_lambda is lambda_runtime._patched_invoke_lambda


def test_invoke_api_runs_the_handler_in_process(stack, account):
    authorizer = next(f for f in stack.deployment.functions.values() if f["handler"].endswith("authorizer.handler"))
    lam = boto3.client("lambda")
    event = {"type": "REQUEST", "methodArn": "arn:aws:execute-api:us-east-1:1:api/prod/GET/v1/uploads",
             "headers": {"Auth-Api-Token": account["token"]}}
    allowed = lam.invoke(FunctionName=authorizer["name"], Payload=json.dumps(event))
    policy = json.loads(allowed["Payload"].read())
    assert "FunctionError" not in allowed
    assert policy["context"]["account_id"] == account["name"]
    assert policy["policyDocument"]["Statement"][0]["Resource"] == "arn:aws:execute-api:us-east-1:1:api/prod/*"

    event["headers"]["Auth-Api-Token"] = "ing_wrong"
    refused = lam.invoke(FunctionName=authorizer["name"], Payload=json.dumps(event))
    assert refused["FunctionError"] == "Handled"
    assert json.loads(refused["Payload"].read())["errorMessage"] == "Unauthorized"


def test_botocore_still_calls_the_hooks_the_access_guard_wraps(stack):
    """access_guard.py wraps BaseClient._emit_api_params (final parameters), BaseClient._make_request
    (answers a refused call) and RequestSigner.generate_presigned_url."""
    for hooked in (BaseClient._emit_api_params, BaseClient._make_request, RequestSigner.generate_presigned_url):
        assert hooked.__module__ == "local_stack.access_guard", hooked
    source = inspect.getsource(BaseClient._make_api_call)
    assert "self._emit_api_params(" in source and "self._make_request(" in source
    assert "request_signer.generate_presigned_url(" in inspect.getsource(
        __import__("botocore.signers", fromlist=["generate_presigned_url"]).generate_presigned_url)


def test_moto_still_has_the_seams_the_local_stack_replaces(stack):
    assert isinstance(stack._moto, MotoServer)
    # moto_server.py serves moto's own dispatcher and backend apps, as ThreadedMotoServer does.
    assert "DomainDispatcherApplication(create_backend_app)" in inspect.getsource(ThreadedMotoServer._server_entry)
    assert ExecutionWorker._execution_logic.__module__ == "local_stack.stepfunctions"
    assert ErrorEqualsDecl._eval_body.__module__ == "local_stack.stepfunctions"
