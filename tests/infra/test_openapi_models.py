"""docs/openapi.yaml and the API's models (lambdas/ingest/models/) cannot drift.

For every route contract (handlers/http.py ROUTES), the JSON Schema pydantic makes of its request
model (body, multipart form, query, path) and of its answer view is compared with the schema the
document gives that operation: the same properties, the same required ones, the same types and
nullability, and the same enums, bounds and patterns. Descriptions are the document's business. A
model that accepts or answers something the document does not say (or the other way round) fails
here with the operation and the field's path.
"""

from __future__ import annotations

from typing import Annotated, Any, Union

import pytest
from pydantic import Field, TypeAdapter

from ingest.models.accounts import NewTokenView
from tests.infra.test_openapi import openapi_document

# The keywords that constrain a value; each must be stated alike by the model and the document.
CONSTRAINTS = ("enum", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength",
               "pattern", "format", "minItems", "maxItems", "minProperties", "maxProperties")


def _routes():
    from ingest.handlers import api  # noqa: F401  (registers every route of the API function)
    from ingest.handlers.http import ROUTES

    return ROUTES


class Schemas:
    """Reads a schema of either side: follows $ref, merges allOf, and writes nullability one way."""

    def __init__(self, definitions: dict[str, Any], prefix: str):
        self.definitions, self.prefix = definitions, prefix

    def resolve(self, schema: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """(the schema with refs followed and allOf merged, whether null is allowed)."""
        schema = dict(schema)
        while "$ref" in schema:
            ref = schema.pop("$ref")
            assert ref.startswith(self.prefix), ref
            schema = {**self.definitions[ref[len(self.prefix):]], **schema}
        nullable = bool(schema.pop("nullable", False))
        if "allOf" in schema:
            parts = [self.resolve(part) for part in schema.pop("allOf")]
            nullable = nullable or all(part_nullable for _, part_nullable in parts)
            for part, _ in parts:
                schema = self._merge(schema, part)
        for union in ("anyOf", "oneOf"):
            if union in schema:
                options = [option for option in schema[union] if option != {"type": "null"}]
                if len(options) < len(schema[union]):
                    nullable = True
                if len(options) == 1:
                    del schema[union]
                    inner, inner_nullable = self.resolve(options[0])
                    schema = {**inner, **schema}
                    nullable = nullable or inner_nullable
                else:
                    schema[union] = options
        if schema.get("type") == "null":
            return {}, True
        if "const" in schema:
            schema["enum"] = [schema.pop("const")]
        if schema.get("additionalProperties") is True:
            del schema["additionalProperties"]  # the default: open
        return schema, nullable

    @staticmethod
    def _merge(schema: dict[str, Any], part: dict[str, Any]) -> dict[str, Any]:
        merged = {**schema, **{key: value for key, value in part.items() if key not in ("properties", "required")}}
        merged["properties"] = {**schema.get("properties", {}), **part.get("properties", {})}
        merged["required"] = [*schema.get("required", []), *part.get("required", [])]
        return merged


def differences(model_side: tuple[Schemas, dict], document_side: tuple[Schemas, dict], where: str) -> list[str]:
    """Where the model's schema and the document's disagree, one line each (empty: they agree)."""
    model_reader, model_schema = model_side
    document_reader, document_schema = document_side
    model, model_nullable = model_reader.resolve(model_schema)
    document, document_nullable = document_reader.resolve(document_schema)
    found: list[str] = []
    if model_nullable != document_nullable:
        found.append(f"{where}: null allowed by the model: {model_nullable}, by the document: {document_nullable}")
    model_union = model.get("oneOf") or model.get("anyOf")
    document_union = document.get("oneOf") or document.get("anyOf")
    if model_union or document_union:
        if not (model_union and document_union) or len(model_union) != len(document_union):
            return [*found, (f"{where}: one of {len(model_union or [model])} schemas in the model, "
                             f"{len(document_union or [document])} in the document")]
        for index, (model_option, document_option) in enumerate(zip(model_union, document_union, strict=True)):
            found += differences((model_reader, model_option), (document_reader, document_option), f"{where}|{index}")
        return found
    if model.get("type") != document.get("type"):
        found.append(f"{where}: type {model.get('type')!r} in the model, {document.get('type')!r} in the document")
    for keyword in CONSTRAINTS:
        model_value, document_value = model.get(keyword), document.get(keyword)
        if keyword == "enum" and model_value is not None and document_value is not None:
            model_value, document_value = sorted(model_value, key=repr), sorted(document_value, key=repr)
        if model_value != document_value:
            found.append(f"{where}: {keyword} {model_value!r} in the model, {document_value!r} in the document")
    if model.get("type") == "object":
        model_properties, document_properties = model.get("properties", {}), document.get("properties", {})
        for name in sorted(set(model_properties) - set(document_properties)):
            found.append(f"{where}.{name}: in the model, not in the document")
        for name in sorted(set(document_properties) - set(model_properties)):
            found.append(f"{where}.{name}: in the document, not in the model")
        for name in sorted(set(model_properties) & set(document_properties)):
            found += differences((model_reader, model_properties[name]),
                                 (document_reader, document_properties[name]), f"{where}.{name}")
        model_required, document_required = set(model.get("required", [])), set(document.get("required", []))
        if model_required != document_required:
            found.append(f"{where}: required {sorted(model_required)} in the model, "
                         f"{sorted(document_required)} in the document")
        model_extra, document_extra = model.get("additionalProperties"), document.get("additionalProperties")
        if isinstance(model_extra, dict) and isinstance(document_extra, dict):
            found += differences((model_reader, model_extra), (document_reader, document_extra), f"{where}.*")
        elif model_extra != document_extra:
            found.append(f"{where}: additionalProperties {model_extra!r} in the model, "
                         f"{document_extra!r} in the document")
    if model.get("type") == "array":
        found += differences((model_reader, model.get("items", {})), (document_reader, document.get("items", {})),
                             f"{where}[]")
    return found


NO_DEFINITIONS = Schemas({}, "#/$defs/")


def as_text_parameters(side: tuple[Schemas, dict]) -> tuple[Schemas, dict]:
    """A query, form or path model: its optional fields are absent when not sent, never null (all are text)."""
    reader, schema = side
    resolved, _ = reader.resolve(schema)
    properties = {name: {"anyOf": [option for option in value["anyOf"] if option != {"type": "null"}]}
                  if "anyOf" in value else value for name, value in resolved.get("properties", {}).items()}
    return reader, {**resolved, "properties": properties}


def model_side(models: type | tuple[type, ...], mode: str) -> tuple[Schemas, dict]:
    """The JSON Schema of a model (or a union of views) as a request is read ("validation") or an answer written."""
    kind = models if isinstance(models, type) else Union[models]  # noqa: UP007 - a runtime union of the tuple
    schema = TypeAdapter(kind).json_schema(mode=mode, ref_template="#/$defs/{model}")
    return Schemas(schema.pop("$defs", {}), "#/$defs/"), schema


class Document:
    """The operations of docs/openapi.yaml, read as schemas."""

    def __init__(self, document: dict[str, Any]):
        self.document = document
        self.schemas = Schemas(document["components"]["schemas"], "#/components/schemas/")

    def operation(self, path: str, method: str) -> dict[str, Any]:
        return self.document["paths"][path][method.lower()]

    def _component(self, value: dict[str, Any], kind: str) -> dict[str, Any]:
        prefix = f"#/components/{kind}/"
        return self.document["components"][kind][value["$ref"][len(prefix):]] if "$ref" in value else value

    def body(self, path: str, method: str, media_type: str) -> dict[str, Any]:
        return self.operation(path, method)["requestBody"]["content"][media_type]["schema"]

    def answer(self, path: str, method: str, status: int) -> dict[str, Any] | None:
        response = self._component(self.operation(path, method)["responses"][str(status)], "responses")
        content = response.get("content")
        return None if content is None else content["application/json"]["schema"]

    def parameters(self, path: str, method: str, location: str) -> dict[str, Any]:
        """The operation's parameters in `location` (query, path) as one object schema."""
        listed = [*self.document["paths"][path].get("parameters", []),
                  *self.operation(path, method).get("parameters", [])]
        parameters = [self._component(parameter, "parameters") for parameter in listed]
        chosen = [parameter for parameter in parameters if parameter["in"] == location]
        return {"type": "object", "properties": {parameter["name"]: parameter["schema"] for parameter in chosen},
                "required": [parameter["name"] for parameter in chosen if parameter.get("required")]}


def contract_differences(route, document: Document) -> list[str]:
    """Every disagreement between one route contract's models and its operation in the document."""
    where = f"{route.method} {route.path}"
    operation = document.operation(route.path, route.method)
    found: list[str] = []
    if route.body is not None:
        found += differences(model_side(route.body, "validation"),
                             (document.schemas, document.body(route.path, route.method, "application/json")),
                             f"{where} body")
        body_required = operation["requestBody"].get("required", False)
        if body_required == route.optional_body:
            found.append(f"{where}: body required {not route.optional_body} by the route, "
                         f"{body_required} in the document")
    if route.form is not None:
        found += differences(as_text_parameters(model_side(route.form, "validation")),
                             (document.schemas, document.body(route.path, route.method, "multipart/form-data")),
                             f"{where} form")
    # A route without a query model reads no query parameters: the document must list none.
    query = (as_text_parameters(model_side(route.query, "validation")) if route.query is not None
             else (NO_DEFINITIONS, {"type": "object"}))
    found += differences(query, (document.schemas, document.parameters(route.path, route.method, "query")),
                         f"{where} query")
    if route.address is not None:
        found += differences(as_text_parameters(model_side(route.address, "validation")),
                             (document.schemas, document.parameters(route.path, route.method, "path")), f"{where} path")
    documented_answer = document.answer(route.path, route.method, route.status)
    if route.answer is None:
        if documented_answer is not None:
            found.append(f"{where}: answers {route.status} without a body; the document gives it one")
    elif documented_answer is None:
        found.append(f"{where}: answers {route.status} with a body; the document gives it none")
    else:
        found += differences(model_side(route.answer, "serialization"), (document.schemas, documented_answer),
                             f"{where} {route.status}")
    return found


@pytest.fixture(scope="module")
def document() -> Document:
    return Document(openapi_document())


@pytest.mark.parametrize("route", _routes(), ids=lambda route: f"{route.method} {route.path}")
def test_each_route_contract_and_its_documented_operation_state_the_same_schemas(route, document):
    assert contract_differences(route, document) == []


def test_models_that_drift_from_the_document_are_caught(document):
    """The check itself: an answer view and a request model that each disagree with their operation fail it."""
    from ingest.handlers.http import Route
    from ingest.models.accounts import MAX_LABEL_LENGTH
    from ingest.models.base import RequestModel, View

    class DriftedAccount(View):
        account_id: int  # the document says string
        ip_allowlist: list[str]
        nickname: str  # not in the document; rate_limit is missing

    found = contract_differences(Route(method="GET", path="/v1/account", status=200, answer=DriftedAccount), document)
    assert "GET /v1/account 200.account_id: type 'integer' in the model, 'string' in the document" in found
    assert "GET /v1/account 200.nickname: in the model, not in the document" in found
    assert "GET /v1/account 200.rate_limit: in the document, not in the model" in found

    class DriftedNewToken(RequestModel):
        unknown_fields_message = "only label can be given; got {unknown}"
        label: Annotated[str | None, Field(max_length=MAX_LABEL_LENGTH + 1)] = None

    found = contract_differences(Route(method="POST", path="/v1/tokens", status=201, answer=NewTokenView,
                                       body=DriftedNewToken, optional_body=True), document)
    assert found == [(f"POST /v1/tokens body.label: maxLength {MAX_LABEL_LENGTH + 1} in the model, "
                      f"{MAX_LABEL_LENGTH} in the document")]
