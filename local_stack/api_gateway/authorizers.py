"""REQUEST authorizers: invoke the authorizer function with API Gateway's event, keep its policy for
the authorizer's TTL (keyed on all its identity sources, as API Gateway does), and check that the
policy allows the method's ARN.

The cache runs on the gateway's clock (clock.py).
"""

from __future__ import annotations

import json
import logging
import re
import threading
from typing import Any

from local_stack.api_gateway import clock
from local_stack.api_gateway.definition import ApiDefinition, Authorizer, Refused

# What a REQUEST authorizer's event carries of the request (beside its type and methodArn).
log = logging.getLogger("local_stack.api_gateway")
REQUEST_FIELDS = ("resource", "path", "httpMethod", "headers", "multiValueHeaders", "queryStringParameters",
                  "multiValueQueryStringParameters", "pathParameters", "stageVariables", "requestContext")


class Authorizers:
    """Runs the definition's authorizers through Lambda's Invoke API, each with its own result cache."""

    def __init__(self, definition: ApiDefinition, lambda_client):
        self._definition = definition
        self._lambda = lambda_client
        self._cache: dict[tuple[Authorizer, tuple], tuple[float, dict]] = {}
        self._lock = threading.Lock()

    def authorize(self, authorizer: Authorizer, event: dict, headers: Any) -> dict:
        """The authorizer's policy for this request (cached per identity); raises Refused otherwise.

        `event` is the request's proxy event, `headers` its headers (case-insensitive lookup).
        """
        identity = tuple(headers.get(name) for name in authorizer.headers) + tuple(
            _dig(event["requestContext"], path) for path in authorizer.context_paths)
        if not all(identity):
            raise Refused("UNAUTHORIZED")  # API Gateway does not call the authorizer
        method_arn = self._definition.method_arn(event["httpMethod"], event["path"])
        with self._lock:
            cached = self._cache.get((authorizer, identity))
        if cached and cached[0] > clock.now():
            policy = cached[1]
        else:
            policy = self._invoke(authorizer, {"type": "REQUEST", "methodArn": method_arn,
                                               **{key: event[key] for key in REQUEST_FIELDS}})
            if authorizer.ttl_seconds:
                with self._lock:
                    self._cache[(authorizer, identity)] = (clock.now() + authorizer.ttl_seconds, policy)
        if not allows(policy, method_arn):
            raise Refused("ACCESS_DENIED")
        return policy

    def _invoke(self, authorizer: Authorizer, request_event: dict) -> dict:
        result = self._lambda.invoke(FunctionName=authorizer.function_arn, Payload=json.dumps(request_event))
        payload = json.loads(result["Payload"].read() or b"null")
        if result.get("FunctionError"):
            if isinstance(payload, dict) and payload.get("errorMessage") == "Unauthorized":
                raise Refused("UNAUTHORIZED")
            # API Gateway answers 500 and logs nothing the client sees; say why here (a timeout, a crash).
            log.warning("authorizer %s failed: %s", authorizer.function_arn,
                        payload.get("errorType") if isinstance(payload, dict) else "no error payload")
            raise Refused("AUTHORIZER_FAILURE")
        if not isinstance(payload, dict) or "policyDocument" not in payload:
            raise Refused("AUTHORIZER_CONFIGURATION_ERROR")
        return payload


def allows(policy: dict, method_arn: str) -> bool:
    """Whether the policy's statements allow the method ARN (an explicit Deny wins)."""
    allowed = False
    for statement in policy.get("policyDocument", {}).get("Statement", []):
        resources = statement.get("Resource", [])
        resources = [resources] if isinstance(resources, str) else resources
        if any(_arn_matches(pattern, method_arn) for pattern in resources):
            if statement.get("Effect") == "Deny":
                return False
            allowed = allowed or statement.get("Effect") == "Allow"
    return allowed


def _arn_matches(pattern: str, arn: str) -> bool:
    return re.fullmatch(re.escape(pattern).replace(r"\*", ".*").replace(r"\?", "."), arn) is not None


def _dig(value: Any, path: list[str]) -> Any:
    for part in path:
        value = value.get(part) if isinstance(value, dict) else None
    return value
