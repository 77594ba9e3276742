"""The moto server, with two checks AWS makes at its front door that moto does not.

- A synchronous Lambda Invoke whose request is over 6 MB is refused (413
  RequestEntityTooLargeException) before any function runs; responses are limited in
  local_stack/lambda_runtime.py. The local API Gateway relies on this refusal too.
- A presigned S3 URL works only until it expires (X-Amz-Date + X-Amz-Expires), and only if the role
  of the function that signed it may perform the signed operation on that object
  (local_stack/access_guard.py).
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime, timezone
from typing import Any, Callable, Iterable
from urllib.parse import parse_qs

from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

from local_stack import access_guard
from local_stack.limits import LAMBDA_PAYLOAD_BYTES

_INVOKE_PATH = re.compile(r"^/2015-03-31/functions/[^/]+/invocations/?$")
_DRAIN_CHUNK = 1024 * 1024


def _lambda_request_too_large(environ: dict) -> tuple[str, list, bytes] | None:
    if environ.get("REQUEST_METHOD") != "POST" or not _INVOKE_PATH.match(environ.get("PATH_INFO", "")):
        return None
    if int(environ.get("CONTENT_LENGTH") or 0) <= LAMBDA_PAYLOAD_BYTES:
        return None
    stream, left = environ["wsgi.input"], int(environ["CONTENT_LENGTH"])
    while left > 0 and (chunk := stream.read(min(left, _DRAIN_CHUNK))):  # keep the connection usable
        left -= len(chunk)
    body = json.dumps({"Type": "User", "message": f"Request must be smaller than {LAMBDA_PAYLOAD_BYTES} bytes for "
                                                  "the InvokeFunction operation"}).encode()
    return "413 Request Entity Too Large", [("Content-Type", "application/json"),
                                             ("x-amzn-ErrorType", "RequestEntityTooLargeException")], body


def _expired(query: str) -> bool:
    """A SigV4 presigned URL is good for X-Amz-Expires seconds from X-Amz-Date (moto never expires one)."""
    params = parse_qs(query)
    try:
        signed_at = datetime.strptime(params["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
        lifetime = int(params["X-Amz-Expires"][0])
    except (KeyError, ValueError):
        return False
    return datetime.now(timezone.utc).timestamp() > signed_at.timestamp() + lifetime


def _presigned_url_refused(environ: dict) -> tuple[str, list, bytes] | None:
    query = environ.get("QUERY_STRING", "")
    if "X-Amz-Signature" not in query:
        return None
    raw_path = (environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ.get("PATH_INFO", "")).split("?", 1)[0]
    if _expired(query):
        refusal: tuple[int, str, str] | None = (403, "AccessDenied", "Request has expired")
    else:
        refusal = access_guard.refuse_presigned(environ["REQUEST_METHOD"], raw_path, query)
    if refusal is None:
        return None
    status, code, message = refusal
    body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
            f"<RequestId>{uuid.uuid4().hex[:16].upper()}</RequestId></Error>").encode()
    return f"{status} Forbidden", [("Content-Type", "application/xml")], body


def with_aws_front_door(app: Callable) -> Callable:
    def checked(environ: dict, start_response: Callable) -> Iterable[bytes]:
        refusal = _lambda_request_too_large(environ) or _presigned_url_refused(environ)
        if refusal is None:
            return app(environ, start_response)
        status, headers, body = refusal
        start_response(status, headers + [("Content-Length", str(len(body)))])
        return [body]

    return checked


class LocalMotoServer(ThreadedMotoServer):
    """ThreadedMotoServer whose app passes through with_aws_front_door first (its `_server_entry` with
    the app wrapped; tests/e2e/test_local_runtime.py fails if moto changes it)."""

    def _server_entry(self) -> None:
        app: Any = with_aws_front_door(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(self._ip_address, self._port, app, True, request_handler=MotoRequestHandler)
        self._server_ready_event.set()
        self._server.serve_forever()
