"""Import API keys: the Basic-auth credentials (key:secret) of the Localytics-compatible endpoints.

A key acts for one of our accounts. It carries a Localytics org id, a label that clients send as
`org_id` (the customer's own Localytics org id, "60"; the account name when none is given), and the
apps it may import into. The label scopes nothing by itself: every lookup stays inside the key's
account, so two accounts may both use org 60 and never see each other's data. The org (per account
and org id) and each app map to one dataset of the account (logic/target_datasets.py), created when
the key is minted, so a user can read the profiles back through the records route.
The secret is shown once, at minting; only its SHA-256 hash is stored, like API tokens.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any

from ingest import clock
from ingest.errors import BadRequestError, NotFoundError, UnauthorizedError
from ingest.logic import target_datasets
from ingest.logic.accounts import allowlist_of, ip_allowed
from ingest.logic.requests import optional_string, require_object
from ingest.logic.tokens import ACCOUNT_ID_RULE

KEY_PREFIX = "lk_"
APP_ID_RULE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
APP_ID_RULE_TEXT = "1-100 characters: letters, digits, '.', '_' and '-', starting with a letter or digit"
# Localytics org ids are numbers ("60"); ours may be any such label, the account name included.
ORG_ID_RULE = APP_ID_RULE
ORG_ID_RULE_TEXT = APP_ID_RULE_TEXT
MAX_APPS_PER_KEY = 20
MAX_LABEL_LENGTH = 100


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def parse_basic(authorization: str | None) -> tuple[str, str]:
    """(key, secret) from an `Authorization: Basic base64(key:secret)` header; UnauthorizedError if absent or malformed."""
    scheme, _, encoded = (authorization or "").strip().partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        raise UnauthorizedError("missing Basic credentials")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise UnauthorizedError("malformed Basic credentials") from None
    key, colon, secret = decoded.partition(":")
    if not colon or not key or not secret:
        raise UnauthorizedError("malformed Basic credentials")
    return key, secret


def _app_ids(raw: Any) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(app, str) for app in raw):
        raise BadRequestError("app_ids must be a list of strings")
    apps = list(dict.fromkeys(app.strip() for app in raw))
    bad = [app for app in apps if not APP_ID_RULE.fullmatch(app)]
    if bad:
        raise BadRequestError(f"app_ids: {bad[0]!r} is not an app id ({APP_ID_RULE_TEXT})")
    if len(apps) > MAX_APPS_PER_KEY:
        raise BadRequestError(f"app_ids may hold at most {MAX_APPS_PER_KEY} apps; got {len(apps)}")
    return apps


def _org_id(raw: Any, account_id: str) -> str:
    """The key's org id: given as text (or a JSON integer, as Localytics writes them), else the account name."""
    if raw is None:
        return account_id
    if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 0:
        raw = str(raw)
    if not isinstance(raw, str) or not ORG_ID_RULE.fullmatch(raw.strip()):
        raise BadRequestError(f"org_id: {raw!r} is not an org id ({ORG_ID_RULE_TEXT}; a non-negative integer is "
                              "taken as its digits)")
    return raw.strip()


def _datasets_of(targets, account_id: str, org_id: str, app_ids: list[str]) -> dict[str, Any]:
    return {
        "org": targets.get_target(account_id, target_datasets.LOCALYTICS_ORG, org_id),
        "apps": {app: targets.get_target(account_id, target_datasets.LOCALYTICS_APP, app) for app in app_ids},
    }


def key_view(item: dict[str, Any], targets) -> dict[str, Any]:
    """What a caller may see of a stored key: never the secret nor its hash."""
    return {
        "key": item["key_id"],
        "label": item.get("label", ""),
        "org_id": item["org_id"],
        "app_ids": list(item.get("app_ids") or []),
        "datasets": _datasets_of(targets, item["account_id"], item["org_id"], list(item.get("app_ids") or [])),
        "created_at": item["created_at"],
    }


def create_import_key(keys, datasets, account_id: str, app_ids: Any = None, label: Any = "",
                      org_id: Any = None) -> dict[str, Any]:
    """Mint a key for an org of the account (default: the account name) and the given apps: its view
    plus "secret", shown this once."""
    if not isinstance(account_id, str) or not ACCOUNT_ID_RULE.fullmatch(account_id):
        raise BadRequestError("account must be 1-63 characters: lowercase letters, digits and '-', "
                              "starting with a letter or digit")
    org = _org_id(org_id, account_id)
    apps = _app_ids(app_ids)
    label = optional_string({"label": label or None}, "label", MAX_LABEL_LENGTH) or ""
    # Datasets first: a stored key always has its targets.
    target_datasets.ensure_dataset(keys, datasets, account_id, target_datasets.LOCALYTICS_ORG, org)
    for app in apps:
        target_datasets.ensure_dataset(keys, datasets, account_id, target_datasets.LOCALYTICS_APP, app)
    secret = secrets.token_urlsafe(32)
    item = {
        "key_id": KEY_PREFIX + secrets.token_hex(12),
        "account_id": account_id,
        "org_id": org,
        "app_ids": apps,
        "secret_hash": secret_hash(secret),
        "label": label,
        "created_at": clock.iso_now(),
    }
    keys.put_key(item)
    return {**key_view(item, keys), "secret": secret}


def create_import_key_from_request(keys, datasets, account_id: str, body: Any) -> dict[str, Any]:
    body = require_object(body)
    unknown = sorted(set(body) - {"org_id", "app_ids", "label"})
    if unknown:
        raise BadRequestError(f"only org_id, app_ids and label can be given; got {', '.join(unknown)}")
    return create_import_key(keys, datasets, account_id, body.get("app_ids"), body.get("label"), body.get("org_id"))


def list_import_keys(keys, account_id: str) -> dict[str, Any]:
    active = [item for item in keys.list_for_account(account_id) if not item.get("revoked_at")]
    active.sort(key=lambda item: (item["created_at"], item["key_id"]))
    return {"import_keys": [key_view(item, keys) for item in active]}


def revoke_import_key(keys, account_id: str, key_id: str) -> None:
    if not keys.revoke(account_id, key_id, clock.iso_now()):
        raise NotFoundError(f"import key {key_id} not found")


@dataclass(frozen=True)
class ImportAuthorization:
    """The import authorizer's decision: who the key acts for, what it may reach, and the IP check."""

    account_id: str
    key_id: str
    org_id: str
    app_ids: tuple[str, ...]
    ip_allowed: bool


def authorize(keys, accounts_table, authorization: str | None, source_ip: str | None) -> ImportAuthorization:
    """UnauthorizedError for missing, malformed, unknown, revoked or wrong credentials (all alike to the caller)."""
    key_id, secret = parse_basic(authorization)
    item = keys.get_key(key_id) if key_id.startswith(KEY_PREFIX) else None
    if not item or item.get("revoked_at") or not hmac.compare_digest(item["secret_hash"], secret_hash(secret)):
        raise UnauthorizedError("unknown or revoked import key, or wrong secret")
    allowed = ip_allowed(allowlist_of(accounts_table, item["account_id"]), source_ip)
    return ImportAuthorization(item["account_id"], key_id, item["org_id"], tuple(item.get("app_ids") or []), allowed)
