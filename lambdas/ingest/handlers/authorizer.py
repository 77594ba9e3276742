"""API Gateway REQUEST authorizer: Auth-Api-Token -> account id, by the token's SHA-256 hash."""

from __future__ import annotations

from typing import Any

from ingest.adapters import aws
from ingest.adapters.control_tables import TokensTable
from ingest.config import AuthSettings
from ingest.errors import UnauthorizedError
from ingest.handlers.observability import logger
from ingest.logic.tokens import account_for_token

TOKEN_HEADER = "auth-api-token"

settings = AuthSettings.from_env()
tokens = TokensTable(aws.table(settings.tokens_table))


def _header(event: dict, name: str) -> str | None:
    for key, value in (event.get("headers") or {}).items():
        if key.lower() == name:
            return value
    return None


def _api_wide(method_arn: str) -> str:
    # arn:aws:execute-api:region:account:api-id/stage/METHOD/path -> .../api-id/stage/*
    # One policy for every route, so a cached decision serves the whole API.
    prefix, _, path = method_arn.partition("/")
    stage = path.split("/", 1)[0]
    return f"{prefix}/{stage}/*"


@logger.inject_lambda_context(log_event=False)
def handler(event: dict, context: Any) -> dict:
    try:
        account_id = account_for_token(tokens, _header(event, TOKEN_HEADER))
    except UnauthorizedError:
        logger.info("request refused: unknown token")
        # API Gateway turns exactly this message into HTTP 401.
        raise Exception("Unauthorized")  # noqa: TRY002
    return {
        "principalId": account_id,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": _api_wide(event["methodArn"])}],
        },
        "context": {"account_id": account_id},
    }
