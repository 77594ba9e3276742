"""A local REST API Gateway built from the template's AWS::ApiGateway::* resources.

It does what API Gateway does for this API: match the request to a resource and method, run the
REQUEST authorizer (with its result cache, keyed on all its identity sources), check the API key the
authorizer names (usageIdentifierKey) against the stage's usage plans and throttle per key with the
plan's rate and burst, build the Lambda proxy event, invoke the integration function through moto's
Lambda API (so our in-process runtime runs it), and turn the proxy result into the HTTP response.
API Gateway's own errors use the template's GatewayResponses (status, body and headers).
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import quote, unquote

import boto3
from botocore.exceptions import ClientError
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from local_stack.deployer import Deployment
from local_stack.limits import API_GATEWAY_PAYLOAD_BYTES

log = logging.getLogger("local_stack.api")

# The clock of the gateway's time-based state: usage-plan token buckets, the API key cache and the
# authorizer cache. Test-only seam: local_stack/faults.py's GatewayClock replaces it so tests decide
# when time passes (a throttling test then counts exactly, whatever the machine's speed).
clock: Callable[[], float] = time.monotonic


def _now() -> float:
    return clock()

# API Gateway's defaults where the template sets no GatewayResponse.
DEFAULT_RESPONSES = {
    "UNAUTHORIZED": (401, {"message": "Unauthorized"}),
    "ACCESS_DENIED": (403, {"message": "User is not authorized to access this resource"}),
    "MISSING_AUTHENTICATION_TOKEN": (403, {"message": "Missing Authentication Token"}),
    "INVALID_API_KEY": (403, {"message": "Forbidden"}),
    "REQUEST_TOO_LARGE": (413, {"message": "Request Too Long"}),
    "AUTHORIZER_FAILURE": (500, {"message": None}),
    "AUTHORIZER_CONFIGURATION_ERROR": (500, {"message": None}),
    "THROTTLED": (429, {"message": "Too Many Requests"}),
    "DEFAULT_5XX": (502, {"message": "Internal server error"}),
}


# How long the API key -> usage plan lookup is trusted (a key not found is looked up again at once).
API_KEY_CACHE_SECONDS = 2.0
HEADER_SOURCE = re.compile(r"method\.request\.header\.(.+)")
CONTEXT_SOURCE = re.compile(r"context\.(.+)")


@dataclass
class Authorizer:
    function_arn: str
    headers: list[str]  # lower-case header names among the identity sources
    context_paths: list[list[str]]  # request-context paths among them, e.g. ["identity", "sourceIp"]
    ttl_seconds: int
    cache: dict[tuple, tuple[float, dict]] = field(default_factory=dict)

    @property
    def header(self) -> str | None:
        """The header holding the credential (the first header identity source)."""
        return self.headers[0] if self.headers else None


@dataclass(frozen=True)
class UsagePlan:
    plan_id: str  # moto's id
    rate_per_second: float
    burst: int


class TokenBucket:
    """API Gateway's throttle: `burst` requests at once, refilled at `rate` per second."""

    def __init__(self, rate_per_second: float, burst: int, clock: Callable[[], float] = _now):
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
        plan = self._plan_of(key_value) if key_value else None
        if plan is None:
            return "INVALID_API_KEY"
        with self._lock:
            bucket = self._buckets.setdefault((plan.plan_id, key_value), TokenBucket(plan.rate_per_second, plan.burst))
        return None if bucket.take() else "THROTTLED"

    def _plan_of(self, key_value: str) -> UsagePlan | None:
        with self._lock:
            fresh = 0 <= _now() - self._loaded_at < self._cache_seconds
            if fresh and key_value in self._plan_by_value:
                return self._plan_by_value[key_value]
            # A new token's key may be seconds old: a miss is never cached.
            self._plan_by_value = self._load()
            self._loaded_at = _now()
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


@dataclass
class Route:
    resource_path: str
    pattern: re.Pattern
    methods: dict[str, dict[str, Any]]  # HTTP method -> {"function_arn", "authorizer", "api_key_required"}

    @property
    def specificity(self) -> tuple[int, ...]:
        # API Gateway prefers a literal path part over a {parameter}, segment by segment.
        return tuple(0 if part.startswith("{") else 1 for part in self.resource_path.strip("/").split("/"))


def _function_arn_in(value: Any, deployment: Deployment) -> str | None:
    """The Lambda function an integration or authorizer URI points at."""
    if isinstance(value, dict):
        target = value.get("Fn::GetAtt")
        if isinstance(target, list) and target[0] in deployment.functions:
            return deployment.functions[target[0]]["arn"]
        for item in value.values():
            found = _function_arn_in(item, deployment)
            if found:
                return found
    elif isinstance(value, list):
        for item in value:
            found = _function_arn_in(item, deployment)
            if found:
                return found
    return None


