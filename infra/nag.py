"""cdk-nag: the AwsSolutions checks over the whole app, and the findings we accept, each with its reason.

cdk-nag 3 is a CDK validation plugin: synthesis writes every finding that is not acknowledged into
`validation-report.json` in the cloud assembly and prints it. `tests/infra/test_nag.py` fails on any.
An acknowledgement sits on the construct it concerns (cdk-nag also looks at its ancestors) and is
copied into that resource's template Metadata (`cdk_nag.rules_to_suppress`), so the template
carries its own audit trail. Wildcard findings (IAM4, IAM5) are acknowledged one by one, as
`AwsSolutions-IAM5[<finding>]`: a new wildcard is still reported.

Acknowledgements for constructs in infra/api.py and infra/auth.py live here (`acknowledge_api_findings`);
each other construct file acknowledges its own findings.
"""

from __future__ import annotations

from collections.abc import Iterable

from aws_cdk import Acknowledgment, App, CfnResource, Stack, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

PACK = "AwsSolutions"
# Print the report and write it into the assembly, without raising in the middle of synthesis: the
# test is the gate, and it can then list every finding (see the decision log).
APP_MODE_CONTEXT = "@aws-cdk/core:appMode"
LAMBDA_BASIC_EXECUTION_POLICY = "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"

# What CDK's bucket grant helpers write, as cdk-nag names the wildcards in them.
S3_READ_WILDCARDS = ("Action::s3:GetObject*", "Action::s3:GetBucket*", "Action::s3:List*")
S3_PUT_WILDCARDS = ("Action::s3:Abort*",)
S3_DELETE_WILDCARDS = ("Action::s3:DeleteObject*",)


def attach_checks(app: App) -> None:
    """Run the AwsSolutions pack over everything in `app` at synthesis. Call before adding stacks."""
    app.node.set_context(APP_MODE_CONTEXT, "process")
    Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True, write_suppressions_to_cloud_formation=True))


def acknowledge(construct: IConstruct, rule: str, reason: str, findings: Iterable[str] = ()) -> None:
    """Accept `rule` (e.g. "SF1") on `construct` and its children; with `findings`, only those."""
    findings = list(findings)
    ids = [f"{PACK}-{rule}[{finding}]" for finding in findings] if findings else [f"{PACK}-{rule}"]
    for rule_id in ids:
        Validations.of(construct).acknowledge(Acknowledgment(id=rule_id, reason=reason))


def arn_of(construct: IConstruct) -> str:
    """How cdk-nag writes the `Fn::GetAtt Arn` of an L2 construct's resource: `<LogicalId.Arn>`."""
    return f"<{logical_id(construct)}.Arn>"


def role_of(function: lambda_.Function) -> iam.IRole:
    """The function's execution role: CDK makes one for every function we declare (none is passed in)."""
    assert function.role is not None, function.node.path
    return function.role


def logical_id(construct: IConstruct) -> str:
    resource = construct.node.default_child
    assert isinstance(resource, CfnResource), construct.node.path
    return Stack.of(construct).resolve(resource.logical_id)


def acknowledge_lambda_basics(function: lambda_.Function) -> None:
    """What every function has: Python 3.13 (not the newest runtime), and on its role the basic
    execution managed policy and X-Ray on "*"."""
    acknowledge(
        function, "L1",
        "Python 3.13 on purpose, not the newest Lambda runtime: it is the Python the whole test suite runs "
        "on (the Makefile makes the venv with 3.13; tests/infra/test_python_version.py holds the two equal), "
        "so what is tested is what runs. Move both together when the machines have the newer Python.",
    )
    acknowledge(
        role_of(function), "IAM4",
        "AWSLambdaBasicExecutionRole only lets the function create log streams and put log events; "
        "tests/infra/test_template.py holds it as the one managed policy on every function role.",
        [LAMBDA_BASIC_EXECUTION_POLICY],
    )
    acknowledge(
        role_of(function), "IAM5",
        "Active tracing: X-Ray's PutTraceSegments/PutTelemetryRecords have no resource-level permissions. "
        "test_no_wildcard_grants_anywhere fails if any other action is granted on Resource *.",
        ["Resource::*"],
    )


