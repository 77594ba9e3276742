"""DynamoDBWire (adapters/dynamodb_wire.py) against boto3's client, both on moto's server over HTTP: the
same call answers the same, fails with the same error, and a Load's writer gives the same answers
through either."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from ingest.adapters.dynamodb_wire import DynamoDBWire
from ingest.adapters.record_store import RecordStore, RecordWrite
from tests.support.moto_server import session


@pytest.fixture
def records_table(new_table):
    return new_table("RecordsTable")


@pytest.fixture
def client(aws):
    return aws.client("dynamodb")


@pytest.fixture
def wire(client):
    sender = DynamoDBWire.from_client(client, session().get_credentials(), max_connections=4)
    yield sender
    sender.close()


def update(table: str, key: str, data: str, **more) -> dict:
    return {"TableName": table, "Key": {"pk": {"S": "p"}, "sk": {"S": key}},
            "UpdateExpression": "SET #d = :d, #l = :l", "ExpressionAttributeNames": {"#d": "data", "#l": "line"},
            "ExpressionAttributeValues": {":d": {"S": data}, ":l": {"N": "7"}}, "ReturnValues": "ALL_OLD", **more}


def test_update_item_with_all_old_answers_as_boto3_does(client, wire, records_table):
    table = records_table.name
    assert "Attributes" not in wire.call("UpdateItem", update(table, "a", "first, Zoë ✓"))
    assert "Attributes" not in client.update_item(**update(table, "b", "first, Zoë ✓"))
    through_wire = wire.update_item(**update(table, "a", "second"))["Attributes"]
    through_boto3 = client.update_item(**update(table, "b", "second"))["Attributes"]
    assert through_wire == {**through_boto3, "sk": {"S": "a"}}
    assert through_wire == {"pk": {"S": "p"}, "sk": {"S": "a"}, "data": {"S": "first, Zoë ✓"}, "line": {"N": "7"}}
    stored = client.get_item(TableName=table, Key={"pk": {"S": "p"}, "sk": {"S": "a"}})["Item"]
    assert stored["data"] == {"S": "second"}


def test_a_failed_condition_raises_what_boto3_raises_with_the_item(client, wire, records_table):
    table = records_table.name
    wire.call("UpdateItem", update(table, "a", "first"))
    refused = update(table, "a", "second", ConditionExpression="attribute_not_exists(pk)",
                     ReturnValuesOnConditionCheckFailure="ALL_OLD")
    failures = []
    for send in (lambda: wire.call("UpdateItem", refused), lambda: client.update_item(**refused)):
        with pytest.raises(client.exceptions.ConditionalCheckFailedException) as failed:
            send()
        failures.append(failed.value.response)
    through_wire, through_boto3 = failures
    assert through_wire["Error"] == through_boto3["Error"]
    assert through_wire["Error"]["Code"] == "ConditionalCheckFailedException"
    assert through_wire["Item"] == through_boto3["Item"] == {
        "pk": {"S": "p"}, "sk": {"S": "a"}, "data": {"S": "first"}, "line": {"N": "7"}}


def test_a_request_dynamodb_rejects_fails_with_its_code_as_through_boto3(client, wire, records_table):
    malformed = update(records_table.name, "a", "x", UpdateExpression="SET #d = = :d")
    codes = []
    for send in (lambda: wire.call("UpdateItem", malformed), lambda: client.update_item(**malformed)):
        with pytest.raises(ClientError) as failed:
            send()
        codes.append((failed.value.response["Error"]["Code"],
                      failed.value.response["ResponseMetadata"]["HTTPStatusCode"]))
    assert codes[0] == codes[1] == ("ValidationException", 400)
    with pytest.raises(ClientError) as missing:
        wire.call("UpdateItem", {"TableName": "no-such-table",
                                 **{k: v for k, v in malformed.items() if k != "TableName"}})
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"


def writes(*keys: str, line: int = 1) -> list[RecordWrite]:
    return [RecordWrite(key, json.dumps({"id": key, "line": line}), line) for key in keys]


def test_a_loads_writer_answers_the_same_through_the_wire_as_through_boto3(client, wire, records_table):
    """Two loads of the same keys: the second one's answers (what each write replaced) are the items
    the first wrote, whichever sender each went through."""
    boto3_store = RecordStore(client, records_table.name)
    wire_store = RecordStore(client, records_table.name, load_writes=wire)
    answers = []
    for dataset, first, second in (("ds-boto3", boto3_store, boto3_store), ("ds-wire", wire_store, wire_store),
                                   ("ds-mixed", boto3_store, wire_store)):
        with first.writer("acme", dataset, "customer_record", 64, "U1", "a1", 4, 1000) as writer:
            assert writer.write(writes("a", "b", "c")) == [None, None, None]
        with second.writer("acme", dataset, "customer_record", 64, "U2", "a2", 4, 1000) as writer:
            answers.append(writer.write(writes("a", "b", "c", "d", line=2)))
        assert wire_store.get("acme", dataset, "customer_record", "b", 64) == json.dumps({"id": "b", "line": 2})
    assert answers[0] == answers[1] == answers[2]
    assert [answer and (answer["job_id"], answer["attempt"], answer["data"]) for answer in answers[1]] == [
        ("U1", "a1", json.dumps({"id": key, "line": 1})) for key in "abc"] + [None]
