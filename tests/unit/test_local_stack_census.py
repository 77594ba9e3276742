"""benchmarks/local_stack.py's census: each request moto's server serves is counted under its AWS
operation, with the server thread's CPU, only while the block runs."""

from __future__ import annotations

import pytest
from werkzeug.test import Client

from benchmarks.local_stack import census
from local_stack import access_guard
from local_stack.moto_server import wsgi_app


def signed_for(service: str) -> dict:
    return {"Host": "127.0.0.1:4566", "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20261130/us-east-1/"
                                                      f"{service}/aws4_request, SignedHeaders=host, Signature=0"}


@pytest.fixture
def app(monkeypatch) -> Client:
    monkeypatch.setattr(access_guard, "_guard", None)  # no template's resources here
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    return Client(wsgi_app())


def test_requests_are_counted_by_operation_while_the_census_runs(app):
    def list_tables() -> int:
        return app.post("/", data="{}", headers={**signed_for("dynamodb"), "Content-Type": "application/x-amz-json-1.0",
                                                 "X-Amz-Target": "DynamoDB_20120810.ListTables"}).status_code

    with census() as seen:
        assert [list_tables(), list_tables()] == [200, 200]
        assert app.get("/", headers=signed_for("s3")).status_code == 200  # ListBuckets
    list_tables()  # after the block: not counted
    assert {name: count for name, (count, _) in seen.operations.items()} == {"dynamodb ListTables": 2, "s3 GET": 1}
    assert all(cpu > 0 for _, cpu in seen.operations.values())
    assert seen.process_cpu > 0 and seen.wall > 0
    assert seen.rows()[1].lstrip().startswith(("dynamodb ListTables", "s3 GET"))
