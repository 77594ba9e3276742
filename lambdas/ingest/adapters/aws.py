"""boto3 clients created once per process (Lambda reuses them across invocations).

Endpoints come from boto3's own configuration (AWS_ENDPOINT_URL locally), never from our code.
"""

from functools import cache
from urllib.parse import urlsplit

import boto3
from botocore.config import Config

from ingest.adapters.dynamodb_wire import DynamoDBWire

_RETRIES = Config(retries={"mode": "adaptive", "max_attempts": 8}, signature_version="s3v4")
# S3 on AWS: the bucket's regional virtual-hosted endpoint, https://<bucket>.s3.<region>.amazonaws.com,
# in every region, us-east-1 included. botocore's default presigns URLs for the global host
# <bucket>.s3.amazonaws.com: a bucket outside us-east-1 answers it with a 307 redirect for hours after
# it is made, and SigV4 signs the host, so the redirected PUT fails; opt-in regions (ap-east-1,
# me-south-1, ...) do not answer it at all. Presigned URLs are the clients' only way in, so they must
# name the host the bucket answers on.
_S3_REGIONAL_VIRTUAL_HOSTS = Config(s3={"addressing_style": "virtual", "us_east_1_regional_endpoint": "regional"})
AWS_DOMAINS = (".amazonaws.com", ".amazonaws.com.cn")


@cache
def client(service: str):
    return new_client(service)


def new_client(service: str):
    """A client as boto3's configuration says (region, endpoint), with our retries; for S3 on AWS, the
    regional virtual-hosted endpoint. Any other endpoint - the local stack's AWS_ENDPOINT_URL - keeps
    botocore's addressing (path style: http://127.0.0.1:<port>/<bucket>/<key>)."""
    if service != "s3":
        return boto3.client(service, config=_RETRIES)
    s3 = boto3.client(service, config=_RETRIES.merge(_S3_REGIONAL_VIRTUAL_HOSTS))
    return s3 if is_aws_endpoint(s3.meta.endpoint_url) else boto3.client(service, config=_RETRIES)


def is_aws_endpoint(endpoint_url: str) -> bool:
    return (urlsplit(endpoint_url).hostname or "").endswith(AWS_DOMAINS)


@cache
def table(name: str):
    return boto3.resource("dynamodb", config=_RETRIES).Table(name)


@cache
def dynamodb_wire(max_connections: int) -> DynamoDBWire:
    """A DynamoDB sender without botocore's per-call machinery (adapters/dynamodb_wire.py), to where
    client("dynamodb") sends, with this process's credentials (the chain boto3 reads: Lambda's
    environment, refreshed by botocore when they are refreshable), `max_connections` kept open."""
    return DynamoDBWire.from_client(client("dynamodb"), boto3.session.Session().get_credentials(),
                                    max_connections=max_connections)
