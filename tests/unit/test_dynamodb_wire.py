"""DynamoDBWire (adapters/dynamodb_wire.py): what it sends is what botocore would send (body, SigV4),
and what comes back - answers, errors, dropped connections - reaches RecordWriter as botocore's would.

The HTTP side runs against a small scripted server on 127.0.0.1 (ScriptedServer): each request gets
the next scripted answer, a closed connection, or no answer at all. Fixed clocks; no test waits on speed.
"""

from __future__ import annotations

import datetime
import http.server
import json
import queue
import socket
import threading
import zlib
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.auth
import botocore.session
import orjson
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, AWSResponse
from botocore.credentials import Credentials
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError, ReadTimeoutError
from botocore.serialize import create_serializer

from ingest.adapters.dynamodb_wire import CONTENT_TYPE, DynamoDBWire, SigV4Signer
from ingest.adapters.record_store import OwnWrite, RecordStore, key_hash
from ingest.logic.load import frames

# Two seconds before a new signing day; naive UTC, as botocore's own clock (auth.get_current_datetime) gives it.
NOW = datetime.datetime(2026, 11, 30, 23, 59, 58)  # noqa: DTZ001
REGION = "eu-west-1"


def _upsert_requests() -> list[dict]:
    """RecordWriter's own UpdateItem parameters for two records (one with non-ASCII text)."""
    store = RecordStore(object(), "records-table")
    lines = [b'{"id": "k1", "name": "Zo\xc3\xab", "total": 12.5}', b'{"id": "k2", "tags": ["a", "b"]}']
    records = [frames.Frame(line=index + 7, key=key, record=line, raw=line, key_hash=key_hash(key))
               for index, (key, line) in enumerate(zip(("k1", "k2"), lines, strict=True))]
    with store.writer("acct", "ds", "customer_record", 64, "U1", "attempt-1", 1, 100.0) as writer:
        return writer.upsert_requests(records)


def test_the_body_is_the_document_botocores_serializer_writes_for_the_writers_requests():
    update_item = botocore.session.get_session().get_service_model("dynamodb").operation_model("UpdateItem")
    for params in _upsert_requests():
        serialized = create_serializer("json").serialize_to_request(params, update_item)
        assert json.loads(serialized["body"]) == orjson.loads(orjson.dumps(params)) == params
        assert serialized["headers"]["X-Amz-Target"] == "DynamoDB_20120810.UpdateItem"
        assert serialized["headers"]["Content-Type"] == CONTENT_TYPE


def _botocore_authorization(credentials: Credentials, url: str, body: bytes, target: str, monkeypatch,
                            now: datetime.datetime = NOW) -> dict[str, str]:
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *_, **__: now)
    request = AWSRequest(method="POST", url=url, data=body,
                         headers={"Content-Type": CONTENT_TYPE, "X-Amz-Target": target})
    SigV4Auth(credentials, "dynamodb", REGION).add_auth(request)
    return {name: value.decode() if isinstance(value, bytes) else value for name, value in request.headers.items()}


@pytest.mark.parametrize("token", [None, "session-token/with+symbols="])
@pytest.mark.parametrize("url,host", [("https://dynamodb.eu-west-1.amazonaws.com", "dynamodb.eu-west-1.amazonaws.com"),
                                      ("http://127.0.0.1:4566", "127.0.0.1:4566")])
def test_the_signature_is_the_one_botocores_sigv4auth_computes(monkeypatch, token, url, host):
    credentials = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    body = orjson.dumps(_upsert_requests()[0])
    signer = SigV4Signer(credentials, REGION, host, clock=lambda: NOW.replace(tzinfo=datetime.UTC).timestamp())
    ours = signer.headers("DynamoDB_20120810.UpdateItem", body)
    theirs = _botocore_authorization(credentials, url + "/", body, "DynamoDB_20120810.UpdateItem", monkeypatch)
    assert ours["Authorization"] == theirs["Authorization"]
    assert ours["X-Amz-Date"] == theirs["X-Amz-Date"] == "20261130T235958Z"
    assert ours.get("X-Amz-Security-Token") == theirs.get("X-Amz-Security-Token") == token


