"""The API as the template declares it: routes and methods, REQUEST authorizers, gateway responses,
the stage, its usage plans and the binary media types.

Read once from the deployment's AWS::ApiGateway::RestApi/Resource/Method/Authorizer/GatewayResponse/
Stage/UsagePlan resources; what the local gateway cannot emulate faithfully (a TOKEN authorizer, an
identity source other than a header or the request context, an unthrottled usage plan, API keys from
a header) stops it here rather than being served differently from AWS.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from local_stack.deployer import Deployment

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

HEADER_SOURCE = re.compile(r"method\.request\.header\.(.+)")
CONTEXT_SOURCE = re.compile(r"context\.(.+)")


class Refused(Exception):
    """API Gateway answers the request itself, with the gateway response of this type
    (a key of DEFAULT_RESPONSES: UNAUTHORIZED, THROTTLED, ...)."""

    def __init__(self, response_type: str):
        super().__init__(response_type)
        self.response_type = response_type


@dataclass(frozen=True, eq=False)  # eq=False: one authorizer is one cache (hashed by identity)
class Authorizer:
    function_arn: str
    headers: list[str]  # lower-case header names among the identity sources
    context_paths: list[list[str]]  # request-context paths among them, e.g. ["identity", "sourceIp"]
    ttl_seconds: int

    @property
    def header(self) -> str | None:
        """The header holding the credential (the first header identity source)."""
        return self.headers[0] if self.headers else None


@dataclass(frozen=True)
class UsagePlan:
    plan_id: str  # moto's id
    rate_per_second: float
    burst: int


@dataclass
class Route:
    resource_path: str
    pattern: re.Pattern
    methods: dict[str, dict[str, Any]] = field(default_factory=dict)
    # HTTP method -> {"function_arn", "authorizer": Authorizer | None, "api_key_required": bool}

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
    """Routes, authorizers, stage, usage plans, binary media types and gateway responses read from the template."""

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
        self.authorizers = self._authorizers(deployment)
        self.api_key_source = next(
            (res["Properties"].get("ApiKeySourceType", "HEADER")
             for res in template.of_type("AWS::ApiGateway::RestApi").values()), "HEADER")
        self.usage_plans = self._usage_plans(deployment)
        self.routes = self._routes(deployment)

    def function_arns(self) -> set[str]:
        """The functions the API invokes: its integrations and its authorizers."""
        integrations = {method["function_arn"] for route in self.routes for method in route.methods.values()}
        authorizers = {authorizer.function_arn for authorizer in self.authorizers.values()}
        return {arn for arn in integrations if arn} | authorizers

    def match(self, path: str) -> tuple[Route, dict[str, str]] | None:
        """The most specific route matching the path (routes are sorted most specific first)."""
        for route in self.routes:
            found = route.pattern.match(path)
            if found:
                return route, found.groupdict()
        return None

    def method_arn(self, http_method: str, path: str) -> str:
        """The execute-api ARN an authorizer's policy is matched against."""
        return f"arn:aws:execute-api:us-east-1:123456789012:{self.api_id}/{self.stage}/{http_method}{path}"

    # -- reading the template -----------------------------------------------------------------
    @staticmethod
    def _authorizers(deployment: Deployment) -> dict[str, Authorizer]:
        authorizers: dict[str, Authorizer] = {}
        for logical_id, res in deployment.template.of_type("AWS::ApiGateway::Authorizer").items():
            props = res["Properties"]
            if props.get("Type") != "REQUEST":
                raise ValueError(f"{logical_id}: the local API Gateway supports REQUEST authorizers only")
            sources = [source.strip() for source in props.get("IdentitySource", "").split(",") if source.strip()]
            unknown = [s for s in sources if not (HEADER_SOURCE.fullmatch(s) or CONTEXT_SOURCE.fullmatch(s))]
            if unknown:
                raise ValueError(f"{logical_id}: identity sources {unknown} are not supported locally")
            function_arn = _function_arn_in(props["AuthorizerUri"], deployment)
            if function_arn is None:
                raise ValueError(f"{logical_id}: its AuthorizerUri names no function of the template")
            authorizers[logical_id] = Authorizer(
                function_arn=function_arn,
                headers=[m.group(1).lower() for m in map(HEADER_SOURCE.fullmatch, sources) if m],
                context_paths=[m.group(1).split(".") for m in map(CONTEXT_SOURCE.fullmatch, sources) if m],
                ttl_seconds=int(props.get("AuthorizerResultTtlInSeconds", 300)),
            )
        return authorizers

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

    def _routes(self, deployment: Deployment) -> list[Route]:
        paths = self._resource_paths(deployment.template)
        routes: dict[str, Route] = {}
        for res in deployment.template.of_type("AWS::ApiGateway::Method").values():
            props = res["Properties"]
            resource_id = props["ResourceId"]
            path = paths[resource_id["Ref"]] if isinstance(resource_id, dict) and "Ref" in resource_id else "/"
            route = routes.get(path)
            if route is None:
                pattern = "^" + re.sub(r"\\\{([^}]+)\\\}", r"(?P<\1>[^/]+)", re.escape(path)) + "/?$"
                route = routes[path] = Route(path, re.compile(pattern))
            custom = props.get("AuthorizationType") == "CUSTOM"
            authorizer_ref = props.get("AuthorizerId", {}).get("Ref") if custom else None
            route.methods[props["HttpMethod"]] = {
                "function_arn": _function_arn_in(props["Integration"]["Uri"], deployment),
                "authorizer": self.authorizers.get(authorizer_ref) if authorizer_ref else None,
                "api_key_required": bool(props.get("ApiKeyRequired")),
            }
            if props.get("ApiKeyRequired") and self.api_key_source != "AUTHORIZER":
                raise ValueError("the local API Gateway supports API keys from the authorizer only")
        return sorted(routes.values(), key=lambda r: r.specificity, reverse=True)

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
