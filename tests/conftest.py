"""Shared fixtures: one synthesis and one local stack per test session."""

from __future__ import annotations

import json
import os
import subprocess
import sys
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


@pytest.fixture(scope="session")
def template_path(tmp_path_factory) -> Path:
    synth_dir = tmp_path_factory.mktemp("cdk.out")
    env = {
        **os.environ,
        "CDK_OUTDIR": str(synth_dir),
        "CDK_CONTEXT_JSON": json.dumps(TEST_CONTEXT),
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    }
    subprocess.run([sys.executable, "app.py"], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    return synth_dir / "BulkIngest.template.json"


@pytest.fixture(scope="session")
def template(template_path) -> dict:
    return json.loads(template_path.read_text())


@pytest.fixture(scope="session")
def moto_endpoint():
    """moto's server in a child process of its own, for tests of the real adapters (not the local stack's)."""
    from tests.support.moto_server import child_moto_server

    with child_moto_server() as endpoint:
        yield endpoint
