"""The rules of request fields, in the words the API has always answered with.

Each rule takes the raw value and returns it checked (or raises BadRequestError naming the field).
Models attach them as BeforeValidators (models/base.py says why that keeps the first error first).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from ingest.errors import BadRequestError
from ingest.models.base import REQUIRED


def require_object(value: Any, what: str = "request body") -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadRequestError(f"{what} must be a JSON object")
    return value


def optional_text(value: Any, field: str, max_length: int = 1024) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequestError(f"{field} must be a string")
    if len(value) > max_length:
        raise BadRequestError(f"{field} must be at most {max_length} characters")
    return value


def required_text(value: Any, field: str, max_length: int = 1024) -> str:
    checked = optional_text(value, field, max_length)
    if checked is None or not checked.strip():
        raise BadRequestError(f"{field} is required and must be a non-empty string")
    return checked


def one_of(value: Any, field: str, allowed: tuple[str, ...]) -> str | None:
    """None, or one of `allowed` ("status must be one of: Pending, ...")."""
    if value is not None and value not in allowed:
        raise BadRequestError(f"{field} must be one of: {', '.join(allowed)}")
    return value


def page_limit(raw: Any, default: int = 50, maximum: int = 100) -> int:
    if raw is None:
        return default
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = str(raw)
    # ASCII only: str.isdigit() also accepts '²', which int() refuses.
    if not isinstance(raw, str) or not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= maximum:
        raise BadRequestError(f"limit must be an integer from 1 to {maximum}")
    return int(raw)


def rule(check: Callable[..., Any], *args: Any) -> BeforeValidator:
    """A field's rule: check(value, *args)."""
    return BeforeValidator(lambda value: check(value, *args))


# Field types: the constraints (for the JSON Schema) and the rule (for the message) of one field.
def RequiredText(field: str, max_length: int = 1024) -> Any:  # capitalised: a type, as the models read it
    return Annotated[str, Field(min_length=1, max_length=max_length, pattern=r"\S"), REQUIRED,
                     rule(required_text, field, max_length)]


def OptionalText(field: str, max_length: int = 1024) -> Any:
    return Annotated[str | None, Field(max_length=max_length), rule(optional_text, field, max_length)]


PageLimit = Annotated[int, Field(ge=1, le=100, description="page size (default 50)"), rule(page_limit)]
NextToken = Annotated[str | None, Field(description="the `next_token` of the previous page, as returned")]
