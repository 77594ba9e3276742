"""Idempotency-Key on the routes that create something, as Stripe does it, on Powertools' idempotency
utility with DynamoDB persistence (docs/decision_log.md says why Powertools, and what we add to it).

A route declared with `route(..., idempotent=True)` (handlers/http.py) and called with the header
`Idempotency-Key: <1-255 printable ASCII characters>`:
- the first request runs, and its answer (status and body) is kept for 24 hours under
  (account, method and route, path parameters, key); a request that fails (any error answer) keeps
  nothing, so it may be sent again with the same key;
- the same key with the same body (compared as parsed JSON, or as a form's fields and files' bytes)
  replays that answer without running anything, with the header `Idempotent-Replayed: true`; a
  presigned upload URL that has expired since is signed afresh for the same upload;
- the same key with another body: 422 naming the conflict;
- while the first request with a key runs, another with the key gets 409 (it is not made to wait:
  an API Gateway request has 29 s, and the caller retries the same request safely).
Answers that hold a secret (a new token, an import key's secret) are stored without it: a replay
answers that field null (docs/security.md: secrets are stored only as hashes).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyPersistenceLayerError,
    IdempotencyValidationError,
)
from botocore.exceptions import ClientError

from ingest.adapters.aws_errors import domain_error
from ingest.errors import BadRequestError, ConflictError, IdempotencyKeyReusedError, ServiceBusyError
from ingest.logic import multipart

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEY_RULE = re.compile(r"^[!-~]{1,255}$")  # printable ASCII, no spaces, as Stripe's 255 at most
REPLAY_SECONDS = 24 * 60 * 60
KEY_PREFIX = "api"  # the record's id is "api#<sha256 of account, route, path parameters, key>"

# One configuration for every route (Powertools configures its persistence layer once, from the first
# configuration it is given): the record's key is the request's scope, its validation hash the body.
CONFIG = IdempotencyConfig(
    event_key_jmespath="scope",
    payload_validation_jmespath="request",
    expires_after_seconds=REPLAY_SECONDS,
    hash_function="sha256",
    raise_on_no_idempotency_key=True,
)


def key_of(headers: dict[str, str] | None) -> str | None:
    """The request's Idempotency-Key (header names are case-insensitive), checked; None without one."""
    value = next((v for name, v in (headers or {}).items() if name.lower() == HEADER.lower()), None)
    if value is None:
        return None
    if not KEY_RULE.match(value):
        raise BadRequestError(f"{HEADER} must be 1-255 printable ASCII characters without spaces")
    return value


def form_fingerprint(form: multipart.Form) -> dict[str, Any]:
    """A form as compared between requests: its fields and its files' bytes, not its boundary."""
    return {"fields": form.fields, "repeated": sorted(form.repeated),
            "files": {name: {"filename": part.filename, "content_type": part.content_type,
                             "sha256": hashlib.sha256(part.data).hexdigest()}
                      for name, part in form.files.items()}}


def answer_once(store, *, account_id: str, route: str, path_parameters: dict[str, str], key: str,
                request: Any, run: Callable[[], Response], stored_body: Callable[[Any], Any],
                replayed_body: Callable[[Any], Any]) -> Response:
    """`run()`'s answer the first time; the kept answer (through `replayed_body`) for a replay.

    stored_body(body) is what is kept of a first answer's JSON body (its secrets removed);
    replayed_body(body) is what a replay answers from it (a fresh upload URL once the kept one expired).
    """
    first: dict[str, Response] = {}

    @idempotent_function(data_keyword_argument="data", config=CONFIG, persistence_store=store,
                         key_prefix=KEY_PREFIX)
    def once(data: dict[str, Any]) -> dict[str, Any]:
        response = run()
        first["response"] = response
        return {"status": response.status_code, "body": stored_body(json.loads(response.body or "null"))}

    scope = {"account_id": account_id, "route": route, "path": path_parameters, "key": key}
    try:
        kept = once(data={"scope": scope, "request": request})
    except IdempotencyValidationError as error:
        raise IdempotencyKeyReusedError(
            f"{HEADER} {key!r} was already used for {route} with a different request body in the last 24 hours: "
            "send that request's body again to get its answer, or use a new key for a new request") from error
    except IdempotencyAlreadyInProgressError as error:
        raise ConflictError(f"a request with this {HEADER} is in progress; "
                            "send it again once that request has been answered") from error
    except IdempotencyPersistenceLayerError as error:
        cause = error.__cause__
        translated = domain_error(cause) if isinstance(cause, ClientError) else None
        raise translated or ServiceBusyError(f"could not record the {HEADER}; send the request again") from error
    if "response" in first:
        return first["response"]
    body = replayed_body(kept["body"])
    return Response(status_code=kept["status"], content_type="application/json",
                    body="" if body is None else json.dumps(body), headers={REPLAYED_HEADER: "true"})
