"""How a webhook delivery is signed, and how a receiver checks it (docs/webhooks.md shows the same check).

Each attempt carries `Bulk-Ingest-Timestamp: <unix seconds>` and `Bulk-Ingest-Signature: v1=<hex>`, the
HMAC-SHA256, keyed with the webhook's secret, of `"<timestamp>.<body>"`: Stripe's scheme, which
integrators know. The timestamp is signed with the body so a captured delivery cannot be replayed
later with a fresh timestamp; a receiver refuses timestamps outside its tolerance (5 minutes here).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

TIMESTAMP_HEADER = "Bulk-Ingest-Timestamp"
SIGNATURE_HEADER = "Bulk-Ingest-Signature"
SIGNATURE_VERSION = "v1"
SECRET_PREFIX = "whsec_"  # noqa: S105 (every secret's public prefix, not a secret)
DEFAULT_TOLERANCE_SECONDS = 300


def new_secret() -> str:
    """256 random bits, URL-safe."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    signed = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def headers(secret: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: f"{SIGNATURE_VERSION}={signature(secret, timestamp, body)}"}


def verify(secret: str, timestamp_header: str, signature_header: str, body: bytes, now: float,
           tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS) -> bool:
    """What a receiver does: the timestamp is recent and one v1 signature matches (compared in constant time)."""
    try:
        timestamp = int(timestamp_header)
    except ValueError:
        return False
    if abs(now - timestamp) > tolerance_seconds:
        return False
    expected = signature(secret, timestamp, body)
    offered = [part.split("=", 1)[1] for part in signature_header.split(",")
               if part.strip().startswith(f"{SIGNATURE_VERSION}=")]
    return any(hmac.compare_digest(expected, candidate.strip()) for candidate in offered)
