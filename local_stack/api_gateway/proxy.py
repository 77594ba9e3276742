"""Lambda proxy integration: the request as API Gateway's proxy event, the function's proxy result as
the HTTP response, and the payload limits on the way in (API Gateway's 10 MB, Lambda's 6 MB).
"""

from __future__ import annotations

import base64
import json
import logging
import time
import uuid

from botocore.exceptions import ClientError
from werkzeug.wrappers import Request, Response

from local_stack.api_gateway.definition import ApiDefinition, Refused, Route
from local_stack.limits import API_GATEWAY_PAYLOAD_BYTES

log = logging.getLogger("local_stack.api")


def read_body(request: Request) -> bytes:
    """The request's body; a body over API Gateway's 10 MB is refused (REQUEST_TOO_LARGE)."""
    if (request.content_length or 0) > API_GATEWAY_PAYLOAD_BYTES:
        raise Refused("REQUEST_TOO_LARGE")
    body = request.get_data()
    if len(body) > API_GATEWAY_PAYLOAD_BYTES:
        raise Refused("REQUEST_TOO_LARGE")
    return body


def proxy_event(definition: ApiDefinition, request: Request, path: str, route: Route,
                path_parameters: dict[str, str], body: bytes) -> dict:
    """The proxy event of a request to `path` (decoded), matched to `route`."""
    headers = dict(request.headers.items())
    multi_headers: dict[str, list[str]] = {}
    for key, value in request.headers.items():
        multi_headers.setdefault(key, []).append(value)
    query = {key: values[-1] for key, values in request.args.lists()}
    multi_query = dict(request.args.lists())
    text, is_base64 = _proxy_body(body, _is_binary(request.mimetype, definition.binary_media_types))
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
            "path": f"/{definition.stage}{path}",
            "stage": definition.stage,
            "requestId": str(uuid.uuid4()),
            "requestTimeEpoch": int(now * 1000),
            "apiId": definition.api_id,
            "accountId": "123456789012",
            "identity": {"sourceIp": request.remote_addr, "userAgent": request.user_agent.string},
        },
        "body": text if body else None,
        "isBase64Encoded": is_base64,
    }


def invoke(lambda_client, function_arn: str, event: dict) -> Response:
    """Invoke the integration function with the event; its proxy result as the HTTP response."""
    try:
        result = lambda_client.invoke(FunctionName=function_arn, Payload=json.dumps(event))
    except ClientError as exc:
        # Lambda refuses an event over its 6 MB payload limit (a multipart body over about 4.4 MB
        # once base64-encoded): API Gateway answers 413.
        if exc.response["Error"]["Code"] == "RequestEntityTooLargeException":
            raise Refused("REQUEST_TOO_LARGE") from exc
        raise
    try:
        payload = json.loads(result["Payload"].read())
    except ValueError:
        payload = None
    if result.get("FunctionError") or not isinstance(payload, dict) or "statusCode" not in payload:
        log.error("integration %s returned an invalid proxy response", function_arn)
        raise Refused("DEFAULT_5XX")
    return http_response(payload)


def http_response(payload: dict) -> Response:
    """A proxy result ({statusCode, headers, multiValueHeaders, body, isBase64Encoded}) as a response."""
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


def _is_binary(content_type: str, binary_media_types: list[str]) -> bool:
    """Whether API Gateway would base64-encode a body of this Content-Type (binaryMediaTypes, with
    "*/*" and "type/*" wildcards)."""
    if not content_type:
        return False
    major = content_type.lower().split("/", 1)[0]
    return any(media_type in (content_type.lower(), "*/*", f"{major}/*") for media_type in binary_media_types)
