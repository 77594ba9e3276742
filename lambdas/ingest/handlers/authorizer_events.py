"""What both API Gateway REQUEST authorizers read from their event and how they answer.

Kept apart from the authorizer modules, which read their own environment at import.
"""

from __future__ import annotations

from typing import Any


def header(event: dict, name: str) -> str | None:
    """A request header by its lower-case name (API Gateway keeps the caller's spelling)."""
    for key, value in (event.get("headers") or {}).items():
        if key.lower() == name:
            return value
    return None


def source_ip(event: dict) -> str | None:
    # Set by API Gateway from the connection, never from a header the caller controls.
    return ((event.get("requestContext") or {}).get("identity") or {}).get("sourceIp")


def stage_resource(method_arn: str, path: str = "*") -> str:
    """arn:...:api-id/stage/METHOD/route -> arn:...:api-id/stage/<path>: the routes one decision covers.

    One policy for many routes, so a cached decision serves each of them.
    """
    prefix, _, rest = method_arn.partition("/")
    stage = rest.split("/", 1)[0]
    return f"{prefix}/{stage}/{path}"


def policy(principal_id: str, allowed: bool, resource: str, context: dict[str, Any],
           usage_identifier_key: str | None = None) -> dict[str, Any]:
    """The authorizer's answer: Allow, or Deny (API Gateway answers 403 through ACCESS_DENIED)."""
    answer: dict[str, Any] = {
        "principalId": principal_id,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow" if allowed else "Deny",
                           "Resource": resource}],
        },
        "context": context,
    }
    if usage_identifier_key is not None:
        answer["usageIdentifierKey"] = usage_identifier_key
    return answer
