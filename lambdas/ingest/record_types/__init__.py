"""The record-type catalogue: Lexer's twelve types (declared in lexer.py) and our own two (JSON files).

A type says how a line is checked, what its record key is, and how Load applies it ("load", default
"upsert": the last line per key is stored as the record; "stores_as": the record type the store
keeps, default its own name). profile_changes, for instance, is loaded as changes to `profile`
records: `profile` is readable through the records API but is not a type one can upload.

Checking and keying are separate steps on purpose: `problem_with` judges a parsed line, `key_of`
reads the key of a line already judged good, and the stored record is the line as sent. `check_line`
puts a typed accept path (fast_path.py, Lexer's types) in front of them: it accepts only lines the
exact checker accepts, with the same key, and leaves every other line and every message to it.

Old names stay as aliases (`purchase_event` is `purchase`): `get` takes either, `canonical` says which.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

import orjson

from ingest.record_types import fast_path, lexer, schema_types
from ingest.record_types.keys import MAX_KEY_BYTES, FieldKey, PathKey
from ingest.record_types.model import Model, describe_problems

UPSERT = "upsert"  # the default load kind: the last line per key becomes the stored record
FORMATS = ("ndjson", "csv")  # the file formats a type accepts unless its file narrows them
JSON_SCHEMA_DIALECT = "http://json-schema.org/draft-07/schema#"

json_kind = schema_types.json_kind


@dataclass(frozen=True)
class RecordType:
    name: str
    description: str
    schema: dict[str, Any]  # served by GET /v1/record-types
    key: Any  # keys.FieldKey, LinkKey, ReferenceKey or PathKey: .of(record), .description
    judge: Callable[[Any], str | None]  # the problem with a parsed object as Lexer judges it, or None
    columns: Any  # CSV: .column(path) -> cell typer or None, .missing(header) -> [columns]
    aliases: tuple[str, ...] = ()
    source: str = ""  # the lexer-schemas file it follows (Lexer's types)
    load: str = UPSERT  # how Load applies a line (pipeline.LOADERS holds one strategy per kind)
    stores_as: str = ""  # the record type the store keeps; empty: this type's own name
    formats: tuple[str, ...] = FORMATS
    # How check_line is made: fast_path.line_checker's arguments but the last two (the exact checks
    # of a line and of a parsed record), or None for no typed path.
    typed_path: tuple[str, Any, Any] | None = None
    # check_line(line) -> (problem, None) to reject it, else (None, its record key): `check` for one
    # line of JSON. A line the typed accept path (fast_path.py) takes costs about its parse; any other
    # is parsed and judged by the exact checker, which alone words the problems.
    check_line: Callable[[bytes], tuple[str | None, str | None]] = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        checker: Callable[[bytes], tuple[str | None, str | None]] = self.check_line_exactly
        if self.typed_path is not None:
            checker = fast_path.line_checker(*self.typed_path, checker, self.check)
        object.__setattr__(self, "check_line", checker)

    @property
    def stored_type(self) -> str:
        return self.stores_as or self.name

    @property
    def key_description(self) -> str:
        return self.key.description

    def check(self, record: Any) -> tuple[str | None, str | None]:
        """(problem, None) for a line to reject, else (None, its record key)."""
        if not isinstance(record, dict):
            return f"expected a JSON object, got {json_kind(record)}", None
        problem = self.judge(record)
        if problem:
            return problem, None
        key = self.key.of(record)
        if not key:
            if isinstance(self.key, FieldKey):
                return f"{self.key.field}: must not be empty (it is the record key)", None
            return f"missing record key: {self.key.description} must be a non-empty string or integer", None
        if len(key.encode("utf-8")) > MAX_KEY_BYTES:
            return f"{self.key.field_of(record)}: must be at most {MAX_KEY_BYTES} bytes (it is the record key)", None
        return None, key

    def check_line_exactly(self, line: bytes) -> tuple[str | None, str | None]:
        """check_line without the typed path: the line parsed by orjson and judged by `check`."""
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            return f"invalid JSON: {exc}", None
        return self.check(record)

    def problem_with(self, record: Any) -> str | None:
        """None when the line is accepted, else 'field.path: rule broken'."""
        return self.check(record)[0]

    def key_of(self, record: Any) -> str | None:
        return self.check(record)[1]

    def route_key(self, record: Any) -> str | None:
        """The key of a line not yet checked (Split routes by it without paying for the check): the
        same key a good line gets in Load; None, or any key, for a line Load will reject."""
        try:
            return self.key.of(record) or None
        except Exception:  # noqa: BLE001 - a bad line has no key: Load rejects it in whichever chunk
            return None

    def describe(self) -> dict[str, Any]:
        described = {
            "name": self.name,
            "description": self.description,
            "aliases": list(self.aliases),
            "key": self.key.description,
            "schema": self.schema,
        }
        if self.source:
            described["lexer_source"] = self.source
        if self.load != UPSERT:
            described.update(load=self.load, stored_as=self.stored_type, formats=list(self.formats))
        return described


class _DeclaredColumns:
    """CSV columns of a declared type: dotted paths through its model."""

    def __init__(self, model: Model):
        self.model = model

    def column(self, path: list[str]) -> Callable[[str], Any] | None:
        kind = self.model.column(path)
        return None if kind is None or kind is self.model else kind.csv_value

    def missing(self, header: set[str]) -> list[str]:
        return self.model.missing_columns("", header)


def _declared(declared: lexer.LexerType) -> RecordType:
    check_model = declared.model.compile()

    def check(record: dict) -> str | None:
        problems = check_model(record)
        return describe_problems(problems) if problems else None

    schema = {"$schema": JSON_SCHEMA_DIALECT, "title": declared.name, **declared.model.json_schema(),
              "description": declared.description}
    return RecordType(
        name=declared.name, description=declared.description, schema=schema, key=declared.key,
        judge=check, columns=_DeclaredColumns(declared.model), aliases=declared.aliases,
        source=declared.source, typed_path=(declared.name, declared.model, declared.key),
    )


def _from_json(document: dict[str, Any]) -> RecordType:
    checker = schema_types.SchemaChecker(document["schema"])
    return RecordType(
        name=document["name"],
        description=document.get("description", ""),
        schema=document["schema"],
        key=PathKey(tuple(tuple(path.split(".")) for path in document["key"])),
        judge=checker.problem_with,
        columns=checker,
        load=document.get("load", UPSERT),
        stores_as=document.get("stores_as", ""),
        formats=tuple(document.get("formats", FORMATS)),
    )


@lru_cache(maxsize=1)
def catalogue() -> dict[str, RecordType]:
    """All record types by canonical name, compiled once per process."""
    types = {declared.name: _declared(declared) for declared in lexer.TYPES}
    for entry in sorted(resources.files(__name__).iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json"):
            record_type = _from_json(json.loads(entry.read_text(encoding="utf-8")))
            types[record_type.name] = record_type
    return dict(sorted(types.items()))


@lru_cache(maxsize=1)
def _aliases() -> dict[str, str]:
    return {alias: record_type.name for record_type in catalogue().values() for alias in record_type.aliases}


def canonical(name: str) -> str | None:
    """The canonical name of a type given by its name or an alias, else None."""
    if name in catalogue():
        return name
    return _aliases().get(name)


def get(name: str) -> RecordType | None:
    """A record type by its name or an alias."""
    resolved = canonical(name)
    return catalogue()[resolved] if resolved else None


def stored_types() -> list[str]:
    """The record types the store holds, hence readable through the records API (e.g. profile)."""
    return sorted({record_type.stored_type for record_type in catalogue().values()})


def partitions_of(name: str) -> set[str]:
    """The record types a dataset may store for a type noted under `name` (a canonical name, an
    alias noted before the rename, or a stored type): Clear Data empties all of them."""
    record_type = get(name)
    stored = {record_type.stored_type} if record_type else set()
    if name in stored_types() or name in _aliases():
        stored.add(name)  # records loaded under an old name keep that name's partitions
    return stored


__all__ = [
    "MAX_KEY_BYTES",
    "UPSERT",
    "RecordType",
    "canonical",
    "catalogue",
    "get",
    "json_kind",
    "partitions_of",
    "stored_types",
]
