"""The in-process Lambda adapter: fails loudly if a moto upgrade changes the seam it patches."""

from __future__ import annotations

import json

import boto3
from moto.awslambda import models as lambda_models

from local_stack import lambda_runtime


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
