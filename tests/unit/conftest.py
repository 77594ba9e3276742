"""An S3 of their own for the tests of the streaming writer: moto's server in a child process.

Not moto's in-process mock: that resets moto's state for the whole process on entry and exit, and a
test worker also hosts the local stack's moto (tests/e2e), whose state it would wipe. The child
process shares nothing, and takes moto's own setting for the smallest multipart part, so the tests'
small parts (the writer's part-size seam) meet the same rule S3 applies to 5 MiB ones.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid

import boto3
import pytest

PART_BYTES = 64 * 1024  # the tests' part size, and moto's minimum for every part but the last
STARTUP_SECONDS = 120  # a bound on a child process starting, not a measure of speed


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def s3_endpoint():
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env={**os.environ, "S3_UPLOAD_PART_MIN_SIZE": str(PART_BYTES)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/reset-auth", timeout=5).close()
                break
            except urllib.error.HTTPError:
                break  # it answers
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto's server did not start on {endpoint}") from None
                time.sleep(0.1)
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture
def s3(s3_endpoint):
    """A client of that S3 with a bucket of its own (its name is in `s3.test_bucket`)."""
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                    region_name="us-east-1")
    client = session.client("s3", endpoint_url=s3_endpoint)
    bucket = f"test-{uuid.uuid4().hex}"
    client.create_bucket(Bucket=bucket)
    client.test_bucket = bucket
    return client
