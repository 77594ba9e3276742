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
import secrets
from dataclasses import dataclass
from typing import Any, cast

from ingest import clock
from ingest.errors import BadRequestError, NotFoundError, UnauthorizedError
from ingest.logic import target_datasets
from ingest.logic.accounts import allowlist_of, ip_allowed
from ingest.logic.tokens import ACCOUNT_ID_RULE
from ingest.models import imports
from ingest.models.base import parse
from ingest.models.imports import ImportKeyList, ImportKeyView, KeyDatasets, NewImportKey, NewImportKeyView

KEY_PREFIX = "lk_"
# The rules of a key's org id, apps and label live with the request model (models/imports.py).
APP_ID_RULE, APP_ID_RULE_TEXT, ORG_ID_RULE, ORG_ID_RULE_TEXT = (imports.APP_ID_RULE, imports.APP_ID_RULE_TEXT,
                                                                imports.ORG_ID_RULE, imports.ORG_ID_RULE_TEXT)
MAX_APPS_PER_KEY = imports.MAX_APPS_PER_KEY
MAX_LABEL_LENGTH = imports.MAX_KEY_LABEL_LENGTH


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def parse_basic(authorization: str | None) -> tuple[str, str]:
    """(key, secret) from an `Authorization: Basic base64(key:secret)` header.

    UnauthorizedError if absent or malformed.
    """
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


def _datasets_of(targets, account_id: str, org_id: str, app_ids: list[str]) -> KeyDatasets:
    return KeyDatasets(
        org=targets.get_target(account_id, target_datasets.LOCALYTICS_ORG, org_id),
        apps={app: targets.get_target(account_id, target_datasets.LOCALYTICS_APP, app) for app in app_ids},
    )


def key_view(item: dict[str, Any], targets) -> ImportKeyView:
    """What a caller may see of a stored key: never the secret nor its hash."""
    apps = list(item.get("app_ids") or [])
    return ImportKeyView(key=item["key_id"], label=item.get("label", ""), org_id=item["org_id"], app_ids=apps,
                         datasets=_datasets_of(targets, item["account_id"], item["org_id"], apps),
                         created_at=item["created_at"])


def create_import_key(keys, datasets, account_id: str, request: NewImportKey) -> NewImportKeyView:
    """Mint a key for an org of the account (default: the account name) and the given apps: its view
    plus "secret", shown this once."""
    if not isinstance(account_id, str) or not ACCOUNT_ID_RULE.fullmatch(account_id):
        raise BadRequestError("account must be 1-63 characters: lowercase letters, digits and '-', "
                              "starting with a letter or digit")
    # The model's rules made org_id text (an integer's digits) and app_ids a list (null: []).
    org = cast(str, request.org_id) or account_id
    apps = list(cast(list[str], request.app_ids))
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
        "label": request.label,
        "created_at": clock.iso_now(),
    }
    keys.put_key(item)
    return NewImportKeyView(**dict(key_view(item, keys)), secret=secret)


def mint_import_key(keys, datasets, account_id: str, app_ids: Any = None, label: Any = "",
                    org_id: Any = None) -> NewImportKeyView:
    """cli/admin.py's way in: the values as an operator typed them, checked by the route's own model."""
    request = parse(NewImportKey, {"app_ids": app_ids, "label": label, "org_id": org_id})
    return create_import_key(keys, datasets, account_id, request)


def list_import_keys(keys, account_id: str) -> ImportKeyList:
    active = [item for item in keys.list_for_account(account_id) if not item.get("revoked_at")]
    active.sort(key=lambda item: (item["created_at"], item["key_id"]))
    return ImportKeyList(import_keys=[key_view(item, keys) for item in active])


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
