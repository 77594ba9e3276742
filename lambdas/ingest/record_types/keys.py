"""Record keys: what "the last line per key wins" compares, derived from a record already validated.

A key is a string (the records table's sort key, at most 1024 bytes). Identifiers are read the way
Lexer's validator reads them (5 is "5", emails lower-cased and stripped), so two lines Lexer would
read as the same identifier share a key. Where one type has identifiers of several kinds, the kind
is part of the key: `email:jane@fake.com`, `customer_id:C-1`, `customer_id@pos:C-1`, `sku:ABC-1`.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any
from urllib.parse import quote

from ingest.record_types.model import as_str, normal_email

# DynamoDB limits a sort key to 1024 bytes; keys are stored as the sort key.
MAX_KEY_BYTES = 1024


@lru_cache(maxsize=1024)
def _encoded_system(name: str) -> str:
    """A qualifier percent-encoded (a file names few systems, so each is encoded once): the first
    ':' of a key always ends it."""
    return quote(name, safe="")


class FieldKey:
    """One identifier field (purchase_id, email_id, ...)."""

    def __init__(self, field: str):
        self.field = field
        self.description = field

    def of(self, record: dict[str, Any]) -> str:
        return as_str(record[self.field])

    def field_of(self, record: dict[str, Any]) -> str:
        return self.field


# Identifier kinds whose values Lexer lower-cases and strips (the link's email, email_sha256, email_md5).
_LOWERED = ("email", "email_sha256", "email_md5")


def _qualified(kind: str, qualifier: Any, value: str) -> str:
    """kind[@qualifier]:value. The qualifier (a system name) is percent-encoded, so the first ':'
    always ends it and two different (qualifier, value) pairs never share a key."""
    if qualifier is None:
        return f"{kind}:{value}"
    return f"{kind}@{_encoded_system(as_str(qualifier))}:{value}"


def link_key(link: dict[str, Any]) -> str:
    """A validated link as `<kind>[@<system>]:<identifier>`."""
    if "email" in link:
        return "email:" + normal_email(link["email"])
    for kind in ("email_sha256", "email_md5"):
        if kind in link:
            return f"{kind}:{as_str(link[kind]).lower().strip()}"
    if "mobile" in link:
        return "mobile:" + as_str(link["mobile"])
    if "customer_id" in link:
        return _qualified("customer_id", link.get("system_name"), as_str(link["customer_id"]))
    if "external_id" in link:
        return _qualified("external_id", link["system_name"], as_str(link["external_id"]))
    # The deprecated {link_type, link_value, id_type}: the same identifier as its modern form, so
    # {"link_type": "email", "link_value": "Jane@x.com"} and {"email": "jane@x.com"} are one customer.
    kind, value = link["link_type"], as_str(link["link_value"])
    if kind in _LOWERED:
        value = value.lower().strip()
    id_type = link.get("id_type", "default")
    return _qualified(kind, None if id_type in (None, "default") else id_type, value)


class LinkKey:
    """customer_record: the customer its link identifies."""

    description = "link as <kind>:<identifier> (email:jane@fake.com, customer_id@<system_name>:C-1, ...)"

    def of(self, record: dict[str, Any]) -> str:
        return link_key(record["link"])

    def field_of(self, record: dict[str, Any]) -> str:
        return "link"


class ReferenceKey:
    """product: the field product_reference_type names (product_id unless given), with its name."""

    def __init__(self, selector: str, default: str):
        self.selector = selector
        self.default = default
        self.description = f"{selector}:<the field it names> ({default}:b7c901, sku:ac6674)"

    def of(self, record: dict[str, Any]) -> str:
        kind = record.get(self.selector, self.default)
        return f"{kind}:{as_str(record[kind])}"

    def field_of(self, record: dict[str, Any]) -> str:
        return record.get(self.selector, self.default)


class PathKey:
    """Our own types (JSON Schema): the first path holding a non-empty string or an integer."""

    def __init__(self, paths: tuple[tuple[str, ...], ...]):
        self.paths = paths
        self.description = " or ".join(".".join(path) for path in paths)

    def of(self, record: Any) -> str | None:
        for path in self.paths:
            value = record
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

    def field_of(self, record: Any) -> str:
        return self.description
