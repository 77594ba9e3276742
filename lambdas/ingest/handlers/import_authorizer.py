"""API Gateway REQUEST authorizer of the Localytics-compatible routes (/v1/imports/...): HTTP Basic
credentials key:secret -> the key's account, org and apps (by the secret's SHA-256 hash), and the
account's IP allow-list checked against the request's source IP, as the token authorizer does."""

from __future__ import annotations

from typing import Any

from ingest.errors import UnauthorizedError
from ingest.handlers import wiring
from ingest.handlers.authorizer_events import header, policy, source_ip, stage_resource
from ingest.handlers.observability import logger
from ingest.logic.import_keys import authorize

AUTHORIZATION_HEADER = "authorization"


@logger.inject_lambda_context(log_event=False)
def handler(event: dict, context: Any) -> dict:
    try:
        adapters = wiring.import_authorizer()
        decision = authorize(adapters.keys, adapters.accounts, header(event, AUTHORIZATION_HEADER), source_ip(event))
    except UnauthorizedError:
        # Never log the header: it holds the secret.
        logger.info("import request refused: missing or bad Basic credentials")
        raise Exception("Unauthorized") from None  # API Gateway turns exactly this into HTTP 401
    if not decision.ip_allowed:
        logger.info("import request refused: source IP not on the account's allow-list",
                    extra={"account_id": decision.account_id, "key_id": decision.key_id})
    # One cached decision serves every import route, and only those.
    return policy(decision.key_id, decision.ip_allowed, stage_resource(event["methodArn"], "*/v1/imports/*"),
                  # Context values must be strings, numbers or booleans: the app ids travel comma-separated.
                  {"account_id": decision.account_id, "key_id": decision.key_id, "org_id": decision.org_id,
                   "app_ids": ",".join(decision.app_ids)})
