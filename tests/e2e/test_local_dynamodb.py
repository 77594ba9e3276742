"""The local stack's DynamoDB keeps DynamoDB's per-item atomicity (local_stack/dynamodb.py).

moto evaluates a write's condition on the live item and then changes it in place, with no lock: two
conditional writes racing on one item could both pass. The race is forced here, not hoped for: each
write pauses right after its condition check until the other has checked too (or, when the other
cannot get in because requests are serialized, until the pause gives up). So the outcome depends only
on whether requests are serialized, never on the machine's speed.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
from moto.dynamodb import models as dynamodb_models

from ingest.adapters.control_tables import DatasetsTable

PAUSE_SECONDS = 2.0


@pytest.fixture
def datasets_table(stack):
    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")
    name = stack.deployment.outputs["DatasetsTableName"]
    return session.resource("dynamodb", endpoint_url=stack.aws_endpoint).Table(name)


@pytest.fixture
def pause_after_condition_checks(monkeypatch):
    """Every conditional write waits after its condition check until two have checked (or a timeout)."""
    barrier = threading.Barrier(2, timeout=PAUSE_SECONDS)
    original = dynamodb_models.create_condition_expression_parser

    class PausingParser:
        def __init__(self, parser):
            self._parser = parser

        def parse(self):
            op = self._parser.parse()
            evaluate = op.expr

            def expr_then_pause(item):
                result = evaluate(item)
                try:
                    barrier.wait()
                except threading.BrokenBarrierError:
                    pass  # the other write could not get in while this one ran: requests are serialized
                return result

            op.expr = expr_then_pause
            return op

    def pausing(*args, **kwargs):
        parser = original(*args, **kwargs)
        return PausingParser(parser) if args[0] else parser  # args[0]: the ConditionExpression, if any

    monkeypatch.setattr(dynamodb_models, "create_condition_expression_parser", pausing)


def test_two_uploads_racing_for_a_dataset_hold_cannot_both_win(datasets_table, pause_after_condition_checks):
    key = {"account_id": "acct-atomic", "dataset_id": "ds-race"}
    datasets_table.put_item(Item={**key, "name": "race"})
    datasets = DatasetsTable(datasets_table)

    def take(upload_id: str) -> bool:
        return datasets.hold_for_load(key["account_id"], key["dataset_id"], upload_id, "2026-11-30T00:00:00Z")

    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = dict(zip(("upload-a", "upload-b"), pool.map(take, ("upload-a", "upload-b"))))

    winners = [upload for upload, held in outcomes.items() if held]
    assert len(winners) == 1, outcomes
    stored = datasets_table.get_item(Key=key, ConsistentRead=True)["Item"]
    assert stored["loading_job"] == winners[0]