class ApiDefinition:
    """Routes, authorizers, stage and gateway responses read from the template."""

    def __init__(self, deployment: Deployment):
        template = deployment.template
        self.stage = next(
            (res["Properties"]["StageName"] for res in template.of_type("AWS::ApiGateway::Stage").values()), "prod"
        )
        self.api_id = next(iter(template.of_type("AWS::ApiGateway::RestApi")), "local")
        # Request bodies of these media types reach the integration base64-encoded, bytes intact.
        self.binary_media_types = [media_type.lower() for res in template.of_type("AWS::ApiGateway::RestApi").values()
                                   for media_type in res["Properties"].get("BinaryMediaTypes", [])]
        self.responses = dict(DEFAULT_RESPONSES)
        self.response_headers: dict[str, dict[str, str]] = {}
        for res in template.of_type("AWS::ApiGateway::GatewayResponse").values():
            props = res["Properties"]
            body = json.loads(props.get("ResponseTemplates", {}).get("application/json", "{}"))
            # Static header values only: "gatewayresponse.header.Retry-After": "'1'".
            headers = {name.split("gatewayresponse.header.", 1)[1]: value.strip("'")
                       for name, value in (props.get("ResponseParameters") or {}).items()
                       if name.startswith("gatewayresponse.header.")}
            self.responses[props["ResponseType"]] = (int(props["StatusCode"]), body)
            self.response_headers[props["ResponseType"]] = headers
        self.authorizers: dict[str, Authorizer] = {}
        for logical_id, res in template.of_type("AWS::ApiGateway::Authorizer").items():
            props = res["Properties"]
            if props.get("Type") != "REQUEST":
                raise ValueError(f"{logical_id}: the local API Gateway supports REQUEST authorizers only")
            sources = [source.strip() for source in props.get("IdentitySource", "").split(",") if source.strip()]
            unknown = [s for s in sources if not (HEADER_SOURCE.fullmatch(s) or CONTEXT_SOURCE.fullmatch(s))]
            if unknown:
                raise ValueError(f"{logical_id}: identity sources {unknown} are not supported locally")
            self.authorizers[logical_id] = Authorizer(
                function_arn=_function_arn_in(props["AuthorizerUri"], deployment),
                headers=[m.group(1).lower() for m in map(HEADER_SOURCE.fullmatch, sources) if m],
                context_paths=[m.group(1).split(".") for m in map(CONTEXT_SOURCE.fullmatch, sources) if m],
                ttl_seconds=int(props.get("AuthorizerResultTtlInSeconds", 300)),
            )
        self.api_key_source = next(
            (res["Properties"].get("ApiKeySourceType", "HEADER")
             for res in template.of_type("AWS::ApiGateway::RestApi").values()), "HEADER")
        self.usage_plans = self._usage_plans(deployment)
        paths = self._resource_paths(template)
        routes: dict[str, Route] = {}
        for res in template.of_type("AWS::ApiGateway::Method").values():
            props = res["Properties"]
            path = paths[props["ResourceId"]["Ref"]] if isinstance(props["ResourceId"], dict) and "Ref" in props["ResourceId"] else "/"
            route = routes.get(path)
            if route is None:
                pattern = "^" + re.sub(r"\\\{([^}]+)\\\}", r"(?P<\1>[^/]+)", re.escape(path)) + "/?$"
                route = routes[path] = Route(path, re.compile(pattern), {})
            authorizer_ref = props.get("AuthorizerId", {}).get("Ref") if props.get("AuthorizationType") == "CUSTOM" else None
            route.methods[props["HttpMethod"]] = {
                "function_arn": _function_arn_in(props["Integration"]["Uri"], deployment),
                "authorizer": self.authorizers.get(authorizer_ref) if authorizer_ref else None,
                "api_key_required": bool(props.get("ApiKeyRequired")),
            }
            if props.get("ApiKeyRequired") and self.api_key_source != "AUTHORIZER":
                raise ValueError("the local API Gateway supports API keys from the authorizer only")
        self.routes = sorted(routes.values(), key=lambda r: r.specificity, reverse=True)

    def _usage_plans(self, deployment: Deployment) -> list[UsagePlan]:
        """The usage plans of this API's stage, with the throttle numbers the template gives them."""
        plans = []
        for logical_id, res in deployment.template.of_type("AWS::ApiGateway::UsagePlan").items():
            props = deployment.resolver.resolve(res["Properties"])
            stages = {(stage["ApiId"], stage["Stage"]) for stage in props.get("ApiStages", [])}
            if (self.api_id, self.stage) not in stages:
                continue
            throttle = props.get("Throttle") or {}
            if not throttle:
                raise ValueError(f"{logical_id}: the local API Gateway enforces throttled usage plans only")
            plans.append(UsagePlan(deployment.physical_id(logical_id), float(throttle["RateLimit"]),
                                   int(throttle["BurstLimit"])))
        return plans

    @staticmethod
    def _resource_paths(template) -> dict[str, str]:
        resources = template.of_type("AWS::ApiGateway::Resource")
        paths: dict[str, str] = {}

        def path_of(logical_id: str) -> str:
            if logical_id not in paths:
                props = resources[logical_id]["Properties"]
                parent = props["ParentId"]
                prefix = path_of(parent["Ref"]) if "Ref" in parent else ""
                paths[logical_id] = f"{prefix}/{props['PathPart']}"
            return paths[logical_id]

        for logical_id in resources:
            path_of(logical_id)
        return paths

    def match(self, path: str) -> tuple[Route, dict[str, str]] | None:
        """The most specific route matching the path (routes are sorted most specific first)."""
        for route in self.routes:
            found = route.pattern.match(path)
            if found:
                return route, found.groupdict()
        return None


