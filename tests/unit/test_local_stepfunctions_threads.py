"""local_stack/stepfunctions.py: moto keeps every execution's and Map iteration's thread in a module
list (TMP_THREADS) it never empties; the local stack drops the ended ones as each execution ends, so a
stack that runs for a day does not keep every thread it ever ran. Executions of Pass states in moto's
own interpreter; the threads of the first run are joined before the second, so which threads have
ended is decided, not raced."""

from __future__ import annotations

import json

import boto3
from moto import mock_aws
from moto.core.config import default_user_config
from moto.stepfunctions.parser.utils import TMP_THREADS

from local_stack import stepfunctions
from tests.support.waiting import wait_until

ITERATIONS = 20
MAP_OF_PASSES = {
    "StartAt": "Each",
    "States": {"Each": {"Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 4, "End": True,
                        "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "Pass",
                                          "States": {"Pass": {"Type": "Pass", "End": True}}}}},
}


def run_to_the_end(client, machine_arn: str, name: str) -> None:
    execution = client.start_execution(stateMachineArn=machine_arn, name=name,
                                       input=json.dumps({"items": list(range(ITERATIONS))}))["executionArn"]
    wait_until(lambda: client.describe_execution(executionArn=execution)["status"] != "RUNNING", f"{name} ended")
    assert client.describe_execution(executionArn=execution)["status"] == "SUCCEEDED"


def test_ended_executions_leave_no_threads_behind_in_motos_list(monkeypatch):
    monkeypatch.setitem(default_user_config, "stepfunctions", {"execute_state_machine": True})
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    stepfunctions.install()
    with mock_aws():
        client = boto3.client("stepfunctions", region_name="us-east-1")
        machine = client.create_state_machine(name="threads", definition=json.dumps(MAP_OF_PASSES),
                                              roleArn="arn:aws:iam::123456789012:role/threads")["stateMachineArn"]
        before = set(TMP_THREADS)
        run_to_the_end(client, machine, "first")
        first_run = [thread for thread in TMP_THREADS if thread not in before]
        assert first_run  # moto ran it in threads of its own, listed there
        for thread in first_run:
            thread.join(timeout=60)
        run_to_the_end(client, machine, "second")  # its end drops whatever has ended
        assert not [thread for thread in TMP_THREADS if thread in first_run], "the first run's threads are kept"
