"""AWS errors as users meet them over HTTP: a throttled DynamoDB call is a 503 with Retry-After.

One API call is made to throttle through botocore's own event system (a `before-call` handler that
answers in DynamoDB's place, so nothing is patched): the API function's DynamoDB table client is
the process's own (adapters/aws.py builds one per table, and the local stack runs the handlers in
this process). The adapter translates the error (adapters/aws_errors.py) and the error table
answers it (handlers/http.py).
"""

from __future__ import annotations

import contextlib
import os
import threading
from types import SimpleNamespace

import requests

from ingest.adapters import aws

THROTTLED = {"Error": {"Code": "ProvisionedThroughputExceededException",
                       "Message": "The level of configured provisioned throughput for the table was exceeded"},
             "ResponseMetadata": {"HTTPStatusCode": 400}}


@contextlib.contextmanager
def throttle_once(table_name: str, operation: str, account: str):
    """The next `operation` on the table for `account` answers as DynamoDB does when it throttles."""
    client = aws.table(table_name).meta.client
    fired = threading.Event()

    def answer(params, **_):
        body = params.get("body") or b""
        if not fired.is_set() and account.encode() in (body if isinstance(body, bytes) else body.encode()):
            fired.set()
            return SimpleNamespace(status_code=400, headers={}), THROTTLED
        return None

    event = f"before-call.dynamodb.{operation}"
    client.meta.events.register(event, answer)
    try:
        yield fired
    finally:
        client.meta.events.unregister(event, answer)


def test_a_throttled_write_reaches_the_user_as_503_with_retry_after_and_the_retry_succeeds(stack, mint):
    account = "acct-throttled"
    headers = {"Auth-Api-Token": mint(account)}
    url = stack.info.api_url + "/v1/datasets"
    with throttle_once(os.environ["DATASETS_TABLE"], "PutItem", account) as fired:
        refused = requests.post(url, json={"name": "busy"}, headers=headers, timeout=30)
    assert fired.is_set(), "the throttle never met the API's write"
    assert refused.status_code == 503, refused.text
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.json() == {"message": "the service is busy right now; send the request again in a moment"}
    retried = requests.post(url, json={"name": "busy"}, headers=headers, timeout=30)
    assert retried.status_code == 201, retried.text
    listed = requests.get(url, headers=headers, timeout=30).json()["datasets"]
    assert [dataset["name"] for dataset in listed] == ["busy"], "the throttled request left nothing behind"
