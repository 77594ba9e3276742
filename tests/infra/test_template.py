"""Assertions over the synthesized CloudFormation template (session fixtures `template`, `template_path`).

Resources are found by what they are wired to (handler paths, environment variables, stack outputs),
never by CDK's hashed logical ids, so a rename does not break the tests but a regression does.
"""

from __future__ import annotations

import ast
import json
import os
import re
from functools import partial
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from aws_cdk.assertions import Match, Template

ROOT = Path(__file__).resolve().parents[2]
LAMBDA_SOURCE = ROOT / "lambdas"

# The token and the source IP: the authorizer's decision depends on both (the account's IP allow-list).
TOKEN_HEADER_SOURCE = "method.request.header.Auth-Api-Token,context.identity.sourceIp"
MAX_AUTHORIZER_TTL = 300
MAX_MAP_CONCURRENCY = 100
MIN_PYTHON_MINOR = 13

# Every function this service declares, by handler path.
HANDLERS = {
    "api": "ingest.handlers.api.handler",
    "authorizer": "ingest.handlers.authorizer.handler",
    "import_authorizer": "ingest.handlers.import_authorizer.handler",
    "trigger": "ingest.handlers.upload_trigger.handler",
    "inspect": "ingest.handlers.workflow.inspect",
    "scan": "ingest.handlers.workflow.scan",
    "plan_split": "ingest.handlers.workflow.plan_split",
    "decompress": "ingest.handlers.workflow.decompress",
    "inflate_members": "ingest.handlers.workflow.inflate_members",
    "join_members": "ingest.handlers.workflow.join_members",
    "split": "ingest.handlers.workflow.split",
    "plan_load": "ingest.handlers.workflow.plan_load",
    "load": "ingest.handlers.workflow.load",
    "finalize": "ingest.handlers.workflow.finalize",
    "mark_failed": "ingest.handlers.workflow.mark_failed",
    "clear_plan": "ingest.handlers.clear.plan",
    "clear_partition": "ingest.handlers.clear.clear_partition",
    "clear_finish": "ingest.handlers.clear.finish",
    "clear_failed": "ingest.handlers.clear.mark_failed",
    "revert_plan": "ingest.handlers.revert.plan",
    "revert_partition": "ingest.handlers.revert.revert_partition",
    "revert_finish": "ingest.handlers.revert.finish",
    "revert_failed": "ingest.handlers.revert.mark_failed",
    "console": "ingest.handlers.console.handler",
    "webhook_delivery": "ingest.handlers.webhooks.handler",
    "sweeper": "ingest.handlers.multipart_sweeper.handler",
}
# The one Lambda CDK adds itself (Custom::S3BucketNotifications provider, inline code, CDK-managed runtime).
CDK_PROVIDED_FUNCTION_PREFIXES = ("BucketNotificationsHandler",)

# Actions IAM cannot scope to a resource, that CDK grants with Resource "*": X-Ray (tracing) and
# CloudWatch Logs delivery (Step Functions logging).
UNSCOPABLE_ACTIONS = {
    "xray:puttracesegments",
    "xray:puttelemetryrecords",
    "xray:getsamplingrules",
    "xray:getsamplingtargets",
    "logs:createlogdelivery",
    "logs:getlogdelivery",
    "logs:updatelogdelivery",
    "logs:deletelogdelivery",
    "logs:listlogdeliveries",
    "logs:putresourcepolicy",
    "logs:describeresourcepolicies",
    "logs:describeloggroups",
}
DYNAMODB_WRITE_ACTIONS = [
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:TransactWriteItems",
    "dynamodb:DeleteTable",
    "dynamodb:UpdateTable",
]
DYNAMODB_READ_ACTIONS = {
    "dynamodb:getitem",
    "dynamodb:batchgetitem",
    "dynamodb:query",
    "dynamodb:scan",
    "dynamodb:conditioncheckitem",
    "dynamodb:describetable",
    "dynamodb:getrecords",
    "dynamodb:getsharditerator",
}


# -- template navigation ---------------------------------------------------------------------


def resources(template: dict, resource_type: str) -> dict[str, dict]:
    return {lid: res for lid, res in template["Resources"].items() if res["Type"] == resource_type}


def props(template: dict, logical_id: str) -> dict:
    return template["Resources"][logical_id].get("Properties", {})


def ref_target(value: Any) -> str | None:
    """The logical id a {"Ref": X} or {"Fn::GetAtt": [X, ...]} points at, else None."""
    if isinstance(value, dict):
        if isinstance(value.get("Ref"), str):
            return value["Ref"]
        if "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            return target[0] if isinstance(target, list) else target.split(".")[0]
    return None


def output_target(template: dict, name: str) -> str:
    target = ref_target(template["Outputs"][name]["Value"])
    assert target in template["Resources"], f"output {name} does not reference a resource"
    return target


def service_functions(template: dict) -> dict[str, dict]:
    """logical id -> properties, for every Lambda except the one CDK provides itself."""
    return {
        lid: res["Properties"]
        for lid, res in resources(template, "AWS::Lambda::Function").items()
        if not lid.startswith(CDK_PROVIDED_FUNCTION_PREFIXES)
    }


def project_functions(template: dict) -> dict[str, str]:
    """handler path -> logical id, for the service's functions."""
    found: dict[str, str] = {}
    for lid, fn in service_functions(template).items():
        handler = fn.get("Handler", "")
        assert handler not in found, f"two functions share handler {handler}"
        found[handler] = lid
    return found


@pytest.fixture(scope="module")
def functions(template) -> dict[str, str]:
    """Short name (see HANDLERS) -> logical id of that function."""
    by_handler = project_functions(template)
    missing = {name: handler for name, handler in HANDLERS.items() if handler not in by_handler}
    assert not missing, f"functions missing from the template: {missing}"
    return {name: by_handler[handler] for name, handler in HANDLERS.items()}


@pytest.fixture(scope="module")
def named(template, functions) -> dict[str, str]:
    """Logical ids of the bucket, tables and state machine, found through outputs and function env."""
    load_env = props(template, functions["load"])["Environment"]["Variables"]
    names = {
        "bucket": output_target(template, "UploadsBucketName"),
        "tokens": output_target(template, "TokensTableName"),
        "state_machine": output_target(template, "StateMachineArn"),
        "jobs": ref_target(load_env["JOBS_TABLE"]),
        "datasets": ref_target(load_env["DATASETS_TABLE"]),
        "records": ref_target(load_env["RECORDS_TABLE"]),
        "audiences": ref_target(load_env["AUDIENCES_TABLE"]),
    }
    expected_types = {
        "bucket": "AWS::S3::Bucket",
        "tokens": "AWS::DynamoDB::Table",
        "state_machine": "AWS::StepFunctions::StateMachine",
        "jobs": "AWS::DynamoDB::Table",
        "datasets": "AWS::DynamoDB::Table",
        "records": "AWS::DynamoDB::Table",
        "audiences": "AWS::DynamoDB::Table",
    }
    for key, lid in names.items():
        assert lid in template["Resources"], f"{key}: {lid!r} is not a resource"
        assert template["Resources"][lid]["Type"] == expected_types[key], key
    tables = ("tokens", "jobs", "datasets", "records", "audiences")
    assert len({names[k] for k in tables}) == len(tables), "tables must be distinct"
    return names


@pytest.fixture(scope="module")
def assertions(template) -> Template:
    return Template.from_json(template)


# -- S3 ----------------------------------------------------------------------------------------


