"""The local API Gateway's HTTP server: one request's way through the gateway.

Match the path (as sent, percent-encoded; with or without the stage prefix) to a route and method,
read the body within the payload limit, build the proxy event, run the method's authorizer, admit
the API key it names through the usage-plan gate, invoke the integration. Wherever API Gateway
would answer itself, the answer is the template's gateway response (status, body and headers).
"""

from __future__ import annotations

import json
import logging
import threading
from urllib.parse import quote, unquote

import boto3
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from local_stack.api_gateway import proxy
from local_stack.api_gateway.authorizers import Authorizers
from local_stack.api_gateway.definition import ApiDefinition, Refused
from local_stack.api_gateway.usage_plans import UsagePlanGate
from local_stack.deployer import Deployment

log = logging.getLogger("local_stack.api")


class LocalApiGateway:
    def __init__(self, deployment: Deployment, lambda_client, host: str = "127.0.0.1", port: int = 3000,
                 apigateway_client=None):
        self.definition = ApiDefinition(deployment)
        self._lambda = lambda_client
        self._authorizers = Authorizers(self.definition, lambda_client)
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
        except Refused as refused:
            response = self._gateway_response(refused.response_type)
        except Exception:  # an emulator bug must still answer like API Gateway
            log.exception("local API Gateway failed")
            response = self._gateway_response("DEFAULT_5XX")
        return response(environ, start_response)

    def _gateway_response(self, response_type: str) -> Response:
        status, body = self.definition.responses[response_type]
        headers = self.definition.response_headers.get(response_type, {})
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
            raise Refused("MISSING_AUTHENTICATION_TOKEN")
        route, encoded_parameters = matched
        path_parameters = {name: unquote(value) for name, value in encoded_parameters.items()}
        method = route.methods[request.method]
        body = proxy.read_body(request)
        event = proxy.proxy_event(self.definition, request, unquote(path), route, path_parameters, body)
        policy: dict = {}
        if method["authorizer"] is not None:
            policy = self._authorizers.authorize(method["authorizer"], event, request.headers)
            context = {key: str(value) for key, value in (policy.get("context") or {}).items()}
            event["requestContext"]["authorizer"] = {"principalId": policy.get("principalId"), **context}
        if method["api_key_required"]:
            refusal = self._usage_plans.refusal(policy.get("usageIdentifierKey"))
            if refusal:
                raise Refused(refusal)
        return proxy.invoke(self._lambda, method["function_arn"], event)
