"""The local stack's connection pools: every in-process Load shares one cached DynamoDBWire (and one
boto3 client per service), so a pool sized for one Load's threads would open and throw away a connection
per call beyond it, with urllib3's "Connection pool is full" warning on each (local_stack/stack.py,
CLIENT_CONNECTIONS). A barrier in the server holds every call in flight at once, so the count of
connections is decided by the pool, not by timing.
"""

from __future__ import annotations

import http.server
import logging
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import botocore.endpoint
import pytest
from botocore.credentials import Credentials

from ingest.adapters.dynamodb_wire import CONTENT_TYPE, DynamoDBWire
from local_stack import stack

CALLS_AT_ONCE = 48  # three Loads' worth of 16 writer threads


class BarrierServer:
    """Answers `{}` to each POST once CALLS_AT_ONCE requests are in flight together; counts the
    connections it accepted."""

    def __init__(self):
        self.barrier = threading.Barrier(CALLS_AT_ONCE, timeout=60)
        self.connections = 0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                self.rfile.read(int(self.headers["Content-Length"]))
                server.barrier.wait()
                self.send_response(200)
                for name, value in {"Content-Length": "2", "Content-Type": CONTENT_TYPE,
                                    "x-amz-crc32": str(zlib.crc32(b"{}"))}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *_: Any) -> None:
                pass

        class Counting(http.server.ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 2 * CALLS_AT_ONCE  # the default 5 would refuse a burst of connects

            def process_request(self, request, client_address):
                server.connections += 1
                super().process_request(request, client_address)

        self.http = Counting(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()


@pytest.fixture
def barrier_server():
    server = BarrierServer()
    yield server
    server.barrier.abort()
    server.http.shutdown()
    server.http.server_close()


@pytest.fixture
def local_stack_pools(monkeypatch):
    """The local stack's pool sizing, undone after the test (monkeypatch restores both seams)."""
    monkeypatch.setattr(DynamoDBWire, "__init__", DynamoDBWire.__init__)
    monkeypatch.setattr(botocore.endpoint.EndpointCreator, "create_endpoint",
                        botocore.endpoint.EndpointCreator.create_endpoint)
    stack._keep_client_connections(stack.CLIENT_CONNECTIONS)


def test_loads_sharing_the_local_stacks_wire_reuse_their_connections_without_pool_full_warnings(
        barrier_server, local_stack_pools, caplog):
    exceptions = boto3.session.Session(region_name="us-east-1").client(
        "dynamodb", endpoint_url=barrier_server.url, aws_access_key_id="a", aws_secret_access_key="b").exceptions
    # As the Load wiring asks for it: a pool for one Load's 16 threads (aws.dynamodb_wire(load_threads)).
    wire = DynamoDBWire(barrier_server.url, "us-east-1", Credentials("AKID", "secret"), exceptions,
                        max_connections=16, connect_timeout=60, read_timeout=60)  # a busy machine: no race
    caplog.set_level(logging.WARNING, logger="urllib3.connectionpool")

    def one_round():
        with ThreadPoolExecutor(CALLS_AT_ONCE) as pool:
            answers = list(pool.map(lambda n: wire.call("GetItem", {"TableName": "t", "Key": {"k": {"S": str(n)}}}),
                                    range(CALLS_AT_ONCE)))
        assert answers == [{}] * CALLS_AT_ONCE
        barrier_server.barrier.reset()

    one_round()
    assert barrier_server.connections == CALLS_AT_ONCE
    one_round()
    assert barrier_server.connections == CALLS_AT_ONCE  # the second round reused every connection
    assert not [record for record in caplog.records if "pool is full" in record.getMessage()]