def test_bucket_blocks_public_access_and_encrypts(assertions, template, named):
    assertions.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": Match.array_with(
                    [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": Match.any_value()}}]
                )
            },
        },
    )
    # ...and that bucket is the uploads bucket, with a real SSE algorithm.
    bucket = props(template, named["bucket"])
    sse = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert {rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] for rule in sse} <= {
        "AES256", "aws:kms", "aws:kms:dsse"}
    assert all(bucket["PublicAccessBlockConfiguration"].get(flag) is True for flag in (
        "BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"))
    # No ACL-based sharing either.
    assert "AccessControl" not in bucket
    assert bucket["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]


def test_bucket_lifecycle_rules(template, named):
    rules = props(template, named["bucket"])["LifecycleConfiguration"]["Rules"]
    enabled = [rule for rule in rules if rule.get("Status") == "Enabled"]

    abort = [r for r in enabled if "AbortIncompleteMultipartUpload" in r]
    assert abort, "no rule aborts incomplete multipart uploads"
    # Bucket-wide (no prefix/filter), so a failed presigned multipart PUT anywhere is cleaned up.
    assert any("Prefix" not in r and "Filter" not in r for r in abort)
    assert all(1 <= r["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] <= 7 for r in abort)

    work = [r for r in enabled if r.get("Prefix") == "work/" or r.get("Filter", {}).get("Prefix") == "work/"]
    assert work, "no lifecycle rule for the work/ prefix"
    assert any(1 <= r.get("ExpirationInDays", 0) <= 7 for r in work), "work/ files must expire within a week"

    # Originals are kept long enough to re-run a job (default 30 days), then expire.
    originals = [r for r in enabled if r.get("Prefix") == "uploads/"]
    assert [r["ExpirationInDays"] for r in originals] == [30]


def test_bucket_policy_denies_insecure_transport(template, named):
    policies = [
        p["Properties"]["PolicyDocument"]
        for p in resources(template, "AWS::S3::BucketPolicy").values()
        if ref_target(p["Properties"]["Bucket"]) == named["bucket"]
    ]
    assert len(policies) == 1
    bucket_arn = {"Fn::GetAtt": [named["bucket"], "Arn"]}
    objects_arn = {"Fn::Join": ["", [bucket_arn, "/*"]]}
    denies = [
        s for s in policies[0]["Statement"]
        if s["Effect"] == "Deny"
        and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") in ("false", False)
        and as_list(s["Action"]) in (["s3:*"], ["*"])
        and s.get("Principal") in ("*", {"AWS": "*"})
    ]
    assert denies, "the bucket policy does not deny non-TLS requests"
    covered = [r for s in denies for r in as_list(s["Resource"])]
    assert bucket_arn in covered and objects_arn in covered, "the TLS deny must cover the bucket and its objects"


# -- DynamoDB ------------------------------------------------------------------------------------


def key_schema(table: dict) -> list[tuple[str, str, str]]:
    types = {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]}
    return [(k["AttributeName"], k["KeyType"], types[k["AttributeName"]]) for k in table["KeySchema"]]


# Every table of the stack, by the API function's variable naming it: storage (records, jobs,
# datasets), auth (tokens, accounts), imports (import keys, quotas), audiences and Idempotency-Key records.
SERVICE_TABLE_VARIABLES = ("RECORDS_TABLE", "JOBS_TABLE", "DATASETS_TABLE", "TOKENS_TABLE", "ACCOUNTS_TABLE",
                           "IMPORTS_TABLE", "QUOTAS_TABLE", "AUDIENCES_TABLE", "IDEMPOTENCY_TABLE",
                           "WEBHOOKS_TABLE")


def test_every_table_is_on_demand_and_encrypted(template, functions):
    tables = resources(template, "AWS::DynamoDB::Table")
    api_env = props(template, functions["api"])["Environment"]["Variables"]
    expected = {ref_target(api_env[variable]) for variable in SERVICE_TABLE_VARIABLES}
    assert len(expected) == len(SERVICE_TABLE_VARIABLES), "each variable must name a table of its own"
    assert set(tables) == expected, (f"unexpected tables {sorted(set(tables) - expected)}, "
                                     f"missing {sorted(expected - set(tables))}")
    for lid, table in tables.items():
        assert table["Properties"].get("BillingMode") == "PAY_PER_REQUEST", lid
        assert "ProvisionedThroughput" not in table["Properties"], lid
        recovery = table["Properties"].get("PointInTimeRecoverySpecification", {})
        assert recovery.get("PointInTimeRecoveryEnabled") is True, lid
        if "TimeToLiveSpecification" in table["Properties"]:
            continue  # quota counters live an hour, idempotency records a day: nothing to keep
        assert table.get("DeletionPolicy") == "Retain", f"{lid}: data tables must survive stack deletion"


@pytest.mark.parametrize(
    "table, expected",
    [
        ("records", [("pk", "HASH", "S"), ("sk", "RANGE", "S")]),
        ("tokens", [("token_hash", "HASH", "S")]),
        ("jobs", [("account_id", "HASH", "S"), ("job_id", "RANGE", "S")]),
        ("datasets", [("account_id", "HASH", "S"), ("dataset_id", "RANGE", "S")]),
    ],
)
def test_table_key_schema(template, named, table, expected):
    assert key_schema(props(template, named[table])) == expected


def test_tokens_table_has_a_by_account_index_that_projects_no_secret(template, named):
    from ingest.adapters.control_tables import TOKENS_BY_ACCOUNT_INDEX

    (index,) = props(template, named["tokens"])["GlobalSecondaryIndexes"]
    assert index["IndexName"] == TOKENS_BY_ACCOUNT_INDEX  # the name the adapter queries
    types = {a["AttributeName"]: a["AttributeType"] for a in props(template, named["tokens"])["AttributeDefinitions"]}
    assert [(k["AttributeName"], k["KeyType"], types[k["AttributeName"]]) for k in index["KeySchema"]] == [
        ("account_id", "HASH", "S"), ("token_id", "RANGE", "S")]
    # Only what a listing shows and revoked_at (the table key, the hash, is always projected too).
    assert index["Projection"] == {"ProjectionType": "INCLUDE",
                                   "NonKeyAttributes": ["label", "created_at", "last_used_at", "revoked_at",
                                                        "api_key_id"]}
    assert "ProvisionedThroughput" not in index


def test_tokens_table_with_assertions_api(assertions):
    assertions.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "KeySchema": [{"AttributeName": "token_hash", "KeyType": "HASH"}],
            "BillingMode": "PAY_PER_REQUEST",
            "SSESpecification": {"SSEEnabled": True},
        },
    )


# -- Lambda functions ----------------------------------------------------------------------------


def test_the_service_declares_exactly_its_functions(template):
    assert set(project_functions(template)) == set(HANDLERS.values())


def test_every_lambda_is_arm64_python313_plus_traced(template):
    functions = service_functions(template)
    assert len(functions) >= len(HANDLERS)
    problems = []
    for lid, fn in functions.items():
        if fn.get("Architectures") != ["arm64"]:
            problems.append(f"{lid}: Architectures {fn.get('Architectures')}")
        match = re.fullmatch(r"python3\.(\d+)", fn.get("Runtime", ""))
        if not (match and int(match.group(1)) >= MIN_PYTHON_MINOR):
            problems.append(f"{lid}: Runtime {fn.get('Runtime')}")
        if fn.get("TracingConfig") != {"Mode": "Active"}:
            problems.append(f"{lid}: TracingConfig {fn.get('TracingConfig')}")
        if "S3Key" not in fn.get("Code", {}):
            problems.append(f"{lid}: not built from the Lambda asset")
    assert not problems, problems


def top_level_functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}


def test_every_handler_is_a_top_level_function_in_lambdas(template):
    functions = service_functions(template)
    assert functions
    problems = []
    for lid, fn in functions.items():
        module, _, attribute = fn["Handler"].rpartition(".")
        source = LAMBDA_SOURCE.joinpath(*module.split(".")).with_suffix(".py")
        if not module or not source.is_file():
            problems.append(f"{lid}: {fn['Handler']}: no module {source.relative_to(ROOT)}")
        elif attribute not in top_level_functions(source):
            problems.append(f"{lid}: {fn['Handler']}: {source.relative_to(ROOT)} has no top-level function {attribute}")
    assert not problems, problems


def asset_directory(template: dict, template_path: Path, function_id: str) -> Path:
    """The function's code directory: Metadata aws:asset:path if present, else the assets manifest."""
    resource = template["Resources"][function_id]
    asset_path = resource.get("Metadata", {}).get("aws:asset:path")
    if asset_path is None:
        object_key = resource["Properties"]["Code"]["S3Key"]
        matches = []
        for manifest in template_path.parent.glob("*.assets.json"):
            for entry in json.loads(manifest.read_text())["files"].values():
                if any(d.get("objectKey") == object_key for d in entry["destinations"].values()):
                    matches.append(entry["source"]["path"])
        assert len(matches) == 1, f"cannot find the asset for {function_id} ({object_key}): {matches}"
        asset_path = matches[0]
    directory = template_path.parent / asset_path
    assert directory.is_dir(), directory
    return directory


@pytest.fixture(scope="module")
def asset_dirs(template, template_path, functions) -> dict[str, Path]:
    return {name: asset_directory(template, template_path, lid) for name, lid in functions.items()}


