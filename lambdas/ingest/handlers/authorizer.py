"""API Gateway REQUEST authorizer: Auth-Api-Token -> account id (by the token's SHA-256 hash), the
token's usage-plan key, and the account's IP allow-list checked against the request's source IP."""

from __future__ import annotations

from typing import Any

from ingest.errors import UnauthorizedError
from ingest.handlers import wiring
from ingest.handlers.authorizer_events import header, policy, source_ip, stage_resource
from ingest.handlers.observability import logger
from ingest.logic.tokens import authorize

TOKEN_HEADER = "auth-api-token"  # noqa: S105 (a header name, not a secret)


@logger.inject_lambda_context(log_event=False)
def handler(event: dict, context: Any) -> dict:
    try:
        adapters = wiring.authorizer()
        decision = authorize(adapters.tokens, adapters.accounts, header(event, TOKEN_HEADER), source_ip(event))
    except UnauthorizedError:
        logger.info("request refused: unknown token")
        # API Gateway turns exactly this message into HTTP 401.
        raise Exception("Unauthorized") from None
    if not decision.ip_allowed:
        # A Deny answers 403 (the ACCESS_DENIED gateway response); the IP itself is not logged.
        logger.info("request refused: source IP not on the account's allow-list",
                    extra={"account_id": decision.account_id})
    # One policy for the whole stage: a cached decision serves every route.
    return policy(decision.account_id, decision.ip_allowed, stage_resource(event["methodArn"]),
                  {"account_id": decision.account_id},
                  # API Gateway throttles by the usage-plan key with this value (the token's own key).
                  usage_identifier_key=decision.api_key_value)
