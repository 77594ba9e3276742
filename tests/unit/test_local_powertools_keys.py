"""The local stack's Powertools log keys per invocation (local_stack/powertools_keys.py): two
invocations of different functions running at once each log their own function_name and their own
appended keys, also from a thread the handler starts, as each would alone in its sandbox on AWS. A
barrier holds both handlers until both have appended their keys, so the overlap is certain."""

from __future__ import annotations

import io
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest
from aws_lambda_powertools import Logger

from local_stack import lambda_runtime

HERE = "tests.unit.test_local_powertools_keys"
STREAM = io.StringIO()
logger = Logger(service="keys-test", logger_handler=__import__("logging").StreamHandler(STREAM))
both_appended = threading.Barrier(2, timeout=60)


@dataclass
class FakeFunction:
    """The attributes of moto's LambdaFunction the runtime reads."""

    function_name: str
    handler: str = f"{HERE}.handler"
    timeout: int = 120
    ephemeral_storage: int = 512
    role: str = "arn:aws:iam::123456789012:role/keys-test"
    memory_size: int = 512
    environment_vars: dict = field(default_factory=dict)

    @property
    def function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"


@logger.inject_lambda_context(log_event=False)
def handler(event, context):
    logger.append_keys(upload_id=event["upload_id"])
    both_appended.wait()
    logger.info("in the handler")
    with ThreadPoolExecutor(1) as pool:
        pool.submit(logger.info, "in a thread the handler started").result()
    return "ok"


@pytest.fixture(autouse=True, scope="module")
def runtime():
    lambda_runtime.install()


def test_concurrent_invocations_each_log_their_own_function_name_and_keys():
    calls = [(FakeFunction("Keys-Load"), {"upload_id": "U-load"}), (FakeFunction("Keys-Api"), {"upload_id": "U-api"})]
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda call: lambda_runtime.invoke(*call), calls))
    assert [json.loads(payload) for payload, errored, _ in answers] == ["ok", "ok"]
    lines = [json.loads(line) for line in STREAM.getvalue().splitlines()]
    assert len(lines) == 4
    for line in lines:
        assert line["service"] == "keys-test"
        assert (line["function_name"], line["upload_id"]) in {("Keys-Load", "U-load"), ("Keys-Api", "U-api")}, line
    assert sorted(line["function_name"] for line in lines) == ["Keys-Api", "Keys-Api", "Keys-Load", "Keys-Load"]
    logger.info("outside any invocation")  # the process's keys: no invocation's leaked into them
    outside = json.loads(STREAM.getvalue().splitlines()[-1])
    assert "function_name" not in outside and "upload_id" not in outside


def test_a_logger_made_inside_an_invocation_gives_its_keys_to_the_process():
    """A handler module's `logger = Logger(...)` runs in the invocation that first imports it: what
    the Logger sets up is the process's, what that invocation appends is its own."""
    from local_stack import thread_context
    from local_stack.thread_context import Principal

    class Invocation:  # what thread_context keeps per invocation: any object
        pass

    stream, first, second = io.StringIO(), Invocation(), Invocation()
    with thread_context.working_for(Principal("First", "role", "function"), first):
        made_here = Logger(service="made-in-an-invocation", logger_handler=__import__("logging").StreamHandler(stream))
        made_here.append_keys(function_name="First")
        made_here.info("first")
    with thread_context.working_for(Principal("Second", "role", "function"), second):
        made_here.info("second")
    made_here.info("outside")
    first_line, second_line, outside = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first_line["function_name"] == "First"
    assert "function_name" not in second_line and "function_name" not in outside
    assert {line["service"] for line in (first_line, second_line, outside)} == {"made-in-an-invocation"}
    assert all(line["level"] == "INFO" and line["timestamp"] for line in (second_line, outside))
