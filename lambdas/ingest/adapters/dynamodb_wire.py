"""DynamoDB's JSON protocol spoken directly: one signed POST per call, without botocore's per-call machinery.

A Load writes one UpdateItem per record, and through boto3 most of its ~1 ms of CPU per record is
botocore's (parameter validation, serialization, event hooks, signing, its HTTP layer, parsing).
DynamoDBWire sends the same request for a fraction of that (docs/capacity.md has the figures):

    body      the parameters as JSON (orjson). For the shapes we send - strings, maps, numbers as
              {"N": "..."} - botocore's JSON serializer writes that same document (tests/unit/
              test_dynamodb_wire.py checks it against botocore's serializer).
    headers   X-Amz-Target: DynamoDB_20120810.<Operation>, Content-Type: application/x-amz-json-1.0,
              SigV4 (the signing key derived once per day and secret; the same Authorization header
              botocore's SigV4Auth writes for the same request, checked by the tests).
    transport one urllib3 connection pool, sized to the callers' threads, with connect and read
              timeouts; no retries of its own (the caller decides: RecordWriter's token bucket and
              its few retries).
    answer    the x-amz-crc32 check botocore makes; errors raised as botocore raises them: the
              client's modeled ClientError subclass with the same `response` (Error.Code from
              `__type`, Error.Message, and the error's own fields: a failed condition's `Item`),
              and EndpointConnectionError / ConnectionClosedError / ReadTimeoutError for transport.

Endpoint, region and credentials come from the boto3 client and session it is built from, so the
local stack's AWS_ENDPOINT_URL reaches it and Lambda's credentials are read (and refreshed, when they
are refreshable) per call. The IAM actions are the operations' own (dynamodb:UpdateItem): nothing new.

What it does not do that boto3 did, on purpose:
- no X-Ray / Powertools tracing of these calls (botocore's patch is what traces them): a Load's
  thousands of UpdateItem subsegments were never read one by one; the Load's own segment remains;
- no botocore retries (adaptive mode, 8 attempts): RecordWriter's token bucket already slows down
  and retries throttled writes without end, and gives other transient errors MAX_ERROR_ATTEMPTS tries;
  a connect timeout is raised as EndpointConnectionError, a bad checksum as ConnectionClosedError
  (an answer lost in transit), so the writer retries both;
- no parameter validation: the requests are built by code (RecordWriter), and DynamoDB validates;
- no client-side monitoring events, no endpoint discovery, no proxies from the environment.

Opt-in: tests that patch botocore in-process (moto's mock_aws) keep the boto3 client, since a raw
sender would go around the patch to the network.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
import zlib
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import orjson
import urllib3
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    HTTPClientError,
    NoCredentialsError,
    ReadTimeoutError,
    SSLError,
)
from botocore.httpsession import get_cert_path
from urllib3.exceptions import (
    ConnectTimeoutError as Urllib3ConnectTimeout,
)
from urllib3.exceptions import (
    HTTPError as Urllib3HTTPError,
)
from urllib3.exceptions import (
    NewConnectionError,
    ProtocolError,
)
from urllib3.exceptions import (
    ReadTimeoutError as Urllib3ReadTimeout,
)
from urllib3.exceptions import (
    SSLError as Urllib3SSLError,
)

TARGET_PREFIX = "DynamoDB_20120810."
CONTENT_TYPE = "application/x-amz-json-1.0"
SERVICE = "dynamodb"
CONNECT_TIMEOUT_S = 2.0  # a new connection; DynamoDB's endpoints answer within milliseconds
READ_TIMEOUT_S = 10.0  # one UpdateItem's answer (single-digit ms on AWS; the local stack is slower)
USER_AGENT = "bulk-ingest-dynamodb-wire"
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


class SigV4Signer:
    """SigV4 for a POST to / of one host: the headers to add to a request of `target` with `body`.

    The canonical request is the one botocore's SigV4Auth builds for a DynamoDB call (headers
    content-type, host, x-amz-date, x-amz-security-token when there is one, x-amz-target, all signed;
    the body's SHA-256); the signing key is derived once per day and secret key, not per call.
    `credentials` is botocore's (Credentials or RefreshableCredentials): read per call, so a refreshed
    secret is used as soon as botocore has it.
    """

    def __init__(self, credentials: Any, region: str, host: str, service: str = SERVICE,
                 clock: Callable[[], float] = time.time):
        self._credentials, self._region, self._host, self._service = credentials, region, host, service
        self._clock = clock
        self._keys: dict[tuple[str, str], bytes] = {}
        self._lock = threading.Lock()

    def headers(self, target: str, body: bytes) -> dict[str, str]:
        if self._credentials is None:  # as botocore: found none (the session's chain came back empty)
            raise NoCredentialsError()
        frozen = self._credentials.get_frozen_credentials()
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(self._clock()))
        day = stamp[:8]
        scope = f"{day}/{self._region}/{self._service}/aws4_request"
        token = frozen.token
        if token:
            signed = "content-type;host;x-amz-date;x-amz-security-token;x-amz-target"
            canonical_headers = (f"content-type:{CONTENT_TYPE}\nhost:{self._host}\nx-amz-date:{stamp}\n"
                                 f"x-amz-security-token:{token}\nx-amz-target:{target}\n")
        else:
            signed = "content-type;host;x-amz-date;x-amz-target"
            canonical_headers = (f"content-type:{CONTENT_TYPE}\nhost:{self._host}\nx-amz-date:{stamp}\n"
                                 f"x-amz-target:{target}\n")
        payload_hash = hashlib.sha256(body).hexdigest() if body else _EMPTY_SHA256
        canonical_request = f"POST\n/\n\n{canonical_headers}\n{signed}\n{payload_hash}"
        string_to_sign = (f"AWS4-HMAC-SHA256\n{stamp}\n{scope}\n"
                          f"{hashlib.sha256(canonical_request.encode()).hexdigest()}")
        signature = hmac.new(self._key(frozen.secret_key, day), string_to_sign.encode(), hashlib.sha256).hexdigest()
        headers = {"Content-Type": CONTENT_TYPE, "Host": self._host, "X-Amz-Date": stamp, "X-Amz-Target": target,
                   "Authorization": f"AWS4-HMAC-SHA256 Credential={frozen.access_key}/{scope}, "
                                    f"SignedHeaders={signed}, Signature={signature}"}
        if token:
            headers["X-Amz-Security-Token"] = token
        return headers

    def _key(self, secret: str, day: str) -> bytes:
        key = self._keys.get((secret, day))
        if key is None:
            key = ("AWS4" + secret).encode()
            for part in (day, self._region, self._service, "aws4_request"):
                key = hmac.new(key, part.encode(), hashlib.sha256).digest()
            with self._lock:  # one day's key per secret: yesterday's and a rotated secret's go
                self._keys = {(secret, day): key}
        return key


class DynamoDBWire:
    """A small DynamoDB client: `call(operation, params) -> dict`, and `update_item(**params)`, the
    boto3-shaped face RecordWriter calls. Safe to share between threads (one pool of `max_connections`)."""

    def __init__(self, endpoint_url: str, region: str, credentials: Any, exceptions: Any = None,
                 max_connections: int = 16, connect_timeout: float = CONNECT_TIMEOUT_S,
                 read_timeout: float = READ_TIMEOUT_S, clock: Callable[[], float] = time.time, http: Any = None):
        parts = urlsplit(endpoint_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an HTTP endpoint: {endpoint_url!r}")
        self.endpoint_url = endpoint_url
        default_port = 443 if parts.scheme == "https" else 80
        # The Host header as botocore signs it: the port only when it is not the scheme's own.
        host = parts.hostname if parts.port in (None, default_port) else f"{parts.hostname}:{parts.port}"
        self._signer = SigV4Signer(credentials, region, host, clock=clock)
        self._path = parts.path or "/"
        # `exceptions` is a boto3 client's (client.exceptions): from_code(code) is the modeled
        # ClientError subclass boto3 raises for a code, so `except client.exceptions.X` still works.
        self._exception_for: Callable[[str], type[ClientError]] = (
            exceptions.from_code if exceptions is not None else lambda _code: ClientError)
        # `http`: anything with urllib3's urlopen (the benches' DynamoDB model); by default, the pool.
        tls = {"cert_reqs": "CERT_REQUIRED", "ca_certs": get_cert_path(True)} if parts.scheme == "https" else {}
        self._pool = http if http is not None else urllib3.connection_from_url(
            endpoint_url, maxsize=max_connections, block=False, retries=False,
            timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout), **tls)

    @classmethod
    def from_client(cls, client: Any, credentials: Any, **options: Any) -> DynamoDBWire:
        """A sender to where a boto3 DynamoDB client sends (its endpoint and region: boto3's own
        configuration, AWS_ENDPOINT_URL included), signing with `credentials` (a boto3 session's
        get_credentials())."""
        return cls(client.meta.endpoint_url, client.meta.region_name, credentials, client.exceptions, **options)

    def update_item(self, **params: Any) -> dict:
        return self.call("UpdateItem", params)

    def call(self, operation: str, params: Mapping[str, Any]) -> dict:
        """One call of `operation` with `params` as boto3 takes them (typed attribute values); its
        answer as boto3 returns it (without ResponseMetadata), or the error botocore would raise."""
        body = orjson.dumps(params)
        headers = self._signer.headers(TARGET_PREFIX + operation, body)
        headers["User-Agent"] = USER_AGENT
        try:
            answer = self._pool.urlopen("POST", self._path, body=body, headers=headers, retries=False,
                                        redirect=False, assert_same_host=False, preload_content=True)
        except NewConnectionError as exc:  # before Urllib3ConnectTimeout: it is one (urllib3 1.26 and 2)
            raise EndpointConnectionError(endpoint_url=self.endpoint_url, error=exc) from exc
        except Urllib3ConnectTimeout as exc:
            raise EndpointConnectionError(endpoint_url=self.endpoint_url, error=exc) from exc
        except Urllib3ReadTimeout as exc:
            raise ReadTimeoutError(endpoint_url=self.endpoint_url, error=exc) from exc
        except ProtocolError as exc:  # reset, closed before or during the answer
            raise ConnectionClosedError(endpoint_url=self.endpoint_url, error=exc) from exc
        except Urllib3SSLError as exc:
            raise SSLError(endpoint_url=self.endpoint_url, error=exc) from exc
        except Urllib3HTTPError as exc:
            raise HTTPClientError(error=exc) from exc
        data = answer.data
        crc = answer.headers.get("x-amz-crc32")
        if crc is not None and zlib.crc32(data) != int(crc):
            # What botocore retries as a checksum error: the answer was damaged on the way, the call
            # may have been applied - for the caller, an answer lost after the write.
            raise ConnectionClosedError(endpoint_url=self.endpoint_url)
        if answer.status == 200:
            return orjson.loads(data) if data else {}
        raise self._error(operation, answer.status, answer.headers, data)

    def _error(self, operation: str, status: int, headers: Mapping[str, str], data: bytes) -> ClientError:
        """The ClientError botocore raises for an error answer (its JSON protocol parser's rules)."""
        try:
            document = orjson.loads(data) if data else {}
        except orjson.JSONDecodeError:
            document = {}
        if not isinstance(document, dict):
            document = {}
        code = str(document.get("__type") or "").rpartition("#")[2] or str(status)
        message = document.get("message") or document.get("Message") or ""
        response: dict[str, Any] = {
            "Error": {"Message": message, "Code": code},
            "ResponseMetadata": {"RequestId": headers.get("x-amzn-requestid", ""), "HTTPStatusCode": status,
                                 "HTTPHeaders": {name.lower(): value for name, value in headers.items()},
                                 "RetryAttempts": 0},
        }
        # The error's own fields (a failed condition's Item), at the top level as botocore puts them.
        response.update({name: value for name, value in document.items()
                         if name not in ("__type", "message", "Message")})
        return self._exception_for(code)(response, operation)

    def close(self) -> None:
        self._pool.close()