def test_asset_holds_our_package_and_handler_sources(asset_dirs):
    for name, directory in asset_dirs.items():
        module, _, attribute = HANDLERS[name].rpartition(".")
        source = directory.joinpath(*module.split(".")).with_suffix(".py")
        assert source.is_file(), f"{name}: {source} missing from the asset"
        assert attribute in top_level_functions(source), f"{name}: asset copy has no {attribute}"
        assert (directory / "ingest" / "__init__.py").is_file()


def test_asset_holds_arm64_dependencies_and_no_boto(asset_dirs, template, functions):
    for name, directory in asset_dirs.items():
        # Built for the Python the function runs on: Runtime python3.13 -> cpython-313.
        abi = props(template, functions[name])["Runtime"].replace("python", "cpython-").replace(".", "")
        assert list((directory / "orjson").glob(f"*.{abi}-aarch64-linux-gnu.so")), f"{name}: no arm64 orjson for {abi}"
        assert list((directory / "msgspec").glob(f"*.{abi}-aarch64-linux-gnu.so")), (
            f"{name}: no arm64 msgspec for {abi}")
        assert (directory / "fastjsonschema" / "__init__.py").is_file(), name
        assert (directory / "aws_lambda_powertools" / "__init__.py").is_file(), name
        # Lambda provides boto3/botocore; bundling them only bloats the asset and pins old versions.
        for provided in ("boto3", "botocore"):
            assert not (directory / provided).exists(), f"{name}: {provided} is bundled"
        # No native extension built for the synthesizing machine rather than for Lambda arm64.
        foreign = [p.name for p in directory.rglob("*.so")
                   if "x86_64" in p.name or "darwin" in p.name or "win_" in p.name]
        assert not foreign, f"{name}: non-arm64 native extensions: {foreign}"


# -- Step Functions ------------------------------------------------------------------------------


def definition_of(template: dict, state_machine_id: str) -> dict:
    """Parse DefinitionString; each intrinsic becomes "<<LogicalId>>" (or "<<?>>") inside the JSON text."""
    body = props(template, state_machine_id)["DefinitionString"]
    if isinstance(body, str):
        return json.loads(body)
    separator, parts = body["Fn::Join"]
    text = separator.join(p if isinstance(p, str) else f"<<{ref_target(p) or '?'}>>" for p in parts)
    return json.loads(text)


@pytest.fixture(scope="module")
def definition(template, named) -> dict:
    return definition_of(template, named["state_machine"])


def test_state_machine_is_standard(template, named):
    assert props(template, named["state_machine"])["StateMachineType"] == "STANDARD"


def test_state_machine_states_and_order(definition):
    states = definition["States"]
    assert definition["StartAt"] == "Inspect"
    assert states["Inspect"]["Next"] == "Gzip?"
    gzip = states["Gzip?"]
    assert gzip["Type"] == "Choice" and gzip["Default"] == "Scan"
    assert gzip["Choices"] == [{"Variable": "$.job.gzip", "BooleanEquals": True, "Next": "ByMember?"}]
    # Plain: scan the ranges, then plan the split. Gzip over one member group: inflated in parallel by member,
    # joined into the plan, or (not a chain of members) the sequential chain: Decompress loops on its cursor.
    assert states["Scan"]["Next"] == "PlanSplit" and states["PlanSplit"]["Next"] == "Split"
    assert states["ByMember?"]["Choices"] == [{"Variable": "$.job.member_groups", "IsPresent": True,
                                              "Next": "InflateMembers"}]
    assert states["ByMember?"]["Default"] == "Decompress"
    assert states["InflateMembers"]["Next"] == "JoinMembers" and states["JoinMembers"]["Next"] == "MembersJoined?"
    assert states["MembersJoined?"]["Choices"] == [{"Variable": "$.job.ranges", "IsPresent": True, "Next": "Split"}]
    assert states["MembersJoined?"]["Default"] == "Decompress"
    assert states["Decompress"]["Next"] == "Inflated?"
    assert states["Inflated?"]["Choices"] == [{"Variable": "$.decompress", "IsPresent": True, "Next": "Decompress"}]
    assert states["Inflated?"]["Default"] == "Split"
    assert states["Split"]["Next"] == "PlanLoad"
    # The error budget is decided once every line is checked: no validate-only pass.
    assert states["PlanLoad"]["Next"] == "WithinErrorBudget?"
    within = states["WithinErrorBudget?"]
    assert within["Choices"] == [{"Variable": "$.within_budget", "BooleanEquals": True, "Next": "Load"}]
    assert within["Default"] == "ErrorBudgetExceeded" and states["ErrorBudgetExceeded"]["Type"] == "Fail"
    assert states["Load"]["Next"] == "Finalize"
    assert states["Finalize"]["Next"] == "JobCompleted"
    assert states["JobCompleted"]["Type"] == "Succeed"
    assert not {"Validate", "CheckErrorBudget", "HasErrorBudget?"} & set(states)


@pytest.mark.parametrize(
    "state, name",
    [("Inspect", "inspect"), ("PlanSplit", "plan_split"), ("Decompress", "decompress"), ("PlanLoad", "plan_load"),
     ("JoinMembers", "join_members"), ("Finalize", "finalize"), ("MarkFailed", "mark_failed")],
)
def test_task_state_invokes_its_function(definition, functions, state, name):
    task = definition["States"][state]
    assert task["Type"] == "Task"
    assert task["Parameters"]["FunctionName"] == f"<<{functions[name]}>>"


