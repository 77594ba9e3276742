"""Template assertions for the compatible APIs (infra/imports.py, IMPORT_ROUTES in infra/api.py):
the Basic authorizer and its routes, binary multipart bodies, least privilege on the imports and
quotas tables, an index that never projects a secret hash, and quota limits from CDK context."""

from __future__ import annotations

import pytest

import tests.infra.test_template as base  # a module, so pytest does not collect its tests twice here

BASIC_AUTH_SOURCE = "method.request.header.Authorization,context.identity.sourceIp"
IMPORT_ROUTES = {("POST", "/v1/imports/profiles/upload"), ("GET", "/v1/imports/profiles/status/{activity_id}"),
                 # Localytics Audience Imports ("/list/" reaches the "/list" resource).
                 ("POST", "/v1/imports/audiences/list"),
                 ("GET", "/v1/imports/audiences/list/status/{activity_id}"),
                 ("PUT", "/v1/imports/audiences/list/{audience_list_id}"),
                 ("DELETE", "/v1/imports/audiences/list/{audience_list_id}"),
                 ("PUT", "/v1/imports/audiences/list/{audience_list_id}/name"),
                 ("GET", "/v1/imports/audiences/list/app/{app_id}")}


@pytest.fixture(scope="module")
def functions(template) -> dict[str, str]:
    by_handler = base.project_functions(template)
    return {name: by_handler[handler] for name, handler in base.HANDLERS.items()}


@pytest.fixture(scope="module")
def tables(template, functions) -> dict[str, str]:
    env = base.props(template, functions["api"])["Environment"]["Variables"]
    return {"imports": base.ref_target(env["IMPORTS_TABLE"]), "quotas": base.ref_target(env["QUOTAS_TABLE"]),
            "accounts": base.ref_target(env["ACCOUNTS_TABLE"]), "tokens": base.ref_target(env["TOKENS_TABLE"]),
            "datasets": base.ref_target(env["DATASETS_TABLE"])}


def _basic_authorizer(template) -> tuple[str, dict]:
    (found,) = [(lid, a) for lid, a in base.resources(template, "AWS::ApiGateway::Authorizer").items()
                if a["Properties"]["IdentitySource"] == BASIC_AUTH_SOURCE]
    return found


def test_import_routes_use_the_basic_authorizer_and_no_usage_plan_key(template, functions):
    basic_id, basic = _basic_authorizer(template)
    assert basic["Properties"]["Type"] == "REQUEST"
    assert 0 < basic["Properties"]["AuthorizerResultTtlInSeconds"] <= base.MAX_AUTHORIZER_TTL
    uri_parts = basic["Properties"]["AuthorizerUri"]["Fn::Join"][1]
    assert {"Fn::GetAtt": [functions["import_authorizer"], "Arn"]} in uri_parts
    routes = base.reconstruct_routes(template)
    assert IMPORT_ROUTES <= routes
    api_resources = base.resources(template, "AWS::ApiGateway::Resource")
    basic_routes = set()
    for method in base.resources(template, "AWS::ApiGateway::Method").values():
        p = method["Properties"]
        if base.ref_target(p.get("AuthorizerId")) == basic_id:
            path, parent = "", p["ResourceId"]
            while base.ref_target(parent) in api_resources:
                resource = api_resources[base.ref_target(parent)]["Properties"]
                path, parent = f"/{resource['PathPart']}{path}", resource["ParentId"]
            basic_routes.add((p["HttpMethod"], path))
            assert not p.get("ApiKeyRequired"), path  # the usage plan's keys are per token
            assert {"Fn::GetAtt": [functions["api"], "Arn"]} in p["Integration"]["Uri"]["Fn::Join"][1]
    assert basic_routes == IMPORT_ROUTES  # and no other route accepts an import key


def test_multipart_bodies_are_binary_so_files_arrive_intact(template):
    (rest_api,) = base.resources(template, "AWS::ApiGateway::RestApi").values()
    assert "multipart/form-data" in rest_api["Properties"]["BinaryMediaTypes"]


def test_the_import_authorizer_may_only_read_keys_and_account_settings(template, functions, tables):
    statements = base.function_statements(template, functions["import_authorizer"])
    imports, accounts = base.table_arn(tables["imports"]), base.table_arn(tables["accounts"])
    assert base.allows(template, statements, "dynamodb:GetItem", imports)
    assert base.allows(template, statements, "dynamodb:GetItem", accounts)
    for action, arn in [("dynamodb:PutItem", imports), ("dynamodb:UpdateItem", imports), ("dynamodb:Query", imports),
                        ("dynamodb:Scan", imports), ("dynamodb:PutItem", accounts),
                        ("dynamodb:GetItem", base.table_arn(tables["tokens"])),
                        ("dynamodb:UpdateItem", base.table_arn(tables["quotas"])),
                        ("dynamodb:GetItem", base.table_arn(tables["datasets"]))]:
        assert not base.allows(template, statements, action, arn), (action, arn)
    env = base.props(template, functions["import_authorizer"])["Environment"]["Variables"]
    assert "TOKENS_TABLE" not in env


def test_the_api_may_use_the_imports_and_quotas_tables_only_as_the_routes_need(template, functions, tables):
    statements = base.function_statements(template, functions["api"])
    imports, quotas = base.table_arn(tables["imports"]), base.table_arn(tables["quotas"])
    for action in ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"):
        assert base.allows(template, statements, action, imports), action
    assert base.allows(template, statements, "dynamodb:Query", imports + "/index/by_account")
    assert base.allows(template, statements, "dynamodb:UpdateItem", quotas)
    for action, arn in [("dynamodb:Scan", imports), ("dynamodb:DeleteItem", imports), ("dynamodb:Query", imports),
                        ("dynamodb:GetItem", quotas), ("dynamodb:DeleteItem", quotas), ("dynamodb:Scan", quotas)]:
        assert not base.allows(template, statements, action, arn), (action, arn)
    for name, lid in functions.items():
        if name not in ("api", "import_authorizer"):
            others = base.function_statements(template, lid)
            assert not base.allows(template, others, "dynamodb:GetItem", imports), name


def test_import_keys_index_projects_no_secret_hash_and_quota_counters_expire(template, tables):
    imports = base.props(template, tables["imports"])
    (index,) = imports["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "by_account"
    assert index["Projection"]["ProjectionType"] == "INCLUDE"
    assert "secret_hash" not in index["Projection"]["NonKeyAttributes"]
    quotas = base.props(template, tables["quotas"])
    assert quotas["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}


def test_quota_limits_come_from_cdk_context_with_localytics_defaults(template, functions):
    env = base.props(template, functions["api"])["Environment"]["Variables"]
    assert (env["PROFILE_UPLOADS_PER_HOUR"], env["PROFILE_STATUS_REQUESTS_PER_MINUTE"]) == ("10", "60")
    # The audience routes' quotas: their own context keys, the same defaults.
    assert (env["AUDIENCE_UPLOADS_PER_HOUR"], env["AUDIENCE_STATUS_REQUESTS_PER_MINUTE"]) == ("10", "60")
