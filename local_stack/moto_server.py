"""moto's server on 127.0.0.1, with one adapter: an S3 PUT stores the bytes sent, whatever its Content-Type.

Real S3 stores exactly the body of a PUT. moto 5.2.5's server (werkzeug 3.1) does not when the PUT
names a form type, as `curl --data-binary @file` and Python's `urllib` do by default
(`application/x-www-form-urlencoded`), in two places:

- `DomainDispatcherApplication` picks the service of an unsigned request (a presigned URL carries no
  Authorization header) by reading a urlencoded body for an `Action=`. It puts the body back only if it
  decoded as UTF-8: a gzipped body is lost, and the S3 app then waits for bytes the client has already
  sent, so the PUT hangs until the client gives up.
- werkzeug's `Request.data`, which moto reads as the body, parses a form body into `request.form`
  instead and is then empty: moto stores an empty object (or, when the body happens to contain `key=`,
  one of the "form fields"). `multipart/form-data; boundary=...` is consumed the same way, and the
  parsed "fields" replace the URL's query string (an UploadPart's `partNumber` and `uploadId` too).

So, for PUT only (S3's one form API, the browser upload, is a POST): the dispatcher routes without
seeing the Content-Type (no S3 PUT is routed by its body; path-style S3 is the default), and the apps'
requests do not parse a PUT body as a form. No header, query or byte the client sent is changed:
presigned signatures still match and the object keeps the Content-Type the client sent, as in S3.
`tests/e2e/test_put_clients.py` checks the stored bytes for each client and Content-Type.

moto's `ThreadedMotoServer` builds its app inside its thread, out of reach, so this is the same few
lines of werkzeug serving around our app.

It also finds the service of a request in a dict (`_PutBodyUnreadDispatcher.get_backend_for_host`):
moto's own lookup lists its package directory on every request, under a lock.

It also makes two checks AWS makes at its front door that moto does not (`with_aws_front_door`):

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
import threading
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from flask import Flask
from moto import backends
from moto.moto_server.werkzeug_app import (
    BackendRequest,
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import BaseWSGIServer, make_server

from local_stack import access_guard
from local_stack.limits import LAMBDA_PAYLOAD_BYTES
from local_stack.s3_cors import with_s3_cors

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
        signed_at = datetime.strptime(params["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        lifetime = int(params["X-Amz-Expires"][0])
    except (KeyError, ValueError):
        return False
    return datetime.now(UTC).timestamp() > signed_at.timestamp() + lifetime


def _headers(environ: dict) -> dict[str, str]:
    """The request's headers by lower-case name, from a WSGI environ."""
    headers = {name[5:].replace("_", "-").lower(): value for name, value in environ.items()
               if name.startswith("HTTP_")}
    for name in ("CONTENT_LENGTH", "CONTENT_TYPE"):
        if environ.get(name):
            headers[name.replace("_", "-").lower()] = environ[name]
    return headers


def _presigned_url_refused(environ: dict) -> tuple[str, list, bytes] | None:
    query = environ.get("QUERY_STRING", "")
    # A browser's CORS preflight (OPTIONS) repeats the URL but is no use of it: S3 answers it from the
    # bucket's CORS rules alone (local_stack/s3_cors.py answers it before this check is reached).
    if "X-Amz-Signature" not in query or environ.get("REQUEST_METHOD") == "OPTIONS":
        return None
    raw_path = (environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ.get("PATH_INFO", "")).split("?", 1)[0]
    if _expired(query):
        refusal: tuple[int, str, str] | None = (403, "AccessDenied", "Request has expired")
    else:
        refusal = access_guard.refuse_presigned(environ["REQUEST_METHOD"], raw_path, query, _headers(environ))
    if refusal is None:
        return None
    status, code, message = refusal
    body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
            f"<RequestId>{uuid.uuid4().hex[:16].upper()}</RequestId></Error>").encode()
    return f"{status} Forbidden", [("Content-Type", "application/xml")], body


# Test support: each is asked first about every request (a dropped connection, a 5xx, a count of part
# PUTs) and answers (status, headers, body) to stand in for AWS's answer, or None. Empty in `make run`.
front_door_faults: list[Callable[[dict], tuple[str, list, bytes] | None]] = []


def with_aws_front_door(app: Callable) -> Callable:
    def checked(environ: dict, start_response: Callable) -> Iterable[bytes]:
        refusal = next((answer for fault in list(front_door_faults) if (answer := fault(environ))), None)
        refusal = refusal or _lambda_request_too_large(environ) or _presigned_url_refused(environ)
        if refusal is None:
            return app(environ, start_response)
        status, headers, body = refusal
        start_response(status, [*headers, ("Content-Length", str(len(body)))])
        return [body]

    return checked


class _PutBodyIsNotAFormRequest(BackendRequest):
    @property
    def want_form_data_parsed(self) -> bool:
        return self.method != "PUT" and super().want_form_data_parsed


class _PutBodyUnreadDispatcher(DomainDispatcherApplication):
    def __init__(self, create_app: Callable[[backends.SERVICE_NAMES], Flask]):
        super().__init__(create_app)
        self._backend_of_host: dict[str | None, Any] = {}

    def get_backend_for_host(self, host: str | None) -> Any:
        # moto finds a host's backend by listing its package directory (a stat per service) and trying
        # its URL patterns in turn: 2-5 ms a request, under the dispatcher's one lock, so it alone
        # capped the server near 300 requests a second. The answer for a host never changes.
        if host not in self._backend_of_host:
            self._backend_of_host[host] = super().get_backend_for_host(host)
        return self._backend_of_host[host]

    def get_application(self, environ: dict[str, Any]) -> Flask:
        if environ.get("REQUEST_METHOD") != "PUT" or "CONTENT_TYPE" not in environ:
            return super().get_application(environ)
        content_type = environ.pop("CONTENT_TYPE")  # without it, routing never reads the body
        try:
            return super().get_application(environ)
        finally:
            environ["CONTENT_TYPE"] = content_type


def _create_app(service: backends.SERVICE_NAMES) -> Flask:
    app = create_backend_app(service)
    app.request_class = _PutBodyIsNotAFormRequest
    return app


def wsgi_app() -> Callable:
    """moto's WSGI app, with PUT bodies kept as sent, behind AWS's front-door checks, with S3's CORS on
    every answer to a browser (local_stack/s3_cors.py), refusals included."""
    return with_s3_cors(with_aws_front_door(_PutBodyUnreadDispatcher(_create_app)))


class MotoServer:
    """moto's server in a background thread, as moto's `ThreadedMotoServer`, serving `wsgi_app()`."""

    def __init__(self, host: str, port: int):
        self._host = host
        self._port = port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._port

    def start(self) -> None:
        # Binding here, not in the thread, makes a busy port an OSError for the caller.
        self._server = make_server(self._host, self._port, wsgi_app(), threaded=True,
                                   request_handler=MotoRequestHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
        if self._thread:
            self._thread.join()
