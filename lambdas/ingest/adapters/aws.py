"""boto3 clients created once per process (Lambda reuses them across invocations).

Endpoints come from boto3's own configuration (AWS_ENDPOINT_URL locally), never from our code.
"""

from functools import lru_cache

import boto3
from botocore.config import Config

_RETRIES = Config(retries={"mode": "adaptive", "max_attempts": 8}, signature_version="s3v4")


@lru_cache(maxsize=None)
def client(service: str):
    return boto3.client(service, config=_RETRIES)


@lru_cache(maxsize=None)
def table(name: str):
    return boto3.resource("dynamodb", config=_RETRIES).Table(name)
