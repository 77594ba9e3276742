"""The local stack's IAM: policy evaluation (local_stack/iam.py) and what each call needs
(local_stack/iam_requests.py), on hand-written policies and botocore's own operation models."""

from __future__ import annotations

import boto3
import pytest

from local_stack.iam import Request, Statement, UnsupportedPolicyError, arn_matches, evaluate
from local_stack.iam_requests import KeySchema, TableKeys, UnmappedOperationError, requests_for

BUCKET = "arn:aws:s3:::uploads"
RECORDS = "arn:aws:dynamodb:us-east-1:123456789012:table/Records"
MEMBER_SETS_ONLY = {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["*#audience-*#audience_member#*"]}}


def statements(*documents: dict, resource_policy: bool = False) -> list[Statement]:
    return [Statement.parse(document, resource_policy) for document in documents]


def allowed(policy: list[Statement], action: str, resource: str, context: dict | None = None, **kwargs) -> bool:
    return evaluate(policy, Request(action, resource, context or {}), **kwargs).allowed


# CDK's bucket.grant_read / grant_put on a key prefix.
CDK_READ_WORK = {"Effect": "Allow", "Action": ["s3:GetObject*", "s3:GetBucket*", "s3:List*"],
                 "Resource": [BUCKET, f"{BUCKET}/work/*"]}
CDK_PUT_RESULTS = {"Effect": "Allow", "Action": ["s3:PutObject", "s3:PutObjectLegalHold", "s3:Abort*"],
                   "Resource": f"{BUCKET}/results/*"}


def test_actions_match_with_wildcards_and_without_case():
    policy = statements(CDK_READ_WORK)
    assert allowed(policy, "s3:GetObject", f"{BUCKET}/work/a/b.ndjson")
    assert allowed(policy, "S3:getobjecttagging", f"{BUCKET}/work/x")
    assert allowed(policy, "s3:ListBucket", BUCKET)
    assert not allowed(policy, "s3:PutObject", f"{BUCKET}/work/x")
    assert not allowed(policy, "s3:DeleteObject", f"{BUCKET}/work/x")


def test_resources_match_by_prefix_and_only_that_prefix():
    policy = statements(CDK_READ_WORK, CDK_PUT_RESULTS)
    assert allowed(policy, "s3:PutObject", f"{BUCKET}/results/acct/upload/errors.ndjson")
    assert not allowed(policy, "s3:PutObject", f"{BUCKET}/work/acct/upload/errors.ndjson")
    assert not allowed(policy, "s3:GetObject", f"{BUCKET}/uploads/acct/upload/file")
    assert not allowed(policy, "s3:GetObject", "arn:aws:s3:::uploads-other/work/x")  # not the bucket's objects
    assert not allowed(policy, "s3:ListBucket", "arn:aws:s3:::uploads-other")


def test_arn_wildcards_stay_within_their_segment_but_span_the_resource_part():
    assert arn_matches("arn:aws:states:*:*:execution:Machine:*", "arn:aws:states:us-east-1:1:execution:Machine:run-1")
    assert arn_matches("arn:aws:lambda:us-east-1:1:function:F*", "arn:aws:lambda:us-east-1:1:function:F:live")
    assert not arn_matches("arn:aws:*:us-east-1:1:table/T", "arn:aws:dynamodb:us-east-1:1:table/T/index/i")
    assert not arn_matches("arn:aws:dynamodb:*:1:table/T", "arn:aws:dynamodb:us-east-1:2:table/T")