def test_a_boto3_clients_own_request_carries_the_signature_ours_computes_for_its_body(monkeypatch):
    """The whole of botocore's path (its headers, its Host, its body bytes), not only SigV4Auth."""
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *_, **__: NOW)
    session = boto3.session.Session(aws_access_key_id="AKID", aws_secret_access_key="secret",
                                    aws_session_token="token", region_name=REGION)
    client = session.client("dynamodb", endpoint_url="http://127.0.0.1:9")
    sent: list[AWSRequest] = []

    class _Empty:
        def stream(self, **_: object):
            yield b"{}"

    def capture(request, **_: object):
        sent.append(request)
        return AWSResponse(request.url, 200, {}, _Empty())

    client.meta.events.register("before-send.dynamodb.*", capture)
    client.update_item(**_upsert_requests()[0])
    (request,) = sent
    signer = SigV4Signer(session.get_credentials(), REGION, "127.0.0.1:9",
                         clock=lambda: NOW.replace(tzinfo=datetime.UTC).timestamp())
    ours = signer.headers(request.headers["X-Amz-Target"].decode(), request.body)
    assert ours["Authorization"] == request.headers["Authorization"].decode()


def test_no_credentials_fail_the_call_as_botocore_does():
    from botocore.exceptions import NoCredentialsError

    with pytest.raises(NoCredentialsError):
        SigV4Signer(None, REGION, "127.0.0.1:9").headers("DynamoDB_20120810.UpdateItem", b"{}")


def test_a_new_day_and_a_refreshed_secret_each_get_their_own_signing_key(monkeypatch):
    class Rotating:
        """Refreshable credentials as far as a signer sees them: frozen per call, changing between calls."""

        def __init__(self):
            self.current = Credentials("AKID", "first-secret", "t1")

        def get_frozen_credentials(self):
            return self.current.get_frozen_credentials()

    credentials, now = Rotating(), [NOW]
    signer = SigV4Signer(credentials, REGION, "127.0.0.1:9",
                         clock=lambda: now[0].replace(tzinfo=datetime.UTC).timestamp())
    body, target = b'{"TableName":"t"}', "DynamoDB_20120810.UpdateItem"
    for moment, secret in ((NOW, "first-secret"), (NOW + datetime.timedelta(seconds=3), "first-secret"),
                           (NOW + datetime.timedelta(seconds=4), "second-secret")):
        now[0] = moment
        credentials.current = Credentials("AKID", secret, "t1")
        theirs = _botocore_authorization(credentials.current, "http://127.0.0.1:9/", body, target, monkeypatch, moment)
        assert signer.headers(target, body)["Authorization"] == theirs["Authorization"]


# -- over HTTP, against a scripted server -----------------------------------------------------------------
class ScriptedServer:
    """An HTTP server on 127.0.0.1 answering each request with the next scripted step:
    ("answer", status, headers, body), ("close",) - the connection dropped with no answer - or
    ("hang",) - no answer until the server stops. `requests` keeps (headers, body) of each request."""

    def __init__(self):
        self.steps: queue.Queue = queue.Queue()
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.stopping = threading.Event()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                server.requests.append((dict(self.headers.items()), body))
                step = server.steps.get_nowait()
                if step[0] == "close":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if step[0] == "hang":
                    server.stopping.wait()
                    self.close_connection = True
                    return
                _, status, headers, answer = step
                self.send_response(status)
                for name, value in {"Content-Length": str(len(answer)), **headers}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *_: Any) -> None:
                pass

        self.http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.http.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)

    def answer(self, status: int, document: Any, crc: int | None = None, raw: bytes | None = None) -> None:
        body = raw if raw is not None else orjson.dumps(document)
        headers = {"Content-Type": CONTENT_TYPE, "x-amzn-RequestId": "req-1",
                   "x-amz-crc32": str(zlib.crc32(body) if crc is None else crc)}
        self.steps.put(("answer", status, headers, body))


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    scripted = ScriptedServer()
    scripted.thread.start()
    yield scripted
    scripted.stopping.set()
    scripted.http.shutdown()
    scripted.http.server_close()


def wire_to(url: str, **options: Any) -> DynamoDBWire:
    exceptions = boto3.session.Session(region_name=REGION).client(
        "dynamodb", endpoint_url=url, aws_access_key_id="a", aws_secret_access_key="b").exceptions
    return DynamoDBWire(url, REGION, Credentials("AKID", "secret"), exceptions, **options)


