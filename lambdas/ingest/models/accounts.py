"""API tokens and the account's settings."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any, ClassVar

from pydantic import Field, model_validator

from ingest.errors import BadRequestError
from ingest.models.base import REQUIRED, RequestModel, View
from ingest.models.common import Timestamp
from ingest.models.rules import OptionalText, rule

MAX_LABEL_LENGTH = 100
MAX_ALLOWLIST_ENTRIES = 50


class NewToken(RequestModel):
    """POST /v1/tokens (the body may be left out)."""

    unknown_fields_message = "only label can be given; got {unknown}"

    label: OptionalText("label", MAX_LABEL_LENGTH) = None


class TokenView(View):
    """What a caller may see of a stored token: never its hash (nor, of course, the token)."""

    id: str
    label: str
    created_at: Timestamp
    last_used_at: Annotated[str | None, Field(description="RFC 3339; written at most once a minute")]


class NewTokenView(TokenView):
    secret_fields: ClassVar[tuple[str, ...]] = ("token",)

    token: Annotated[Annotated[str, Field(pattern="^ing_")] | None, Field(description=(
        "the token itself: shown in this answer only, stored only as a hash; null when the answer is an "
        "Idempotency-Key replay (the token is not kept to be shown again)"))]


class TokenList(View):
    tokens: list[TokenView]


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


class IpAllowlist(RequestModel):
    """PUT /v1/account/ip-allowlist"""

    unknown_fields_message = "only cidrs can be given; got {unknown}"

    cidrs: Annotated[list[str], Field(max_length=MAX_ALLOWLIST_ENTRIES, description=(
        "IPv4 or IPv6 addresses or networks (CIDR); [] for no restriction")), REQUIRED,
        rule(normalise_allowlist)] = None

    @model_validator(mode="before")
    @classmethod
    def _cidrs_sent(cls, data: Any) -> Any:
        if isinstance(data, dict) and not set(data) - {"cidrs"} and "cidrs" not in data:
            raise BadRequestError("cidrs is required: a list of addresses or networks, [] for no restriction")
        return data


class RateLimitView(View):
    per_second: int
    burst: int


class AccountView(View):
    account_id: str
    ip_allowlist: Annotated[list[str], Field(description="CIDRs allowed to call the API")]
    rate_limit: RateLimitView
