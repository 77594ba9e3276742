"""cdk-nag's AwsSolutions pack over the synthesized app: no finding is left unacknowledged, and every
acknowledgement says why, on the resource it concerns (infra/nag.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_s3 as s3

from infra import nag

MIN_REASON_LENGTH = 20
# Rules whose findings name the wildcard or managed policy: they must be acknowledged one by one.
PER_FINDING_RULES = ("AwsSolutions-IAM4", "AwsSolutions-IAM5")


def unacknowledged_findings(assembly: Path) -> list[str]:
    """Every AwsSolutions error and warning that synthesis reported, one line each."""
    report = json.loads((assembly / "validation-report.json").read_text())
    return [
        f"{violation['severity']} {violation['ruleName']} at {construct['constructPath']}: {violation['description']}"
        for plugin in report["pluginReports"]
        if plugin["pluginName"] == nag.PACK
        for violation in plugin["violations"]
        for construct in violation["violatingConstructs"]
    ]


def rule_ids(findings: list[str]) -> set[str]:
    return {finding.split()[1] for finding in findings}


def acknowledgements(template: dict) -> list[tuple[str, str, str]]:
    """(logical id, rule id, reason) of every acknowledgement cdk-nag copied into the template."""
    return [
        (logical_id, rule["id"], rule["reason"])
        for logical_id, resource in template["Resources"].items()
        for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
    ]


def test_the_stack_has_no_unacknowledged_findings(template_path):
    findings = unacknowledged_findings(template_path.parent)
    assert not findings, "cdk-nag AwsSolutions findings (fix, or acknowledge with a reason in infra/):\n" + "\n".join(
        findings)


def test_every_acknowledgement_gives_a_reason(template):
    acknowledged = acknowledgements(template)
    assert acknowledged, "no cdk_nag metadata in the template: is nag.attach_checks(app) still in app.py?"
    vague = [(lid, rule, reason) for lid, rule, reason in acknowledged if len(reason.strip()) < MIN_REASON_LENGTH]
    assert not vague, vague


def test_wildcards_and_managed_policies_are_acknowledged_one_by_one(template):
    # A bare "AwsSolutions-IAM5" would match no finding in cdk-nag 3; "...IAM5[<finding>]" names what is accepted.
    acknowledged = acknowledgements(template)
    bare = [(lid, rule) for lid, rule, _ in acknowledged
            if rule.startswith(PER_FINDING_RULES) and not re.fullmatch(r"AwsSolutions-IAM[45]\[.+\]", rule)]
    assert not bare, bare
    # ...and no acknowledgement accepts a wildcard action or Resource * outright for S3 or DynamoDB.
    too_broad = [(lid, rule) for lid, rule, _ in acknowledged
                 if re.search(r"\[Action::(s3|dynamodb):\*\]|\[Action::\*\]", rule)]
    assert not too_broad, too_broad


def test_resource_star_is_accepted_only_for_roles_with_tracing(template):
    # Resource::* is acknowledged for X-Ray/log delivery; it must not spread to buckets, tables or functions.
    kinds = {template["Resources"][lid]["Type"] for lid, rule, _ in acknowledgements(template)
             if rule == "AwsSolutions-IAM5[Resource::*]"}
    assert kinds <= {"AWS::IAM::Role", "AWS::IAM::Policy"}, kinds


def probe_app(outdir: Path) -> tuple[cdk.App, cdk.Stack]:
    app = cdk.App(outdir=str(outdir))
    nag.attach_checks(app)
    return app, cdk.Stack(app, "NagProbe")


def test_the_checks_report_a_bucket_without_tls_or_logs(tmp_path):
    app, stack = probe_app(tmp_path)
    s3.Bucket(stack, "PlainBucket", encryption=s3.BucketEncryption.UNENCRYPTED, enforce_ssl=False)
    app.synth()

    findings = unacknowledged_findings(tmp_path)
    assert {"AwsSolutions-S1", "AwsSolutions-S10"} <= rule_ids(findings), findings
    assert all("NagProbe/PlainBucket" in finding for finding in findings), findings


def test_an_acknowledgement_hides_only_its_rule(tmp_path):
    app, stack = probe_app(tmp_path)
    bucket = s3.Bucket(stack, "PlainBucket", enforce_ssl=False)
    nag.acknowledge(bucket, "S1", "A probe bucket in a test; nobody reads its access logs.")
    app.synth()

    rules = rule_ids(unacknowledged_findings(tmp_path))
    assert "AwsSolutions-S1" not in rules
    assert "AwsSolutions-S10" in rules
