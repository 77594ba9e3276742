"""The local stack, started once per session on free loopback ports, and API clients on it."""

from __future__ import annotations

import itertools

import pytest

from cli.client import IngestClient, put_file
from local_stack.stack import LocalStack, free_port
from local_stack.tokens import mint_local_token

_accounts = itertools.count(1)


@pytest.fixture(scope="session")
def stack(template_path):
    local = LocalStack(template_path, aws_port=free_port(), api_port=free_port())
    local.start()
    yield local
    local.stop()


@pytest.fixture(scope="session")
def mint(stack):
    """mint(account) -> a fresh token for that account on the local stack."""
    return lambda account: mint_local_token(stack.info.tokens_table, account)


@pytest.fixture
def account(mint):
    """A fresh account per test, so tests never see each other's uploads."""
    name = f"acct-{next(_accounts)}"
    return {"name": name, "token": mint(name)}


@pytest.fixture
def client(stack, account) -> IngestClient:
    return IngestClient(stack.info.api_url, account["token"])


@pytest.fixture
def dataset(client) -> dict:
    return client.create_dataset("test dataset")


@pytest.fixture
def load_file(client, dataset, tmp_path):
    """load_file(content, record_type=..., filename=...) -> the finished upload, via the HTTP API."""

    def load(content: bytes, record_type: str = "customer_record", filename: str | None = None,
             dataset_id: str | None = None) -> dict:
        name = filename or f"{record_type}-test.ndjson"
        path = tmp_path / name
        path.write_bytes(content)
        upload = client.request_upload(name, dataset_id or dataset["id"], record_type)
        put_file(upload["url"], str(path))
        return client.wait_for(upload["id"], timeout=120, poll=0.2)

    return load
