"""API Gateway usage-plan keys: one API key per API token, so the usage plan throttles per token.

The key's value is the token's SHA-256 hash (what the tokens table stores), never the token: the
authorizer returns it as usageIdentifierKey, and API Gateway throttles by the key holding that value.
"""

from __future__ import annotations

from botocore.exceptions import ClientError

from ingest.adapters.aws_errors import translated

# The plan is "<stack name><suffix>" (infra/api.py USAGE_PLAN_NAME_SUFFIX; a template test holds them equal).
USAGE_PLAN_NAME_SUFFIX = "-per-token"


def usage_plan_name(stack_name: str) -> str:
    return stack_name + USAGE_PLAN_NAME_SUFFIX


class UsagePlanNotFoundError(RuntimeError):
    pass


def per_token_plan_name(client, stack_name: str) -> str:
    """The stack's plan name; if no plan has it (a stack deployed under another name), the one
    per-token plan of the region. Refused when that is ambiguous."""
    names = [plan.get("name", "") for page in client.get_paginator("get_usage_plans").paginate()
             for plan in page.get("items", [])]
    if usage_plan_name(stack_name) in names:
        return usage_plan_name(stack_name)
    candidates = [name for name in names if name.endswith(USAGE_PLAN_NAME_SUFFIX)]
    if len(candidates) != 1:
        raise UsagePlanNotFoundError(f"no usage plan named {usage_plan_name(stack_name)!r}, and "
                                     f"{len(candidates)} per-token plans in the region: is the stack deployed?")
    return candidates[0]


@translated
class UsagePlanKeys:
    """Adds API keys to one usage plan, found by name on first use (its id cannot be configured: see
    infra/api.py)."""

    def __init__(self, client, plan_name: str):
        self._client = client
        self._plan_name = plan_name
        self._plan_id: str | None = None

    def plan_id(self) -> str:
        if self._plan_id is None:
            found = [plan["id"] for page in self._client.get_paginator("get_usage_plans").paginate()
                     for plan in page.get("items", []) if plan.get("name") == self._plan_name]
            if len(found) != 1:
                raise UsagePlanNotFoundError(f"expected one usage plan named {self._plan_name!r}, found {len(found)}")
            self._plan_id = found[0]
        return self._plan_id

    def add_key(self, name: str, value: str) -> str:
        """Create an enabled API key with this value in the plan; its id. Nothing is left behind on failure."""
        plan_id = self.plan_id()
        key_id = self._client.create_api_key(name=name, value=value, enabled=True)["id"]
        try:
            self._client.create_usage_plan_key(usagePlanId=plan_id, keyId=key_id, keyType="API_KEY")
        except Exception:
            self.delete_key(key_id)
            raise
        return key_id

    def delete_key(self, key_id: str) -> None:
        """Delete an API key (it leaves every plan with it); an already deleted key is fine."""
        try:
            self._client.delete_api_key(apiKey=key_id)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "NotFoundException":
                raise
