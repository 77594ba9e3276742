"""GET /console and GET /console/{file}: the console's page and its files, public (no token: the page
asks for one and sends it with every API call it makes). No record, token or account data passes here."""

from __future__ import annotations

import functools
from typing import Any

from ingest.handlers import wiring
from ingest.handlers.observability import logger, traced
from ingest.logic import console


@functools.cache
def _files() -> dict[str, console.ConsoleFile]:
    return console.load_files()


@functools.cache
def _headers() -> dict[str, str]:
    return console.security_headers(console.upload_origin(wiring.console().objects))


@logger.inject_lambda_context(log_event=False)
@traced
def handler(event: dict, context: Any) -> dict:
    name = (event.get("pathParameters") or {}).get("file")
    if name is None and event.get("path", "").endswith("/"):
        # /console/ would resolve the page's relative URLs one level too deep: send the browser to /console.
        return {"statusCode": 308, "headers": {"Location": "../console", **_headers()}, "body": ""}
    found = _files().get(name or console.INDEX)
    if found is None:
        return {"statusCode": 404, "headers": {"Content-Type": "application/json", **_headers()},
                "body": '{"message": "no such console file"}'}
    return {"statusCode": 200, "headers": {"Content-Type": found.content_type, **_headers()}, "body": found.body}
