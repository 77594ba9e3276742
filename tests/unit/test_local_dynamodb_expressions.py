"""local_stack/dynamodb_expressions.py: moto answers every UpdateItem as its own code does, the Load's
record writes and the requests DynamoDB refuses alike, with the adapter in place."""

from __future__ import annotations

import json
import uuid

import pytest
from moto.dynamodb.parsing import ast_nodes, validators
from moto.dynamodb.parsing.expressions import UpdateExpressionParser
from werkzeug.test import Client

from ingest.adapters.record_store import NOT_THIS_WRITE_AGAIN, UPDATE_EXPRESSION, UPDATE_NAMES
from local_stack import access_guard, dynamodb, dynamodb_expressions
from local_stack.moto_server import wsgi_app

HEADERS = {"Host": "127.0.0.1:4566", "Content-Type": "application/x-amz-json-1.0",
           "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20261130/us-east-1/dynamodb/aws4_request, "
                            "SignedHeaders=host, Signature=0"}
KEY = {"pk": {"S": "acct#ds#customer_record#3"}, "sk": {"S": "customer_id:c-1"}}


def record_write(table: str, attempt: str, line: int) -> dict:
    """The Load's UpdateItem of one record (record_store.RecordWriter._parameters)."""
    return {"TableName": table, "Key": KEY, "UpdateExpression": UPDATE_EXPRESSION,
            "ConditionExpression": NOT_THIS_WRITE_AGAIN, "ExpressionAttributeNames": UPDATE_NAMES,
            "ExpressionAttributeValues": {":d": {"S": '{"email": "c@example.com"}'}, ":l": {"N": str(line)},
                                          ":j": {"S": "job-1"}, ":a": {"S": attempt}, ":none": {"S": "-"}},
            "ReturnValues": "ALL_OLD", "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}


def update(table: str, expression: str, values: dict | None = None, names: dict | None = None) -> dict:
    request = {"TableName": table, "Key": KEY, "UpdateExpression": expression, "ReturnValues": "ALL_NEW"}
    if values is not None:
        request["ExpressionAttributeValues"] = values
    if names is not None:
        request["ExpressionAttributeNames"] = names
    return request


def requests_of(table: str) -> list[dict]:
    """Writes DynamoDB accepts, and writes it refuses, each refused one twice (a failed parse or
    validation is never remembered as a success)."""
    number, text = {"N": "5"}, {"S": "x"}
    refused = [
        update(table, "SET #d = = :d", {":d": text}, {"#d": "data"}),  # syntax
        update(table, "SET #d = :d, #d = :n", {":d": text, ":n": number}, {"#d": "data"}),  # overlapping paths
        update(table, "SET pk = :d", {":d": text}),  # a key attribute
        update(table, "SET a = :d", {":d": text, ":unused": text}),  # a value never used
        update(table, "SET a = :d SET b = :d", {":d": text}),  # two SET clauses
        update(table, "SET line = line + :d", {":d": text}),  # a number plus a string
        update(table, "SET a = missing.path", None),  # a path into nothing
    ]
    return [
        record_write(table, "a1", 1),  # a new record
        record_write(table, "a1", 1),  # the same write again: its condition fails, ALL_OLD comes back
        record_write(table, "a2", 1),  # another attempt replaces it
        update(table, "ADD visits :n SET tags = list_append(if_not_exists(tags, :empty), :tag)",
               {":n": number, ":empty": {"L": []}, ":tag": {"L": [text]}}),
        update(table, "ADD visits :n SET tags = list_append(tags, :tag) REMOVE created_by",
               {":n": number, ":tag": {"L": [text]}}),
        *refused, *refused,
    ]


def answers(client: Client, table: str) -> list[tuple[int, dict]]:
    def call(target: str, body: dict) -> tuple[int, dict]:
        response = client.post("/", data=json.dumps(body),
                               headers={**HEADERS, "X-Amz-Target": f"DynamoDB_20120810.{target}"})
        return response.status_code, json.loads(response.get_data() or b"{}")

    status, _ = call("CreateTable", {
        "TableName": table, "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                 {"AttributeName": "sk", "AttributeType": "S"}]})
    assert status == 200
    try:
        return [call("UpdateItem", request) for request in requests_of(table)] + [
            call("GetItem", {"TableName": table, "Key": KEY, "ConsistentRead": True})]
    finally:
        call("DeleteTable", {"TableName": table})


@pytest.fixture
def moto_app(monkeypatch) -> Client:
    """moto's app in this thread, with whatever adapters this process had put back afterwards."""
    monkeypatch.setattr(access_guard, "_guard", None)  # these tables are no template's
    monkeypatch.setattr(UpdateExpressionParser, "make", UpdateExpressionParser.__dict__["make"])
    monkeypatch.setattr(validators, "deepcopy", validators.deepcopy)
    monkeypatch.setattr(ast_nodes.DepthFirstTraverser, "traverse_node_recursively",
                        ast_nodes.DepthFirstTraverser.traverse_node_recursively)
    monkeypatch.setattr(ast_nodes.Node, "find_clauses", ast_nodes.Node.find_clauses)
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    dynamodb.install()
    return Client(wsgi_app())


def test_every_update_is_answered_as_motos_own_code_answers_it(moto_app):
    table = f"expressions-{uuid.uuid4().hex}"  # created, used and deleted by each run in turn
    dynamodb_expressions.uninstall()
    expected = answers(moto_app, table)
    dynamodb_expressions.install()
    got = answers(moto_app, table)
    assert got == expected
    statuses = [status for status, _ in got]
    # What the requests above mean, so that the comparison is not between two broken runs.
    assert statuses[:5] == [200, 400, 200, 200, 200]
    assert got[1][1]["__type"].endswith("ConditionalCheckFailedException")
    assert got[1][1]["Item"]["attempt"] == {"S": "a1"}
    assert statuses[5:-1] == [400] * 14
    assert all(body["__type"].endswith("ValidationException") for _, body in got[5:-1])
    item = got[-1][1]["Item"]
    assert (item["attempt"], item["previous_attempt"], item["visits"], item["tags"]) == (
        {"S": "a2"}, {"S": "a1"}, {"N": "10"}, {"L": [{"S": "x"}, {"S": "x"}]})
    assert "created_by" not in item
