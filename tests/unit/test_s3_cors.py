"""S3's CORS rule matching on the local stack (local_stack/s3_cors.py): first matching rule, wildcards,
headers case-insensitively, 403 when nothing matches. Over HTTP: tests/e2e/test_browser_upload.py."""

from __future__ import annotations

from local_stack.s3_cors import CorsRule, first_match, preflight

UPLOADS = CorsRule(allowed_origins=("https://app.example.com", "http://127.0.0.1:*"), allowed_methods=("PUT", "GET"),
                   allowed_headers=("content-type",), exposed_headers=("ETag",), max_age_seconds=3000)
READ_ANYWHERE = CorsRule(allowed_origins=("*",), allowed_methods=("GET",))


def test_an_origin_matches_exactly_or_through_its_one_wildcard():
    assert UPLOADS.allows("https://app.example.com", "PUT")
    assert UPLOADS.allows("http://127.0.0.1:40123", "PUT")
    assert not UPLOADS.allows("https://app.example.com.evil.test", "PUT")
    assert not UPLOADS.allows("http://localhost:40123", "PUT")
    assert not UPLOADS.allows("https://app.example.com", "DELETE")


def test_requested_headers_must_all_be_allowed_whatever_their_case():
    assert UPLOADS.allows("https://app.example.com", "PUT", ["Content-Type"])
    assert not UPLOADS.allows("https://app.example.com", "PUT", ["content-type", "x-amz-meta-owner"])


def test_the_first_rule_that_matches_wins_not_the_last():
    rules = [READ_ANYWHERE, UPLOADS]
    assert first_match(rules, "https://app.example.com", "GET") is READ_ANYWHERE
    assert first_match(rules, "https://app.example.com", "PUT") is UPLOADS
    assert first_match(rules, "https://other.example.com", "PUT") is None


def test_a_preflight_is_answered_with_the_rule_or_refused():
    status, headers, body = preflight([UPLOADS], "http://127.0.0.1:5000", "PUT", "content-type")
    answer = dict(headers)
    assert status == "200 OK" and body == b""
    assert answer["Access-Control-Allow-Origin"] == "http://127.0.0.1:5000"
    assert answer["Access-Control-Allow-Methods"] == "PUT, GET"
    assert answer["Access-Control-Allow-Headers"] == "content-type"
    assert answer["Access-Control-Expose-Headers"] == "ETag" and answer["Access-Control-Max-Age"] == "3000"

    status, headers, body = preflight([UPLOADS], "http://127.0.0.1:5000", "POST", "")
    assert status == "403 Forbidden" and b"<Code>AccessForbidden</Code>" in body
    assert not any(name.startswith("Access-Control-") for name, _ in headers)


def test_a_bucket_without_rules_refuses_every_preflight():
    status, _, body = preflight([], "https://app.example.com", "GET", "")
    assert status == "403 Forbidden" and b"CORS is not enabled for this bucket" in body


def test_a_rule_of_any_origin_answers_with_a_star():
    (origin,) = [value for name, value in READ_ANYWHERE.answer_headers("https://x.example.com")
                 if name == "Access-Control-Allow-Origin"]
    assert origin == "*"
