"""The local API Gateway's reading of the template: routes, methods, authorizers, responses."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from local_stack.api_gateway import DEFAULT_RESPONSES, ApiDefinition
from local_stack.api_gateway.authorizers import allows
from local_stack.template import Template

API_ARN = "arn:aws:lambda:us-east-1:123456789012:function:BulkIngest-Api"
AUTH_ARN = "arn:aws:lambda:us-east-1:123456789012:function:BulkIngest-Auth"
ROOT = {"Fn::GetAtt": ["RestApi", "RootResourceId"]}


def api_resource(parent, part):
    return {"Type": "AWS::ApiGateway::Resource",
            "Properties": {"ParentId": parent, "PathPart": part, "RestApiId": {"Ref": "RestApi"}}}


def method(resource_id, http_method, function="ApiFunction", authorized=True):
    props = {
        "HttpMethod": http_method,
        "ResourceId": {"Ref": resource_id},
        "RestApiId": {"Ref": "RestApi"},
        "AuthorizationType": "CUSTOM" if authorized else "NONE",
        "Integration": {"Type": "AWS_PROXY", "IntegrationHttpMethod": "POST", "Uri": {"Fn::Join": ["", [
            "arn:", {"Ref": "AWS::Partition"}, ":apigateway:", {"Ref": "AWS::Region"},
            ":lambda:path/2015-03-31/functions/", {"Fn::GetAtt": [function, "Arn"]}, "/invocations",
        ]]}},
    }
    if authorized:
        props["AuthorizerId"] = {"Ref": "TokenAuthorizer"}
    return {"Type": "AWS::ApiGateway::Method", "Properties": props}


def build_resources(static_first: bool) -> dict:
    resources = {
        "RestApi": {"Type": "AWS::ApiGateway::RestApi", "Properties": {"Name": "api"}},
        "V1": api_resource(ROOT, "v1"),
        "Datasets": api_resource({"Ref": "V1"}, "datasets"),
    }
    param = {"DatasetId": api_resource({"Ref": "Datasets"}, "{dataset_id}"),
             "DatasetIdGet": method("DatasetId", "GET")}
    static = {"Search": api_resource({"Ref": "Datasets"}, "search"),
              "SearchGet": method("Search", "GET", function="SearchFunction")}
    for part in ((static, param) if static_first else (param, static)):
        resources.update(part)
    resources.update({
        "DatasetsGet": method("Datasets", "GET"),
        "DatasetsPost": method("Datasets", "POST"),
        "Records": api_resource({"Ref": "DatasetId"}, "records"),
        "RecordType": api_resource({"Ref": "Records"}, "{record_type}"),
        "RecordKey": api_resource({"Ref": "RecordType"}, "{key}"),
        "RecordKeyGet": method("RecordKey", "GET"),
        "RecordTypes": api_resource({"Ref": "V1"}, "record-types"),
        "RecordTypesGet": method("RecordTypes", "GET", authorized=False),
        "Uploads": api_resource({"Ref": "V1"}, "uploads"),
        "UploadsPost": method("Uploads", "POST"),
        "UploadId": api_resource({"Ref": "Uploads"}, "{upload_id}"),
        "UploadIdGet": method("UploadId", "GET"),
        "TokenAuthorizer": {"Type": "AWS::ApiGateway::Authorizer", "Properties": {
            "Type": "REQUEST",
            "IdentitySource": "method.request.header.Auth-Api-Token",
            "AuthorizerResultTtlInSeconds": 60,
            "AuthorizerUri": {"Fn::Join": ["", [
                "arn:", {"Fn::Select": [1, {"Fn::Split": [":", {"Fn::GetAtt": ["AuthFunction", "Arn"]}]}]},
                ":apigateway:lambda:path/2015-03-31/functions/", {"Fn::GetAtt": ["AuthFunction", "Arn"]},
                "/invocations",
            ]]},
        }},
        "Stage": {"Type": "AWS::ApiGateway::Stage", "Properties": {"StageName": "v0", "RestApiId": {"Ref": "RestApi"}}},
        "NotFound": {"Type": "AWS::ApiGateway::GatewayResponse", "Properties": {
            "ResponseType": "MISSING_AUTHENTICATION_TOKEN", "StatusCode": "404",
            "ResponseTemplates": {"application/json": '{"message": "no such route: check the method and the path"}'},
        }},
    })
    return resources


def definition(static_first: bool = False) -> ApiDefinition:
    return definition_from(build_resources(static_first))


def definition_from(resources: dict) -> ApiDefinition:
    deployment = SimpleNamespace(
        template=Template({"Resources": resources}),
        functions={
            "ApiFunction": {"name": "BulkIngest-Api", "arn": API_ARN},
            "SearchFunction": {"name": "BulkIngest-Search", "arn": API_ARN + "-search"},
            "AuthFunction": {"name": "BulkIngest-Auth", "arn": AUTH_ARN},
        },
    )
    return ApiDefinition(deployment)


@pytest.fixture(params=[False, True], ids=["param-first", "static-first"])
def api(request) -> ApiDefinition:
    return definition(static_first=request.param)


def matched(api: ApiDefinition, path: str):
    found = api.match(path)
    return None if found is None else (found[0].resource_path, found[1])


def test_static_segment_wins_over_path_parameter(api):
    route, params = api.match("/v1/datasets/search")
    assert route.resource_path == "/v1/datasets/search"
    assert params == {}
    assert route.methods["GET"]["function_arn"] == API_ARN + "-search"


def test_other_values_match_the_parameter_route(api):
    assert matched(api, "/v1/datasets/01J8ZQ") == ("/v1/datasets/{dataset_id}", {"dataset_id": "01J8ZQ"})
    assert matched(api, "/v1/datasets/searching") == ("/v1/datasets/{dataset_id}", {"dataset_id": "searching"})


def test_nested_parameters_are_all_captured(api):
    assert matched(api, "/v1/datasets/ds1/records/customer_record/cust-42") == (
        "/v1/datasets/{dataset_id}/records/{record_type}/{key}",
        {"dataset_id": "ds1", "record_type": "customer_record", "key": "cust-42"},
    )


def test_literal_routes_match_exactly(api):
    assert matched(api, "/v1/datasets") == ("/v1/datasets", {})
    assert matched(api, "/v1/datasets/") == ("/v1/datasets", {})
    assert matched(api, "/v1/record-types") == ("/v1/record-types", {})
    assert matched(api, "/v1/uploads/01J8ZQ") == ("/v1/uploads/{upload_id}", {"upload_id": "01J8ZQ"})


@pytest.mark.parametrize("path", [
    "/v1/nothing", "/v1/datasets/ds1/extra", "/v1/datasets//records/t/k", "/v1", "/v2/datasets",
    "/v1/datasets/ds1/records/t", "/v1/record-types/x", "v1/datasets", "/v1/datasetsX",
])
def test_unknown_paths_do_not_match(api, path):
    assert api.match(path) is None


def test_methods_per_route_and_their_function(api):
    route, _ = api.match("/v1/datasets")
    assert set(route.methods) == {"GET", "POST"}
    assert route.methods["POST"]["function_arn"] == API_ARN
    route, _ = api.match("/v1/uploads")
    assert set(route.methods) == {"POST"}


def test_custom_authorization_uses_the_template_authorizer(api):
    route, _ = api.match("/v1/uploads/x")
    authorizer = route.methods["GET"]["authorizer"]
    assert authorizer is api.authorizers["TokenAuthorizer"]
    assert authorizer.function_arn == AUTH_ARN
    assert authorizer.header == "auth-api-token"
    assert authorizer.ttl_seconds == 60
    route, _ = api.match("/v1/record-types")
    assert route.methods["GET"]["authorizer"] is None


def test_stage_and_gateway_responses(api):
    assert api.stage == "v0"
    assert api.api_id == "RestApi"
    assert api.responses["MISSING_AUTHENTICATION_TOKEN"] == (
        404, {"message": "no such route: check the method and the path"}
    )
    assert api.responses["UNAUTHORIZED"] == DEFAULT_RESPONSES["UNAUTHORIZED"]


def test_token_authorizers_are_refused():
    resources = build_resources(static_first=False)
    resources["TokenAuthorizer"]["Properties"]["Type"] = "TOKEN"
    deployment = SimpleNamespace(template=Template({"Resources": resources}),
                                 functions={"ApiFunction": {"arn": API_ARN}, "SearchFunction": {"arn": API_ARN},
                                            "AuthFunction": {"arn": AUTH_ARN}})
    with pytest.raises(ValueError, match="REQUEST authorizers only"):
        ApiDefinition(deployment)


# -- authorizer policies ---------------------------------------------------------------------------

METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:RestApi/v0/GET/v1/datasets"


def policy(*statements):
    return {"principalId": "acme", "policyDocument": {"Version": "2012-10-17", "Statement": list(statements)}}


def test_policy_allows_matching_wildcard_resource():
    allow = {"Effect": "Allow", "Action": "execute-api:Invoke",
             "Resource": "arn:aws:execute-api:us-east-1:123456789012:RestApi/v0/*"}
    assert allows(policy(allow), METHOD_ARN)
    assert allows(policy({**allow, "Resource": [METHOD_ARN]}), METHOD_ARN)


def test_policy_without_matching_allow_denies():
    other = {"Effect": "Allow", "Resource": "arn:aws:execute-api:us-east-1:123456789012:RestApi/v0/POST/*"}
    assert not allows(policy(other), METHOD_ARN)
    assert not allows(policy(), METHOD_ARN)


def test_explicit_deny_wins_over_allow():
    allow = {"Effect": "Allow", "Resource": "*"}
    deny = {"Effect": "Deny", "Resource": METHOD_ARN}
    assert not allows(policy(allow, deny), METHOD_ARN)
    assert not allows(policy(deny, allow), METHOD_ARN)



def test_earlier_literal_segment_wins_over_a_later_one():
    resources = build_resources(static_first=False)
    resources.update({
        "AnyThing": api_resource({"Ref": "V1"}, "{thing}"),
        "AnyLiteral": api_resource({"Ref": "AnyThing"}, "search"),
        "AnyLiteralGet": method("AnyLiteral", "GET", function="SearchFunction"),
    })
    api = definition_from(resources)
    route, params = api.match("/v1/datasets/search")
    assert route.resource_path == "/v1/datasets/search"
    route, params = api.match("/v1/widgets/search")
    assert route.resource_path == "/v1/{thing}/search" and params == {"thing": "widgets"}
