"""local_stack/priority.py and the DynamoDB lock (local_stack/dynamodb.py): a request of the API's
functions is served before the workflow's waiting DynamoDB requests, and background requests in
flight are capped. Threads, events and the lock's own counters decide every step; nothing here
depends on timing (the deadlines only bound a wedged lock)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.config import Config

from local_stack import access_guard, dynamodb, priority
from local_stack.moto_server import MotoServer
from local_stack.stack import free_port
from local_stack.thread_context import Principal, working_for
from tests.support.waiting import wait_until

API_FUNCTION = "Api"
API = Principal(API_FUNCTION, "arn:aws:iam::123456789012:role/api", "function")
TABLE = "priority-test"
LOAD = Principal("Load", "arn:aws:iam::123456789012:role/load", "function")


@dataclass
class Served:
    client: Any  # boto3's DynamoDB client on the test's server
    port: int


@pytest.fixture
def table(monkeypatch) -> Iterator[Served]:
    """A table on a moto server of its own, with the local stack's DynamoDB adapter; the server's
    priority policy and lock are its own (a local stack running jobs in this worker has others)."""
    dynamodb.install()
    # This table is no template's: in a worker whose local stack is running, its IAM check stays out.
    monkeypatch.setattr(access_guard, "_guard", None)
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    server = MotoServer("127.0.0.1", free_port())
    server.start()
    client = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=f"http://127.0.0.1:{server._port}")
    # moto's backends outlive a server: a table of this test's own.
    client.create_table(TableName=TABLE, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                        BillingMode="PAY_PER_REQUEST")
    try:
        yield Served(client, server.port)
    finally:
        client.delete_table(TableName=TABLE)
        server.stop()
        priority.uninstall(server.port)


def put(client, principal: Principal | None, value: str, answers: dict) -> threading.Thread:
    """Starts a thread that puts item `k` = value as `principal`; answers[value] gets the item it replaced."""
    def run() -> None:
        item = {"pk": {"S": "k"}, "v": {"S": value}}
        if principal is None:
            answers[value] = client.put_item(TableName=TABLE, Item=item, ReturnValues="ALL_OLD").get("Attributes")
        else:
            with working_for(principal):
                answers[value] = client.put_item(TableName=TABLE, Item=item, ReturnValues="ALL_OLD").get("Attributes")

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_an_api_request_goes_before_the_workflow_requests_waiting_for_dynamodb(table):
    # This server's own policy and lock: a local stack running jobs in this worker waits at its own.
    limit = priority.install(table.port, [API_FUNCTION], background_requests=1)
    lock = dynamodb.requests_lock(table.port)
    answers: dict = {}
    with lock.holding(interactive=False):  # a workflow request being served
        first_load = put(table.client, LOAD, "load-1", answers)
        wait_until(lambda: lock.background_waiting == 1, "the Load's request waits for the lock")
        second_load = put(table.client, LOAD, "load-2", answers)
        wait_until(lambda: limit.waiting == 1, "the second Load request waits for a background slot")
        api = put(table.client, API, "api", answers)
        # The API's request is not held by the background cap: it waits at the lock itself.
        wait_until(lambda: lock.interactive_waiting == 1, "the API's request waits for the lock")
        assert (limit.in_flight, limit.waiting, lock.background_waiting) == (1, 1, 1)
    for thread in (api, first_load, second_load):
        thread.join(timeout=120)
    # Each put answers the item it replaced: the API's ran first, then the Loads' in arrival order.
    assert answers["api"] is None
    assert answers["load-1"] == {"pk": {"S": "k"}, "v": {"S": "api"}}
    assert answers["load-2"] == {"pk": {"S": "k"}, "v": {"S": "load-1"}}
    assert limit.peak == 1


def test_another_servers_requests_neither_wait_for_this_servers_lock_nor_count_toward_its_cap(table):
    limit = priority.install(table.port, [API_FUNCTION], background_requests=1)
    lock = dynamodb.requests_lock(table.port)
    other = MotoServer("127.0.0.1", free_port())
    other.start()
    # The timeout only bounds a wedge: a request held by this server's lock would never be answered.
    other_client = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=f"http://127.0.0.1:{other.port}",
                                config=Config(read_timeout=60, retries={"max_attempts": 1}))
    try:
        other_limit = priority.install(other.port, [API_FUNCTION], background_requests=1)
        with lock.holding(interactive=False), working_for(LOAD):  # this server's DynamoDB is busy
            assert TABLE in other_client.list_tables()["TableNames"]  # moto's backend is the process's
            assert (limit.in_flight, limit.waiting, lock.background_waiting) == (0, 0, 0)
        assert (other_limit.peak, limit.peak) == (1, 0)
    finally:
        other.stop()
        priority.uninstall(other.port)


def test_only_the_named_functions_are_interactive_and_callers_without_one_are_background():
    names = frozenset([API_FUNCTION])
    assert not priority.is_interactive(names)  # a test, a benchmark's direct writes
    with working_for(API):
        assert priority.is_interactive(names)
    with working_for(LOAD):
        assert not priority.is_interactive(names)
    with working_for(Principal(API_FUNCTION, "arn:aws:iam::123456789012:role/sfn", "state machine")):
        assert not priority.is_interactive(names)
    with pytest.raises(ValueError):
        priority.BackgroundLimit(0)


def test_the_lock_is_reentrant_for_its_holder_and_counts_no_waiter_then():
    lock = dynamodb.PriorityLock()
    with lock.holding(interactive=False), lock.holding(interactive=True):
        assert (lock.interactive_waiting, lock.background_waiting) == (0, 0)
    got_it = threading.Event()

    def take() -> None:
        with lock.holding(interactive=False):
            got_it.set()

    thread = threading.Thread(target=take)
    thread.start()
    thread.join(timeout=120)
    assert got_it.is_set()  # released after the nested hold


def test_a_loads_writes_through_the_wire_sender_wait_for_a_background_slot_too():
    """A Load sends its UpdateItems through DynamoDBWire, around botocore: they are background requests
    like any other workflow request, held while the server's cap is full."""
    from ingest.adapters.dynamodb_wire import DynamoDBWire

    class AnsweringPool:  # urllib3's urlopen, answering at once
        def urlopen(self, *_: Any, **__: Any) -> Any:
            return type("Answer", (), {"status": 200, "data": b"{}", "headers": {}})()

    port = free_port()
    limit = priority.install(port, interactive_functions=[API_FUNCTION], background_requests=1)
    wire = DynamoDBWire(f"http://127.0.0.1:{port}", "us-east-1", None, http=AnsweringPool())
    wire._signer.headers = lambda target, body: {}  # no credentials needed: nothing leaves the process
    answers: list[dict] = []
    try:
        with limit.slot(interactive=False):  # the one background slot, taken
            writer = threading.Thread(target=lambda: answers.append(wire.update_item(TableName=TABLE)))
            writer.start()  # as no function: a running local stack's IAM check (this table is no template's) stays out
            wait_until(lambda: limit.waiting == 1, "the wire's call waiting for a slot")
            assert answers == []
        writer.join(timeout=120)
        assert answers == [{}] and limit.peak == 1
    finally:
        priority.uninstall(port)


def test_a_second_install_leaves_the_wires_cap_as_it_is_under_another_wrapper(monkeypatch):
    """access_guard wraps DynamoDBWire.call as well; installing the policy again (each local stack does)
    must not cap the wire a second time under that wrapper: two slots a call deadlock a full cap."""
    from ingest.adapters.dynamodb_wire import DynamoDBWire

    port = free_port()
    try:
        priority.install(port, interactive_functions=[API_FUNCTION])
        capped = DynamoDBWire.call

        def another_wrapper(wire: Any, operation: str, params: Any) -> dict:
            return capped(wire, operation, params)

        monkeypatch.setattr(DynamoDBWire, "call", another_wrapper)
        priority.install(port, interactive_functions=[API_FUNCTION])
        assert DynamoDBWire.call is another_wrapper
    finally:
        priority.uninstall(port)
