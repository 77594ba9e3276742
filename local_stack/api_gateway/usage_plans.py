"""The usage-plan gate: the API key the authorizer names must be an enabled key of one of the stage's
usage plans, and each key is throttled by a token bucket of its plan's rate and burst.

Time is the gateway's clock (clock.py), so a test that stands it still counts requests exactly.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from local_stack.api_gateway import clock
from local_stack.api_gateway.definition import UsagePlan

# How long the API key -> usage plan lookup is trusted (a key not found is looked up again at once).
API_KEY_CACHE_SECONDS = 2.0


class TokenBucket:
    """API Gateway's throttle: `burst` requests at once, refilled at `rate` per second."""

    def __init__(self, rate_per_second: float, burst: int, clock: Callable[[], float] = clock.now):
        self._rate, self._burst, self._clock = rate_per_second, burst, clock
        self._tokens = float(burst)
        self._at = clock()
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            now = self._clock()
            # max(): a clock swapped in by a test may stand behind the one the bucket last saw.
            self._tokens = min(self._burst, self._tokens + max(0.0, now - self._at) * self._rate)
            self._at = now
            if self._tokens >= 1:
                self._tokens -= 1
                return True
            return False


class UsagePlanGate:
    """Admits a request by its API key value: the key must be an enabled key in one of the stage's
    usage plans (else INVALID_API_KEY), with requests left in its bucket (else THROTTLED).

    Keys live in moto (minting adds them, revoking deletes them); the lookup is cached briefly.
    """

    def __init__(self, apigateway_client, plans: list[UsagePlan], cache_seconds: float = API_KEY_CACHE_SECONDS):
        self._client = apigateway_client
        self._plans = {plan.plan_id: plan for plan in plans}
        self._cache_seconds = cache_seconds
        self._plan_by_value: dict[str, UsagePlan] = {}
        self._loaded_at = float("-inf")
        self._buckets: dict[tuple[str, str], TokenBucket] = {}
        self._lock = threading.Lock()

    def refusal(self, key_value: str | None) -> str | None:
        """None to admit the request, else the gateway response type that refuses it."""
        if not key_value:
            return "INVALID_API_KEY"
        plan = self._plan_of(key_value)
        if plan is None:
            return "INVALID_API_KEY"
        with self._lock:
            bucket = self._buckets.setdefault((plan.plan_id, key_value), TokenBucket(plan.rate_per_second, plan.burst))
        return None if bucket.take() else "THROTTLED"

    def _plan_of(self, key_value: str) -> UsagePlan | None:
        with self._lock:
            fresh = 0 <= clock.now() - self._loaded_at < self._cache_seconds
            if fresh and key_value in self._plan_by_value:
                return self._plan_by_value[key_value]
            # A new token's key may be seconds old: a miss is never cached.
            self._plan_by_value = self._load()
            self._loaded_at = clock.now()
            return self._plan_by_value.get(key_value)

    def _load(self) -> dict[str, UsagePlan]:
        values = {key["id"]: key["value"]
                  for page in self._client.get_paginator("get_api_keys").paginate(includeValues=True)
                  for key in page.get("items", []) if key.get("enabled")}
        found: dict[str, UsagePlan] = {}
        for plan in self._plans.values():
            for page in self._client.get_paginator("get_usage_plan_keys").paginate(usagePlanId=plan.plan_id):
                for key in page.get("items", []):
                    if key["id"] in values:  # moto keeps a deleted key in its plans
                        found[values[key["id"]]] = plan
        return found