OLD = {"pk": {"S": "acct#ds#customer_record#03"}, "sk": {"S": "k1"}, "data": {"S": "{}"}, "job_id": {"S": "U0"},
       "line": {"N": "3"}}


def test_a_call_posts_the_signed_json_and_returns_the_answer(server):
    params = _upsert_requests()[0]
    server.answer(200, {"Attributes": OLD})
    assert wire_to(server.url).call("UpdateItem", params) == {"Attributes": OLD}
    ((headers, body),) = server.requests
    assert orjson.loads(body) == params
    assert headers["X-Amz-Target"] == "DynamoDB_20120810.UpdateItem"
    assert headers["Content-Type"] == CONTENT_TYPE
    assert headers["Host"] == server.url.removeprefix("http://")
    assert headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKID/")
    assert f"/{REGION}/dynamodb/aws4_request" in headers["Authorization"]


def test_an_error_answer_is_the_modeled_client_error_with_botocores_response_shape(server):
    server.answer(400, {"__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",
                        "message": "The conditional request failed", "Item": OLD})
    wire = wire_to(server.url)
    with pytest.raises(ClientError) as failed:
        wire.update_item(**_upsert_requests()[0])
    response = failed.value.response
    assert isinstance(failed.value, wire._exception_for("ConditionalCheckFailedException"))
    assert failed.value.__class__.__name__ == "ConditionalCheckFailedException"
    assert response["Error"] == {"Code": "ConditionalCheckFailedException", "Message": "The conditional request failed"}
    assert response["Item"] == OLD
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert failed.value.operation_name == "UpdateItem"


def test_an_answer_that_is_not_json_is_a_client_error_named_by_its_status(server):
    server.answer(503, None, raw=b"<html>Service Unavailable</html>")
    with pytest.raises(ClientError) as failed:
        wire_to(server.url).call("UpdateItem", {"TableName": "t"})
    assert failed.value.response["Error"]["Code"] == "503"


def test_a_damaged_answer_is_an_answer_lost_in_transit(server):
    server.answer(200, {"Attributes": OLD}, crc=12345)
    with pytest.raises(ConnectionClosedError):
        wire_to(server.url).call("UpdateItem", {"TableName": "t"})


def test_a_dropped_connection_a_silent_server_and_a_closed_port_raise_botocores_transport_errors(server):
    server.steps.put(("close",))
    with pytest.raises(ConnectionClosedError):
        wire_to(server.url).call("UpdateItem", {"TableName": "t"})
    server.steps.put(("hang",))
    with pytest.raises(ReadTimeoutError):
        wire_to(server.url, read_timeout=0.2).call("UpdateItem", {"TableName": "t"})
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    with pytest.raises(EndpointConnectionError):
        wire_to(closed).call("UpdateItem", {"TableName": "t"})


class Clock:
    def __init__(self):
        self.now, self.slept = 0.0, []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_a_load_writer_on_the_wire_slows_on_throttling_retries_lost_answers_and_counts_its_own_write(server):
    """RecordWriter's handling, unchanged, fed by the wire: throttled twice, then the connection is
    dropped (the write was applied), then the retry's condition fails and hands back the item as that
    first try left it (OwnWrite)."""
    throttled = {"__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException", "message": "slow down"}
    server.answer(400, throttled)
    server.answer(400, {**throttled,
                        "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"})
    server.steps.put(("close",))
    own = {**OLD, "job_id": {"S": "U1"}, "attempt": {"S": "attempt-1"}, "previous_attempt": {"S": "a0"}}
    server.answer(400, {"__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",
                        "message": "The conditional request failed", "Item": own})
    clock = Clock()
    store = RecordStore(object(), "records-table", sleep=clock.sleep, clock=clock, load_writes=wire_to(server.url))
    record = frames.Frame(line=1, key="k1", record=b'{"id": "k1"}', raw=b'{"id": "k1"}', key_hash=key_hash("k1"))
    with store.writer("acct", "ds", "customer_record", 64, "U1", "attempt-1", 1, 1000.0) as writer:
        (answer,) = writer.write_upserts([record])
        assert writer._bucket.rate == 250.0  # halved twice
    assert isinstance(answer, OwnWrite)
    assert answer == {"data": "{}", "job_id": "U1", "attempt": "attempt-1", "previous_attempt": "a0", "line": "3"}
    assert len(server.requests) == 4
    assert len({body for _, body in server.requests}) == 1  # the same write each time
