"""IAM for the handlers: every AWS call a function makes is checked against its role, as AWS would.

moto enforces no IAM policy, so a missing grant would pass locally and fail on AWS. Here each call
a handler makes through boto3 (on the invocation's thread, or a thread it started) is mapped to
the IAM authorizations it needs (local_stack/iam_requests.py) and evaluated against the function's
role in the synthesized template and the resource's own policy (local_stack/iam.py). A refused
call fails as AWS fails it - a ClientError AccessDenied(Exception) to the handler, no request sent -
and is recorded (local_stack/violations.py) so the end-to-end suite fails naming the function, the
action and the resource. S3 follows AWS in two more places: DeleteObjects refuses key by key (in
the response's Errors), and a missing key reads as 403, not 404, without s3:ListBucket.

Presigned URLs are checked when used, against the role of the function that signed them: the
moto server asks `refuse_presigned` (local_stack/moto_server.py).

Hooks: botocore's `BaseClient._emit_api_params` (the call's final parameters, after boto3's
transformations) and `BaseClient._make_request` (where a refused call is answered without being
sent), and `RequestSigner.generate_presigned_url`. They apply to every client in the process, made
before or after the stack started; calls outside an invocation (tests, the local API Gateway) are
not checked. tests/e2e/test_local_runtime.py fails if a botocore upgrade moves them.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote

from botocore.awsrequest import AWSResponse
from botocore.client import BaseClient
from botocore.signers import RequestSigner

from local_stack import violations
from local_stack.iam import Decision, Request, TemplatePolicies, evaluate
from local_stack.iam_requests import SECURE_TRANSPORT, TableKeys, UnmappedOperationError, requests_for, s3_object_arn
from local_stack.thread_context import Principal, current_principal

log = logging.getLogger("local_stack.iam")
_PARAMS = "local_stack.params"  # request-context keys
_REFUSED = "local_stack.refused"
_DELETES_REFUSED = "local_stack.deletes_refused"

# How each service answers a refused call: (error code, HTTP status).
REFUSALS = {"s3": ("AccessDenied", 403), "dynamodb": ("AccessDeniedException", 400),
            "stepfunctions": ("AccessDeniedException", 400), "apigateway": ("AccessDeniedException", 403),
            "lambda": ("AccessDeniedException", 403), "kms": ("AccessDeniedException", 400),
            "sqs": ("AccessDenied", 403)}
PRESIGNED_METHODS = {"PutObject": "PUT", "GetObject": "GET", "UploadPart": "PUT"}


@dataclass(frozen=True)
class PresignedUrl:
    signer: Principal
    method: str
    bucket: str
    key: str
    # The headers signed into the URL besides host (X-Amz-SignedHeaders), lower-case, with the values
    # signed: a declared size's content-length. S3 computes the signature over what the request sends,
    # so another value fails it as SignatureDoesNotMatch.
    signed_headers: tuple[tuple[str, str], ...] = ()


class AccessGuard:
    """The deployed template's policies, and the decisions made with them."""

    def __init__(self, policies: TemplatePolicies, tables: TableKeys, region: str, account: str,
                 roles_by_handler: dict[str, str] | None = None):
        self.policies, self.tables, self.region, self.account = policies, tables, region, account
        self.roles_by_handler = roles_by_handler or {}  # a function's handler path -> its role ARN
        self._presigned: dict[str, PresignedUrl] = {}
        self._lock = threading.Lock()

    def decide(self, role_arn: str, request: Request) -> Decision:
        bucket_policy: list = []
        if request.resource.startswith("arn:aws:s3:::"):
            bucket_policy = self.policies.buckets.get(request.resource[len("arn:aws:s3:::"):].split("/", 1)[0], [])
        return evaluate(self.policies.roles.get(role_arn, []), request, bucket_policy, principal_arn=role_arn)

    def refuse(self, principal: Principal, request: Request, decision: Decision, via: str = "") -> str:
        """Record a refusal; returns AWS's message for it."""
        violation = violations.Violation(principal.name, violations.ACCESS_DENIED, request.action, request.resource,
                                         via + decision.reason)
        violations.record(violation)
        log.warning("AWS would refuse this: %s", violation)  # `make run` shows it in .local/lambda.log
        session = f"arn:aws:sts::{self.account}:assumed-role/{principal.role_arn.rsplit('/', 1)[-1]}/{principal.name}"
        return (f"User: {session} is not authorized to perform: {request.action} "
                f"on resource: {request.resource} {decision.reason}")

    # -- the seam for test support (tests/support/faults.py RevokeGrant) ----------------------------
    def role_statements(self, role_arn: str) -> list:
        """The statements of the role's identity policies, as the template gives them."""
        return list(self.policies.roles[role_arn])

    def use_role_statements(self, role_arn: str, statements: list) -> Callable[[], None]:
        """Decide the role's calls with `statements` until the returned function is called: a grant
        taken away, as if the template lacked it."""
        with self._lock:
            previous = self.policies.roles[role_arn]
            self.policies.roles[role_arn] = list(statements)

        def restore() -> None:
            with self._lock:
                self.policies.roles[role_arn] = previous

        return restore

    def remember_presigned(self, signature: str, url: PresignedUrl) -> None:
        with self._lock:
            self._presigned[signature] = url

    def presigned(self, signature: str) -> PresignedUrl | None:
        with self._lock:
            return self._presigned.get(signature)


