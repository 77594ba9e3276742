"""S3's CORS on the local stack, from the bucket's own CORS rules (the template's, applied by the deployer).

moto 5.2.5 answers CORS, but not as S3 does, and a browser test on it would pass where AWS refuses:

- a preflight (OPTIONS) is answered 200 whatever method and headers it asks for, with the methods and
  headers of the *last* rule (every rule overwrites the one before); S3 answers with the *first* rule that
  allows the origin, the method and every requested header, and 403 when none does;
- a bucket without CORS rules answers a preflight 200; S3 answers 403 ("CORS is not enabled");
- an error answered before moto (an expired or refused presigned URL, local_stack/moto_server.py) has no
  CORS headers, so the page cannot read it; S3 adds them to errors too, and Uppy reads "Request has
  expired" from such an answer to sign the part again.

So this adapter answers every preflight to a bucket itself, and sets the CORS headers of every other answer
to a request with an Origin, both from the bucket's CORS rules as stored in moto (what PutBucketCors set);
an answer to a request without one gets none (moto's server adds `Access-Control-Allow-Origin: *` to all).
Matching follows S3's documented rules (https://docs.aws.amazon.com/AmazonS3/latest/userguide/cors.html):
origins and headers may hold one `*` wildcard, headers match case-insensitively, the first matching rule
wins. Requests to other services pass untouched.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from moto.core import DEFAULT_ACCOUNT_ID
from moto.s3.models import s3_backends

CORS_HEADER_PREFIX = "access-control-"
# S3 varies on these whenever CORS is configured, so a cache never serves one origin's answer to another.
VARY = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"


@dataclass(frozen=True)
class CorsRule:
    allowed_origins: tuple[str, ...]
    allowed_methods: tuple[str, ...]
    allowed_headers: tuple[str, ...] = ()
    exposed_headers: tuple[str, ...] = ()
    max_age_seconds: int | None = None

    def allows(self, origin: str, method: str, headers: Sequence[str] = ()) -> bool:
        return (any(_wildcard_match(allowed, origin) for allowed in self.allowed_origins)
                and method in self.allowed_methods
                and all(any(_wildcard_match(allowed.lower(), header.lower()) for allowed in self.allowed_headers)
                        for header in headers))

    def answer_headers(self, origin: str) -> list[tuple[str, str]]:
        """The headers S3 sends for this rule: the origin (or `*` for a rule of any origin), its methods,
        the headers the page may read, and how long a preflight may be cached."""
        headers = [("Access-Control-Allow-Origin", "*" if self.allowed_origins == ("*",) else origin),
                   ("Access-Control-Allow-Methods", ", ".join(self.allowed_methods))]
        if self.exposed_headers:
            headers.append(("Access-Control-Expose-Headers", ", ".join(self.exposed_headers)))
        if self.max_age_seconds is not None:
            headers.append(("Access-Control-Max-Age", str(self.max_age_seconds)))
        return headers


def _wildcard_match(pattern: str, value: str) -> bool:
    return re.fullmatch(".*".join(re.escape(part) for part in pattern.split("*")), value) is not None


def first_match(rules: Sequence[CorsRule], origin: str, method: str, headers: Sequence[str] = ()) -> CorsRule | None:
    return next((rule for rule in rules if rule.allows(origin, method, headers)), None)


def bucket_rules(bucket_name: str) -> list[CorsRule] | None:
    """The bucket's CORS rules as moto stores them; None when there is no such bucket."""
    try:
        bucket = s3_backends[DEFAULT_ACCOUNT_ID]["aws"].buckets[bucket_name]
    except KeyError:
        return None
    return [CorsRule(allowed_origins=tuple(rule.allowed_origins or ()),
                     allowed_methods=tuple(rule.allowed_methods or ()),
                     allowed_headers=tuple(rule.allowed_headers or ()),
                     exposed_headers=tuple(rule.exposed_headers or ()),
                     max_age_seconds=int(rule.max_age_seconds) if rule.max_age_seconds else None)
            for rule in bucket.cors]


def _s3_error(code: str, message: str) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
            f"<RequestId>{uuid.uuid4().hex[:16].upper()}</RequestId></Error>").encode()


def preflight(rules: list[CorsRule], origin: str, method: str, requested_headers: str) -> tuple[str, list, bytes]:
    """S3's answer to a preflight: 200 with the first rule that allows it all, else 403."""
    if not rules:
        return "403 Forbidden", [("Content-Type", "application/xml")], _s3_error(
            "AccessForbidden", "CORSResponse: CORS is not enabled for this bucket.")
    headers = [header.strip() for header in requested_headers.split(",") if header.strip()]
    rule = first_match(rules, origin, method, headers)
    if rule is None:
        return "403 Forbidden", [("Content-Type", "application/xml"), ("Vary", VARY)], _s3_error(
            "AccessForbidden", "CORSResponse: This CORS request is not allowed. This is usually because the "
            "evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers "
            "are not whitelisted by the resource's CORS spec.")
    answer = rule.answer_headers(origin)
    if headers:
        answer.append(("Access-Control-Allow-Headers", ", ".join(header.lower() for header in headers)))
    return "200 OK", [*answer, ("Vary", VARY), ("Content-Length", "0")], b""


def _bucket_of(environ: dict) -> str:
    raw_path = (environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ.get("PATH_INFO", "")).split("?", 1)[0]
    return unquote(raw_path).lstrip("/").partition("/")[0]


def with_s3_cors(app: Callable) -> Callable:
    """WSGI middleware: S3's CORS for requests to a bucket that carry an Origin header."""

    def served(environ: dict, start_response: Callable) -> Iterable[bytes]:
        bucket = _bucket_of(environ)
        rules = bucket_rules(bucket) if bucket else None
        if rules is None:  # not a request to a bucket: another service's
            return app(environ, start_response)
        origin = environ.get("HTTP_ORIGIN")
        method = environ.get("REQUEST_METHOD", "")
        if origin and method == "OPTIONS" and "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in environ:
            status, headers, body = preflight(rules, origin, environ["HTTP_ACCESS_CONTROL_REQUEST_METHOD"],
                                              environ.get("HTTP_ACCESS_CONTROL_REQUEST_HEADERS", ""))
            if body:
                headers = [*headers, ("Content-Length", str(len(body)))]
            start_response(status, headers)
            return [body]
        # No Origin, no CORS request: S3 adds nothing (moto's server adds `*` to every answer).
        rule = first_match(rules, origin, method) if origin else None
        cors = [*rule.answer_headers(origin), ("Vary", VARY)] if rule and origin else []

        def with_cors_headers(status: str, headers: list[tuple[str, str]], *exc_info: Any) -> Any:
            # moto's own CORS headers are dropped: these are S3's, from the first matching rule.
            kept = [(name, value) for name, value in headers if not name.lower().startswith(CORS_HEADER_PREFIX)
                    and name.lower() != "vary"]
            return start_response(status, [*kept, *cors], *exc_info)

        return app(environ, with_cors_headers)

    return served
