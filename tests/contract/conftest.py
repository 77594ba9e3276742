"""Contract tests: each fake of tests/unit/fakes.py and the adapter it stands in for run the same
assertions, the adapter on moto's server in a child process (tests/support/moto_server.py) with
tables made from the synthesized template's own definitions (keys, indexes and their projections).

A fake that drifts from its adapter fails here, so the unit tests built on it keep testing the logic
against what AWS would answer.
"""

from __future__ import annotations

import re
import uuid

import pytest
from botocore.config import Config

from tests.support.moto_server import session

# The template's tables by the construct that makes them (their logical id is <scope><name><hash>).
TABLE_CONSTRUCTS = ("JobsTable", "DatasetsTable", "RecordsTable", "TokensTable", "AccountsTable",
                    "ImportsTable", "QuotasTable", "AudiencesTable", "WebhooksTable")
CREATE_TABLE_PROPERTIES = ("KeySchema", "AttributeDefinitions", "GlobalSecondaryIndexes", "LocalSecondaryIndexes")


@pytest.fixture(scope="session")
def table_definitions(template) -> dict[str, dict]:
    """Construct name -> the table's CreateTable arguments, as the template declares them."""
    found: dict[str, dict] = {}
    for logical_id, resource in template["Resources"].items():
        construct = next((name for name in TABLE_CONSTRUCTS if re.search(name + "[0-9A-F]{8}$", logical_id)), None)
        if resource["Type"] == "AWS::DynamoDB::Table" and construct is not None:
            assert construct not in found, f"two tables named {construct} in the template"
            properties = resource["Properties"]
            found[construct] = {name: properties[name] for name in CREATE_TABLE_PROPERTIES if name in properties}
    assert set(found) == set(TABLE_CONSTRUCTS), f"not in the template: {set(TABLE_CONSTRUCTS) - set(found)}"
    return found


@pytest.fixture(scope="session")
def aws(moto_endpoint):
    """Clients of the child moto server: aws.client(service), aws.resource(service)."""

    class Aws:
        def client(self, service: str):
            # SigV4 as the functions' clients sign (adapters/aws.py), presigned URLs included.
            return session().client(service, endpoint_url=moto_endpoint, config=Config(signature_version="s3v4"))

        def resource(self, service: str):
            return session().resource(service, endpoint_url=moto_endpoint)

    return Aws()


@pytest.fixture
def new_table(aws, table_definitions):
    """new_table("JobsTable") -> a boto3 Table of a fresh table defined as the template defines it."""

    def make(construct: str):
        name = f"{construct}-{uuid.uuid4().hex[:12]}"
        dynamodb = aws.resource("dynamodb")
        table = dynamodb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST", **table_definitions[construct])
        table.wait_until_exists()
        return table

    return make

