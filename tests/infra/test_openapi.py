"""docs/openapi.yaml is valid OpenAPI and describes exactly the routes the template deploys."""

from __future__ import annotations

from pathlib import Path

import yaml
from openapi_spec_validator import validate

from local_stack.api_gateway import ApiDefinition
from local_stack.template import Template

OPENAPI_PATH = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def openapi_document() -> dict:
    return yaml.safe_load(OPENAPI_PATH.read_text())


def documented_routes(document: dict) -> set[tuple[str, str]]:
    return {(path, method.upper()) for path, item in document["paths"].items() for method in item
            if method in HTTP_METHODS}


def template_routes(template: dict) -> set[tuple[str, str]]:
    """(resource path, HTTP method) of every AWS::ApiGateway::Method, paths resolved as the local API Gateway does."""
    parsed = Template(template)
    paths = ApiDefinition._resource_paths(parsed)
    return {(paths[props["ResourceId"]["Ref"]], props["HttpMethod"])
            for props in (res["Properties"] for res in parsed.of_type("AWS::ApiGateway::Method").values())}


def test_the_openapi_document_is_valid():
    validate(openapi_document())


def test_the_openapi_document_describes_exactly_the_deployed_routes(template):
    from infra.console import CONSOLE_ROUTES  # web pages, not API operations (README: The console)

    documented = documented_routes(openapi_document())
    deployed = template_routes(template) - {(path, method) for method, path in CONSOLE_ROUTES}
    assert deployed, "the template has no API methods: the resolver found nothing to compare"
    undocumented, not_deployed = sorted(deployed - documented), sorted(documented - deployed)
    assert not undocumented, f"routes deployed but missing from docs/openapi.yaml: {undocumented}"
    assert not not_deployed, f"routes in docs/openapi.yaml that the template does not deploy: {not_deployed}"


def test_every_operation_documents_the_gateway_answers_and_json_errors():
    for path, item in openapi_document()["paths"].items():
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            responses = operation["responses"]
            assert {"401", "403", "413", "429"} <= set(responses), f"{method.upper()} {path}"
            assert any(status.startswith("2") for status in responses), f"{method.upper()} {path}"
            assert operation.get("operationId"), f"{method.upper()} {path}"


def test_throttled_answers_document_retry_after():
    throttled = openapi_document()["components"]["responses"]["Throttled"]
    assert throttled["headers"]["Retry-After"]["required"] is True


def test_every_operation_documents_503_service_busy_with_retry_after():
    """Every route reads or writes DynamoDB (or S3, Step Functions): AWS may throttle any of them
    (adapters/aws_errors.py)."""
    document = openapi_document()
    busy = document["components"]["responses"]["ServiceBusy"]
    assert busy["headers"]["Retry-After"]["required"] is True
    assert busy["headers"]["Retry-After"]["schema"]["minimum"] >= 1
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                assert operation["responses"].get("503") == {"$ref": "#/components/responses/ServiceBusy"}, \
                    f"{method.upper()} {path}: 503 undocumented"


def test_every_route_contract_of_the_api_function_is_documented_with_its_success_status():
    """handlers/http.py ROUTES (what each route reads and answers) against the document's operations."""
    from ingest.handlers import api  # noqa: F401  (registers every route of the API function)
    from ingest.handlers.http import ROUTES

    document = openapi_document()
    contracts = {(route.path, route.method): route for route in ROUTES}
    documented = documented_routes(document)
    assert set(contracts) <= documented, f"routes without an operation: {sorted(set(contracts) - documented)}"
    for (path, method), route in contracts.items():
        responses = document["paths"][path][method.lower()]["responses"]
        assert str(route.status) in responses, f"{method} {path} answers {route.status}, undocumented"
        operation = document["paths"][path][method.lower()]
        sends_body = route.body is not None or route.form is not None
        assert sends_body == ("requestBody" in operation), f"{method} {path}: request body documented wrongly"


def test_exactly_the_idempotent_routes_document_the_idempotency_key_its_422_and_its_409():
    """A route declared idempotent (handlers/http.py) takes the Idempotency-Key header, and answers 400
    (a malformed key), 422 (the key with another body) and 409 (the key's first request still running);
    no other route takes the header."""
    from ingest.handlers import api  # noqa: F401  (registers every route of the API function)
    from ingest.handlers.http import ROUTES

    document = openapi_document()
    header = {"$ref": "#/components/parameters/IdempotencyKey"}
    idempotent = {(route.path, route.method) for route in ROUTES if route.idempotent}
    assert {("/v1/datasets", "POST"), ("/v1/uploads", "POST"), ("/v1/tokens", "POST"), ("/v1/import-keys", "POST"),
            ("/v1/datasets/{dataset_id}/clear", "POST"), ("/analytics/files/upload", "POST"),
            ("/v1/imports/profiles/upload", "POST"), ("/v1/imports/audiences/list", "POST"),
            ("/v1/imports/audiences/list/{audience_list_id}", "PUT"),
            ("/v1/uploads/{upload_id}/retry", "POST"), ("/v1/webhooks", "POST"),
            ("/v1/uploads/{upload_id}/revert", "POST"),
            ("/v1/uploads/{upload_id}/parts", "POST"), ("/v1/uploads/{upload_id}/complete", "POST")} == idempotent
    for route in ROUTES:
        operation = document["paths"][route.path][route.method.lower()]
        takes_key = header in operation.get("parameters", [])
        assert takes_key == route.idempotent, f"{route.method} {route.path}: Idempotency-Key documented wrongly"
        if route.idempotent:
            # 400: a malformed key.
            assert {"400", "409", "422"} <= set(operation["responses"]), f"{route.method} {route.path}"
