"""The two kinds of model at the API's edges, and the markers their JSON Schemas follow.

- RequestModel: what a route reads (body, query, form). Fields are checked in declaration order
  and the first broken rule ends the parse with a BadRequestError naming the field, in the same
  words the API has always used: a field's rule is a BeforeValidator that raises BadRequestError
  itself (pydantic lets any exception but ValueError/AssertionError pass through untouched), and
  every field has a default with validate_default on, so a missing field meets its rule in turn
  instead of being collected as pydantic's "missing" error. REQUIRED marks the fields the JSON
  Schema (docs/openapi.yaml) lists as required all the same.
- View: what a route answers. Every field is always present (null when it has no value) unless
  marked OMITTED, which leaves the key out when its value is None; the serialization JSON Schema
  says exactly that.

tests/infra/test_openapi_models.py holds docs/openapi.yaml to both: for every route contract, the
schemas of its models and of its documented operation must say the same.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError, model_serializer, model_validator
from pydantic.json_schema import JsonSchemaValue

from ingest.errors import BadRequestError


class _Marker:
    def __init__(self, name: str):
        self._name = name

    def __repr__(self) -> str:
        return self._name


REQUIRED = _Marker("REQUIRED")  # a request field the caller must send (its rule refuses it missing)
OMITTED = _Marker("OMITTED")  # a view field left out of the answer when it has no value


def _marked(model: type[BaseModel], marker: _Marker) -> list[str]:
    return [field.serialization_alias or field.alias or name for name, field in model.model_fields.items()
            if marker in field.metadata]


class RequestModel(BaseModel):
    """A request's input, parsed once at the edge (see the module docstring)."""

    model_config = ConfigDict(frozen=True, validate_default=True, extra="ignore", populate_by_name=True,
                              arbitrary_types_allowed=True)
    # "only name and description can be changed; got {unknown}": set to refuse fields the model lacks.
    unknown_fields_message: ClassVar[str | None] = None

    @model_validator(mode="before")
    @classmethod
    def _unknown_fields_first(cls, data: Any) -> Any:
        return cls.refuse_unknown_fields(data)

    @classmethod
    def refuse_unknown_fields(cls, data: Any) -> Any:
        """Unknown fields are refused before any field's rule. A subclass's own "before" validator runs
        ahead of this class's (pydantic runs the last defined first), so it calls this first itself."""
        if cls.unknown_fields_message and isinstance(data, dict):
            known = {field.alias or name for name, field in cls.model_fields.items()}
            unknown = sorted(set(data) - known)
            if unknown:
                raise BadRequestError(cls.unknown_fields_message.format(unknown=", ".join(unknown)))
        return data

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema, handler) -> JsonSchemaValue:
        schema = handler.resolve_ref_schema(handler(core_schema))
        for name in schema.get("properties", {}):
            schema["properties"][name].pop("default", None)  # defaults exist only to run the rules
        required = _marked(cls, REQUIRED)
        if required:
            schema["required"] = required
        else:
            schema.pop("required", None)
        if cls.unknown_fields_message:
            schema["additionalProperties"] = False
        return schema


class View(BaseModel):
    """An answer's body (see the module docstring)."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, json_schema_serialization_defaults_required=True)
    # For Idempotency-Key replays (handlers/idempotency.py), by their names in the body: fields shown once
    # and never kept for a replay (it answers them null), and (id, url, expiry) of a presigned upload URL
    # that a replay signs afresh once it has expired.
    secret_fields: ClassVar[tuple[str, ...]] = ()
    upload_url_fields: ClassVar[tuple[str, str, str] | None] = None

    @model_serializer(mode="wrap")
    def _leave_out_omitted(self, serialize):  # no return annotation: the schema stays the model's
        data = serialize(self)
        for key in _marked(type(self), OMITTED):
            if data.get(key) is None:
                data.pop(key, None)
        return data

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema, handler) -> JsonSchemaValue:
        schema = handler.resolve_ref_schema(handler(core_schema))
        omitted = _marked(cls, OMITTED)
        for name, prop in schema.get("properties", {}).items():
            prop.pop("default", None)
            if name in omitted and "anyOf" in prop:  # absent rather than null
                kept = [option for option in prop.pop("anyOf") if option != {"type": "null"}]
                prop.update(kept[0] if len(kept) == 1 else {"anyOf": kept})
        schema["required"] = [name for name in schema.get("properties", {}) if name not in omitted]
        return schema

    def body(self) -> Any:
        """The JSON-ready answer (field aliases such as datasetType, omitted fields left out)."""
        return self.model_dump(mode="json", by_alias=True)


def parse(model: type[RequestModel], data: Any, what: str = "request body") -> Any:
    """`data` as `model`: a BadRequestError names the first field that breaks its rule."""
    if not isinstance(data, dict):
        raise BadRequestError(f"{what} must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:  # a constraint without a rule of ours: name the field in pydantic's words
        error = exc.errors(include_url=False)[0]
        field = ".".join(str(part) for part in error["loc"]) or what
        raise BadRequestError(f"{field}: {error['msg']}") from None