def acknowledge_bucket_grants(function: lambda_.Function, bucket: s3.IBucket, *, read: Iterable[str] = (),
                              put: Iterable[str] = (), delete: Iterable[str] = ()) -> None:
    """The wildcards of bucket.grant_read/grant_put/grant_delete on key prefixes (e.g. "work/")."""
    read, put, delete = list(read), list(put), list(delete)
    actions = [*(S3_READ_WILDCARDS if read else ()), *(S3_PUT_WILDCARDS if put else ()),
               *(S3_DELETE_WILDCARDS if delete else ())]
    prefixes = sorted({*read, *put, *delete})
    acknowledge(
        role_of(function), "IAM5",
        "CDK's bucket grant helpers: object actions (GetObject*, PutObject*, Abort*, DeleteObject*, List*) "
        f"limited to the key prefixes this function works on ({', '.join(prefixes)}); keys under them are "
        "per account and per upload, so they cannot be listed in advance.",
        [*actions, *(f"Resource::{arn_of(bucket)}/{prefix}*" for prefix in prefixes)],
    )


def acknowledge_api_findings(api, bucket: s3.IBucket) -> None:
    """infra/api.py and infra/auth.py: the REST API, its stage and methods, the API function's grants."""
    rest_api = api.rest_api
    acknowledge(
        rest_api.node.default_child, "APIG2",
        "Bodies are validated by the API function (typed models), which answers a precise 400 naming the "
        "field; a gateway model would duplicate those rules and answer a vaguer error.",
    )
    acknowledge(
        rest_api.root, "COG4",  # the root resource holds every route's methods
        "Every method uses the Lambda REQUEST authorizer (Auth-Api-Token, stored as SHA-256): callers are "
        "machine clients with service-issued API tokens, not Cognito users; APIG4 still checks authorization.",
    )
    stage = rest_api.deployment_stage
    acknowledge(
        stage, "APIG3",
        "No WAF web ACL yet: per-token usage-plan throttling and per-account IP allow-lists guard the API, "
        "and the local stack (moto) cannot run WAF, so a web ACL would be untested here.",
    )
    acknowledge(
        stage, "APIG6",
        "Execution logging is off on purpose: at INFO it can log request data. The stage has JSON access "
        "logs (ids, status, latency; no bodies or headers) and CloudWatch metrics instead.",
    )
    cloud_watch_role = rest_api.node.try_find_child("CloudWatchRole")
    if cloud_watch_role is not None:
        acknowledge(
            cloud_watch_role, "IAM4",
            "API Gateway's account-level role for writing access logs; AmazonAPIGatewayPushToCloudWatchLogs "
            "is the policy AWS documents for it and it grants only CloudWatch Logs actions.",
            ["Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"],
        )
    from infra.storage import RESULTS_PREFIX, UPLOADS_PREFIX  # here: storage.py imports this module

    # Presigned URLs carry the API function's permissions: PUT of uploads, GET of error logs, failed rows
    # and unprocessed rows (these live next to the upload).
    acknowledge_bucket_grants(api.function, bucket, put=[UPLOADS_PREFIX], read=[RESULTS_PREFIX, UPLOADS_PREFIX])
    token_keys_policy = api.node.try_find_child("TokenApiKeysPolicy")
    if token_keys_policy is not None:
        acknowledge(
            token_keys_policy, "IAM5",
            "Revoking a token deletes its API key, whose id API Gateway generates at mint time; DELETE only, "
            "on API keys only (not usage plans, stages or APIs).",
            ["Resource::arn:<AWS::Partition>:apigateway:<AWS::Region>::/apikeys/*"],
        )


def acknowledge_state_machine(state_machine, functions: Iterable[lambda_.IFunction]) -> None:
    """What every state machine of ours has: ERROR-only logging, X-Ray, and Lambda tasks."""
    acknowledge(
        state_machine, "SF1",
        "Logs ERROR events only, without execution data, on purpose: state inputs and outputs can hold "
        "record-derived values (tests/infra/test_template.py holds IncludeExecutionData off).",
    )
    acknowledge(
        state_machine.role, "IAM5",
        "X-Ray tracing and CloudWatch Logs delivery actions, which have no resource-level permissions; "
        "test_no_wildcard_grants_anywhere fails if any other action is granted on Resource *.",
        ["Resource::*"],
    )
    acknowledge(
        state_machine.role, "IAM5",
        "LambdaInvoke tasks may invoke each named task function and its versions (`<function arn>:*`), "
        "no other function.",
        [f"Resource::{arn_of(function)}:*" for function in functions],
    )