class LocalApiGateway:
    def __init__(self, deployment: Deployment, lambda_client, host: str = "127.0.0.1", port: int = 3000,
                 apigateway_client=None):
        self.definition = ApiDefinition(deployment)
        self._lambda = lambda_client
        self._usage_plans = UsagePlanGate(
            apigateway_client or boto3.client("apigateway", region_name=lambda_client.meta.region_name,
                                              endpoint_url=lambda_client.meta.endpoint_url),
            self.definition.usage_plans,
        )
        self._server = make_server(host, port, self._wsgi, threaded=True)
        self.url = f"http://{host}:{self._server.server_port}"
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.serve_forever, name="local-api-gateway", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- request handling ------------------------------------------------------------------
    def _wsgi(self, environ, start_response):
        request = Request(environ)
        try:
            response = self._handle(request)
        except Exception:  # an emulator bug must still answer like API Gateway
            log.exception("local API Gateway failed")
            response = self._gateway_response("DEFAULT_5XX")
        return response(environ, start_response)

    def _gateway_response(self, kind: str) -> Response:
        status, body = self.definition.responses[kind]
        headers = self.definition.response_headers.get(kind, {})
        return Response(json.dumps(body), status=status, headers=headers, content_type="application/json")

    def _handle(self, request: Request) -> Response:
        # Match on the path as sent (percent-encoded), like API Gateway: an encoded '/' stays
        # inside its path parameter instead of splitting the path.
        raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or quote(request.path)
        path = raw.split("?", 1)[0]
        stage_prefix = f"/{self.definition.stage}/"
        if path.startswith(stage_prefix):
            path = path[len(stage_prefix) - 1:]
        matched = self.definition.match(path)
        if matched is None or request.method not in matched[0].methods:
            return self._gateway_response("MISSING_AUTHENTICATION_TOKEN")
        route, encoded_parameters = matched
        path_parameters = {name: unquote(value) for name, value in encoded_parameters.items()}
        path = unquote(path)
        method = route.methods[request.method]
        if (request.content_length or 0) > API_GATEWAY_PAYLOAD_BYTES:
            return self._gateway_response("REQUEST_TOO_LARGE")
        body = request.get_data()
        if len(body) > API_GATEWAY_PAYLOAD_BYTES:
            return self._gateway_response("REQUEST_TOO_LARGE")
        event = self._proxy_event(request, path, route, path_parameters, body)
        authorizer = method["authorizer"]
        policy: dict = {}
        if authorizer is not None:
            outcome = self._authorize(authorizer, event, request)
            if isinstance(outcome, Response):
                return outcome
            policy = outcome
            context = {key: str(value) for key, value in (policy.get("context") or {}).items()}
            event["requestContext"]["authorizer"] = {"principalId": policy.get("principalId"), **context}
        if method["api_key_required"]:
            refusal = self._usage_plans.refusal(policy.get("usageIdentifierKey"))
            if refusal:
                return self._gateway_response(refusal)
        return self._invoke_integration(method["function_arn"], event)

    def _proxy_event(self, request: Request, path: str, route: Route, path_parameters: dict, body: bytes) -> dict:
        headers = {key: value for key, value in request.headers.items()}
        multi_headers: dict[str, list[str]] = {}
        for key, value in request.headers.items():
            multi_headers.setdefault(key, []).append(value)
        query = {key: values[-1] for key, values in request.args.lists()}
        multi_query = {key: values for key, values in request.args.lists()}
        text, is_base64 = _proxy_body(body, _is_binary(request.mimetype, self.definition.binary_media_types))
        now = time.time()
        return {
            "resource": route.resource_path,
            "path": path,
            "httpMethod": request.method,
            "headers": headers or None,
            "multiValueHeaders": multi_headers or None,
            "queryStringParameters": query or None,
            "multiValueQueryStringParameters": multi_query or None,
            "pathParameters": path_parameters or None,
            "stageVariables": None,
            "requestContext": {
                "resourcePath": route.resource_path,
                "httpMethod": request.method,
                "path": f"/{self.definition.stage}{path}",
                "stage": self.definition.stage,
                "requestId": str(uuid.uuid4()),
                "requestTimeEpoch": int(now * 1000),
                "apiId": self.definition.api_id,
                "accountId": "123456789012",
                "identity": {"sourceIp": request.remote_addr, "userAgent": request.user_agent.string},
            },
            "body": text if body else None,
            "isBase64Encoded": is_base64,
        }

    def _method_arn(self, event: dict) -> str:
        return (
            f"arn:aws:execute-api:us-east-1:123456789012:{self.definition.api_id}/"
            f"{self.definition.stage}/{event['httpMethod']}{event['path']}"
        )

    def _authorize(self, authorizer: Authorizer, event: dict, request: Request) -> dict | Response:
        """The authorizer's policy (cached per identity), or the gateway response refusing the request."""
        identity = tuple(request.headers.get(name) for name in authorizer.headers) + tuple(
            _dig(event["requestContext"], path) for path in authorizer.context_paths)
        if not all(identity):
            return self._gateway_response("UNAUTHORIZED")  # API Gateway does not call the authorizer
        cached = authorizer.cache.get(identity)
        if cached and cached[0] > _now():
            policy = cached[1]
        else:
            request_event = {
                "type": "REQUEST",
                "methodArn": self._method_arn(event),
                **{key: event[key] for key in ("resource", "path", "httpMethod", "headers", "multiValueHeaders",
                                               "queryStringParameters", "multiValueQueryStringParameters",
                                               "pathParameters", "stageVariables", "requestContext")},
            }
            result = self._lambda.invoke(FunctionName=authorizer.function_arn, Payload=json.dumps(request_event))
            payload = json.loads(result["Payload"].read() or b"null")
            if result.get("FunctionError"):
                if isinstance(payload, dict) and payload.get("errorMessage") == "Unauthorized":
                    return self._gateway_response("UNAUTHORIZED")
                return self._gateway_response("AUTHORIZER_FAILURE")
            if not isinstance(payload, dict) or "policyDocument" not in payload:
                return self._gateway_response("AUTHORIZER_CONFIGURATION_ERROR")
            policy = payload
            if authorizer.ttl_seconds:
                authorizer.cache[identity] = (_now() + authorizer.ttl_seconds, policy)
        if not _allows(policy, self._method_arn(event)):
            return self._gateway_response("ACCESS_DENIED")
        return policy

    def _invoke_integration(self, function_arn: str, event: dict) -> Response:
        try:
            result = self._lambda.invoke(FunctionName=function_arn, Payload=json.dumps(event))
        except ClientError as exc:
            # Lambda refuses an event over its 6 MB payload limit (a multipart body over about 4.4 MB
            # once base64-encoded): API Gateway answers 413.
            if exc.response["Error"]["Code"] == "RequestEntityTooLargeException":
                return self._gateway_response("REQUEST_TOO_LARGE")
            raise
        try:
            payload = json.loads(result["Payload"].read())
        except ValueError:
            payload = None
        if result.get("FunctionError") or not isinstance(payload, dict) or "statusCode" not in payload:
            log.error("integration %s returned an invalid proxy response", function_arn)
            return self._gateway_response("DEFAULT_5XX")
        body = payload.get("body") or ""
        data = base64.b64decode(body) if payload.get("isBase64Encoded") else body.encode("utf-8")
        response = Response(data, status=int(payload["statusCode"]))
        response.headers.clear()
        for key, value in (payload.get("headers") or {}).items():
            response.headers[key] = str(value)
        for key, values in (payload.get("multiValueHeaders") or {}).items():
            response.headers.remove(key)
            for value in values:
                response.headers.add(key, str(value))
        response.headers.setdefault("Content-Type", "application/json")
        return response


def _proxy_body(body: bytes, binary: bool) -> tuple[str, bool]:
    """The proxy event's (body, isBase64Encoded): text as is, binary media types and bytes that are
    not UTF-8 base64-encoded."""
    if not binary:
        try:
            return body.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(body).decode(), True


def _dig(value: Any, path: list[str]) -> Any:
    for part in path:
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _allows(policy: dict, method_arn: str) -> bool:
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


def _is_binary(content_type: str, binary_media_types: list[str]) -> bool:
    """Whether API Gateway would base64-encode a body of this Content-Type (binaryMediaTypes, with
    "*/*" and "type/*" wildcards)."""
    if not content_type:
        return False
    major = content_type.lower().split("/", 1)[0]
    return any(media_type in (content_type.lower(), "*/*", f"{major}/*") for media_type in binary_media_types)