@pytest.mark.parametrize("state, manifest, name, iteration", [
    ("Scan", "scan-manifest.json", "scan", "ScanRange"),
    ("InflateMembers", "inflate-manifest.json", "inflate_members", "InflateMemberGroup"),
    ("Split", "split-manifest.json", "split", "SplitRange"),
    ("Load", "load-manifest.json", "load", "LoadPartition"),
])
def test_each_map_is_a_bounded_distributed_map_over_its_manifest(definition, functions, named, state, manifest,
                                                                 name, iteration):
    work_map = definition["States"][state]
    assert work_map["Type"] == "Map"
    assert work_map["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"
    reader = work_map["ItemReader"]
    assert reader["ReaderConfig"]["InputType"] == "JSON"
    assert reader["Resource"].endswith(":states:::s3:getObject")
    assert reader["Parameters"]["Bucket"] == f"<<{named['bucket']}>>"
    # The manifest of this upload, whatever the execution: built from the job in the state.
    assert reader["Parameters"]["Key.$"] == (
        f"States.Format('work/{{}}/{{}}/{manifest}', $.job.account_id, $.job.upload_id)")
    assert isinstance(work_map.get("MaxConcurrency"), int), "MaxConcurrency unset means unbounded"
    assert 1 <= work_map["MaxConcurrency"] <= MAX_MAP_CONCURRENCY
    # Each iteration gets the job and its item; results go to S3, so the Map keeps nothing in the state.
    assert work_map["ItemSelector"] == {"job.$": "$.job", "task.$": "$$.Map.Item.Value"}
    assert work_map["ResultPath"] is None
    processor = work_map["ItemProcessor"]
    assert processor["StartAt"] == iteration
    assert processor["States"][iteration]["Parameters"]["FunctionName"] == f"<<{functions[name]}>>"


@pytest.mark.parametrize("state", ["Inspect", "Scan", "PlanSplit", "Decompress", "InflateMembers", "JoinMembers",
                                   "Split", "PlanLoad", "Load", "Finalize"])
def test_state_catches_everything_into_mark_failed(definition, state):
    catches = definition["States"][state].get("Catch", [])
    assert any(
        c["ErrorEquals"] == ["States.ALL"] and c["Next"] == "MarkFailed" and c.get("ResultPath") == "$.error"
        for c in catches
    ), f"{state} has no States.ALL catch to MarkFailed with ResultPath $.error: {catches}"


def test_mark_failed_ends_in_a_fail_state(definition):
    states = definition["States"]
    assert states["MarkFailed"]["Type"] == "Task"
    assert states["MarkFailed"]["Next"] == "JobFailed"
    assert "Catch" not in states["MarkFailed"] or all(c["Next"] != "MarkFailed" for c in states["MarkFailed"]["Catch"])
    assert states["JobFailed"]["Type"] == "Fail"


# -- S3 -> workflow trigger ---------------------------------------------------------------------


def test_uploads_prefix_notification_targets_the_trigger(template, functions, named):
    notifications = [
        n["Properties"] for n in resources(template, "Custom::S3BucketNotifications").values()
        if ref_target(n["Properties"]["BucketName"]) == named["bucket"]
    ]
    assert len(notifications) == 1
    configs = notifications[0]["NotificationConfiguration"]["LambdaFunctionConfigurations"]
    matching = [
        c for c in configs
        if "s3:ObjectCreated:*" in c["Events"]
        and {"Name": "prefix", "Value": "uploads/"} in c.get("Filter", {}).get("Key", {}).get("FilterRules", [])
        and ref_target(c["LambdaFunctionArn"]) == functions["trigger"]
    ]
    assert len(matching) == 1, configs
    # S3 may invoke the trigger, for this bucket only.
    permissions = [
        p["Properties"] for p in resources(template, "AWS::Lambda::Permission").values()
        if ref_target(p["Properties"]["FunctionName"]) == functions["trigger"]
        and p["Properties"]["Principal"] == "s3.amazonaws.com"
    ]
    assert permissions and all(ref_target(p.get("SourceArn")) == named["bucket"] for p in permissions)


def test_trigger_knows_and_may_only_start_the_state_machine(template, functions, named):
    env = props(template, functions["trigger"])["Environment"]["Variables"]
    assert env["STATE_MACHINE_ARN"] == {"Ref": named["state_machine"]}
    state_statements = [s for s in function_statements(template, functions["trigger"])
                        if any(a.lower().startswith("states:") for a in as_list(s["Action"]))]
    assert state_statements, "the trigger may not start executions"
    for statement in state_statements:
        assert statement["Effect"] == "Allow"
        assert as_list(statement["Action"]) == ["states:StartExecution"]
        assert as_list(statement["Resource"]) == [{"Ref": named["state_machine"]}]


# -- IAM ----------------------------------------------------------------------------------------


def as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def role_policies(template: dict) -> dict[str, list[dict]]:
    """role logical id -> its policy statements (AWS::IAM::Policy resources and inline role policies)."""
    by_role: dict[str, list[dict]] = {}
    for policy in resources(template, "AWS::IAM::Policy").values():
        for role in policy["Properties"].get("Roles", []):
            by_role.setdefault(ref_target(role), []).extend(policy["Properties"]["PolicyDocument"]["Statement"])
    for lid, role in resources(template, "AWS::IAM::Role").items():
        for inline in role["Properties"].get("Policies", []):
            by_role.setdefault(lid, []).extend(inline["PolicyDocument"]["Statement"])
    return by_role


def function_statements(template: dict, function_id: str) -> list[dict]:
    role = ref_target(props(template, function_id)["Role"])
    return role_policies(template).get(role, [])


def all_statements(template: dict) -> list[tuple[str, dict]]:
    found = [(f"role {role}", s) for role, statements in role_policies(template).items() for s in statements]
    for lid, res in resources(template, "AWS::IAM::ManagedPolicy").items():
        found.extend((lid, s) for s in res["Properties"]["PolicyDocument"]["Statement"])
    return found


def render(template: dict, value: Any) -> str:
    """A resource expression as an ARN-like string; unresolvable pieces become "<?>" (matches nothing)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "<?>"
    if "Ref" in value:
        target = value["Ref"]
        if target.startswith("AWS::"):
            return {"AWS::Partition": "aws", "AWS::Region": "region", "AWS::AccountId": "account"}.get(target, "<?>")
        kind = template["Resources"].get(target, {}).get("Type")
        if kind == "AWS::StepFunctions::StateMachine":
            return f"arn:aws:states:region:account:stateMachine:{target}"
        return target  # a name (bucket, table)
    if "Fn::GetAtt" in value:
        target, attribute = value["Fn::GetAtt"]
        kind = template["Resources"].get(target, {}).get("Type")
        if attribute == "Arn" and kind == "AWS::S3::Bucket":
            return f"arn:aws:s3:::{target}"
        if attribute == "Arn" and kind == "AWS::DynamoDB::Table":
            return f"arn:aws:dynamodb:region:account:table/{target}"
        if attribute == "Arn" and kind == "AWS::Lambda::Function":
            return f"arn:aws:lambda:region:account:function:{target}"
        if attribute == "Arn" and kind == "AWS::KMS::Key":
            return f"arn:aws:kms:region:account:key/{target}"
        if attribute == "Arn" and kind == "AWS::SQS::Queue":
            return f"arn:aws:sqs:region:account:{target}"
        return "<?>"
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(render(template, part) for part in parts)
    return "<?>"


def wildcard(pattern: str, value: str, ignore_case: bool = False) -> bool:
    regex = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE if ignore_case else 0) is not None


CONDITION_OPERATORS = {  # operator -> (matches one request value against one policy value, negated)
    "StringEquals": (lambda pattern, value: pattern == value, False),
    "StringLike": (wildcard, False),
    "StringNotEquals": (lambda pattern, value: pattern == value, True),
    "StringNotLike": (wildcard, True),
    "Bool": (lambda pattern, value: str(pattern).lower() == str(value).lower(), False),
}


def _value_matches(match: Any, patterns: list, negated: bool, value: str) -> bool:
    """Whether a request value matches one of the policy's values (the reverse for a Not operator)."""
    return any(match(pattern, value) for pattern in patterns) != negated


def condition_holds(condition: dict, context: dict[str, list[str]]) -> bool:
    """IAM's evaluation of a Condition block against the request's keys (each a list of values):
    every operator and key must hold. ForAllValues holds when every request value matches a policy
    value (and, as in IAM, when the request has no value for the key); ForAnyValue when one does.
    An operator this evaluator does not know fails the test instead of guessing."""
    for raw_operator, keys in condition.items():
        qualifier, _, operator = raw_operator.rpartition(":")
        if_exists = operator.endswith("IfExists")
        operator = operator.removesuffix("IfExists")
        assert operator in CONDITION_OPERATORS and qualifier in ("", "ForAllValues", "ForAnyValue"), raw_operator
        match, negated = CONDITION_OPERATORS[operator]
        for key, patterns in keys.items():
            values = context.get(key) or []

            matches = partial(_value_matches, match, as_list(patterns), negated)
            if qualifier == "ForAllValues":
                holds = all(matches(value) for value in values)
            elif qualifier == "ForAnyValue":
                holds = any(matches(value) for value in values)
            elif not values:
                holds = if_exists or negated
            else:
                assert len(values) == 1, f"{key} is multivalued: {raw_operator} needs ForAllValues/ForAnyValue"
                holds = matches(values[0])
            if not holds:
                return False
    return True


def allows(template: dict, statements: list[dict], action: str, resource: str,
           context: dict[str, list[str]] | None = None) -> bool:
    """IAM-style evaluation of Allow/Deny over Action/Resource and Condition (against `context`, the
    request's condition keys, e.g. {"dynamodb:LeadingKeys": [partition key]})."""

    def matches(statement: dict) -> bool:
        return any(wildcard(a, action, ignore_case=True) for a in as_list(statement["Action"])) and any(
            wildcard(render(template, r), resource) for r in as_list(statement["Resource"])
        ) and condition_holds(statement.get("Condition", {}), context or {})

    if any(s["Effect"] == "Deny" and matches(s) for s in statements):
        return False
    return any(s["Effect"] == "Allow" and matches(s) for s in statements)


def table_arn(lid: str) -> str:
    return f"arn:aws:dynamodb:region:account:table/{lid}"


def object_arn(bucket: str, key: str) -> str:
    return f"arn:aws:s3:::{bucket}/{key}"


# Partition keys of the records table (adapters/record_store.py layout): a dataset's records, and an
# audience's member set (logic/audiences.py). A request to the records table names its partitions
# (dynamodb:LeadingKeys), so "records" asks about a dataset's partition and "member_sets" about an
# audience's: a grant limited to member sets must answer no to the first.
from infra.audiences import MEMBER_PARTITIONS  # noqa: E402
from ingest.adapters.record_store import partition  # noqa: E402
from ingest.logic.audiences import MEMBER_TYPE, member_set  # noqa: E402

DATASET_PARTITION = partition("acct", "01J0000000000000000000DSET", "customer_record", 3)
MEMBER_SET_PARTITION = partition("acct", member_set("01J0000000000000000000AUDI", "01J0000000000000000000LOAD"),
                                 MEMBER_TYPE, 3)
LEADING_KEYS = "dynamodb:LeadingKeys"


def request_context(target: str) -> dict[str, list[str]]:
    return {"records": {LEADING_KEYS: [DATASET_PARTITION]},
            "member_sets": {LEADING_KEYS: [MEMBER_SET_PARTITION]}}.get(target, {})


def targets(named: dict) -> dict[str, str]:
    bucket = named["bucket"]
    return {
        "bucket": f"arn:aws:s3:::{bucket}",
        "uploads/": object_arn(bucket, "uploads/acct/upload-1/file.ndjson"),
        "work/": object_arn(bucket, "work/acct/upload-1/parts/00000/00000"),
        "results/": object_arn(bucket, "results/acct/upload-1/errors.ndjson"),
        "jobs": table_arn(named["jobs"]),
        "datasets": table_arn(named["datasets"]),
        "records": table_arn(named["records"]),
        "member_sets": table_arn(named["records"]),
        "audiences": table_arn(named["audiences"]),
        "tokens": table_arn(named["tokens"]),
        "tokens_index": table_arn(named["tokens"]) + "/index/by_account",
        "tokens_other_index": table_arn(named["tokens"]) + "/index/other",
        "state_machine": f"arn:aws:states:region:account:stateMachine:{named['state_machine']}",
    }


# What each function needs at run time (so the restrictions below are not vacuous).
ENDS_A_JOB = [
    # Merge the error log (a multipart upload into results/), settle the job, count and release the
    # dataset or the audience, delete the work files.
    ("s3:ListBucket", "bucket"), ("s3:GetObject", "work/"), ("s3:DeleteObject", "work/"),
    ("s3:PutObject", "results/"), ("s3:AbortMultipartUpload", "results/"),
    ("dynamodb:GetItem", "jobs"), ("dynamodb:UpdateItem", "jobs"), ("dynamodb:UpdateItem", "datasets"),
    ("dynamodb:GetItem", "audiences"), ("dynamodb:UpdateItem", "audiences"),
]
MUST_ALLOW = {
    "api": [
        ("s3:PutObject", "uploads/"), ("s3:GetObject", "results/"),
        ("dynamodb:PutItem", "jobs"), ("dynamodb:Query", "jobs"), ("dynamodb:GetItem", "jobs"),
        ("dynamodb:PutItem", "datasets"), ("dynamodb:Query", "datasets"), ("dynamodb:GetItem", "records"),
        ("dynamodb:Query", "tokens_index"), ("dynamodb:PutItem", "tokens"), ("dynamodb:UpdateItem", "tokens"),
        # Audiences: the routes and audience_list upload requests; membership reads and deletes of member sets.
        *(("dynamodb:" + a, "audiences") for a in ("GetItem", "Query", "PutItem", "UpdateItem", "DeleteItem")),
        ("dynamodb:GetItem", "member_sets"), ("dynamodb:Query", "member_sets"),
        ("dynamodb:BatchWriteItem", "member_sets"),
        # Multipart uploads: create, sign parts and complete (s3:PutObject), list parts, abort.
        ("s3:ListMultipartUploadParts", "uploads/"), ("s3:AbortMultipartUpload", "uploads/"),
    ],
    # The multipart lifecycle sweep: lists the bucket's open uploads, aborts them, fails their jobs.
    "sweeper": [("s3:ListBucketMultipartUploads", "bucket"), ("s3:AbortMultipartUpload", "uploads/"),
                ("dynamodb:GetItem", "jobs"), ("dynamodb:UpdateItem", "jobs")],
    "authorizer": [("dynamodb:GetItem", "tokens"), ("dynamodb:UpdateItem", "tokens")],
    "trigger": [("states:StartExecution", "state_machine"), ("dynamodb:GetItem", "jobs"),
                ("dynamodb:UpdateItem", "jobs")],
    # Holds the dataset or an audience for its load; writes the scan manifest; progress.
    "inspect": [("s3:GetObject", "uploads/"), ("s3:PutObject", "work/"), ("dynamodb:UpdateItem", "jobs"),
                ("dynamodb:GetItem", "datasets"), ("dynamodb:UpdateItem", "datasets"),
                ("dynamodb:GetItem", "audiences"), ("dynamodb:UpdateItem", "audiences")],
    "scan": [("s3:GetObject", "uploads/"), ("s3:PutObject", "work/")],
    "plan_split": [("s3:GetObject", "work/"), ("s3:ListBucket", "bucket"), ("s3:PutObject", "work/"),
                   ("dynamodb:UpdateItem", "jobs")],
    # Plain parts stream into work/ as multipart uploads; a chained invocation reads its predecessor's checkpoint.
    "decompress": [("s3:GetObject", "uploads/"), ("s3:GetObject", "work/"), ("s3:PutObject", "work/"),
                   ("s3:AbortMultipartUpload", "work/"), ("dynamodb:UpdateItem", "jobs")],
    "inflate_members": [("s3:GetObject", "uploads/"), ("s3:PutObject", "work/"), ("s3:AbortMultipartUpload", "work/"),
                        ("dynamodb:UpdateItem", "jobs")],
    "join_members": [("s3:GetObject", "work/"), ("s3:ListBucket", "bucket"), ("s3:PutObject", "work/"),
                     ("dynamodb:UpdateItem", "jobs")],
    # Partition files and rejected lines stream into work/ as multipart uploads; a gzip upload's parts are read.
    "split": [("s3:GetObject", "uploads/"), ("s3:GetObject", "work/"), ("s3:PutObject", "work/"),
              ("s3:AbortMultipartUpload", "work/"), ("dynamodb:UpdateItem", "jobs")],
    "plan_load": [*ENDS_A_JOB, ("s3:PutObject", "work/")],
    # One UpdateItem per record (the old item returned); profiles read first; members to their set.
    "load": [("s3:GetObject", "work/"), ("s3:PutObject", "work/"), ("dynamodb:UpdateItem", "records"),
             ("dynamodb:BatchGetItem", "records"), ("dynamodb:BatchWriteItem", "member_sets"),
             ("dynamodb:UpdateItem", "jobs")],
    # Also counts, flips and deletes member sets.
    "finalize": [*ENDS_A_JOB, ("dynamodb:Query", "member_sets"), ("dynamodb:BatchWriteItem", "member_sets")],
    # Also recounts a type after a Load failed for good.
    "mark_failed": [*ENDS_A_JOB, ("dynamodb:Query", "member_sets"), ("dynamodb:BatchWriteItem", "member_sets"),
                    ("dynamodb:Query", "records")],
}

# What each function must not be able to do.
NO_RECORD_WRITES = [("dynamodb:" + a, t) for a in ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem")
                    for t in ("records", "member_sets")]
MUST_NOT_ALLOW = {
    "load": [("s3:PutObject", "uploads/"), ("s3:PutObject", "results/"), ("s3:GetObject", "uploads/"),
             ("s3:DeleteObject", "work/"), ("dynamodb:DeleteItem", "records"), ("dynamodb:PutItem", "records"),
             ("dynamodb:Query", "records"), ("dynamodb:UpdateItem", "datasets")],
    "api": [("dynamodb:BatchWriteItem", t) for t in ("records", "jobs", "datasets")]
           + [("dynamodb:PutItem", "records"), ("dynamodb:UpdateItem", "records"), ("s3:PutObject", "work/"),
              ("s3:PutObject", "results/"), ("s3:DeleteObject", "uploads/"),
              ("states:StartExecution", "state_machine")],
    "inspect": [("s3:PutObject", "uploads/"), ("s3:PutObject", "results/"), *NO_RECORD_WRITES],
    "scan": [("s3:PutObject", "uploads/"), ("s3:PutObject", "results/"), ("dynamodb:UpdateItem", "jobs"),
             *NO_RECORD_WRITES],
    "plan_split": [("s3:GetObject", "uploads/"), ("s3:PutObject", "results/"), *NO_RECORD_WRITES],
    "decompress": [("s3:PutObject", "uploads/"), ("s3:PutObject", "results/"), ("s3:DeleteObject", "uploads/"),
                   *NO_RECORD_WRITES],
    "inflate_members": [("s3:PutObject", "uploads/"), ("s3:PutObject", "results/"), ("s3:DeleteObject", "work/"),
                        *NO_RECORD_WRITES],
    "join_members": [("s3:GetObject", "uploads/"), ("s3:PutObject", "results/"), ("s3:DeleteObject", "work/"),
                     *NO_RECORD_WRITES],
    "split": [("s3:PutObject", "uploads/"), ("s3:DeleteObject", "uploads/"), ("s3:PutObject", "results/"),
              ("dynamodb:PutItem", "audiences"), *NO_RECORD_WRITES],
    "plan_load": [("s3:PutObject", "uploads/"), ("s3:GetObject", "uploads/"), *NO_RECORD_WRITES],
    "finalize": [("s3:PutObject", "uploads/"), ("s3:DeleteObject", "uploads/"), ("dynamodb:BatchWriteItem", "records"),
                 ("dynamodb:UpdateItem", "records"), ("dynamodb:Query", "records")],
    "mark_failed": [("s3:PutObject", "uploads/"), ("s3:DeleteObject", "uploads/"),
                    ("dynamodb:BatchWriteItem", "records"),
                    ("dynamodb:UpdateItem", "records")],
    "trigger": [("s3:GetObject", "uploads/"), ("s3:PutObject", "uploads/"), *NO_RECORD_WRITES],
    "sweeper": [("s3:GetObject", "uploads/"), ("s3:PutObject", "uploads/"), ("s3:DeleteObject", "uploads/"),
                ("s3:ListBucket", "bucket"), ("dynamodb:PutItem", "jobs"), ("dynamodb:Query", "jobs"),
                ("s3:AbortMultipartUpload", "work/"), *NO_RECORD_WRITES],
}


@pytest.mark.parametrize("name", sorted(MUST_ALLOW))
def test_function_has_the_permissions_it_needs(template, functions, named, name):
    statements = function_statements(template, functions[name])
    where = targets(named)
    missing = [(a, r) for a, r in MUST_ALLOW[name] if not allows(template, statements, a, where[r], request_context(r))]
    assert not missing, f"{name} lacks {missing}"


@pytest.mark.parametrize("name", sorted(MUST_NOT_ALLOW))
def test_function_lacks_permissions_outside_its_job(template, functions, named, name):
    statements = function_statements(template, functions[name])
    where = targets(named)
    excess = [(a, r) for a, r in MUST_NOT_ALLOW[name] if allows(template, statements, a, where[r], request_context(r))]
    assert not excess, f"{name} may {excess}"


# The evaluation above decides what the two tests before say, so it is checked on its own too.
RECORDS_ARN = "arn:aws:dynamodb:region:account:table/Records"


def _grant(condition: dict | None, action: str = "dynamodb:BatchWriteItem") -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": RECORDS_ARN,
            **({"Condition": condition} if condition else {})}


