"""The scale bench runs each step in a forked process, as Lambda runs each invocation. A step whose
process dies (the OOM killer, a signal) or exits with an error must fail the bench with how it ended,
never be reported as a measured step."""

from __future__ import annotations

import os
import signal

import pytest

from benchmarks.scale.run import Harness
from ingest.logic.load.context import LoadSettings


@pytest.fixture
def harness(tmp_path) -> Harness:
    return Harness(tmp_path, LoadSettings())


def test_a_step_whose_invocation_is_killed_fails_the_bench_naming_the_signal(harness):
    with pytest.raises(RuntimeError, match=r"^Split: its invocation was killed by SIGKILL before answering$"):
        harness.invoke("Split", lambda _ctx: os.kill(os.getpid(), signal.SIGKILL))


def test_a_step_that_raises_fails_the_bench_with_its_traceback(harness):
    def broken(_ctx):
        raise ValueError("no such range")

    with pytest.raises(RuntimeError, match=r"(?s)^Load failed in its invocation:\n.*ValueError: no such range"):
        harness.invoke("Load", broken)


def test_a_step_that_answers_is_measured_with_its_result(harness):
    result, invocation = harness.invoke("Finalize", lambda _ctx: {"records": 3})
    assert result == {"records": 3}
    assert invocation.step == "Finalize"
    assert invocation.peak_rss_bytes > 0
