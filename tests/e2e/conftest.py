"""The local stack, started once per session on free loopback ports, and API clients on it."""

from __future__ import annotations

import itertools

import pytest

from cli.client import IngestClient, put_file
from local_stack import violations
from local_stack.stack import LocalStack, free_port
from local_stack.tokens import mint_local_token

_accounts = itertools.count(1)


def fail_on_violations(when: str) -> None:
    """Fail with every call the local stack refused as AWS would (or other violation) not yet taken."""
    found = violations.take()
    if found:
        pytest.fail(f"{when}, functions did what AWS would refuse:\n" + "\n".join(f"  {v}" for v in found),
                    pytrace=False)


# Wall time that counts as one second of a function's timeout here (lambda_runtime.scale_time): every
# function, moto and the tests share one process on busy cores, where a cold start once outlasted the
# authorizer's 10 s. Tests of timeouts move the invocation's clock (faults.Timeout) instead.
LAMBDA_TIME_SCALE = 5


@pytest.fixture(scope="session")
def stack(template_path):
    local = LocalStack(template_path, aws_port=free_port(), api_port=free_port(), lambda_time_scale=LAMBDA_TIME_SCALE)
    local.start()
    yield local
    local.stop()
    # Workflows still running after the last test end here: what they did counts too.
    fail_on_violations("After the session")


@pytest.fixture(autouse=True)
def no_violations(request):
    """Every end-to-end test fails if a function made a call its role does not allow (checked against
    the template's policies by local_stack/access_guard.py) or broke another Lambda rule. A test that
    provokes one on purpose takes it with violations.take() before it ends."""
    if "stack" not in request.fixturenames:
        yield
        return
    yield
    fail_on_violations("During this test")


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
