"""Minting tokens on the local stack through the same logic and adapter used against AWS."""

from __future__ import annotations

import boto3

from ingest.adapters.control_tables import TokensTable
from ingest.logic.tokens import mint_token


def mint_local_token(tokens_table: str, account_id: str, label: str = "") -> str:
    return mint_token(TokensTable(boto3.resource("dynamodb").Table(tokens_table)), account_id, label)
