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
"""

from __future__ import annotations

import threading
from typing import Any

from flask import Flask
from moto.moto_server.werkzeug_app import (
    BackendRequest,
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import BaseWSGIServer, make_server


class _PutBodyIsNotAFormRequest(BackendRequest):
    @property
    def want_form_data_parsed(self) -> bool:
        return self.method != "PUT" and super().want_form_data_parsed


class _PutBodyUnreadDispatcher(DomainDispatcherApplication):
    def get_application(self, environ: dict[str, Any]) -> Flask:
        if environ.get("REQUEST_METHOD") != "PUT" or "CONTENT_TYPE" not in environ:
            return super().get_application(environ)
        content_type = environ.pop("CONTENT_TYPE")  # without it, routing never reads the body
        try:
            return super().get_application(environ)
        finally:
            environ["CONTENT_TYPE"] = content_type


def _create_app(service: str) -> Flask:
    app = create_backend_app(service)
    app.request_class = _PutBodyIsNotAFormRequest
    return app


def wsgi_app() -> DomainDispatcherApplication:
    """moto's WSGI app, with PUT bodies kept as sent."""
    return _PutBodyUnreadDispatcher(_create_app)


class MotoServer:
    """moto's server in a background thread, as moto's `ThreadedMotoServer`, serving `wsgi_app()`."""

    def __init__(self, host: str, port: int):
        self._host = host
        self._port = port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

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
