"""One HTTP POST of a webhook delivery, to an address already checked (logic/webhook_targets.py).

The connection goes to `target.address`, the address that was checked, never to a fresh lookup of the
name (a second lookup could answer a private address: DNS rebinding); TLS still names and verifies
`target.host`. http.client follows no redirect: a 3xx is an answer like any other non-2xx, so a
public endpoint cannot bounce a delivery to a private one.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from dataclasses import dataclass

from ingest.models.webhooks import Target

RESPONSE_BYTES_READ = 1024  # the answer's body is not used; read a little so the connection ends cleanly


@dataclass(frozen=True)
class SendOutcome:
    response_code: int | None
    error: str | None
    duration_ms: int

    @property
    def succeeded(self) -> bool:
        return self.response_code is not None and 200 <= self.response_code < 300


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, target: Target, timeout: float):
        super().__init__(target.host, target.port, timeout=timeout)
        self._address = target.address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, target: Target, timeout: float, context: ssl.SSLContext):
        super().__init__(target.host, target.port, timeout=timeout, context=context)
        self._address = target.address
        self._tls = context

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(raw, server_hostname=self.host)


class WebhookSender:
    def __init__(self, timeout_seconds: float = 10.0):
        self._timeout = timeout_seconds
        self._tls = ssl.create_default_context()

    def post(self, target: Target, body: bytes, headers: dict[str, str]) -> SendOutcome:
        started = time.monotonic()
        connection: http.client.HTTPConnection = (
            _PinnedHTTPSConnection(target, self._timeout, self._tls) if target.scheme == "https"
            else _PinnedHTTPConnection(target, self._timeout))
        try:
            connection.request("POST", target.path, body=body, headers=headers)
            response = connection.getresponse()
            response.read(RESPONSE_BYTES_READ)
            return SendOutcome(response.status, None, _since(started))
        except TimeoutError:
            return SendOutcome(None, f"timed out after {self._timeout:g} s", _since(started))
        except ssl.SSLError as exc:
            return SendOutcome(None, f"TLS error: {exc.reason or type(exc).__name__}", _since(started))
        except (OSError, http.client.HTTPException) as exc:
            return SendOutcome(None, f"connection error: {type(exc).__name__}", _since(started))
        finally:
            connection.close()


def _since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
