"""Presigned URLs name the bucket's regional virtual-hosted endpoint in every region (offline).

The S3 client is made as the Lambda functions make it (ingest.adapters.aws, region from the
environment as Lambda sets it); botocore signs locally, so no request leaves the machine. Each URL is
checked by an independent SigV4 verification: the signature must match for the URL's own host, and
not for another, so it is the regional host that is signed.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import parse_qsl, quote, urlsplit

import boto3
import pytest

from ingest.adapters import aws
from ingest.adapters.object_store import ObjectStore

BUCKET = "bulkingest-storageuploadsbucket-1a2b3c4d5e6f"  # a CloudFormation-made name
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
UPLOAD_KEY = "uploads/acct-1/01J0000000000000000000UPLD/customer record 1.ndjson"
ERROR_LOG_KEY = "results/acct-1/01J0000000000000000000UPLD/errors.ndjson"
# ap-southeast-2: a bucket made there answers the global host with a 307 for hours; ap-east-1 and
# me-south-1: opt-in regions, which do not answer the global host at all.
REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2", "ap-east-1", "me-south-1"]


@pytest.fixture
def lambda_environment(monkeypatch):
    """What the S3 client sees in a Lambda function on AWS: credentials and region, no endpoint."""
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_S3_US_EAST_1_REGIONAL_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    # A cold start: no cached client, and a fresh default session (one made earlier in this process,
    # e.g. by the local stack, keeps the credentials it resolved first).
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    aws.client.cache_clear()
    yield monkeypatch
    aws.client.cache_clear()


def store_in(environment, region: str) -> ObjectStore:
    environment.setenv("AWS_REGION", region)
    environment.setenv("AWS_DEFAULT_REGION", region)
    environment.setattr(boto3, "DEFAULT_SESSION", None)
    aws.client.cache_clear()
    return ObjectStore(aws.client("s3"), BUCKET)


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def sigv4_signature(method: str, url: str, host: str, headers: dict[str, str]) -> str:
    """The SigV4 query-string signature of `url` as if sent to `host` (AWS's documented algorithm)."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    query.pop("X-Amz-Signature")
    signed = query["X-Amz-SignedHeaders"].split(";")
    values = {"host": host, **{name.lower(): value for name, value in headers.items()}}
    canonical_query = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(query.items()))
    canonical_headers = "".join(f"{name}:{values[name]}\n" for name in signed)
    canonical_request = "\n".join(
        [method, parts.path, canonical_query, canonical_headers, ";".join(signed), "UNSIGNED-PAYLOAD"])
    _, date, region, service, terminator = query["X-Amz-Credential"].split("/")
    scope = f"{date}/{region}/{service}/{terminator}"
    string_to_sign = "\n".join(["AWS4-HMAC-SHA256", query["X-Amz-Date"], scope,
                                hashlib.sha256(canonical_request.encode()).hexdigest()])
    key = b"AWS4" + SECRET.encode()
    for piece in (date, region, service, terminator):
        key = _hmac(key, piece)
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


def assert_signed_for_the_regional_host(url: str, method: str, region: str, headers: dict[str, str]) -> None:
    parts = urlsplit(url)
    regional_host = f"{BUCKET}.s3.{region}.amazonaws.com"
    assert (parts.scheme, parts.netloc) == ("https", regional_host), url
    query = dict(parse_qsl(parts.query))
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert query["X-Amz-Credential"].split("/")[2:] == [region, "s3", "aws4_request"]
    assert "host" in query["X-Amz-SignedHeaders"].split(";")
    assert sigv4_signature(method, url, regional_host, headers) == query["X-Amz-Signature"]
    # The host is part of what is signed: the same URL sent to another host does not verify.
    for other in (f"{BUCKET}.s3.amazonaws.com", f"s3.{region}.amazonaws.com"):
        assert sigv4_signature(method, url, other, headers) != query["X-Amz-Signature"], other


@pytest.mark.parametrize("region", REGIONS)
def test_presigned_put_names_the_regional_virtual_host_and_signs_it(lambda_environment, region):
    url = store_in(lambda_environment, region).presigned_put(UPLOAD_KEY, 3600, content_length=1234)
    assert urlsplit(url).path == "/" + quote(UPLOAD_KEY)
    assert_signed_for_the_regional_host(url, "PUT", region, {"content-length": "1234"})


@pytest.mark.parametrize("region", REGIONS)
def test_presigned_get_names_the_regional_virtual_host_and_signs_it(lambda_environment, region):
    url = store_in(lambda_environment, region).presigned_get(ERROR_LOG_KEY, 3600)
    assert urlsplit(url).path == "/" + ERROR_LOG_KEY
    assert_signed_for_the_regional_host(url, "GET", region, {})


@pytest.mark.parametrize("endpoint", ["http://127.0.0.1:4566", "http://localhost:4566"])
def test_with_a_local_endpoint_urls_point_at_it_path_style(lambda_environment, endpoint):
    lambda_environment.setenv("AWS_ENDPOINT_URL", endpoint)
    store = store_in(lambda_environment, "ap-southeast-2")
    for url in (store.presigned_put(UPLOAD_KEY, 60), store.presigned_get(ERROR_LOG_KEY, 60)):
        assert url.startswith(f"{endpoint}/{BUCKET}/"), url


def test_the_verifier_accepts_what_it_should_and_nothing_else(lambda_environment):
    """The check above is only as good as sigv4_signature: a tampered URL must fail it."""
    url = store_in(lambda_environment, "ap-east-1").presigned_put(UPLOAD_KEY, 3600, content_length=10)
    host = f"{BUCKET}.s3.ap-east-1.amazonaws.com"
    signature = dict(parse_qsl(urlsplit(url).query))["X-Amz-Signature"]
    assert sigv4_signature("PUT", url, host, {"content-length": "10"}) == signature
    assert sigv4_signature("PUT", url, host, {"content-length": "11"}) != signature
    assert sigv4_signature("GET", url, host, {"content-length": "10"}) != signature
    assert sigv4_signature("PUT", url.replace("X-Amz-Expires=3600", "X-Amz-Expires=7200"), host,
                           {"content-length": "10"}) != signature
