"""The console's routes in the template: public GETs of its own function, which may call no AWS API;
the bucket's CORS rule that its browser uploads need."""

from __future__ import annotations

import pytest

import tests.infra.test_template as base  # a module, so pytest does not collect its tests twice here
from infra.console import CONSOLE_ROUTES
from tests.conftest import TEST_CONTEXT


@pytest.fixture(scope="module")
def functions(template) -> dict[str, str]:
    return base.functions.__wrapped__(template)


@pytest.fixture(scope="module")
def named(template, functions) -> dict[str, str]:
    return base.named.__wrapped__(template, functions)


def console_methods(template, functions) -> dict[tuple[str, str], dict]:
    routes = {}
    api_resources = base.resources(template, "AWS::ApiGateway::Resource")
    for method in base.resources(template, "AWS::ApiGateway::Method").values():
        p = method["Properties"]
        if {"Fn::GetAtt": [functions["console"], "Arn"]} not in p["Integration"]["Uri"]["Fn::Join"][1]:
            continue
        path, parent = "", p["ResourceId"]
        while base.ref_target(parent) in api_resources:
            resource = api_resources[base.ref_target(parent)]["Properties"]
            path, parent = f"/{resource['PathPart']}{path}", resource["ParentId"]
        routes[(p["HttpMethod"], path)] = p
    return routes


def test_the_console_is_two_public_gets_of_its_own_function(template, functions):
    methods = console_methods(template, functions)
    assert set(methods) == CONSOLE_ROUTES
    for route, p in methods.items():
        assert p["AuthorizationType"] == "NONE" and not p.get("ApiKeyRequired"), route
        assert p["Integration"]["Type"] == "AWS_PROXY", route


def test_no_other_method_is_public(template, functions):
    console = console_methods(template, functions)
    public = [m["Properties"] for m in base.resources(template, "AWS::ApiGateway::Method").values()
              if m["Properties"].get("AuthorizationType", "NONE") == "NONE"]
    assert len(public) == len(console) == 2


def test_the_console_function_may_call_no_aws_api(template, functions):
    statements = base.function_statements(template, functions["console"])
    actions = {action.lower() for statement in statements for action in
               ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])}
    assert actions <= base.UNSCOPABLE_ACTIONS | {"logs:createlogstream", "logs:putlogevents"}, actions


def test_the_uploads_bucket_lets_browsers_put_and_get_through_presigned_urls_only(template, named):
    (rule,) = base.props(template, named["bucket"])["CorsConfiguration"]["CorsRules"]
    assert sorted(rule["AllowedMethods"]) == ["GET", "PUT"]  # no DELETE, no POST: complete and abort go via the API
    assert rule["AllowedHeaders"] == ["content-type"]
    assert rule["ExposedHeaders"] == ["ETag"]  # a multipart client completes with each part's ETag
    # The configured origins (CDK context browser_upload_origins; tests/conftest.py sets the local stack's).
    assert rule["AllowedOrigins"] == [TEST_CONTEXT["browser_upload_origins"]]


def test_the_stack_names_the_console_url(template):
    joined = template["Outputs"]["ConsoleUrl"]["Value"]["Fn::Join"][1]
    assert joined[-1] == "/console"
