"""local_stack/stepfunctions.py: moto parses a state machine's whole definition for every execution
(~120 ms of CPU for our load workflow); the local stack parses each definition text once and lets the
executions of it share the program. Executions in moto's own interpreter: each still gets its own
input's results, runs at once included, and a changed definition is the one the next execution runs."""

from __future__ import annotations

import json
import uuid

import boto3
from moto import mock_aws
from moto.core.config import default_user_config
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

from local_stack import stepfunctions
from tests.support.waiting import wait_until


def _machine(suffix: str) -> dict:
    # A Map whose iterations read the execution's own input: shared parsed states, per-execution values.
    return {
        "Comment": f"definition {uuid.uuid4()}",  # a text no earlier test parsed
        "StartAt": "Each",
        "States": {
            "Each": {"Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 4, "Next": "Done",
                     "ItemSelector": {"item.$": "$$.Map.Item.Value", "owner.$": "$.owner"},
                     "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "Tag",
                                       "States": {"Tag": {"Type": "Pass", "End": True,
                                                          "Parameters": {"value.$": "$.item", "owner.$": "$.owner",
                                                                         "suffix": suffix}}}}},
            "Done": {"Type": "Pass", "End": True},
        },
    }


def _finish(client, execution_arn: str) -> list:
    wait_until(lambda: client.describe_execution(executionArn=execution_arn)["status"] != "RUNNING",
               f"{execution_arn} ended")
    described = client.describe_execution(executionArn=execution_arn)
    assert described["status"] == "SUCCEEDED", described
    return json.loads(described["output"])


def test_executions_share_one_parse_of_their_definition_and_keep_their_own_values(monkeypatch):
    monkeypatch.setitem(default_user_config, "stepfunctions", {"execute_state_machine": True})
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    stepfunctions.install()
    parsed = []
    parse = AmazonStateLanguageParser.parse
    monkeypatch.setattr(AmazonStateLanguageParser, "parse",
                        staticmethod(lambda definition: parsed.append(definition) or parse(definition)))
    with mock_aws():
        client = boto3.client("stepfunctions", region_name="us-east-1")
        first = json.dumps(_machine("first"))
        machine = client.create_state_machine(name="shared", definition=first,
                                              roleArn="arn:aws:iam::123456789012:role/shared")["stateMachineArn"]
        parsed.clear()  # creating it validated (parsed) the definition once
        owners = ["ana", "bo", "cy"]
        started = [client.start_execution(stateMachineArn=machine, name=owner,
                                          input=json.dumps({"owner": owner, "items": [1, 2, 3]}))["executionArn"]
                   for owner in owners]  # running at once
        outputs = [_finish(client, arn) for arn in started]
        assert outputs == [[{"value": n, "owner": owner, "suffix": "first"} for n in (1, 2, 3)] for owner in owners]
        assert parsed == [first]  # the three executions ran one parse of it

        second = json.dumps(_machine("second"))
        client.update_state_machine(stateMachineArn=machine, definition=second)
        parsed.clear()
        changed = client.start_execution(stateMachineArn=machine, name="after-update",
                                         input=json.dumps({"owner": "di", "items": [4]}))["executionArn"]
        assert _finish(client, changed) == [{"value": 4, "owner": "di", "suffix": "second"}]
        assert parsed.count(second) == 1 and first not in parsed
