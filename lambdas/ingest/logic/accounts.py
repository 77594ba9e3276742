"""Per-account settings: the IP allow-list, and the view of the account's limits.

An empty allow-list (or none stored) means no restriction. Otherwise the authorizer denies any
request whose source IP is in none of the listed networks; API Gateway answers it with 403.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from ingest import clock
from ingest.errors import BadRequestError
from ingest.logic.requests import require_object

MAX_ALLOWLIST_ENTRIES = 50


@dataclass(frozen=True)
class RateLimit:
    per_second: int
    burst: int


def normalise_allowlist(cidrs: Any) -> list[str]:
    """The entries as networks in canonical form ("198.51.100.7" -> "198.51.100.7/32"), duplicates
    dropped, order kept. A BadRequestError names the first bad entry."""
    if not isinstance(cidrs, list) or not all(isinstance(entry, str) for entry in cidrs):
        raise BadRequestError("cidrs must be a list of IPv4 or IPv6 addresses or networks (CIDR), as strings")
    if len(cidrs) > MAX_ALLOWLIST_ENTRIES:
        raise BadRequestError(f"cidrs may hold at most {MAX_ALLOWLIST_ENTRIES} entries; got {len(cidrs)}")
    networks: list[str] = []
    for entry in cidrs:
        try:
            network = ipaddress.ip_network(entry.strip())
        except ValueError as exc:
            # ip_network's own message says which rule broke (host bits set, prefix too long, ...).
            raise BadRequestError(f"cidrs: {entry!r} is not an IPv4 or IPv6 address or network: {exc}") from None
        if str(network) not in networks:
            networks.append(str(network))
    return networks


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


def account_view(accounts_table, account_id: str, rate_limit: RateLimit) -> dict[str, Any]:
    return {
        "account_id": account_id,
        "ip_allowlist": allowlist_of(accounts_table, account_id),
        "rate_limit": {"per_second": rate_limit.per_second, "burst": rate_limit.burst},
    }


def set_ip_allowlist(accounts_table, account_id: str, cidrs: Any) -> list[str]:
    networks = normalise_allowlist(cidrs)
    accounts_table.put_ip_allowlist(account_id, networks, clock.iso_now())
    return networks


def set_ip_allowlist_from_request(accounts_table, account_id: str, body: Any, rate_limit: RateLimit) -> dict[str, Any]:
    body = require_object(body)
    unknown = sorted(set(body) - {"cidrs"})
    if unknown:
        raise BadRequestError(f"only cidrs can be given; got {', '.join(unknown)}")
    if "cidrs" not in body:
        raise BadRequestError("cidrs is required: a list of addresses or networks, [] for no restriction")
    set_ip_allowlist(accounts_table, account_id, body["cidrs"])
    return account_view(accounts_table, account_id, rate_limit)
