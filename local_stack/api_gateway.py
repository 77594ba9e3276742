"""A local REST API Gateway built from the template's AWS::ApiGateway::* resources.

It does what API Gateway does for this API: match the request to a resource and method, run the
REQUEST authorizer (with its result cache), build the Lambda proxy event, invoke the integration
function through moto's Lambda API (so our in-process runtime runs it), and turn the proxy result
into the HTTP response. API Gateway's own errors use the template's GatewayResponses.
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
from typing import Any
from urllib.parse import quote, unquote

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from local_stack.deployer import Deployment

# API Gateway REST APIs accept request payloads up to 10 MB.
MAX_PAYLOAD_BYTES = 10 * 1024 * 1024
log = logging.getLogger("local_stack.api")

# API Gateway's defaults where the template sets no GatewayResponse.
DEFAULT_RESPONSES = {
    "UNAUTHORIZED": (401, {"message": "Unauthorized"}),
    "ACCESS_DENIED": (403, {"message": "User is not authorized to access this resource"}),
    "MISSING_AUTHENTICATION_TOKEN": (403, {"message": "Missing Authentication Token"}),
    "REQUEST_TOO_LARGE": (413, {"message": "Request Too Long"}),
    "AUTHORIZER_FAILURE": (500, {"message": None}),
    "AUTHORIZER_CONFIGURATION_ERROR": (500, {"message": None}),
    "THROTTLED": (429, {"message": "Too Many Requests"}),
    "DEFAULT_5XX": (502, {"message": "Internal server error"}),
}


@dataclass
class Authorizer:
    function_arn: str
    header: str | None
    ttl_seconds: int
    cache: dict[str, tuple[float, dict]] = field(default_factory=dict)


@dataclass
class Route:
    resource_path: str
    pattern: re.Pattern
    methods: dict[str, dict[str, Any]]  # HTTP method -> {"function_arn", "authorizer"}

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
        self.responses = dict(DEFAULT_RESPONSES)
        for res in template.of_type("AWS::ApiGateway::GatewayResponse").values():
            props = res["Properties"]
            body = json.loads(props.get("ResponseTemplates", {}).get("application/json", "{}"))
            self.responses[props["ResponseType"]] = (int(props["StatusCode"]), body)
        self.authorizers: dict[str, Authorizer] = {}
        for logical_id, res in template.of_type("AWS::ApiGateway::Authorizer").items():
            props = res["Properties"]
            if props.get("Type") != "REQUEST":
                raise ValueError(f"{logical_id}: the local API Gateway supports REQUEST authorizers only")
            match = re.match(r"method\.request\.header\.(.+)", props.get("IdentitySource", ""))
            self.authorizers[logical_id] = Authorizer(
                function_arn=_function_arn_in(props["AuthorizerUri"], deployment),
                header=match.group(1).lower() if match else None,
                ttl_seconds=int(props.get("AuthorizerResultTtlInSeconds", 300)),
            )
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
            }
        self.routes = sorted(routes.values(), key=lambda r: r.specificity, reverse=True)

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
    def __init__(self, deployment: Deployment, lambda_client, host: str = "127.0.0.1", port: int = 3000):
        self.definition = ApiDefinition(deployment)
        self._lambda = lambda_client
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

    def _gateway_response(self, kind: str, headers: dict[str, str] | None = None) -> Response:
        status, body = self.definition.responses[kind]
        return Response(json.dumps(body), status=status, headers=headers or {}, content_type="application/json")

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
        if (request.content_length or 0) > MAX_PAYLOAD_BYTES:
            return self._gateway_response("REQUEST_TOO_LARGE")
        body = request.get_data()
        if len(body) > MAX_PAYLOAD_BYTES:
            return self._gateway_response("REQUEST_TOO_LARGE")
        event = self._proxy_event(request, path, route, path_parameters, body)
        authorizer = method["authorizer"]
        if authorizer is not None:
            outcome = self._authorize(authorizer, event, request)
            if isinstance(outcome, Response):
                return outcome
            event["requestContext"]["authorizer"] = outcome
        return self._invoke_integration(method["function_arn"], event)

    def _proxy_event(self, request: Request, path: str, route: Route, path_parameters: dict, body: bytes) -> dict:
        headers = {key: value for key, value in request.headers.items()}
        multi_headers: dict[str, list[str]] = {}
        for key, value in request.headers.items():
            multi_headers.setdefault(key, []).append(value)
        query = {key: values[-1] for key, values in request.args.lists()}
        multi_query = {key: values for key, values in request.args.lists()}
        try:
            text, is_base64 = body.decode("utf-8"), False
        except UnicodeDecodeError:
            text, is_base64 = base64.b64encode(body).decode(), True
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
        identity = request.headers.get(authorizer.header) if authorizer.header else ""
        if authorizer.header and not identity:
            return self._gateway_response("UNAUTHORIZED")  # API Gateway does not call the authorizer
        cached = authorizer.cache.get(identity)
        if cached and cached[0] > time.monotonic():
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
                authorizer.cache[identity] = (time.monotonic() + authorizer.ttl_seconds, policy)
        if not _allows(policy, self._method_arn(event)):
            return self._gateway_response("ACCESS_DENIED")
        context = {key: str(value) for key, value in (policy.get("context") or {}).items()}
        return {"principalId": policy.get("principalId"), **context}

    def _invoke_integration(self, function_arn: str, event: dict) -> Response:
        result = self._lambda.invoke(FunctionName=function_arn, Payload=json.dumps(event))
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