_guard: AccessGuard | None = None


def current() -> AccessGuard | None:
    """The installed guard (test support takes a grant away through use_role_statements)."""
    return _guard


def install(guard: AccessGuard) -> None:
    """Check handlers' calls against this guard's policies from now on (hooks installed once)."""
    global _guard  # noqa: PLW0603 (one guard per process: the hooks below read it)
    _guard = guard
    if getattr(BaseClient._make_request, "_local_stack", False):
        return
    emit_api_params, make_request = BaseClient._emit_api_params, BaseClient._make_request
    presign = RequestSigner.generate_presigned_url

    def _emit_api_params(client, api_params, operation_model, context):
        params = emit_api_params(client, api_params, operation_model, context)
        context[_PARAMS] = params
        principal = current_principal()
        if principal is None or _guard is None or context.get("is_presign_request"):
            return params
        return _authorize(_guard, principal, client, operation_model, params, context)

    def _make_request(client, operation_model, request_dict, request_context):
        refused = request_context.get(_REFUSED)
        if refused:
            return _answer(client, operation_model, refused, status=None)
        deletes_refused = request_context.get(_DELETES_REFUSED)
        if deletes_refused and not request_context[_PARAMS]["Delete"]["Objects"]:
            return _answer(client, operation_model, None, status=200, errors=deletes_refused)
        http, parsed = make_request(client, operation_model, request_dict, request_context)
        if deletes_refused and http.status_code < 300:
            parsed.setdefault("Errors", []).extend(deletes_refused)
        if operation_model.name in ("HeadObject", "GetObject") and http.status_code == 404:
            refusal = _missing_key_without_list_bucket(request_context[_PARAMS])
            if refusal:
                return _answer(client, operation_model, refusal, status=None)
        return http, parsed

    def generate_presigned_url(signer, request_dict, operation_name, *args, **kwargs):
        url = presign(signer, request_dict, operation_name, *args, **kwargs)
        principal = current_principal()
        params = (request_dict.get("context") or {}).get(_PARAMS) or {}
        if principal and _guard and operation_name in PRESIGNED_METHODS and "Key" in params:
            query = parse_qs(url.split("?", 1)[-1])
            signature = query.get("X-Amz-Signature", [""])[0]
            _guard.remember_presigned(signature, PresignedUrl(principal, PRESIGNED_METHODS[operation_name],
                                                              params["Bucket"], params["Key"],
                                                              _signed_headers(query, request_dict)))
        return url

    _make_request._local_stack = True  # type: ignore[attr-defined]
    BaseClient._emit_api_params = _emit_api_params
    BaseClient._make_request = _make_request
    RequestSigner.generate_presigned_url = generate_presigned_url
    _guard_dynamodb_wire()


def _guard_dynamodb_wire() -> None:
    """A Load's writes go through DynamoDBWire (lambdas/ingest/adapters/dynamodb_wire.py), around
    botocore: its calls are checked the same way, and refused as AWS refuses them, nothing sent."""
    import botocore.session
    from botocore.exceptions import ClientError

    from ingest.adapters.dynamodb_wire import DynamoDBWire

    service_model = botocore.session.get_session().get_service_model("dynamodb")
    call = DynamoDBWire.call

    def guarded_call(wire: DynamoDBWire, operation: str, params: Any) -> dict:
        principal = current_principal()
        if principal is not None and _guard is not None:
            operation_model = service_model.operation_model(operation)
            try:
                requests = requests_for("dynamodb", operation_model, dict(params), _guard.region, _guard.account,
                                        _guard.tables)
            except UnmappedOperationError as exc:
                violations.record(violations.Violation(principal.name, violations.UNMAPPED_CALL,
                                                       f"dynamodb.{operation}", "?", str(exc)))
                raise
            for request in requests:
                decision = _guard.decide(principal.role_arn, request)
                if not decision.allowed:
                    code, status = REFUSALS["dynamodb"]
                    raise ClientError({"Error": {"Code": code, "Message": _guard.refuse(principal, request, decision)},
                                       "ResponseMetadata": {"HTTPStatusCode": status}}, operation)
        return call(wire, operation, params)

    DynamoDBWire.call = guarded_call  # type: ignore[method-assign,assignment]  # the wire's one seam for the guard


