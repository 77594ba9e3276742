"""Where `make test`'s wall time goes: which worker ran which file when, to order tests/conftest.py's
LONGEST_FIRST by measurement.

    PYTEST_ARGS="-p tests.support.timeline" make test      # writes .local/test-timeline.jsonl
    .venv/bin/python -m tests.support.timeline .local/test-timeline.jsonl

The file holds one line per test phase (setup, call, teardown) with its worker and start/stop times, as
the xdist controller receives them, so a run stopped by a timeout still leaves what it ran. Each line
also has the CPU seconds the worker's process (every thread: the local stack's too) and the children it
waited for (mypy, ruff, app.py) had used when the phase ended: on a machine shared with other work, wall
time says how long a file waited, CPU time what it cost. A phase's CPU is the difference from its
worker's previous line, so a workflow still running in the background after its test counts against
the next one.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[2] / ".local" / "test-timeline.jsonl"
_open: list = []  # the controller's output file, once configured


def pytest_configure(config):
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return  # the controller (or a run without xdist) writes every worker's reports
    _PATH.parent.mkdir(exist_ok=True)
    _open.append(_PATH.open("w"))
    _open[0].write(json.dumps({"event": "start", "t": time.time()}) + "\n")


def _cpu_seconds() -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """In the worker: the process's CPU so far, carried to the controller with the report."""
    report = yield
    report.user_properties = [*report.user_properties, ("timeline_cpu", round(_cpu_seconds(), 3))]
    return report


def pytest_runtest_logreport(report):
    if not _open:
        return
    node = getattr(report, "node", None)  # set by xdist on the controller
    cpu = [value for name, value in report.user_properties if name == "timeline_cpu"]
    _open[0].write(json.dumps({"id": report.nodeid, "when": report.when, "start": report.start, "stop": report.stop,
                               "worker": node.gateway.id if node is not None else "main",
                               "cpu": cpu[-1] if cpu else None}) + "\n")
    _open[0].flush()


def summary(lines: list[str]) -> str:
    rows = [json.loads(line) for line in lines]
    start = next(row["t"] for row in rows if row.get("event") == "start")
    # path -> [seconds, worker, first, last, cpu]; worker -> [busy, first start, last stop, cpu before its first test]
    files: dict[str, list] = defaultdict(lambda: [0.0, None, float("inf"), 0.0, 0.0])
    workers: dict[str, list] = defaultdict(lambda: [0.0, float("inf"), 0.0, None])
    last_cpu: dict[str, float] = {}
    for row in (row for row in rows if "id" in row):
        seconds = row["stop"] - row["start"]
        entry = files[row["id"].split("::")[0]]
        entry[0] += seconds
        entry[1] = row["worker"]
        entry[2], entry[3] = min(entry[2], row["start"]), max(entry[3], row["stop"])
        busy = workers[row["worker"]]
        busy[0] += seconds
        busy[1], busy[2] = min(busy[1], row["start"]), max(busy[2], row["stop"])
        if row.get("cpu") is not None:  # CPU since the worker's previous report (collection for its first)
            if row["worker"] in last_cpu:
                entry[4] += row["cpu"] - last_cpu[row["worker"]]
            else:
                busy[3] = row["cpu"]
            last_cpu[row["worker"]] = row["cpu"]
    out = [f"{name}: first test at {first - start:.0f} s, last done at {last - start:.0f} s, busy {seconds:.0f} s"
           + (f", CPU {cpu - before:.0f} s in tests ({before:.0f} s before its first test ended)"
              if before is not None else "")
           for name, (seconds, first, last, before), cpu in
           ((name, values, last_cpu.get(name, 0.0)) for name, values in sorted(workers.items()))]
    out.append("files by total seconds (setup + call + teardown), with their CPU seconds:")
    out += [f"{seconds:8.1f} s  CPU {cpu:7.1f} s  {worker}  {first - start:6.0f}-{last - start:6.0f} s  {path}"
            for path, (seconds, worker, first, last, cpu) in sorted(files.items(), key=lambda item: -item[1][0])]
    return "\n".join(out)


if __name__ == "__main__":
    print(summary(Path(sys.argv[1] if len(sys.argv) > 1 else _PATH).read_text().splitlines()))
