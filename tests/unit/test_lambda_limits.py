"""The local Lambda runtime's limits, on handlers defined here (no moto server, no network).

Time never decides an outcome: a timeout is reached by moving the invocation's clock
(faults.Timeout), a full /tmp by counting bytes (faults.FullDisk).
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest

from local_stack import lambda_runtime, violations
from local_stack.limits import LAMBDA_PAYLOAD_BYTES
from tests.support import faults
from tests.support.waiting import wait_until

HERE = "tests.unit.test_lambda_limits"


@dataclass
class FakeFunction:
    """The attributes of moto's LambdaFunction the runtime reads."""

    handler: str
    timeout: int = 30
    ephemeral_storage: int = 512
    function_name: str = "Limits-Test"
    role: str = "arn:aws:iam::123456789012:role/limits-test"
    function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:Limits-Test"
    memory_size: int = 512
    environment_vars: dict = field(default_factory=dict)


@pytest.fixture(autouse=True, scope="module")
def runtime():
    lambda_runtime.install()


def invoke(handler: str, event: dict | None = None, **config) -> tuple[dict, bool]:
    payload, errored, _ = lambda_runtime.invoke(FakeFunction(f"{HERE}.{handler}", **config), event or {})
    return json.loads(payload), errored


# -- handlers ------------------------------------------------------------------------------------
def ok_handler(event, context):
    return {"echo": event, "remaining_ms": context.get_remaining_time_in_millis()}


def tmp_handler(event, context):
    with tempfile.NamedTemporaryFile("w", delete=False) as handle:
        handle.write("scratch")
    os.unlink(handle.name)
    with ThreadPoolExecutor(max_workers=2) as pool:
        in_threads = list(pool.map(lambda _: tempfile.gettempdir(), range(2)))
    return {"tmp": tempfile.gettempdir(), "file": handle.name, "in_threads": in_threads}


def fill_handler(event, context):
    """Writes event["sizes"] chunks into /tmp (files kept until the end); reports where it stopped."""
    written = []
    with tempfile.TemporaryDirectory() as scratch:
        try:
            for index, size in enumerate(event["sizes"]):
                mode = "w" if event.get("text") else "wb"
                with open(os.path.join(scratch, f"part-{index}"), mode) as handle:
                    handle.write(("a" if event.get("text") else b"a") * size)
                written.append(size)
                if event.get("delete_each"):
                    os.unlink(os.path.join(scratch, f"part-{index}"))
        except OSError as exc:
            return {"written": written, "errno": exc.errno}
    return {"written": written, "errno": None}


def leaky_handler(event, context):
    with tempfile.NamedTemporaryFile(delete=False, suffix=".leak") as handle:
        handle.write(b"left behind")
    return {"file": handle.name}


def write_handler(event, context):
    try:
        with open(event["path"], "w") as handle:
            handle.write("x")
    except OSError as exc:
        return {"errno": exc.errno}
    return {"errno": None}


def big_handler(event, context):
    return {"body": "x" * event["size"]}


# -- tests ---------------------------------------------------------------------------------------
def test_a_handler_in_time_returns_its_result_and_sees_its_remaining_time():
    result, errored = invoke("ok_handler", {"n": 1}, timeout=7)
    assert not errored
    assert result["echo"] == {"n": 1}
    assert 0 < result["remaining_ms"] <= 7000


def test_past_its_timeout_the_caller_gets_sandbox_timedout_and_the_handler_stops():
    with faults.inject(faults.Timeout(f"{HERE}.ok_handler")) as fault:
        result, errored = invoke("ok_handler", timeout=7)
        wait_until(lambda: fault.stopped == 1, "the timed-out handler kept running", 30)
    assert errored
    assert result["errorType"] == "Sandbox.Timedout"
    assert result["errorMessage"].startswith("RequestId: ")
    assert result["errorMessage"].endswith("Error: Task timed out after 7.00 seconds")
    assert fault.resumed == 0
    # The next invocation runs normally.
    result, errored = invoke("ok_handler", timeout=7)
    assert not errored and result["echo"] == {}


def test_each_invocation_has_its_own_tmp_removed_afterwards_also_in_its_threads():
    first, errored = invoke("tmp_handler")
    second, _ = invoke("tmp_handler")
    assert not errored
    assert first["tmp"] != second["tmp"] != tempfile.gettempdir()
    assert os.path.dirname(first["file"]) == first["tmp"]
    assert first["in_threads"] == [first["tmp"]] * 2
    assert not os.path.exists(first["tmp"]) and not os.path.exists(second["tmp"])


