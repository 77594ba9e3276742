"""A local REST API Gateway built from the template's AWS::ApiGateway::* resources.

It does what API Gateway does for this API, one module per part:
  definition.py   the API as the template declares it: routes and methods, REQUEST authorizers,
                  gateway responses, stage, usage plans, binary media types
  usage_plans.py  the usage-plan gate: the API key the authorizer names must be in one of the
                  stage's plans, throttled per key by a token bucket of the plan's rate and burst
  authorizers.py  REQUEST authorizer invocation, its result cache, the policy check
  proxy.py        Lambda proxy events and responses, the payload limits (10 MB, Lambda's 6 MB)
  server.py       the HTTP server: one request's way through the parts above
  clock.py        the clock of its time-based state (buckets, key and authorizer caches): a test seam
"""

from local_stack.api_gateway import clock
from local_stack.api_gateway.definition import DEFAULT_RESPONSES, ApiDefinition, Authorizer, Refused, Route, UsagePlan
from local_stack.api_gateway.server import LocalApiGateway
from local_stack.api_gateway.usage_plans import API_KEY_CACHE_SECONDS, TokenBucket, UsagePlanGate

__all__ = [
    "API_KEY_CACHE_SECONDS",
    "DEFAULT_RESPONSES",
    "ApiDefinition",
    "Authorizer",
    "LocalApiGateway",
    "Refused",
    "Route",
    "TokenBucket",
    "UsagePlan",
    "UsagePlanGate",
    "clock",
]
