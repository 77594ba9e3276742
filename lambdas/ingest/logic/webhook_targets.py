"""Where a webhook may be delivered: https to a public address, decided on the resolved address.

A webhook URL is the caller's input that makes our function open a connection: left unchecked it would
let any account reach the VPC's private services, the instance metadata endpoint (169.254.169.254) or
localhost. So:
- at registration, `check_url` refuses anything but `https://host[:port]/path` whose host (a literal
  or every address its name resolves to) is a global unicast address (400);
- at send time, `resolve_target` resolves again and checks every address (DNS may have changed since,
  on purpose or not), and the sender connects to one of those checked addresses, never resolving twice,
  and follows no redirect (adapters/webhook_sender.py).

The local stack's one exception, plain http to a loopback address (its end-to-end tests receive on
http://127.0.0.1:<port>), is switched on by `allow_plain_http_loopback`, which only local_stack/stack.py
calls, in its own process. Nothing in the template or the environment can turn it on: on AWS the
flag has no way to be set.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from urllib.parse import urlsplit

from ingest.errors import BadRequestError
from ingest.models.webhooks import Target

MAX_URL_LENGTH = 2048
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]

_plain_http_loopback = False  # the local stack's exception (see the module docstring)


def allow_plain_http_loopback() -> Callable[[], None]:
    """The local stack's switch: http to 127.0.0.0/8 or ::1 is allowed until the returned function runs."""
    global _plain_http_loopback  # noqa: PLW0603 (one process-wide switch, set by the local stack only)
    _plain_http_loopback = True

    def restore() -> None:
        global _plain_http_loopback  # noqa: PLW0603
        _plain_http_loopback = False

    return restore


class UnsafeTargetError(BadRequestError):
    """The URL's scheme or (resolved) address is one webhooks may not reach."""


def system_resolver(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (IPv4 and IPv6), as the system resolver answers."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeTargetError(f"url: the host {host!r} does not resolve") from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def unmapped(address: IpAddress) -> IpAddress:
    """An IPv4-mapped (::ffff:a.b.c.d) or NAT64 / 6to4-embedded IPv4 address is judged as that IPv4 address."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
        if address in ipaddress.IPv6Network("64:ff9b::/96"):
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def refusal(address: IpAddress) -> str | None:
    """Why webhooks may not reach `address`, or None for a global unicast address."""
    judged = unmapped(address)
    for name, test in (("loopback", judged.is_loopback), ("private", judged.is_private),
                       ("link-local", judged.is_link_local), ("multicast", judged.is_multicast),
                       ("reserved", judged.is_reserved), ("unspecified", judged.is_unspecified)):
        if test:
            return name
    if not judged.is_global:  # shared (100.64/10), documentation ranges, ...
        return "not a public"
    return None


def _allowed(scheme: str, address: IpAddress) -> str | None:
    """None when a delivery may go to `address` over `scheme`, else why not."""
    why = refusal(address)
    if why == "loopback" and scheme == "http" and _plain_http_loopback:
        return None
    if why is not None:
        return f"{address} is a {why} address"
    if scheme != "https":
        return "only https URLs are allowed"
    return None


def _parts(url: object) -> tuple[str, str, int, str]:
    if not isinstance(url, str) or not url.strip():
        raise UnsafeTargetError("url is required: an https:// URL")
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeTargetError(f"url must be at most {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeTargetError(f"url is not a valid URL: {exc}") from None
    scheme = parts.scheme.lower()
    allowed_schemes = ("https", "http") if _plain_http_loopback else ("https",)
    if scheme not in allowed_schemes:
        raise UnsafeTargetError(f"url must use https; got {scheme or 'no'} scheme")
    if parts.username or parts.password:
        raise UnsafeTargetError("url must not hold credentials (user:password@)")
    host = parts.hostname
    if not host:
        raise UnsafeTargetError("url has no host")
    if parts.fragment:
        raise UnsafeTargetError("url must not have a fragment (#...)")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return scheme, host, port or (443 if scheme == "https" else 80), path


def resolve_target(url: object, resolve: Resolver = system_resolver) -> Target:
    """The URL checked and resolved: every address the host has must be allowed (one bad address and a
    name could be steered to it), and the first is the one to connect to."""
    scheme, host, port, path = _parts(url)
    try:
        literal: IpAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    addresses = [str(literal)] if literal is not None else resolve(host, port)
    if not addresses:
        raise UnsafeTargetError(f"url: the host {host!r} does not resolve")
    for text in addresses:
        why = _allowed(scheme, ipaddress.ip_address(text.split("%", 1)[0]))
        if why is not None:
            raise UnsafeTargetError(f"url: webhooks may not be sent to {host}: {why}")
    return Target(scheme=scheme, host=host, port=port, path=path, address=addresses[0])


def check_url(url: object, resolve: Resolver = system_resolver) -> str:
    """A URL fit to register (the same rules as at send time); returns it unchanged."""
    resolve_target(url, resolve)
    return str(url)
