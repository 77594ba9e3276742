"""API tokens: minted once, shown once, stored only as a SHA-256 hash."""

from __future__ import annotations

import hashlib
import re
import secrets

from ingest.clock import iso_now
from ingest.errors import BadRequestError, UnauthorizedError

ACCOUNT_ID_RULE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
TOKEN_PREFIX = "ing_"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def mint_token(tokens_table, account_id: str, label: str = "") -> str:
    """Create a token for the account; the caller shows it once, we keep only its hash."""
    if not isinstance(account_id, str) or not ACCOUNT_ID_RULE.fullmatch(account_id):
        raise BadRequestError(
            "account must be 1-63 characters: lowercase letters, digits and '-', starting with a letter or digit"
        )
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    tokens_table.put(
        {
            "token_hash": token_hash(token),
            "token_id": secrets.token_hex(6),
            "account_id": account_id,
            "label": label,
            "created_at": iso_now(),
        }
    )
    return token


def account_for_token(tokens_table, token: str | None) -> str:
    if not token:
        raise UnauthorizedError("missing Auth-Api-Token")
    item = tokens_table.get(token_hash(token.strip()))
    if not item or item.get("revoked_at"):
        raise UnauthorizedError("unknown or revoked token")
    return item["account_id"]
