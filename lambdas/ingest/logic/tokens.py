"""API tokens: minted once, shown once, stored only as a SHA-256 hash.

An account holds at most MAX_ACTIVE_TOKENS tokens that are not revoked. The limit is kept by a
per-account counter item that the tokens table changes in the same transaction as the token
(adapters/control_tables.py TokensTable): minting adds the token and increments the counter only if
the counter is below the limit, revoking marks the token and decrements the counter. Two concurrent
mints are therefore serialized by DynamoDB on the counter item; no read-then-write decides.

Every token also has its own API Gateway API key in the per-token usage plan (adapters/usage_plans.py),
so API Gateway throttles each token on its own: minting creates the key, revoking deletes it. The
key's value is the token's hash (api_key_value); the authorizer hands it to API Gateway.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from ingest import clock
from ingest.errors import BadRequestError, ConflictError, NotFoundError, UnauthorizedError
from ingest.logic.accounts import allowlist_of, ip_allowed
from ingest.logic.counted import counted_write
from ingest.models.accounts import MAX_LABEL_LENGTH, NewToken, NewTokenView, TokenList, TokenView

ACCOUNT_ID_RULE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
TOKEN_PREFIX = "ing_"  # noqa: S105 (every token's public prefix, not a secret)
MAX_ACTIVE_TOKENS = 5
TOKEN_LIMIT_MESSAGE = f"an account may have at most {MAX_ACTIVE_TOKENS} active tokens; revoke one first"
# last_used_at is written at most once per this interval per token (API Gateway caches a decision
# for 60 s anyway, so finer resolution would not be seen).
LAST_USED_RESOLUTION = timedelta(seconds=60)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def api_key_value(hashed: str) -> str:
    """The value of the token's API key: its hash, never the token (API key values are readable
    by anyone who may read API Gateway's keys)."""
    return hashed


def _check_account(account_id: Any) -> None:
    if not isinstance(account_id, str) or not ACCOUNT_ID_RULE.fullmatch(account_id):
        raise BadRequestError(
            "account must be 1-63 characters: lowercase letters, digits and '-', starting with a letter or digit"
        )


def _check_label(label: Any) -> str:
    if label is None:
        return ""
    if not isinstance(label, str):
        raise BadRequestError("label must be a string")
    if len(label) > MAX_LABEL_LENGTH:
        raise BadRequestError(f"label must be at most {MAX_LABEL_LENGTH} characters")
    return label


def token_view(item: dict[str, Any]) -> TokenView:
    """What a caller may see of a stored token: never its hash (nor, of course, the token)."""
    return TokenView(id=item["token_id"], label=item.get("label", ""), created_at=item["created_at"],
                     last_used_at=item.get("last_used_at"))


def _active(tokens_table, account_id: str) -> list[dict[str, Any]]:
    items = [item for item in tokens_table.list_for_account(account_id) if not item.get("revoked_at")]
    return sorted(items, key=lambda item: (item["created_at"], item["token_id"]))


def _start_count(tokens_table, account_id: str) -> None:
    tokens_table.start_count(account_id, len(_active(tokens_table, account_id)))


def create_token(tokens_table, usage_plan, account_id: str, label: Any = "") -> NewTokenView:
    """Create a token for the account, with its API key in the usage plan: the token's view plus
    "token", the secret shown this once.

    Refused with ConflictError when the account already has MAX_ACTIVE_TOKENS active tokens.
    """
    _check_account(account_id)
    label = _check_label(label)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    hashed = token_hash(token)
    token_id = secrets.token_hex(6)
    # The key first: a stored token always has its key. A key whose token is refused is deleted.
    api_key_id = usage_plan.add_key(f"token {token_id} of {account_id}", api_key_value(hashed))
    item = {
        "token_hash": hashed,
        "token_id": token_id,
        "account_id": account_id,
        "label": label,
        "created_at": clock.iso_now(),
        "api_key_id": api_key_id,
    }
    try:
        minted = counted_write(lambda: tokens_table.add_within_limit(item, MAX_ACTIVE_TOKENS),
                               lambda: _start_count(tokens_table, account_id))
    except BaseException:
        usage_plan.delete_key(api_key_id)
        raise
    if minted:
        return NewTokenView(**dict(token_view(item)), token=token)
    usage_plan.delete_key(api_key_id)
    raise ConflictError(TOKEN_LIMIT_MESSAGE)


def mint_token(tokens_table, usage_plan, account_id: str, label: str = "") -> str:
    """Create a token for the account; the caller shows it once, we keep only its hash."""
    token = create_token(tokens_table, usage_plan, account_id, label).token
    if token is None:  # cannot happen: only an Idempotency-Key replay's answer has no token
        raise RuntimeError("a freshly minted token's view holds no token")
    return token


def create_token_from_request(tokens_table, usage_plan, account_id: str, request: NewToken) -> NewTokenView:
    return create_token(tokens_table, usage_plan, account_id, request.label or "")


def list_tokens(tokens_table, account_id: str) -> TokenList:
    return TokenList(tokens=[token_view(item) for item in _active(tokens_table, account_id)])


def revoke_token(tokens_table, usage_plan, account_id: str, token_id: str) -> None:
    """Revoke one of the account's active tokens and delete its API key; an unknown, foreign or
    revoked id is NotFound."""
    item = tokens_table.find(account_id, token_id)
    if item is None or item.get("revoked_at") or item.get("account_id") != account_id:
        raise NotFoundError(f"token {token_id} not found")
    if item.get("api_key_id"):
        # Before the revocation is stored: if this fails, the token is still listed and a retry
        # finishes the job (deleting a deleted key is fine). Without its key the token gets 403.
        usage_plan.delete_key(item["api_key_id"])
    at = clock.iso_now()
    # Refused when the token was revoked meanwhile (or the account's counter predates this code).
    if not counted_write(lambda: tokens_table.revoke(account_id, item["token_hash"], at),
                         lambda: _start_count(tokens_table, account_id)):
        raise NotFoundError(f"token {token_id} not found")


@dataclass(frozen=True)
class Authorization:
    """The authorizer's decision about one request."""

    account_id: str
    api_key_value: str  # API Gateway's usageIdentifierKey: the token's key in the usage plan
    ip_allowed: bool


def authorize(tokens_table, accounts_table, token: str | None, source_ip: str | None,
              now: datetime | None = None) -> Authorization:
    """Who a request acts for, and whether its source IP is on the account's allow-list.

    An unknown token is UnauthorizedError before anything about the account is read.
    """
    account_id = account_for_token(tokens_table, token, now)
    presented = cast(str, token)  # account_for_token refused a missing one
    allowed = ip_allowed(allowlist_of(accounts_table, account_id), source_ip)
    return Authorization(account_id, api_key_value(token_hash(presented.strip())), allowed)


def account_for_token(tokens_table, token: str | None, now: datetime | None = None) -> str:
    """The account a presented token acts for; records its use at most once per LAST_USED_RESOLUTION."""
    if not token:
        raise UnauthorizedError("missing Auth-Api-Token")
    hashed = token_hash(token.strip())
    item = tokens_table.get(hashed)
    if not item or item.get("revoked_at") or not item.get("account_id"):
        raise UnauthorizedError("unknown or revoked token")
    moment = now or clock.now()
    stale_before = clock.iso(moment - LAST_USED_RESOLUTION)
    last_used = item.get("last_used_at")
    if not last_used or last_used <= stale_before:
        tokens_table.record_use(hashed, clock.iso(moment), stale_before)
    return item["account_id"]
