"""cfn-lint over the session's synthesized template, state-machine definitions included: no error, no
warning; the rules we suppress are in .cfnlintrc.yaml, each with why.

CDK writes a state machine's definition as an Fn::Join of text and references (function ARNs, the
bucket), which cfn-lint does not read; here every reference is replaced by a value of its kind, so the
definition is a plain JSON string that cfn-lint checks against the States language (E3601).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / ".cfnlintrc.yaml"
CFN_LINT = Path(sys.executable).with_name("cfn-lint")
ACCOUNT, REGION = "123456789012", "us-east-1"


def rendered(template: dict, reference: dict) -> str:
    """A reference inside a definition as the value it stands for; any other kind fails the test."""
    if reference == {"Ref": "AWS::Partition"}:
        return "aws"
    target = reference.get("Ref") or reference.get("Fn::GetAtt", [None])[0]
    kind = template["Resources"].get(target, {}).get("Type")
    if "Fn::GetAtt" in reference and reference["Fn::GetAtt"][1] == "Arn" and kind == "AWS::Lambda::Function":
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{target}"
    if "Ref" in reference and kind == "AWS::S3::Bucket":
        return target.lower()
    raise AssertionError(f"no stand-in for {reference} in a state machine definition")


def with_plain_definitions(template: dict) -> dict:
    copy = json.loads(json.dumps(template))
    machines = [resource for resource in copy["Resources"].values()
                if resource["Type"] == "AWS::StepFunctions::StateMachine"]
    assert len(machines) == 3  # load, clear, revert
    for machine in machines:
        body = machine["Properties"]["DefinitionString"]
        if isinstance(body, dict):
            separator, parts = body["Fn::Join"]
            text = separator.join(part if isinstance(part, str) else rendered(template, part) for part in parts)
            json.loads(text)
            machine["Properties"]["DefinitionString"] = text
    return copy


def cfn_lint(*paths: Path) -> list[str]:
    result = subprocess.run([str(CFN_LINT), "--config-file", str(CONFIG), "--format", "parseable",
                             "--", *map(str, paths)],
                            cwd=ROOT, check=False, capture_output=True, text=True)
    assert result.returncode in (0, 2, 4, 6, 8, 10, 12, 14), result.stderr  # bit 1 = cfn-lint itself failed
    return result.stdout.splitlines()


@pytest.fixture(scope="module")
def findings(template, tmp_path_factory) -> dict[str, list[str]]:
    """One cfn-lint run over the template and over a copy with a broken definition (the check's check)."""
    directory = tmp_path_factory.mktemp("cfn-lint")
    linted = with_plain_definitions(template)
    (directory / "template.json").write_text(json.dumps(linted, indent=1))
    broken = json.loads(json.dumps(linted))
    for resource in broken["Resources"].values():
        if resource["Type"] == "AWS::StepFunctions::StateMachine":
            definition = json.loads(resource["Properties"]["DefinitionString"])
            first = definition["States"][definition["StartAt"]]
            first["Retries"] = first.pop("Retry")
            resource["Properties"]["DefinitionString"] = json.dumps(definition)
    (directory / "broken.json").write_text(json.dumps(broken, indent=1))
    lines = cfn_lint(directory / "template.json", directory / "broken.json")
    return {name: [line for line in lines if line.startswith(str(directory / name))]
            for name in ("template.json", "broken.json")}


def test_the_template_has_no_cfn_lint_error_or_warning(findings):
    assert findings["template.json"] == []


def test_cfn_lint_does_check_the_state_machine_definitions(findings):
    rules = [line.split(":")[5] for line in findings["broken.json"]]
    assert rules.count("E3601") == 3, findings["broken.json"]  # one per state machine (load, clear, revert)


def test_every_suppressed_rule_says_why():
    config = yaml.safe_load(CONFIG.read_text())
    suppressed = config.get("ignore_checks", [])
    lines = CONFIG.read_text().splitlines()
    for rule in suppressed:
        (line,) = [line for line in lines if re.match(rf"\s*-\s*{rule}\b", line)]
        reason = line.partition("#")[2].strip()
        assert len(reason) >= 40, f"{rule}: say why it is suppressed"