def test_an_explicit_deny_wins_over_any_allow():
    policy = statements({"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
                        {"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": f"{BUCKET}/uploads/*"})
    decision = evaluate(policy, Request("s3:DeleteObject", f"{BUCKET}/uploads/x"))
    assert not decision.allowed and decision.reason == "with an explicit deny in an identity-based policy"
    assert allowed(policy, "s3:DeleteObject", f"{BUCKET}/work/x")


def test_not_action_and_not_resource_apply_to_everything_else():
    policy = statements({"Effect": "Allow", "NotAction": "s3:Delete*", "NotResource": f"{BUCKET}/uploads/*"})
    assert allowed(policy, "s3:PutObject", f"{BUCKET}/work/x")
    assert not allowed(policy, "s3:DeleteObject", f"{BUCKET}/work/x")
    assert not allowed(policy, "s3:PutObject", f"{BUCKET}/uploads/x")


@pytest.mark.parametrize("leading_keys, expected", [
    (["acct#audience-A-L#audience_member#03"], True),
    (["acct#audience-A-L#audience_member#03", "acct#audience-A-L#audience_member#07"], True),
    (["acct#audience-A-L#audience_member#03", "acct#DSET#customer_record#03"], False),  # one outside: refused
    (["acct#DSET#customer_record#03"], False),
    ([], True),  # ForAllValues over no value is true, as on AWS (a Scan has no leading keys)
    (None, True),
])
def test_for_all_values_string_like_on_leading_keys(leading_keys, expected):
    policy = statements({"Effect": "Allow", "Action": "dynamodb:BatchWriteItem", "Resource": RECORDS,
                         "Condition": MEMBER_SETS_ONLY})
    context = {} if leading_keys is None else {"dynamodb:leadingkeys": leading_keys}
    assert allowed(policy, "dynamodb:BatchWriteItem", RECORDS, context) is expected


def test_for_any_value_plain_and_negated_operators():
    def one(condition: dict, context: dict) -> bool:
        return allowed(statements({"Effect": "Allow", "Action": "s3:ListBucket", "Resource": BUCKET,
                                   "Condition": condition}), "s3:ListBucket", BUCKET, context)

    assert one({"ForAnyValue:StringLike": {"dynamodb:LeadingKeys": ["a*"]}}, {"dynamodb:leadingkeys": ["b", "a1"]})
    assert not one({"ForAnyValue:StringLike": {"dynamodb:LeadingKeys": ["a*"]}}, {})
    assert one({"StringEquals": {"s3:prefix": ["work/", "results/"]}}, {"s3:prefix": "results/"})
    assert not one({"StringEquals": {"s3:prefix": "work/"}}, {})  # a missing key does not match
    assert one({"StringEqualsIfExists": {"s3:prefix": "work/"}}, {})
    assert one({"StringNotLike": {"s3:prefix": "uploads/*"}}, {"s3:prefix": "work/x"})
    assert not one({"StringNotLike": {"s3:prefix": "uploads/*"}}, {"s3:prefix": "uploads/x"})
    assert one({"Null": {"s3:prefix": "true"}}, {})
    assert one({"Bool": {"aws:SecureTransport": True}}, {"aws:securetransport": "true"})  # keys ignore case


def test_a_bucket_policy_deny_applies_to_every_principal_and_its_conditions_count():
    bucket_policy = statements({"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "s3:*",
                                "Resource": [BUCKET, f"{BUCKET}/*"],
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}}}, resource_policy=True)
    identity = statements(CDK_PUT_RESULTS)
    over_tls = Request("s3:PutObject", f"{BUCKET}/results/x", {"aws:securetransport": "true"})
    plain = Request("s3:PutObject", f"{BUCKET}/results/x", {"aws:securetransport": "false"})
    assert evaluate(identity, over_tls, bucket_policy, "arn:aws:iam::1:role/r").allowed
    refused = evaluate(identity, plain, bucket_policy, "arn:aws:iam::1:role/r")
    assert not refused.allowed and refused.reason == "with an explicit deny in a resource-based policy"


def test_a_bucket_policy_allow_for_a_service_does_not_allow_a_role():
    bucket_policy = statements({"Effect": "Allow", "Principal": {"Service": "logging.s3.amazonaws.com"},
                                "Action": "s3:PutObject", "Resource": f"{BUCKET}/*"}, resource_policy=True)
    assert not evaluate([], Request("s3:PutObject", f"{BUCKET}/x"), bucket_policy, "arn:aws:iam::1:role/r").allowed


def test_no_allow_is_refused_naming_the_action():
    decision = evaluate(statements(CDK_READ_WORK), Request("s3:PutObject", f"{BUCKET}/results/x"))
    assert not decision.allowed
    assert decision.reason == "because no identity-based policy allows the s3:PutObject action"


