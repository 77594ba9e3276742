"""Record types as data: one JSON file per type holds its record-key paths and its JSON Schema.

Adding a type means adding a file here; the pipeline, API and CLI read the catalogue.

A type also says how Load applies its lines ("load", default "upsert": the last line per key is
stored as the record) and which record type its lines end up stored as ("stores_as", default its
own name). profile_changes, for instance, is loaded as changes to `profile` records: `profile` is
readable through the records API but is not a type one can upload.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any, Callable

import fastjsonschema
import orjson

# DynamoDB limits a sort key to 1024 bytes; keys are stored as the sort key.
MAX_KEY_BYTES = 1024

UPSERT = "upsert"  # the default load kind: the last line per key becomes the stored record
FORMATS = ("ndjson", "csv")  # the file formats a type accepts unless its file narrows them


@dataclass(frozen=True)
class RecordType:
    name: str
    description: str
    key_paths: tuple[tuple[str, ...], ...]  # alternatives: the first present one is the key
    schema: dict[str, Any]
    _validator: Callable[[Any], Any] = field(repr=False, compare=False)
    key_fields: tuple[tuple[str, ...], ...] = ()  # composite: every one present, joined
    load: str = UPSERT  # how Load applies a line (pipeline.LOADERS holds one strategy per kind)
    stores_as: str = ""  # the record type the store keeps; empty: this type's own name
    formats: tuple[str, ...] = FORMATS

    @property
    def stored_type(self) -> str:
        return self.stores_as or self.name

    def key_of(self, record: Any) -> str | None:
        """The record's key: the first key path holding a non-empty string or integer, or for
        event types the identifying fields joined with '|' (so a re-sent event keeps its key)."""
        if not isinstance(record, dict):
            return None
        if self.key_fields:
            parts = [_key_part(_at(record, path), allow_objects=True) for path in self.key_fields]
            return None if any(part is None for part in parts) else "|".join(parts)
        for path in self.key_paths:
            part = _key_part(_at(record, path))
            if part is not None:
                return part
        return None

    @property
    def key_description(self) -> str:
        if self.key_fields:
            return " and ".join(".".join(path) for path in self.key_fields)
        return " or ".join(".".join(path) for path in self.key_paths)

    def problem_with(self, record: Any) -> str | None:
        """None when the record is valid, else 'field.path: rule broken'."""
        if not isinstance(record, dict):
            return f"expected a JSON object, got {json_kind(record)}"
        try:
            self._validator(record)
        except fastjsonschema.JsonSchemaValueException as exc:
            return describe_schema_error(exc)
        key = self.key_of(record)
        if key is None:
            return f"missing record key: {self.key_description} must be a non-empty string or integer"
        if len(key.encode("utf-8")) > MAX_KEY_BYTES:
            return f"{self.key_description}: must be at most {MAX_KEY_BYTES} bytes"
        return None

    def describe(self) -> dict[str, Any]:
        described = {
            "name": self.name,
            "description": self.description,
            "key": [".".join(path) for path in self.key_paths],
            "key_fields": [".".join(path) for path in self.key_fields],
            "schema": self.schema,
        }
        if self.load != UPSERT:
            described.update(load=self.load, stored_as=self.stored_type, formats=list(self.formats))
        return described


def _at(record: Any, path: tuple[str, ...]) -> Any:
    value = record
    for part in path:
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _key_part(value: Any, allow_objects: bool = False) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # JSON Schema counts 5.0 as the integer 5; so do keys
    if isinstance(value, str) and value:
        return value
    if allow_objects and isinstance(value, dict) and value:
        # e.g. a link object: the same identifiers in any order give the same key
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    return None


def json_kind(value: Any) -> str:
    """A JSON value's kind as rejection messages name it ("a string", "an array", ...)."""
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if value is None:
        return "null"
    return type(value).__name__


def _format_path(path: list[Any]) -> str:
    text = ""
    for part in path[1:]:  # path[0] is fastjsonschema's root name "data"
        if isinstance(part, int) or (isinstance(part, str) and part.isdigit()):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(record)"


_RULE_TEXT = {
    "type": lambda d: f"must be of type {' or '.join(d) if isinstance(d, list) else d}",
    "required": lambda d: f"must contain {', '.join(d)}",
    "minimum": lambda d: f"must be ≥ {d}",
    "maximum": lambda d: f"must be ≤ {d}",
    "exclusiveMinimum": lambda d: f"must be > {d}",
    "exclusiveMaximum": lambda d: f"must be < {d}",
    "minLength": lambda d: f"must be at least {d} characters long",
    "maxLength": lambda d: f"must be at most {d} characters long",
    "pattern": lambda d: f"must match the pattern {d}",
    "enum": lambda d: f"must be one of {', '.join(json.dumps(v) for v in d)}",
    "minProperties": lambda d: f"must have at least {d} field(s)",
    "minItems": lambda d: f"must have at least {d} item(s)",
    "format": lambda d: f"must be a valid {d}",
}


def describe_schema_error(exc: fastjsonschema.JsonSchemaValueException) -> str:
    path = _format_path(list(exc.path or ["data"]))
    if exc.rule == "required":
        # fastjsonschema reports the object's path; name the missing fields under it.
        present = exc.value if isinstance(exc.value, dict) else {}
        missing = [name for name in exc.rule_definition or [] if name not in present]
        return "; ".join(
            f"{path + '.' if path != '(record)' else ''}{name}: is required" for name in missing
        )
    if exc.rule == "anyOf":
        options = []
        for option in exc.rule_definition or []:
            options.extend(option.get("required", []))
        if options:
            return f"{path}: must contain one of {', '.join(options)}"
    if exc.rule is None and exc.message.endswith("must not be there"):
        return f"{path}: is not allowed here"  # a `false` subschema, e.g. a value on a delete
    render = _RULE_TEXT.get(exc.rule)
    if render is not None:
        return f"{path}: {render(exc.rule_definition)}"
    return f"{path}: {exc.message}"


def _load(document: dict[str, Any]) -> RecordType:
    key_paths = tuple(tuple(path.split(".")) for path in document.get("key", []))
    key_fields = tuple(tuple(path.split(".")) for path in document.get("key_fields", []))
    if bool(key_paths) == bool(key_fields):
        raise ValueError(f"record type {document.get('name')}: give exactly one of 'key' or 'key_fields'")
    return RecordType(
        name=document["name"],
        description=document.get("description", ""),
        key_paths=key_paths,
        key_fields=key_fields,
        schema=document["schema"],
        _validator=fastjsonschema.compile(document["schema"]),
        load=document.get("load", UPSERT),
        stores_as=document.get("stores_as", ""),
        formats=tuple(document.get("formats", FORMATS)),
    )


@lru_cache(maxsize=1)
def catalogue() -> dict[str, RecordType]:
    """All record types, compiled once per process."""
    types = {}
    for entry in sorted(resources.files(__name__).iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json"):
            record_type = _load(json.loads(entry.read_text(encoding="utf-8")))
            types[record_type.name] = record_type
    return types


def get(name: str) -> RecordType | None:
    return catalogue().get(name)


def stored_types() -> list[str]:
    """The record types the store holds, hence readable through the records API (e.g. profile)."""
    return sorted({record_type.stored_type for record_type in catalogue().values()})
