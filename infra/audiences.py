"""Audience lists: their table, and what the API and the load workflow may do with it.

One item per audience plus one counter item per account, key (account_id, audience_id); the
members live in the records table (lambdas/ingest/logic/audiences.py says how). All of the
audience-specific permissions are granted here, so they can be read in one place; the Api and
Workflow constructs receive this one and call its grant_* for their functions (and name the table in
those functions' settings).
"""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.storage import Storage
from infra.tables import table

# Member sets are partitions "<account>#audience-<audience>-<load>#audience_member#<shard>" of the
# records table; dataset partitions ("<account>#<dataset ULID>#<type>#<shard>") never match this, so
# the functions that delete member sets may write only there (DynamoDB's LeadingKeys condition).
MEMBER_PARTITIONS = "*#audience-*#audience_member#*"


class Audiences(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, storage: Storage) -> None:
        super().__init__(scope, construct_id)
        self._records = storage.records_table
        self.table = table(self, "AudiencesTable", "account_id", "audience_id")

    def grant_api(self, function: lambda_.Function) -> None:
        """Routes and upload requests: create and delete are transactions of Put/Update/Delete on an
        audience and its account's counter; list is a Query of the account's partition; membership
        and delete read and delete members in the records table."""
        self.table.grant(function, "dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem",
                         "dynamodb:UpdateItem", "dynamodb:DeleteItem")
        self._grant_member_sets(function, "dynamodb:Query", "dynamodb:BatchWriteItem")

    def grant_load_steps(self, inspect: lambda_.Function, plan_load: lambda_.Function, finalize: lambda_.Function,
                         mark_failed: lambda_.Function) -> None:
        """Inspect holds the audience for its load, Finalize counts and flips its member set, and the
        steps that end a job release it (PlanLoad when over the error budget); Finalize and MarkFailed
        delete replaced or abandoned member sets. The other steps share the handler module, so they
        know the table's name and nothing more."""
        for function in (inspect, plan_load, finalize, mark_failed):
            self.table.grant(function, "dynamodb:GetItem", "dynamodb:UpdateItem")
        for function in (finalize, mark_failed):
            self._grant_member_sets(function, "dynamodb:Query", "dynamodb:BatchWriteItem")

    def _grant_member_sets(self, function: lambda_.Function, *actions: str) -> None:
        """Actions on the records table's member-set partitions only, never on a dataset's records."""
        function.add_to_role_policy(iam.PolicyStatement(
            actions=list(actions), resources=[self._records.table_arn],
            conditions={"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [MEMBER_PARTITIONS]}},
        ))
