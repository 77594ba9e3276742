"""Our own record types (profile_changes, audience_member): strict JSON Schema, no conversions.

Checked by fastjsonschema; a rejection names the field path and the rule broken. CSV cells are
typed by the schema's type for the column.
"""

from __future__ import annotations

import json
import re
from typing import Any

import fastjsonschema
import orjson


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
    render = _RULE_TEXT.get(exc.rule) if exc.rule is not None else None
    if render is not None:
        return f"{path}: {render(exc.rule_definition)}"
    return f"{path}: {exc.message}"


_INTEGER = re.compile(r"^[+-]?\d+$")
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_TRUE = {"true", "yes", "1"}
_FALSE = {"false", "no", "0"}


class SchemaChecker:
    """A JSON Schema as a record type's checker and CSV columns."""

    def __init__(self, schema: dict[str, Any]):
        self.schema = schema
        self._validate = fastjsonschema.compile(schema)

    def problem_with(self, record: dict) -> str | None:
        try:
            self._validate(record)
        except fastjsonschema.JsonSchemaValueException as exc:
            return describe_schema_error(exc)
        return None

    def _schema_at(self, path: list[str]) -> dict | None:
        node = self.schema
        for part in path:
            properties = node.get("properties")
            if properties is None:
                # A free-form object accepts any nested field.
                return {} if node.get("type") in ("object", None) and node is not self.schema else None
            node = properties.get(part)
            if node is None:
                return None
        return node

    def column(self, path: list[str]):
        node = self._schema_at(path)
        if node is None:
            return None
        kinds = node.get("type", "string")
        kinds = kinds if isinstance(kinds, list) else [kinds]
        return lambda cell: _typed(cell, kinds)

    def missing(self, header: set[str]) -> list[str]:
        schema = self.schema
        missing: list[str] = []
        for field in schema.get("required", []):
            node = schema.get("properties", {}).get(field, {})
            if field in header:
                continue
            under = [name[len(field) + 1:] for name in header if name.startswith(field + ".")]
            if node.get("type") == "object" and under:
                missing.extend(f"{field}.{f}" for f in node.get("required", []) if f not in under)
                continue
            missing.append(field if node.get("type") != "object" else f"{field}.*")
        return missing


def _typed(cell: str, kinds: list[str]) -> Any:
    """The cell as the schema's type; left as text when it does not convert (validation says why)."""
    if "string" in kinds:
        return cell
    text = cell.strip()
    for kind in kinds:
        if kind == "integer" and _INTEGER.match(text):
            return int(text)
        if kind == "number" and _NUMBER.match(text):
            return int(text) if _INTEGER.match(text) else float(text)
        if kind == "boolean" and text.lower() in _TRUE | _FALSE:
            return text.lower() in _TRUE
        if kind in ("object", "array") and text[:1] in ("{", "["):
            try:
                return orjson.loads(text)
            except orjson.JSONDecodeError:
                pass
    return cell