def _member_sets_only(patterns: list[str], qualifier: str = "ForAllValues") -> dict:
    return {f"{qualifier}:StringLike": {LEADING_KEYS: patterns}}


@pytest.mark.parametrize("condition, dataset_allowed", [
    (None, True),  # an unconditioned grant reaches every dataset
    (_member_sets_only([MEMBER_PARTITIONS]), False),  # what infra/audiences.py grants
    (_member_sets_only(["acct#*"]), True),  # also matches dataset partitions
    (_member_sets_only(["*#audience-*", "*"]), True),
    (_member_sets_only(["*#*#*#*"]), True),  # any partition of the layout
    (_member_sets_only([MEMBER_PARTITIONS], "ForAnyValue"), False),
    ({"StringLike": {LEADING_KEYS: MEMBER_PARTITIONS}}, False),
])
def test_allows_evaluates_the_leading_keys_condition(condition, dataset_allowed):
    statements = [_grant(condition)]
    assert allows({}, statements, "dynamodb:BatchWriteItem", RECORDS_ARN, request_context("records")) is dataset_allowed
    assert allows({}, statements, "dynamodb:BatchWriteItem", RECORDS_ARN, request_context("member_sets"))
    assert not allows({}, statements, "dynamodb:Query", RECORDS_ARN, request_context("member_sets"))


