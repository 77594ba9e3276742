"""Powertools logger, tracer and metrics shared by every function.

Never log events, request bodies, record contents or tokens: ids and counts only.
"""

import warnings

from aws_lambda_powertools import Logger, Metrics, Tracer

# Read-only routes publish no metric; that is expected, not worth a warning per request.
warnings.filterwarnings("ignore", message="No application metrics to publish")

SERVICE = "bulk-ingest"
logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace="BulkIngest", service=SERVICE)