def test_writing_past_the_ephemeral_storage_fails_with_enospc():
    with faults.inject(faults.FullDisk(f"{HERE}.fill_handler", free_bytes=10_000)):
        exact, _ = invoke("fill_handler", {"sizes": [6_000, 4_000]})
        over, _ = invoke("fill_handler", {"sizes": [6_000, 4_001]})
        text_over, _ = invoke("fill_handler", {"sizes": [10_001], "text": True})
        reused, _ = invoke("fill_handler", {"sizes": [6_000, 6_000, 6_000], "delete_each": True})
    assert exact == {"written": [6_000, 4_000], "errno": None}
    assert over == {"written": [6_000], "errno": errno.ENOSPC}
    assert text_over == {"written": [], "errno": errno.ENOSPC}
    assert reused == {"written": [6_000, 6_000, 6_000], "errno": None}  # deleted files free their space


def test_the_template_size_is_the_limit_without_a_fault():
    result, _ = invoke("fill_handler", {"sizes": [1024 * 1024] * 3}, ephemeral_storage=512)
    assert result == {"written": [1024 * 1024] * 3, "errno": None}
    with faults.inject(faults.FullDisk(f"{HERE}.fill_handler", free_bytes=2 * 1024 * 1024)):
        result, _ = invoke("fill_handler", {"sizes": [1024 * 1024] * 3}, ephemeral_storage=512)
    assert result == {"written": [1024 * 1024] * 2, "errno": errno.ENOSPC}


def test_files_left_in_tmp_are_a_violation_naming_the_function():
    violations.take()
    result, errored = invoke("leaky_handler")
    found = violations.take()
    assert not errored and not os.path.exists(result["file"])
    assert [(v.principal, v.kind) for v in found] == [("Limits-Test", violations.TMP_LEFTOVERS)]
    assert found[0].resource == os.path.basename(result["file"])


def test_a_response_over_6_mb_is_an_error_not_a_result():
    fits, errored = invoke("big_handler", {"size": LAMBDA_PAYLOAD_BYTES - 100})
    assert not errored and len(fits["body"]) == LAMBDA_PAYLOAD_BYTES - 100
    refused, errored = invoke("big_handler", {"size": LAMBDA_PAYLOAD_BYTES})
    assert errored
    assert refused == {"errorType": "Function.ResponseSizeTooLarge",
                       "errorMessage": f"Response payload size exceeded maximum allowed payload size "
                                       f"({LAMBDA_PAYLOAD_BYTES} bytes)."}


def test_threads_outside_an_invocation_are_not_in_one():
    seen = []
    thread = threading.Thread(target=lambda: seen.append(lambda_runtime.current_invocation()))
    thread.start()
    thread.join()
    assert seen == [None]
    assert not tempfile.gettempdir().startswith(str(lambda_runtime._storage_root))


def test_outside_tmp_the_file_system_is_read_only(tmp_path):
    target = tmp_path / "outside.txt"
    assert invoke("write_handler", {"path": str(target)})[0] == {"errno": errno.EROFS}
    assert not target.exists()
    assert invoke("write_handler", {"path": "/dev/null"})[0] == {"errno": None}
    with open(target, "w") as handle:  # outside an invocation, nothing changes
        handle.write("x")
    assert target.read_text() == "x"


def test_a_time_scale_counts_wall_time_slower_against_the_timeout_and_never_faster(monkeypatch, tmp_path):
    """LOCAL_LAMBDA_TIME_SCALE (the suite's 5): 30 s of wall time are 6 s of a 7 s function's timeout, and
    40 s are 8 s, past it. A stepped clock decides it, not the machine."""
    wall = [1000.0]
    monkeypatch.setattr(lambda_runtime, "time", type("Clock", (), {"monotonic": staticmethod(lambda: wall[0])}))
    try:
        lambda_runtime.scale_time(5)
        invocation = lambda_runtime.Invocation(FakeFunction(f"{HERE}.ok_handler", timeout=7), tmp_path)
        wall[0] += 30
        assert invocation.remaining_seconds() == pytest.approx(1.0)
        wall[0] += 10
        assert invocation.remaining_seconds() == pytest.approx(-1.0)
    finally:
        lambda_runtime.scale_time(1)
    fresh = lambda_runtime.Invocation(FakeFunction(f"{HERE}.ok_handler", timeout=7), tmp_path)
    wall[0] += 8
    assert fresh.remaining_seconds() == pytest.approx(-1.0), "scale 1: the template's timeout as it is"
    with pytest.raises(ValueError):
        lambda_runtime.scale_time(0.5)
