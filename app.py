#!/usr/bin/env python3
"""CDK entry point: `npx aws-cdk@2 synth|deploy` runs this (see cdk.json), and so does `make synth`."""

import os
import sys

import aws_cdk as cdk

# infra/ builds each function's environment from its handler's settings class (ingest.config, standard
# library only); `ingest` is importable here as in Lambda because the venv installs it (pyproject.toml).
from infra import nag
from infra.config import ConfigError, DeploymentConfig
from infra.stack import BulkIngestStack

app = cdk.App(outdir=os.environ.get("CDK_OUTDIR"))
# cdk-nag's AwsSolutions pack: findings are printed and written to validation-report.json in the
# output; tests/infra/test_nag.py fails on any that is not acknowledged with a reason.
nag.attach_checks(app)
try:
    # Every context value (-c key=value, cdk.json, CDK_CONTEXT_JSON), read and checked once: infra/config.py.
    config = DeploymentConfig.from_context(app.node)
except ConfigError as exc:
    sys.exit(f"synthesis stopped: {exc}")
BulkIngestStack(
    app,
    "BulkIngest",
    config=config,
    env=cdk.Environment(account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=os.environ.get("CDK_DEFAULT_REGION")),
)
app.synth()
