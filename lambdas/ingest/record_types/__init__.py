"""Record types as data: one JSON file per type holds its record-key paths and its JSON Schema.

Adding a type means adding a file here; the pipeline, API and CLI read the catalogue.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any, Callable

import fastjsonschema

# DynamoDB limits a sort key to 1024 bytes; keys are stored as the sort key.
MAX_KEY_BYTES = 1024


@dataclass(frozen=True)
class RecordType:
    name: str
    description: str
    key_paths: tuple[tuple[str, ...], ...]
    schema: dict[str, Any]
    _validator: Callable[[Any], Any] = field(repr=False, compare=False)

    def key_of(self, record: Any) -> str | None:
        """The record's key: the first key path holding a non-empty string or integer."""
        if not isinstance(record, dict):
            return None
        for path in self.key_paths:
            value: Any = record
            for part in path:
                value = value.get(part) if isinstance(value, dict) else None
            if isinstance(value, bool):
                continue
            if isinstance(value, int):
                return str(value)
            if isinstance(value, float) and value.is_integer():
                return str(int(value))  # JSON Schema counts 5.0 as the integer 5; so do keys
            if isinstance(value, str) and value:
                return value
        return None

    @property
    def key_description(self) -> str:
        return " or ".join(".".join(path) for path in self.key_paths)

    def problem_with(self, record: Any) -> str | None:
        """None when the record is valid, else 'field.path: rule broken'."""
        if not isinstance(record, dict):
            return f"expected a JSON object, got {_json_kind(record)}"
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
        return {
            "name": self.name,
            "description": self.description,
            "key": [".".join(path) for path in self.key_paths],
            "schema": self.schema,
        }


def _json_kind(value: Any) -> str:
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
    render = _RULE_TEXT.get(exc.rule)
    if render is not None:
        return f"{path}: {render(exc.rule_definition)}"
    return f"{path}: {exc.message}"


def _load(document: dict[str, Any]) -> RecordType:
    key_paths = tuple(tuple(path.split(".")) for path in document["key"])
    return RecordType(
        name=document["name"],
        description=document.get("description", ""),
        key_paths=key_paths,
        schema=document["schema"],
        _validator=fastjsonschema.compile(document["schema"]),
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