@pytest.mark.parametrize("document", [
    {"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": {"DateGreaterThan": {"aws:CurrentTime": "x"}}},
    {"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": {"ForEveryValue:StringLike": {"k": "v"}}},
    {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b/${aws:username}/*"},
])
def test_policy_features_the_local_evaluator_lacks_stop_it(document):
    with pytest.raises(UnsupportedPolicyError):
        Statement.parse(document)


# -- what a call needs ---------------------------------------------------------------------------------
TABLES = TableKeys({
    "Records": KeySchema(RECORDS, "pk", {}),
    "Tokens": KeySchema("arn:aws:dynamodb:us-east-1:123456789012:table/Tokens", "token_hash",
                        {"by_account": "account_id"}),
})


def needs(service: str, operation: str, params: dict) -> list[tuple[str, str, dict]]:
    model = boto3.client(service, region_name="us-east-1").meta.service_model.operation_model(operation)
    return [(r.action, r.resource, r.context) for r in requests_for(service, model, params, "us-east-1",
                                                                   "123456789012", TABLES)]


def test_s3_operations_map_to_their_iam_actions():
    tls = {"aws:securetransport": "true"}
    assert needs("s3", "HeadObject", {"Bucket": "b", "Key": "uploads/a/f"}) == [
        ("s3:GetObject", "arn:aws:s3:::b/uploads/a/f", tls)]
    assert needs("s3", "ListObjectsV2", {"Bucket": "b", "Prefix": "work/a/"}) == [
        ("s3:ListBucket", "arn:aws:s3:::b", {**tls, "s3:prefix": "work/a/"})]
    assert [n[0] for n in needs("s3", "UploadPart", {"Bucket": "b", "Key": "k", "PartNumber": 1,
                                                     "UploadId": "u"})] == ["s3:PutObject"]
    assert [n[0] for n in needs("s3", "AbortMultipartUpload", {"Bucket": "b", "Key": "k", "UploadId": "u"})] == [
        "s3:AbortMultipartUpload"]
    assert [n[0] for n in needs("s3", "ListParts", {"Bucket": "b", "Key": "k", "UploadId": "u"})] == [
        "s3:ListMultipartUploadParts"]
    assert needs("s3", "DeleteObjects", {"Bucket": "b", "Delete": {"Objects": [{"Key": "w/1"}, {"Key": "w/2"}]}}) == [
        ("s3:DeleteObject", "arn:aws:s3:::b/w/1", tls), ("s3:DeleteObject", "arn:aws:s3:::b/w/2", tls)]


def test_dynamodb_calls_name_their_table_or_index_and_their_leading_keys():
    assert needs("dynamodb", "Query", {"TableName": "Records", "KeyConditionExpression": "pk = :pk",
                                       "ExpressionAttributeValues": {":pk": {"S": "a#d#t#01"}}}) == [
        ("dynamodb:Query", RECORDS, {"dynamodb:leadingkeys": ["a#d#t#01"]})]
    assert needs("dynamodb", "Query", {
        "TableName": "Tokens", "IndexName": "by_account",
        "KeyConditionExpression": "#n0 = :v0 AND begins_with(#n1, :v1)",
        "ExpressionAttributeNames": {"#n0": "account_id", "#n1": "token_id"},
        "ExpressionAttributeValues": {":v0": {"S": "acct"}, ":v1": {"S": "x"}}}) == [
        ("dynamodb:Query", "arn:aws:dynamodb:us-east-1:123456789012:table/Tokens/index/by_account",
         {"dynamodb:leadingkeys": ["acct"]})]
    batch = needs("dynamodb", "BatchWriteItem", {"RequestItems": {"Records": [
        {"PutRequest": {"Item": {"pk": {"S": "p1"}, "sk": {"S": "1"}}}},
        {"DeleteRequest": {"Key": {"pk": {"S": "p2"}, "sk": {"S": "2"}}}}]}})
    assert batch == [("dynamodb:BatchWriteItem", RECORDS, {"dynamodb:leadingkeys": ["p1", "p2"]})]


def test_a_transaction_needs_each_items_own_action():
    transaction = needs("dynamodb", "TransactWriteItems", {"TransactItems": [
        {"Update": {"TableName": "Tokens", "Key": {"token_hash": {"S": "counter"}}, "UpdateExpression": "SET a = :a"}},
        {"Put": {"TableName": "Tokens", "Item": {"token_hash": {"S": "h"}}}},
        {"ConditionCheck": {"TableName": "Records", "Key": {"pk": {"S": "p"}, "sk": {"S": "s"}},
                            "ConditionExpression": "attribute_exists(pk)"}}]})
    assert [(action, resource.rsplit("/", 1)[1]) for action, resource, _ in transaction] == [
        ("dynamodb:UpdateItem", "Tokens"), ("dynamodb:PutItem", "Tokens"), ("dynamodb:ConditionCheckItem", "Records")]


def test_api_gateway_and_step_functions_calls():
    assert needs("apigateway", "DeleteApiKey", {"apiKey": "k1"}) == [
        ("apigateway:DELETE", "arn:aws:apigateway:us-east-1::/apikeys/k1", {})]
    assert needs("apigateway", "CreateUsagePlanKey", {"usagePlanId": "p1", "keyId": "k1", "keyType": "API_KEY"}) == [
        ("apigateway:POST", "arn:aws:apigateway:us-east-1::/usageplans/p1/keys", {})]
    assert needs("apigateway", "GetUsagePlans", {}) == [
        ("apigateway:GET", "arn:aws:apigateway:us-east-1::/usageplans", {})]
    machine = "arn:aws:states:us-east-1:123456789012:stateMachine:M"
    assert needs("stepfunctions", "StartExecution", {"stateMachineArn": machine, "name": "n"}) == [
        ("states:StartExecution", machine, {})]
    assert needs("lambda", "Invoke", {"FunctionName": "F"}) == [
        ("lambda:InvokeFunction", "arn:aws:lambda:us-east-1:123456789012:function:F", {})]


def test_an_operation_without_a_mapping_is_an_error_not_a_pass():
    with pytest.raises(UnmappedOperationError, match=r"dynamodb.CreateTable"):
        needs("dynamodb", "CreateTable", {"TableName": "Records"})
    with pytest.raises(UnmappedOperationError, match=r"s3.PutBucketPolicy"):
        needs("s3", "PutBucketPolicy", {"Bucket": "b", "Policy": "{}"})
