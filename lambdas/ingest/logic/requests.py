"""Small helpers for checking JSON request bodies with messages that name the field."""

from __future__ import annotations

from typing import Any

from ingest.errors import BadRequestError


def require_object(body: Any, what: str = "request body") -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequestError(f"{what} must be a JSON object")
    return body


def optional_string(body: dict[str, Any], field: str, max_length: int = 1024, path: str = "") -> str | None:
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequestError(f"{path}{field} must be a string")
    if len(value) > max_length:
        raise BadRequestError(f"{path}{field} must be at most {max_length} characters")
    return value


def required_string(body: dict[str, Any], field: str, max_length: int = 1024, path: str = "") -> str:
    value = optional_string(body, field, max_length, path)
    if value is None or not value.strip():
        raise BadRequestError(f"{path}{field} is required and must be a non-empty string")
    return value


def page_limit(raw: str | None, default: int = 50, maximum: int = 100) -> int:
    if raw is None:
        return default
    # ASCII only: str.isdigit() also accepts '²', which int() refuses.
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= maximum:
        raise BadRequestError(f"limit must be an integer from 1 to {maximum}")
    return int(raw)
