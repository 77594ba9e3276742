#!/usr/bin/env python3
"""CDK entry point: `npx aws-cdk@2 synth|deploy` runs this (see cdk.json), and so does `make synth`."""

import os

import aws_cdk as cdk

from infra import nag
from infra.stack import BulkIngestStack

app = cdk.App(outdir=os.environ.get("CDK_OUTDIR"))
# cdk-nag's AwsSolutions pack: findings are printed and written to validation-report.json in the
# output; tests/infra/test_nag.py fails on any that is not acknowledged with a reason.
nag.attach_checks(app)
BulkIngestStack(
    app,
    "BulkIngest",
    env=cdk.Environment(account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=os.environ.get("CDK_DEFAULT_REGION")),
)
app.synth()
