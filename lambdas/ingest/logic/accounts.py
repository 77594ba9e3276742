"""Per-account settings: the IP allow-list, and the view of the account's limits.

An empty allow-list (or none stored) means no restriction. Otherwise the authorizer denies any
request whose source IP is in none of the listed networks; API Gateway answers it with 403.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from ingest import clock
from ingest.models.accounts import AccountView, IpAllowlist, normalise_allowlist

__all__ = ["normalise_allowlist"]  # the rule lives with the request model (models/accounts.py)


@dataclass(frozen=True)
class RateLimit:
    per_second: int
    burst: int


def ip_allowed(allowlist: list[str], source_ip: str | None) -> bool:
    """True when there is no restriction, or the source IP is in one of the networks."""
    if not allowlist:
        return True
    try:
        address = ipaddress.ip_address(source_ip or "")
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(entry) for entry in allowlist)


def allowlist_of(accounts_table, account_id: str) -> list[str]:
    item = accounts_table.get(account_id)
    return list((item or {}).get("ip_allowlist") or [])


def account_view(accounts_table, account_id: str, rate_limit: RateLimit) -> AccountView:
    return AccountView(account_id=account_id, ip_allowlist=allowlist_of(accounts_table, account_id),
                       rate_limit={"per_second": rate_limit.per_second, "burst": rate_limit.burst})


def set_ip_allowlist(accounts_table, account_id: str, cidrs: Any) -> list[str]:
    """Replace the allow-list (cli/admin.py passes the entries as given; they are checked here too)."""
    networks = normalise_allowlist(cidrs)
    accounts_table.put_ip_allowlist(account_id, networks, clock.iso_now())
    return networks


def replace_ip_allowlist(accounts_table, account_id: str, request: IpAllowlist, rate_limit: RateLimit) -> AccountView:
    """PUT /v1/account/ip-allowlist: the account view with its new list."""
    accounts_table.put_ip_allowlist(account_id, request.cidrs, clock.iso_now())
    return account_view(accounts_table, account_id, rate_limit)
