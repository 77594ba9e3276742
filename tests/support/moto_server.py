"""moto's server in a child process on a free loopback port: an AWS of their own for the tests of the
real adapters (tests/unit/test_object_store.py, tests/contract/).

Not moto's in-process mock: that resets moto's state for the whole process on entry and exit, and a
test worker also hosts the local stack's moto (tests/e2e), whose state it would wipe. The child
process shares nothing. It takes moto's own setting for the smallest multipart part, so the tests'
small parts (the object store's part-size seam) meet the same rule S3 applies to 5 MiB ones.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import boto3

PART_BYTES = 64 * 1024  # the tests' part size, and moto's minimum for every part but the last
STARTUP_SECONDS = 120  # a bound on a child process starting, not a measure of speed
REGION = "us-east-1"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def child_moto_server() -> Iterator[str]:
    """Start moto's server in a child process; yields its endpoint URL, stops it on exit."""
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


def session() -> boto3.Session:
    """A session with moto's dummy credentials (clients name the endpoint themselves)."""
    return boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