def test_allows_follows_iam_on_requests_naming_several_partitions():
    both = {LEADING_KEYS: [MEMBER_SET_PARTITION, DATASET_PARTITION]}
    # ForAllValues: every partition must be a member set; ForAnyValue would let a dataset's ride along.
    assert not allows({}, [_grant(_member_sets_only([MEMBER_PARTITIONS]))],
                      "dynamodb:BatchWriteItem", RECORDS_ARN, both)
    assert allows({}, [_grant(_member_sets_only([MEMBER_PARTITIONS], "ForAnyValue"))], "dynamodb:BatchWriteItem",
                  RECORDS_ARN, both)
    # A Deny with a condition applies only when it holds.
    deny = {"Effect": "Deny", "Action": "dynamodb:*", "Resource": "*", "Condition": _member_sets_only(["acct#01J*"])}
    assert not allows({}, [_grant(None), deny], "dynamodb:BatchWriteItem", RECORDS_ARN, request_context("records"))
    assert allows({}, [_grant(None), deny], "dynamodb:BatchWriteItem", RECORDS_ARN, request_context("member_sets"))
    with pytest.raises(AssertionError):
        allows({}, [_grant({"DateGreaterThan": {"aws:CurrentTime": "2020-01-01"}})],
               "dynamodb:BatchWriteItem", RECORDS_ARN)


TOKEN_TABLE_USERS = {"authorizer", "api"}


def test_only_the_authorizer_and_the_api_touch_the_tokens_table(template, functions, named):
    where = targets(named)
    for name, lid in functions.items():
        if name in TOKEN_TABLE_USERS:
            continue
        statements = function_statements(template, lid)
        for action in ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan", *DYNAMODB_WRITE_ACTIONS]:
            for target in ("tokens", "tokens_index"):
                assert not allows(template, statements, action, where[target]), f"{name} may {action} on {target}"
        assert not any(named["tokens"] in json.dumps(s["Resource"]) for s in statements), name


def _token_statements(template, functions, named, name) -> list[tuple[set[str], set[str]]]:
    """(actions, rendered resources) of each of the function's statements that names the tokens table."""
    found = []
    for statement in function_statements(template, functions[name]):
        if named["tokens"] in json.dumps(statement["Resource"]):
            assert statement["Effect"] == "Allow" and "Condition" not in statement, statement
            found.append(({a.lower() for a in as_list(statement["Action"])},
                          {render(template, r) for r in as_list(statement["Resource"])}))
    return found


def test_authorizer_may_only_read_tokens_and_record_their_use(template, functions, named):
    where = targets(named)
    statements = function_statements(template, functions["authorizer"])
    # GetItem by hash, UpdateItem of last_used_at; on the table only, not its index.
    assert _token_statements(template, functions, named, "authorizer") == [
        ({"dynamodb:getitem", "dynamodb:updateitem"}, {where["tokens"]})]
    for action in ["dynamodb:Query", "dynamodb:Scan", "dynamodb:BatchGetItem",
                   *(a for a in DYNAMODB_WRITE_ACTIONS if a != "dynamodb:UpdateItem")]:
        for target in ("tokens", "tokens_index"):
            assert not allows(template, statements, action, where[target]), (action, target)
    for statement in statements:
        actions = [a.lower() for a in as_list(statement["Action"])]
        assert not any(a.startswith(("s3:", "states:")) for a in actions), statement
        if not any(a.startswith("dynamodb:") for a in actions):
            assert set(actions) <= UNSCOPABLE_ACTIONS, actions


def test_api_may_only_list_mint_and_revoke_tokens(template, functions, named):
    where = targets(named)
    statements = function_statements(template, functions["api"])
    # Query on the by-account index only; Put/Update (mint and revoke transactions) on the table.
    assert sorted(_token_statements(template, functions, named, "api"), key=lambda s: sorted(s[0])) == [
        ({"dynamodb:putitem", "dynamodb:updateitem"}, {where["tokens"]}),
        ({"dynamodb:query"}, {where["tokens_index"]}),
    ]
    for action in ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan", "dynamodb:BatchGetItem",
                   *(a for a in DYNAMODB_WRITE_ACTIONS if a not in ("dynamodb:PutItem", "dynamodb:UpdateItem"))]:
        assert not allows(template, statements, action, where["tokens"]), f"api may {action} on the tokens table"
    assert not allows(template, statements, "dynamodb:Query", where["tokens_other_index"])
    for action in ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Scan", "dynamodb:GetItem"):
        assert not allows(template, statements, action, where["tokens_index"]), action


def test_api_and_authorizer_name_the_same_tokens_table(template, functions, named):
    # One variable name and value: the local stack runs both handlers in one process environment.
    for name in TOKEN_TABLE_USERS:
        variables = props(template, functions[name])["Environment"]["Variables"]
        assert ref_target(variables["TOKENS_TABLE"]) == named["tokens"], name


