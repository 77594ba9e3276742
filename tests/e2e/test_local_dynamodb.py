"""The local stack's DynamoDB keeps DynamoDB's per-item atomicity and query cost (local_stack/dynamodb.py).

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
from moto.dynamodb.models import table as dynamodb_table_models

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
        outcomes = dict(zip(("upload-a", "upload-b"), pool.map(take, ("upload-a", "upload-b")), strict=True))

    winners = [upload for upload, held in outcomes.items() if held]
    assert len(winners) == 1, outcomes
    stored = datasets_table.get_item(Key=key, ConsistentRead=True)["Item"]
    assert stored["loading_job"] == winners[0]


# -- Query cost: what the partition holds, not the table ---------------------------------------------
@pytest.fixture
def records_like_table(stack):
    """A table keyed like the records table (pk, sk), with 40 partitions of 25 items each."""
    client = boto3.client("dynamodb", endpoint_url=stack.aws_endpoint, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    name = f"query-cost-{threading.get_ident()}"
    client.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                              {"AttributeName": "sk", "AttributeType": "S"}],
                        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                   {"AttributeName": "sk", "KeyType": "RANGE"}])
    items = {f"p{p:02d}": [f"k{k:03d}" for k in range(25)] for p in range(40)}
    for pk, keys in items.items():
        for sk in keys:
            client.put_item(TableName=name, Item={"pk": {"S": pk}, "sk": {"S": sk}, "n": {"N": str(int(sk[1:]))}})
    yield client, name, items
    client.delete_table(TableName=name)


def _all_pages(client, **query) -> list[str]:
    keys, start = [], None
    while True:
        page = client.query(**query, **({"ExclusiveStartKey": start} if start else {}))
        keys += [item["sk"]["S"] for item in page.get("Items", [])]
        start = page.get("LastEvaluatedKey")
        if not start:
            return keys


def test_a_query_reads_only_its_partition_and_answers_as_dynamodb_does(records_like_table, monkeypatch):
    client, name, items = records_like_table
    whole_table_reads = []
    original = dynamodb_table_models.Table.all_items
    monkeypatch.setattr(dynamodb_table_models.Table, "all_items",
                        lambda self: whole_table_reads.append(self.name) or original(self))
    key = {"KeyConditionExpression": "pk = :pk", "ExpressionAttributeValues": {":pk": {"S": "p07"}}}

    assert _all_pages(client, TableName=name, Limit=7, **key) == items["p07"]  # sorted, paged by Limit
    assert _all_pages(client, TableName=name, ScanIndexForward=False, **key) == items["p07"][::-1]
    ranged = {"KeyConditionExpression": "pk = :pk AND sk BETWEEN :a AND :b",
              "ExpressionAttributeValues": {":pk": {"S": "p07"}, ":a": {"S": "k005"}, ":b": {"S": "k009"}}}
    assert _all_pages(client, TableName=name, **ranged) == ["k005", "k006", "k007", "k008", "k009"]
    filtered = client.query(TableName=name, FilterExpression="n >= :ten",
                            **{**key, "ExpressionAttributeValues": {":pk": {"S": "p07"}, ":ten": {"N": "10"}}})
    assert [item["sk"]["S"] for item in filtered["Items"]] == items["p07"][10:] and filtered["ScannedCount"] == 25
    assert client.query(TableName=name, Select="COUNT", **key)["Count"] == 25
    absent = {"KeyConditionExpression": "pk = :pk", "ExpressionAttributeValues": {":pk": {"S": "nowhere"}}}
    assert client.query(TableName=name, **absent)["Items"] == []
    assert name not in whole_table_reads, "a table query went through every item of the table"
    # A scan still reads everything, as on DynamoDB.
    assert len(client.scan(TableName=name)["Items"]) == 1000 and name in whole_table_reads
