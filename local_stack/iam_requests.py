"""What IAM authorizes for an AWS API call: its action(s), resource ARN(s) and condition keys.

One API call can need several authorizations (a transaction's items, a batch's tables, a
DeleteObjects' keys), each an iam.Request. The mapping follows AWS's service authorization
reference for the operations our handlers call; an operation not listed here raises
UnmappedOperationError, so a new call cannot go unchecked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from local_stack.iam import Request
from local_stack.template import Resolver, Template

SECURE_TRANSPORT = {"aws:securetransport": "true"}  # the local endpoint stands for AWS's HTTPS one

# S3 operations -> (IAM action, on the object (True) or on the bucket (False)).
S3_ACTIONS = {
    "GetObject": ("s3:GetObject", True),
    "HeadObject": ("s3:GetObject", True),
    "PutObject": ("s3:PutObject", True),
    "CreateMultipartUpload": ("s3:PutObject", True),
    "UploadPart": ("s3:PutObject", True),
    "CompleteMultipartUpload": ("s3:PutObject", True),
    "AbortMultipartUpload": ("s3:AbortMultipartUpload", True),
    "ListParts": ("s3:ListMultipartUploadParts", True),
    "DeleteObject": ("s3:DeleteObject", True),
    "GetObjectTagging": ("s3:GetObjectTagging", True),
    "PutObjectTagging": ("s3:PutObjectTagging", True),
    "ListObjectsV2": ("s3:ListBucket", False),
    "ListObjects": ("s3:ListBucket", False),
    "HeadBucket": ("s3:ListBucket", False),
    "ListMultipartUploads": ("s3:ListBucketMultipartUploads", False),
}
# DynamoDB single-item operations and how a transaction's item kinds are authorized.
DYNAMODB_ITEM_ACTIONS = {"GetItem", "PutItem", "UpdateItem", "DeleteItem"}
TRANSACT_ITEM_ACTIONS = {"ConditionCheck": "dynamodb:ConditionCheckItem", "Put": "dynamodb:PutItem",
                         "Update": "dynamodb:UpdateItem", "Delete": "dynamodb:DeleteItem", "Get": "dynamodb:GetItem"}
DYNAMODB_TABLE_ACTIONS = {"DescribeTable", "Scan"}
STATES_ACTIONS = {"StartExecution": "stateMachineArn", "StartSyncExecution": "stateMachineArn",
                  "DescribeExecution": "executionArn", "StopExecution": "executionArn",
                  "GetExecutionHistory": "executionArn"}


class UnmappedOperationError(RuntimeError):
    pass


@dataclass(frozen=True)
class KeySchema:
    table_arn: str
    partition_key: str
    index_partition_keys: dict[str, str]  # index name -> its partition key


class TableKeys:
    """Each table's partition key (and its indexes'), for dynamodb:LeadingKeys."""

    def __init__(self, tables: dict[str, KeySchema]):
        self._tables = tables

    @classmethod
    def from_template(cls, template: Template, resolver: Resolver) -> TableKeys:
        tables = {}
        for logical_id, resource in template.of_type("AWS::DynamoDB::Table").items():
            properties = resource["Properties"]
            indexes = {index["IndexName"]: _hash_key(index["KeySchema"])
                       for index in (properties.get("GlobalSecondaryIndexes") or [])
                       + (properties.get("LocalSecondaryIndexes") or [])}
            tables[resolver.refs[logical_id]] = KeySchema(resolver.attributes[logical_id]["Arn"],
                                                          _hash_key(properties["KeySchema"]), indexes)
        return cls(tables)

    def schema(self, table: str) -> KeySchema:
        if table.startswith("arn:"):
            table = table.split("/", 1)[1]
        try:
            return self._tables[table]
        except KeyError:
            raise UnmappedOperationError(f"table {table} is not in the template") from None


def _hash_key(key_schema: list[dict]) -> str:
    return next(key["AttributeName"] for key in key_schema if key["KeyType"] == "HASH")


def requests_for(service: str, operation: Any, params: dict, region: str, account: str,
                 tables: TableKeys) -> list[Request]:
    """The authorizations one call needs; `operation` is botocore's OperationModel, `params` the
    call's parameters after boto3's transformations (DynamoDB values typed)."""
    name = operation.name
    if service == "s3":
        return _s3(name, params)
    if service == "dynamodb":
        return _dynamodb(name, params, tables)
    if service == "stepfunctions" and name in STATES_ACTIONS:
        return [Request(f"states:{name}", params[STATES_ACTIONS[name]])]
    if service == "apigateway":
        return [Request(f"apigateway:{operation.http['method']}",
                        f"arn:aws:apigateway:{region}::{_request_path(operation, params)}")]
    if service == "events" and name == "PutEvents":
        return [Request("events:PutEvents", _event_bus_arn(entry.get("EventBusName"), region, account))
                for entry in params["Entries"]]
    if service == "lambda" and name in ("Invoke", "InvokeAsync"):
        function = params["FunctionName"]
        arn = function if function.startswith("arn:") else f"arn:aws:lambda:{region}:{account}:function:{function}"
        return [Request("lambda:InvokeFunction", arn)]
    if service == "kms" and name in ("Encrypt", "Decrypt"):
        key = params["KeyId"]
        return [Request(f"kms:{name}", key if key.startswith("arn:") else f"arn:aws:kms:{region}:{account}:key/{key}")]
    if service == "sqs" and name == "SendMessage":
        queue_name = params["QueueUrl"].rstrip("/").rsplit("/", 1)[-1]
        return [Request("sqs:SendMessage", f"arn:aws:sqs:{region}:{account}:{queue_name}")]
    raise UnmappedOperationError(f"{service}.{name} has no IAM mapping in local_stack/iam_requests.py")


def _event_bus_arn(bus: str | None, region: str, account: str) -> str:
    """An entry's bus: an ARN as given, a name in the caller's account, none the default bus."""
    if bus and bus.startswith("arn:"):
        return bus
    return f"arn:aws:events:{region}:{account}:event-bus/{bus or 'default'}"


def s3_object_arn(bucket: str, key: str) -> str:
    return f"arn:aws:s3:::{bucket}/{key}"


def _s3(name: str, params: dict) -> list[Request]:
    if name == "DeleteObjects":  # S3 authorizes each key on its own
        return [Request("s3:DeleteObject", s3_object_arn(params["Bucket"], item["Key"]), SECURE_TRANSPORT)
                for item in params["Delete"]["Objects"]]
    if name == "CopyObject":
        source = params["CopySource"]
        if isinstance(source, dict):
            source_arn = s3_object_arn(source["Bucket"], source["Key"])
        else:
            source_arn = "arn:aws:s3:::" + source.lstrip("/").split("?", 1)[0]
        return [Request("s3:GetObject", source_arn, SECURE_TRANSPORT),
                Request("s3:PutObject", s3_object_arn(params["Bucket"], params["Key"]), SECURE_TRANSPORT)]
    if name not in S3_ACTIONS:
        raise UnmappedOperationError(f"s3.{name} has no IAM mapping in local_stack/iam_requests.py")
    action, on_object = S3_ACTIONS[name]
    if on_object:
        return [Request(action, s3_object_arn(params["Bucket"], params["Key"]), SECURE_TRANSPORT)]
    context = dict(SECURE_TRANSPORT)
    if name.startswith("ListObjects"):
        context["s3:prefix"] = params.get("Prefix", "")
    return [Request(action, f"arn:aws:s3:::{params['Bucket']}", context)]


def _dynamodb(name: str, params: dict, tables: TableKeys) -> list[Request]:
    if name in DYNAMODB_ITEM_ACTIONS:
        schema = tables.schema(params["TableName"])
        item = params["Item"] if name == "PutItem" else params["Key"]
        return [_item_request(f"dynamodb:{name}", schema.table_arn, [item[schema.partition_key]])]
    if name == "Query":
        schema = tables.schema(params["TableName"])
        index = params.get("IndexName")
        partition_key = schema.index_partition_keys[index] if index else schema.partition_key
        resource = f"{schema.table_arn}/index/{index}" if index else schema.table_arn
        return [_item_request("dynamodb:Query", resource, [_queried_partition(params, partition_key)])]
    if name in ("BatchWriteItem", "BatchGetItem"):
        requests = []
        for table, entries in params["RequestItems"].items():
            schema = tables.schema(table)
            if name == "BatchGetItem":
                keys = [key[schema.partition_key] for key in entries["Keys"]]
            else:
                keys = [(entry.get("PutRequest", {}).get("Item") or entry["DeleteRequest"]["Key"])[schema.partition_key]
                        for entry in entries]
            requests.append(_item_request(f"dynamodb:{name}", schema.table_arn, keys))
        return requests
    if name in ("TransactWriteItems", "TransactGetItems"):  # each item is authorized as its own action
        requests = []
        for entry in params["TransactItems"]:
            (kind, item), = entry.items()
            schema = tables.schema(item["TableName"])
            key = item["Item"] if kind == "Put" else item["Key"]
            requests.append(_item_request(TRANSACT_ITEM_ACTIONS[kind], schema.table_arn, [key[schema.partition_key]]))
        return requests
    if name in DYNAMODB_TABLE_ACTIONS:
        return [Request(f"dynamodb:{name}", tables.schema(params["TableName"]).table_arn)]
    raise UnmappedOperationError(f"dynamodb.{name} has no IAM mapping in local_stack/iam_requests.py")


def _item_request(action: str, resource: str, partition_values: list[Any]) -> Request:
    leading = sorted({_attribute_text(value) for value in partition_values if value is not None})
    return Request(action, resource, {"dynamodb:leadingkeys": leading})


def _attribute_text(value: Any) -> str:
    """A typed DynamoDB key value ({"S": "x"}) as the string IAM compares."""
    if isinstance(value, dict) and len(value) == 1:
        (_kind, text), = value.items()
        return str(text)
    return str(value)


_COMPARISON = re.compile(r"^\s*\(?\s*([#\w.]+)\s*=\s*(:\w+)\s*\)?\s*$|^\s*\(?\s*(:\w+)\s*=\s*([#\w.]+)\s*\)?\s*$")


def _queried_partition(params: dict, partition_key: str) -> Any:
    """The partition key value of a Query, from its KeyConditionExpression (or legacy KeyConditions)."""
    if "KeyConditions" in params:
        return params["KeyConditions"][partition_key]["AttributeValueList"][0]
    names = params.get("ExpressionAttributeNames") or {}
    values = params.get("ExpressionAttributeValues") or {}
    for part in re.split(r"\s+AND\s+", params["KeyConditionExpression"], flags=re.IGNORECASE):
        match = _COMPARISON.match(part)
        if not match:
            continue
        attribute, placeholder = ((match.group(1), match.group(2)) if match.group(1)
                                  else (match.group(4), match.group(3)))
        if names.get(attribute, attribute) == partition_key:
            return values[placeholder]
    raise UnmappedOperationError(f"no partition key condition in {params['KeyConditionExpression']!r}")


def _request_path(operation: Any, params: dict) -> str:
    """A REST operation's path with its URI parameters filled in, as API Gateway's IAM resources name it."""
    members = operation.input_shape.members if operation.input_shape else {}
    by_location = {shape.serialization.get("name", name): params.get(name)
                   for name, shape in members.items() if shape.serialization.get("location") == "uri"}
    path = operation.http["requestUri"].split("?", 1)[0]
    return re.sub(r"\{([^}+]+)\+?\}", lambda m: quote(str(by_location[m.group(1)]), safe=""), path)