@pytest.mark.parametrize("name", sorted(HANDLERS))
def test_function_roles_have_no_extra_managed_policies(template, functions, name):
    role = template["Resources"][ref_target(props(template, functions[name])["Role"])]
    assert role["Type"] == "AWS::IAM::Role"
    managed = [render(template, arn) for arn in role["Properties"].get("ManagedPolicyArns", [])]
    assert managed == ["arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"], managed
    principal = role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]
    assert principal == {"Service": "lambda.amazonaws.com"}


def test_no_arn_names_a_partition_of_its_own(template):
    """ARNs take the stack's partition (AWS::Partition), so the template deploys to aws-cn and
    aws-us-gov too; a literal "arn:aws:" would grant nothing there."""
    text = json.dumps(template)
    assert "arn:aws:" not in text, [text[max(0, i - 80):i + 40] for i in
                                   [m.start() for m in re.finditer("arn:aws:", text)][:3]]


def test_no_wildcard_grants_anywhere(template):
    statements = all_statements(template)
    assert statements
    for where, statement in statements:
        assert "NotAction" not in statement and "NotResource" not in statement, where
        if statement["Effect"] != "Allow":
            continue
        actions = [a.lower() for a in as_list(statement["Action"])]
        assert "*" not in actions, f"{where}: Action *"
        assert not any(a in ("s3:*", "dynamodb:*", "states:*", "lambda:*", "iam:*") for a in actions), (
            f"{where}: {actions}")
        if "*" in as_list(statement["Resource"]):
            assert not any(a.startswith(("s3:", "dynamodb:")) for a in actions), f"{where}: {actions} on *"
            assert set(actions) <= UNSCOPABLE_ACTIONS, f"{where}: {actions} on Resource *"


# -- API Gateway --------------------------------------------------------------------------------


def reconstruct_routes(template: dict) -> set[tuple[str, str]]:
    api_resources = resources(template, "AWS::ApiGateway::Resource")

    def path_of(parent: Any) -> str:
        if "Fn::GetAtt" in parent and parent["Fn::GetAtt"][1] == "RootResourceId":
            return ""
        lid = ref_target(parent)
        resource = api_resources[lid]["Properties"]
        return f"{path_of(resource['ParentId'])}/{resource['PathPart']}"

    routes = set()
    for method in resources(template, "AWS::ApiGateway::Method").values():
        resource_id = method["Properties"]["ResourceId"]
        path = path_of(resource_id) or "/"
        routes.add((method["Properties"]["HttpMethod"], path))
    return routes


def handler_routes() -> set[tuple[str, str]]:
    """(METHOD, /path/{param}) for every route of the API handler, declared as @route(app, "METHOD",
    "...") (handlers/http.py) or @app.<method>("..."), and of the router it includes
    (handlers/compat_api.py: @route(router, ...) or @router.<method>(...))."""
    routes = set()
    for module in ("api.py", "compat_api.py"):
        routes |= _decorated_routes(LAMBDA_SOURCE / "ingest" / "handlers" / module,
                                    "router" if module != "api.py" else "app")
    return routes


def _decorated_routes(path: Path, resolver: str) -> set[tuple[str, str]]:
    tree = ast.parse(path.read_text())
    routes = set()
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef):
            continue
        for decorator in node.decorator_list:
            if (
                isinstance(decorator, ast.Call)
                and isinstance(decorator.func, ast.Attribute)
                and isinstance(decorator.func.value, ast.Name)
                and decorator.func.value.id == resolver
                and decorator.func.attr in ("get", "post", "put", "delete", "patch")
            ):
                path = re.sub(r"<([^>]+)>", r"{\1}", decorator.args[0].value)
                routes.add((decorator.func.attr.upper(), path))
            elif (
                isinstance(decorator, ast.Call)
                and isinstance(decorator.func, ast.Name)
                and decorator.func.id == "route"
                and isinstance(decorator.args[0], ast.Name)
                and decorator.args[0].id == resolver
            ):
                routes.add((decorator.args[1].value.upper(), decorator.args[2].value))
    return routes


def test_a_single_rest_api(template):
    assert len(resources(template, "AWS::ApiGateway::RestApi")) == 1
    assert not resources(template, "AWS::ApiGatewayV2::Api")


def test_required_routes_exist(template):
    routes = reconstruct_routes(template)
    required = {
        ("POST", "/v1/uploads"),
        ("GET", "/v1/uploads"),
        ("GET", "/v1/uploads/{upload_id}"),
        ("POST", "/v1/datasets"),
        ("GET", "/v1/datasets/{dataset_id}"),
        ("GET", "/v1/datasets/{dataset_id}/records/{record_type}/{key}"),
        ("GET", "/v1/tokens"),
        ("POST", "/v1/tokens"),
        ("DELETE", "/v1/tokens/{token_id}"),
    }
    assert required <= routes, f"missing routes: {required - routes}"


def test_gateway_routes_match_the_handler_routes(template):
    from infra.console import CONSOLE_ROUTES  # the console's page and files: test_console_template.py

    gateway = {route for route in reconstruct_routes(template) if route[0] != "OPTIONS"} - CONSOLE_ROUTES
    assert gateway == handler_routes()


# The Basic-auth authorizer of the Localytics import routes (infra/imports.py): test_imports_template.py.
BASIC_AUTH_SOURCE = "method.request.header.Authorization"


def console_integration(template, functions) -> dict:
    """The integration URI of the console's function (its methods are the only public ones)."""
    methods = [m["Properties"] for m in resources(template, "AWS::ApiGateway::Method").values()
               if {"Fn::GetAtt": [functions["console"], "Arn"]} in m["Properties"]["Integration"]["Uri"]["Fn::Join"][1]]
    assert methods, "no method integrates with the console function"
    return methods[0]["Integration"]["Uri"]


def test_every_method_uses_the_token_authorizer(template, functions):
    methods = resources(template, "AWS::ApiGateway::Method")
    assert methods
    api_arn = {"Fn::GetAtt": [functions["api"], "Arn"]}
    for lid, method in methods.items():
        p = method["Properties"]
        if p["HttpMethod"] == "OPTIONS" or (p.get("AuthorizationType") == "NONE"
                                            and p["Integration"]["Uri"] == console_integration(template, functions)):
            continue  # the console's public page and files: test_console_template.py
        assert p.get("AuthorizationType") == "CUSTOM", lid
        if template["Resources"][ref_target(p["AuthorizerId"])]["Properties"]["IdentitySource"].startswith(
                BASIC_AUTH_SOURCE + ","):
            continue  # a Localytics import route: test_imports_template.py
        authorizer = template["Resources"][ref_target(p["AuthorizerId"])]
        assert authorizer["Type"] == "AWS::ApiGateway::Authorizer", lid
        a = authorizer["Properties"]
        assert a["Type"] == "REQUEST", lid
        assert a["IdentitySource"] == TOKEN_HEADER_SOURCE, lid
        assert 0 <= a.get("AuthorizerResultTtlInSeconds", 300) <= MAX_AUTHORIZER_TTL, lid
        assert api_arn in p["Integration"]["Uri"]["Fn::Join"][1], f"{lid} does not integrate with the API function"
        assert p["Integration"]["Type"] == "AWS_PROXY", lid


def test_authorizer_runs_the_authorizer_function(template, functions):
    authorizers = {lid: a for lid, a in resources(template, "AWS::ApiGateway::Authorizer").items()
                   if a["Properties"]["IdentitySource"] == TOKEN_HEADER_SOURCE}
    assert len(authorizers) == 1
    uri = next(iter(authorizers.values()))["Properties"]["AuthorizerUri"]
    assert {"Fn::GetAtt": [functions["authorizer"], "Arn"]} in uri["Fn::Join"][1]


@pytest.mark.parametrize("response_type, statuses",
                         [("UNAUTHORIZED", {"401"}), ("MISSING_AUTHENTICATION_TOKEN", {"403", "404"})])
def test_gateway_responses_are_json_messages(template, response_type, statuses):
    matching = [
        r["Properties"] for r in resources(template, "AWS::ApiGateway::GatewayResponse").values()
        if r["Properties"]["ResponseType"] == response_type
    ]
    assert len(matching) == 1, response_type
    response = matching[0]
    assert response["StatusCode"] in statuses
    body = json.loads(response["ResponseTemplates"]["application/json"])
    assert isinstance(body, dict) and isinstance(body.get("message"), str) and body["message"].strip()