def _authorize(guard: AccessGuard, principal: Principal, client: Any, operation_model: Any, params: dict,
               context: dict) -> dict:
    service = client.meta.service_model.service_name
    try:
        requests = requests_for(service, operation_model, params, client.meta.region_name, guard.account, guard.tables)
    except UnmappedOperationError as exc:
        violations.record(violations.Violation(principal.name, violations.UNMAPPED_CALL,
                                               f"{service}.{operation_model.name}", "?", str(exc)))
        raise
    refused = [(request, decision) for request in requests
               if not (decision := guard.decide(principal.role_arn, request)).allowed]
    if not refused:
        return params
    if operation_model.name == "DeleteObjects":  # S3 deletes the allowed keys and reports the others
        refused_arns = {request.resource for request, _ in refused}
        kept = [item for item in params["Delete"]["Objects"]
                if s3_object_arn(params["Bucket"], item["Key"]) not in refused_arns]
        context[_DELETES_REFUSED] = [
            {"Key": request.resource.split("/", 1)[1], "Code": "AccessDenied",
             "Message": guard.refuse(principal, request, decision)}
            for request, decision in refused]
        context[_PARAMS] = params = {**params, "Delete": {**params["Delete"], "Objects": kept}}
        return params
    request, decision = refused[0]  # AWS names the first authorization that failed
    context[_REFUSED] = (service, guard.refuse(principal, request, decision))
    return params


def _missing_key_without_list_bucket(params: dict) -> tuple[str, str] | None:
    """S3 answers a missing key 404 only to a caller that may list the bucket; others get 403."""
    principal = current_principal()
    if principal is None or _guard is None:
        return None
    request = Request("s3:ListBucket", f"arn:aws:s3:::{params['Bucket']}", {**SECURE_TRANSPORT,
                                                                         "s3:prefix": params["Key"]})
    decision = _guard.decide(principal.role_arn, request)
    if decision.allowed:
        return None
    return "s3", _guard.refuse(principal, request, decision, via="reading a missing key, ")


class _NoBody:
    def stream(self, **_: Any):
        return iter(())


def _answer(client: Any, operation_model: Any, refused: tuple[str, str] | None, status: int | None,
            errors: list | None = None) -> tuple[AWSResponse, dict]:
    """The (http, parsed) pair botocore would have got from AWS for a refused call."""
    metadata = {"RequestId": str(uuid.uuid4()), "HTTPHeaders": {}, "RetryAttempts": 0}
    if refused is None:  # a DeleteObjects whose every key was refused
        metadata["HTTPStatusCode"] = status
        return AWSResponse("", status, {}, _NoBody()), {"Deleted": [], "Errors": errors, "ResponseMetadata": metadata}
    service, message = refused
    code, status = REFUSALS.get(service, ("AccessDeniedException", 400))
    if operation_model.name == "HeadObject":  # a HEAD response has no body to carry the code
        code, message = "403", "Forbidden"
    metadata["HTTPStatusCode"] = status
    return AWSResponse("", status, {}, _NoBody()), {"Error": {"Code": code, "Message": message},
                                                     "ResponseMetadata": metadata}


def _signed_headers(query: dict[str, list[str]], request_dict: dict) -> tuple[tuple[str, str], ...]:
    """The (name, value) of each header a SigV4 URL signs besides host, as the request it was made from
    held them."""
    names = [name for name in query.get("X-Amz-SignedHeaders", [""])[0].split(";") if name and name != "host"]
    values = {name.lower(): str(value) for name, value in (request_dict.get("headers") or {}).items()}
    return tuple((name, values.get(name, "")) for name in names)


_SIGNATURE_DOES_NOT_MATCH = (403, "SignatureDoesNotMatch",
                             ("The request signature we calculated does not match the signature you provided. "
                              "Check your key and signing method."))


def refuse_presigned(method: str, raw_path: str, query: str,
                     headers: Mapping[str, str] | None = None) -> tuple[int, str, str] | None:
    """None to let a request through; else (status, S3 error code, message) for a presigned URL its
    signer's role may not use, one altered since it was signed, or one sent with other values of the
    headers it signs (`headers`: the request's, lower-case names; a PUT of another size than signed)."""
    signature = parse_qs(query).get("X-Amz-Signature", [""])[0]
    guard = _guard
    url = guard.presigned(signature) if (guard and signature) else None
    if guard is None or url is None:
        return None
    bucket, _, key = unquote(raw_path).lstrip("/").partition("/")
    if (method, bucket, key) != (url.method, url.bucket, url.key):
        return _SIGNATURE_DOES_NOT_MATCH
    sent = headers or {}
    if any(sent.get(name) != value for name, value in url.signed_headers):
        return _SIGNATURE_DOES_NOT_MATCH
    action = "s3:PutObject" if method == "PUT" else "s3:GetObject"
    request = Request(action, s3_object_arn(bucket, key), SECURE_TRANSPORT)
    decision = guard.decide(url.signer.role_arn, request)
    if decision.allowed:
        return None
    guard.refuse(url.signer, request, decision, via="presigned URL, ")
    return 403, "AccessDenied", "Access Denied"
