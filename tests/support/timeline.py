"""Where `make test`'s wall time goes: which worker ran which file when, to order tests/conftest.py's
LONGEST_FIRST by measurement.

    PYTEST_ARGS="-p tests.support.timeline" make test      # writes .local/test-timeline.jsonl
    .venv/bin/python -m tests.support.timeline .local/test-timeline.jsonl

The file holds one line per test phase (setup, call, teardown) with its worker and start/stop times, as
the xdist controller receives them, so a run stopped by a timeout still leaves what it ran.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

_PATH = Path(__file__).resolve().parents[2] / ".local" / "test-timeline.jsonl"
_open: list = []  # the controller's output file, once configured


def pytest_configure(config):
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return  # the controller (or a run without xdist) writes every worker's reports
    _PATH.parent.mkdir(exist_ok=True)
    _open.append(_PATH.open("w"))
    _open[0].write(json.dumps({"event": "start", "t": time.time()}) + "\n")


def pytest_runtest_logreport(report):
    if not _open:
        return
    node = getattr(report, "node", None)  # set by xdist on the controller
    _open[0].write(json.dumps({"id": report.nodeid, "when": report.when, "start": report.start, "stop": report.stop,
                           "worker": node.gateway.id if node is not None else "main"}) + "\n")
    _open[0].flush()


def summary(lines: list[str]) -> str:
    rows = [json.loads(line) for line in lines]
    start = next(row["t"] for row in rows if row.get("event") == "start")
    files: dict[str, list] = defaultdict(lambda: [0.0, None, float("inf"), 0.0])  # seconds, worker, first, last
    workers: dict[str, list] = defaultdict(lambda: [0.0, float("inf"), 0.0])  # busy, first start, last stop
    for row in (row for row in rows if "id" in row):
        seconds = row["stop"] - row["start"]
        entry = files[row["id"].split("::")[0]]
        entry[0] += seconds
        entry[1] = row["worker"]
        entry[2], entry[3] = min(entry[2], row["start"]), max(entry[3], row["stop"])
        busy = workers[row["worker"]]
        busy[0] += seconds
        busy[1], busy[2] = min(busy[1], row["start"]), max(busy[2], row["stop"])
    out = [f"{name}: first test at {first - start:.0f} s, last done at {last - start:.0f} s, busy {seconds:.0f} s"
           for name, (seconds, first, last) in sorted(workers.items())]
    out.append("files by total seconds (setup + call + teardown):")
    out += [f"{seconds:8.1f} s  {worker}  {first - start:6.0f}-{last - start:6.0f} s  {path}"
            for path, (seconds, worker, first, last) in sorted(files.items(), key=lambda item: -item[1][0])]
    return "\n".join(out)


if __name__ == "__main__":
    print(summary(Path(sys.argv[1] if len(sys.argv) > 1 else _PATH).read_text().splitlines()))
