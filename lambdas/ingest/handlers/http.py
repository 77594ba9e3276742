"""Request bodies and JSON answers, shared by the API function's route modules (api.py, compat_api.py)."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types

from ingest.errors import BadRequestError


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=json.dumps(body),
                    headers=headers)


def json_body(raw: str | None, optional: bool = False) -> Any:
    """The request's JSON body; {} for an empty optional one. Anything else is a BadRequestError."""
    if raw is None or not raw.strip():
        if optional:
            return {}
        raise BadRequestError("request body is required: send a JSON object")
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise BadRequestError(f"request body is not valid JSON: {exc}") from exc
    try:
        # json accepts a lone surrogate escape ("\ud800"), which no UTF-8 store (DynamoDB, S3) can hold.
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise BadRequestError("request body is not valid JSON: a string holds a lone surrogate escape") from exc
    return body
