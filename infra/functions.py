"""One way to declare a Python Lambda: arm64, Python 3.13, Powertools settings, bounded log retention.

A function's own environment is its handler's settings class (lambdas/ingest/config.py), built by the
construct from its resources: `settings.environment()` sets exactly the variables the handler reads.
"""

from __future__ import annotations

import functools

from aws_cdk import Duration, RemovalPolicy, Size
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra import nag
from infra.lambda_bundle import PYTHON_VERSION, build_lambda_bundle
from ingest.config import Settings

# The Python the test suite runs on (the Makefile makes the venv with 3.13), so what is tested is what
# runs; the asset's wheels are built for the same one. Not the newest Lambda offers: cdk-nag's
# AwsSolutions-L1 is acknowledged with that reason (infra/nag.py acknowledge_lambda_basics).
RUNTIME = lambda_.Runtime.PYTHON_3_13
assert RUNTIME.name == f"python{PYTHON_VERSION}", (RUNTIME.name, PYTHON_VERSION)
# Powertools' tracer records every traced response and error as X-Ray metadata unless told not to.
TRACER_NO_CAPTURE = {"POWERTOOLS_TRACER_CAPTURE_RESPONSE": "false", "POWERTOOLS_TRACER_CAPTURE_ERROR": "false"}
# Powertools' own variables, the same on every function; the rest of an environment is its settings.
POWERTOOLS_ENVIRONMENT = {
    "POWERTOOLS_SERVICE_NAME": "bulk-ingest",
    "POWERTOOLS_METRICS_NAMESPACE": "BulkIngest",
    "POWERTOOLS_LOG_LEVEL": "INFO",
}


@functools.cache
def lambda_code() -> lambda_.Code:
    """The shared asset: built once per synthesis, identical for every function."""
    return lambda_.Code.from_asset(str(build_lambda_bundle()))


def python_function(
    scope: Construct,
    construct_id: str,
    *,
    handler: str,
    description: str,
    settings: Settings,
    timeout: Duration = Duration.seconds(30),
    memory_size: int = 512,
    ephemeral_storage_mib: int = 512,
) -> lambda_.Function:
    variables = settings.environment()
    assert not variables.keys() & {*POWERTOOLS_ENVIRONMENT, *TRACER_NO_CAPTURE}, "Powertools' names are its own"
    log_group = logs.LogGroup(
        scope,
        f"{construct_id}Logs",
        retention=logs.RetentionDays.ONE_MONTH,
        removal_policy=RemovalPolicy.DESTROY,
    )
    function = lambda_.Function(
        scope,
        construct_id,
        runtime=RUNTIME,
        architecture=lambda_.Architecture.ARM_64,
        handler=handler,
        code=lambda_code(),
        description=description,
        timeout=timeout,
        memory_size=memory_size,
        ephemeral_storage_size=Size.mebibytes(ephemeral_storage_mib),
        tracing=lambda_.Tracing.ACTIVE,
        log_group=log_group,
        environment={
            **POWERTOOLS_ENVIRONMENT,
            **variables,
            # Last, so no function can turn them back on: responses hold tokens, secrets, presigned URLs
            # and records, which must never reach a trace (the handlers' `traced` says the same).
            **TRACER_NO_CAPTURE,
        },
    )
    nag.acknowledge_lambda_basics(function)
    return function

