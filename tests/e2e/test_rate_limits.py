"""Per-token rate limits over HTTP: the local API Gateway enforces the template's usage plan.

The gateway's clock is the test's (faults.GatewayClock): the counts are exact whatever the
machine's speed (a loaded machine once served fewer requests than the bucket refilled).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
import requests
from botocore.exceptions import ClientError

from ingest.logic.tokens import token_hash
from local_stack.api_gateway import API_KEY_CACHE_SECONDS
from tests.support import faults


def _call(stack, method, path, token, **kwargs):
    return requests.request(method, stack.info.api_url + path, headers={"Auth-Api-Token": token}, timeout=30,
                            **kwargs)


@pytest.fixture(scope="module")
def limits(template) -> dict:
    """The numbers the template configures: the plan's throttle and the THROTTLED Retry-After."""
    (plan,) = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::ApiGateway::UsagePlan"]
    (throttled,) = [r["Properties"] for r in template["Resources"].values()
                    if r["Type"] == "AWS::ApiGateway::GatewayResponse"
                    and r["Properties"]["ResponseType"] == "THROTTLED"]
    return {"rate": plan["Throttle"]["RateLimit"], "burst": plan["Throttle"]["BurstLimit"],
            "retry_after": throttled["ResponseParameters"]["gatewayresponse.header.Retry-After"].strip("'")}


def test_a_burst_over_the_limit_gets_429_for_that_token_only(stack, account, limits):
    """The gateway's clock stands still during the burst, so no request refills the bucket however long
    the burst takes: exactly `burst` requests pass, on any machine."""
    burst, rate = limits["burst"], limits["rate"]
    extra = 10
    with faults.inject(faults.GatewayClock()) as clock:
        second = _call(stack, "POST", "/v1/tokens", account["token"], json={"label": "second"})
        assert second.status_code == 201, second.text
        with ThreadPoolExecutor(max_workers=16) as pool:
            responses = list(pool.map(lambda _: _call(stack, "GET", "/v1/account", account["token"]),
                                      range(burst + extra)))
        statuses = [r.status_code for r in responses]
        # The POST above came out of the same bucket.
        assert sorted(statuses) == [200] * (burst - 1) + [429] * (extra + 1), statuses
        for response in (r for r in responses if r.status_code == 429):
            assert response.headers["Retry-After"] == limits["retry_after"]
            assert response.json() == {"message": "too many requests: slow down and retry"}
        # Another token of the same account has its own bucket.
        assert _call(stack, "GET", "/v1/account", second.json()["token"]).status_code == 200
        # Retry-After seconds later the bucket has refilled rate x Retry-After requests (at most a burst).
        clock.advance(float(limits["retry_after"]))
        refilled = min(burst, int(rate * float(limits["retry_after"])))
        after = [_call(stack, "GET", "/v1/account", account["token"]).status_code for _ in range(refilled + 1)]
        assert after == [200] * refilled + [429]


def test_the_account_view_shows_the_configured_limits(stack, account, limits):
    view = _call(stack, "GET", "/v1/account", account["token"])
    assert view.status_code == 200, view.text
    assert view.json() == {"account_id": account["name"], "ip_allowlist": [],
                           "rate_limit": {"per_second": limits["rate"], "burst": limits["burst"]}}


def test_a_revoked_tokens_api_key_is_deleted_and_the_token_stops_at_once(stack, account):
    created = _call(stack, "POST", "/v1/tokens", account["token"], json={"label": "short-lived"}).json()
    # Used once: the authorizer's Allow is now cached for 60 s.
    assert _call(stack, "GET", "/v1/account", created["token"]).status_code == 200
    item = boto3.resource("dynamodb").Table(stack.info.tokens_table).get_item(
        Key={"token_hash": token_hash(created["token"])})["Item"]
    apigateway = boto3.client("apigateway")
    key = apigateway.get_api_key(apiKey=item["api_key_id"], includeValue=True)
    assert key["value"] == token_hash(created["token"]) and key["enabled"] is True
    assert created["token"] not in str(key)
    with faults.inject(faults.GatewayClock()) as clock:
        assert _call(stack, "DELETE", f"/v1/tokens/{created['id']}", account["token"]).status_code == 204
        with pytest.raises(ClientError) as gone:
            apigateway.get_api_key(apiKey=item["api_key_id"])
        assert gone.value.response["Error"]["Code"] == "NotFoundException"
        # Without its key the token is refused once the gateway's key cache is stale (2 s), long before
        # the authorizer's cache (60 s) would let it go.
        clock.advance(API_KEY_CACHE_SECONDS)
        refused = _call(stack, "GET", "/v1/account", created["token"])
        assert refused.status_code == 403 and refused.json() == {"message": "Forbidden"}
        assert _call(stack, "GET", "/v1/account", account["token"]).status_code == 200
