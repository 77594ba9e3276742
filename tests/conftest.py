"""Shared fixtures: one synthesis per run (shared by the xdist workers) and one local stack per worker."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# CDK context for the session's synthesis (keys, defaults and ranges: infra/config.py CONTEXT_KEYS).
# Small ranges and few partitions in tests, so a few hundred lines already take several Scan and Split
# iterations (records crossing range boundaries) and every Load reads several ranges.
# At most 16 ranges: a larger test file (10,000 records, megabyte lines) gets larger ranges, as on AWS past
# max_ranges, so it takes 16 Scan and Split iterations, not hundreds.
# Gzip: every upload over 2 KiB is tried in parallel by member, and every Decompress invocation writes one
# part (a budget of 0 s), so a single-member upload takes the chain through several invocations.
# Webhook retries after 1 s, then 2 s (at most): a retried delivery takes seconds, not minutes.
# Browser uploads only from the local stack's own origin (any port: the stack's ports are free ones picked after
# synthesis), so the browser tests run under a configured origin list, as a restricted deployment would.
TEST_CONTEXT = {"range_bytes": 4096, "max_ranges": 16, "load_partitions": 4, "decompress_budget_seconds": 0,
                "inflate_group_bytes": 2048, "webhook_retry_first_seconds": 1, "webhook_retry_max_seconds": 2,
                "browser_upload_origins": "http://127.0.0.1:*"}


# The files that take longest, longest first (per-file seconds from two full runs on the 2-core machine:
# docs/decision_log.md 2026-11-30, "make test's wall time"). `make test` runs them first: xdist
# (--dist loadfile) gives a worker its next file when it finishes one, in collection order, so long files
# started last would leave one core idle while the other finishes them. Its default order (most tests
# first, which `make test` turns off) put exactly these files, long but with few tests, at the end.
# The second file goes to the second worker while the first synthesizes (template_path, below): mypy's
# first run in a clone (tests/test_lint.py, ~100 s of CPU) needs no synthesis, so that worker works
# instead of waiting on the lock with a core idle.
LONGEST_FIRST = [
    "tests/e2e/test_validate.py",
    "tests/test_lint.py",
    "tests/e2e/test_put_clients.py",
    "tests/e2e/test_formats_and_types.py",
    "tests/e2e/test_multipart_upload.py",
    "tests/unit/test_bench_scale.py",
    "tests/unit/test_fast_path.py",
    "tests/e2e/test_failed_rows_and_retry.py",
    "tests/e2e/test_lexer_fixtures.py",
    "tests/e2e/test_schemathesis.py",
    "tests/e2e/test_datasets_and_jobs.py",
    "tests/e2e/test_local_stack_scale.py",
    "tests/unit/test_pydantic_rules.py",
    "tests/e2e/test_compat_imports.py",
    "tests/infra/test_cfn_lint.py",
]


def pytest_collection_modifyitems(items):
    """The LONGEST_FIRST files first, in that order; every other file after them in collection order (the
    end-to-end files before the short unit files)."""
    missing = [path for path in LONGEST_FIRST if not (ROOT / path).is_file()]
    if missing:  # a renamed file would silently lose its place
        raise pytest.UsageError(f"tests/conftest.py LONGEST_FIRST names files that do not exist: {missing}")
    rank = {path: position for position, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))


@pytest.fixture(scope="session")
def template_path(tmp_path_factory) -> Path:
    """The run's one synthesis (about 14 s of CPU): the first xdist worker to take the lock synthesizes into
    the run's shared temporary directory and the others wait for it and read the same files (nothing
    writes to a synthesis after it is made: the local stack and the tests only read it)."""
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # pytest-of-<user>/pytest-<n>/, holding each worker's popen-gw<i>/
    synth_dir = shared / "cdk.out"
    template_file = synth_dir / "BulkIngest.template.json"
    with (shared / "cdk.out.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also if this worker dies
        if not template_file.exists():
            # Synthesized beside and renamed into place, so a worker that died mid-synthesis leaves no
            # half-written directory behind for the next one to take as done.
            partial = Path(tempfile.mkdtemp(prefix="cdk.out-partial-", dir=shared))
            env = {
                **os.environ,
                "CDK_OUTDIR": str(partial),
                "CDK_CONTEXT_JSON": json.dumps(TEST_CONTEXT),
                "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
            }
            subprocess.run([sys.executable, "app.py"], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
            partial.rename(synth_dir)
    return template_file


@pytest.fixture(scope="session")
def template(template_path) -> dict:
    return json.loads(template_path.read_text())


@pytest.fixture(scope="session")
def moto_endpoint():
    """moto's server in a child process of its own, for tests of the real adapters (not the local stack's)."""
    from tests.support.moto_server import child_moto_server

    with child_moto_server() as endpoint:
        yield endpoint