def test_unauthorized_response_with_assertions_api(assertions):
    assertions.has_resource_properties(
        "AWS::ApiGateway::GatewayResponse",
        {
            "ResponseType": "UNAUTHORIZED",
            "StatusCode": "401",
            "ResponseTemplates": {"application/json": Match.serialized_json({"message": Match.any_value()})},
        },
    )


def test_state_machines_log_errors_without_execution_data(template):
    machines = resources(template, "AWS::StepFunctions::StateMachine")
    assert len(machines) == 3  # load, clear, revert
    for machine in machines.values():
        logging = machine["Properties"]["LoggingConfiguration"]
        assert logging["Level"] == "ERROR"
        assert logging["IncludeExecutionData"] is False  # execution data can hold record-derived values


# -- per-token rate limits and the IP allow-list ---------------------------------------------------


def _usage_plan(template) -> tuple[str, dict]:
    (found,) = resources(template, "AWS::ApiGateway::UsagePlan").items()
    return found


def test_one_usage_plan_throttles_the_stage_with_the_default_rate_and_burst(template):
    _, plan = _usage_plan(template)
    p = plan["Properties"]
    assert p["Throttle"] == {"RateLimit": 25, "BurstLimit": 50}
    (stage_id,) = resources(template, "AWS::ApiGateway::Stage")
    (api_id,) = resources(template, "AWS::ApiGateway::RestApi")
    assert [(ref_target(s["ApiId"]), ref_target(s["Stage"])) for s in p["ApiStages"]] == [(api_id, stage_id)]
    assert "Quota" not in p
    from ingest.adapters.usage_plans import usage_plan_name
    assert p["UsagePlanName"] == usage_plan_name("BulkIngest")  # the name the API function looks the plan up by


def test_api_keys_come_from_the_authorizer_and_every_token_route_requires_one(template):
    (api,) = resources(template, "AWS::ApiGateway::RestApi").values()
    assert api["Properties"]["ApiKeySourceType"] == "AUTHORIZER"
    token_methods = [m["Properties"] for m in resources(template, "AWS::ApiGateway::Method").values()
                     if m["Properties"].get("AuthorizerId") and
                     template["Resources"][ref_target(m["Properties"]["AuthorizerId"])]["Properties"]
                     .get("IdentitySource") == TOKEN_HEADER_SOURCE]
    assert len(token_methods) >= 15
    assert all(m.get("ApiKeyRequired") is True for m in token_methods)


def test_throttled_answers_429_with_a_retry_after_derived_from_the_rate(template):
    (throttled,) = [r["Properties"] for r in resources(template, "AWS::ApiGateway::GatewayResponse").values()
                    if r["Properties"]["ResponseType"] == "THROTTLED"]
    assert throttled["StatusCode"] == "429"
    # ceil(1 / 25 per second) = 1 s: a request is allowed again after it.
    assert throttled["ResponseParameters"] == {"gatewayresponse.header.Retry-After": "'1'"}


def test_access_denied_says_the_ip_is_not_on_the_allow_list(template):
    (denied,) = [r["Properties"] for r in resources(template, "AWS::ApiGateway::GatewayResponse").values()
                 if r["Properties"]["ResponseType"] == "ACCESS_DENIED"]
    assert denied["StatusCode"] == "403"
    assert "allow-list" in json.loads(denied["ResponseTemplates"]["application/json"])["message"]


def test_the_authorizer_is_cached_per_token_and_source_ip_and_reads_only_the_accounts_table(template, functions):
    (authorizer,) = [r["Properties"] for r in resources(template, "AWS::ApiGateway::Authorizer").values()
                     if r["Properties"]["IdentitySource"].startswith("method.request.header.Auth-Api-Token")]
    assert authorizer["IdentitySource"].split(",") == ["method.request.header.Auth-Api-Token",
                                                       "context.identity.sourceIp"]
    accounts = ref_target(props(template, functions["authorizer"])["Environment"]["Variables"]["ACCOUNTS_TABLE"])
    assert template["Resources"][accounts]["Type"] == "AWS::DynamoDB::Table"
    assert key_schema(props(template, accounts)) == [("account_id", "HASH", "S")]
    statements = function_statements(template, functions["authorizer"])
    assert allows(template, statements, "dynamodb:GetItem", table_arn(accounts))
    for action in ["dynamodb:Query", "dynamodb:Scan", *DYNAMODB_WRITE_ACTIONS]:
        assert not allows(template, statements, action, table_arn(accounts)), action
    api = ref_target(props(template, functions["api"])["Environment"]["Variables"]["ACCOUNTS_TABLE"])
    assert api == accounts


def test_api_may_make_and_delete_api_keys_only_in_its_usage_plan(template, functions):
    plan_id, _ = _usage_plan(template)
    statements = function_statements(template, functions["api"])
    apigw_statements = [s for s in statements if any(a.lower().startswith("apigateway:") for a in as_list(s["Action"]))]
    rendered = sorted((a.lower(), render(template, r)) for s in apigw_statements
                      for a in as_list(s["Action"]) for r in as_list(s["Resource"]))
    assert rendered == [
        ("apigateway:delete", "arn:aws:apigateway:region::/apikeys/*"),
        ("apigateway:get", "arn:aws:apigateway:region::/usageplans"),
        ("apigateway:post", "arn:aws:apigateway:region::/apikeys"),
        ("apigateway:post", f"arn:aws:apigateway:region::/usageplans/{plan_id}/keys"),
    ]
    assert not allows(template, statements, "apigateway:POST", "arn:aws:apigateway:region::/usageplans/other/keys")
    assert not allows(template, statements, "apigateway:PATCH", "arn:aws:apigateway:region::/usageplans/" + plan_id)
    for name, lid in functions.items():
        if name != "api":
            assert not any(a.lower().startswith("apigateway:") for s in function_statements(template, lid)
                           for a in as_list(s["Action"])), name


def test_api_access_log_is_json_with_ids_and_outcomes_only(template):
    stages = resources(template, "AWS::ApiGateway::Stage")
    assert len(stages) == 1
    setting = next(iter(stages.values()))["Properties"]["AccessLogSetting"]
    destination = ref_target(setting["DestinationArn"])
    assert template["Resources"][destination]["Type"] == "AWS::Logs::LogGroup"
    assert template["Resources"][destination]["Properties"].get("RetentionInDays"), "access logs must expire"
    fields = json.loads(setting["Format"])
    values = set(fields.values())
    assert {"$context.requestId", "$context.identity.sourceIp", "$context.httpMethod", "$context.resourcePath",
            "$context.status", "$context.responseLatency"} <= values, fields
    # The route template only (record keys can be personal data); no bodies, headers or tokens.
    assert not [v for v in values if re.search(r"\$context\.path\b|\$input|header|body|apiKey|token", v, re.I)], fields
    # Access logs need API Gateway's account-level CloudWatch role.
    accounts = resources(template, "AWS::ApiGateway::Account")
    assert len(accounts) == 1
    role = template["Resources"][ref_target(next(iter(accounts.values()))["Properties"]["CloudWatchRoleArn"])]
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "apigateway.amazonaws.com"}


def test_uploads_bucket_access_logs_go_to_a_private_expiring_bucket(template, named):
    logging = props(template, named["bucket"])["LoggingConfiguration"]
    log_bucket_id = ref_target(logging["DestinationBucketName"])
    assert log_bucket_id != named["bucket"]
    log_bucket = props(template, log_bucket_id)
    assert all(log_bucket["PublicAccessBlockConfiguration"].get(flag) is True for flag in (
        "BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"))
    sse = log_bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert [rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] for rule in sse] == ["AES256"]
    assert log_bucket["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    assert [r.get("ExpirationInDays") for r in log_bucket["LifecycleConfiguration"]["Rules"]] == [90]
    policies = [p["Properties"]["PolicyDocument"]["Statement"]
                for p in resources(template, "AWS::S3::BucketPolicy").values()
                if ref_target(p["Properties"]["Bucket"]) == log_bucket_id]
    assert len(policies) == 1
    # TLS only, and S3's log delivery may write logs (under the prefix) and nothing else.
    assert any(s["Effect"] == "Deny" and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
               for s in policies[0])
    grants = [s for s in policies[0] if s["Effect"] == "Allow"]
    assert [s["Principal"] for s in grants] == [{"Service": "logging.s3.amazonaws.com"}]
    assert as_list(grants[0]["Action"]) == ["s3:PutObject"]
