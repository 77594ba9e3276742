"""Powertools logger, tracer and metrics shared by every function.

Never log events, request bodies, record contents or tokens: ids and counts only.
"""

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = "bulk-ingest"
logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace="BulkIngest", service=SERVICE)
