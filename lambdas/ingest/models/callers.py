"""Who a request acts for, as our Lambda authorizers passed it on (requestContext.authorizer).

API Gateway never forwards a caller-supplied value there: only what handlers/authorizer.py and
handlers/import_authorizer.py returned as their context.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict


class TokenCaller(BaseModel):
    """An Auth-Api-Token request: the token's account."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    account_id: str


def _app_list(value: Any) -> Any:
    # Authorizer context values are strings: the app ids travel comma-separated.
    if isinstance(value, str) or value is None:
        return tuple(app for app in (value or "").split(",") if app)
    return value


class ImportCaller(BaseModel):
    """A Basic-auth request of the Localytics-compatible routes: the import key, its account, org and apps."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    account_id: str
    key_id: str
    org_id: str
    app_ids: Annotated[tuple[str, ...], BeforeValidator(_app_list)] = ()
