"""An S3 of their own for the tests of the streaming writer: moto's server in a child process
(tests/support/moto_server.py, started once per session by tests/conftest.py `moto_endpoint`)."""

from __future__ import annotations

import uuid

import pytest

from tests.support.moto_server import PART_BYTES, session

__all__ = ["PART_BYTES"]


@pytest.fixture
def s3(moto_endpoint):
    """A client of that S3 with a bucket of its own (its name is in `s3.test_bucket`)."""
    client = session().client("s3", endpoint_url=moto_endpoint)
    bucket = f"test-{uuid.uuid4().hex}"
    client.create_bucket(Bucket=bucket)
    client.test_bucket = bucket
    return client
