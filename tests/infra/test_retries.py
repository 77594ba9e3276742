"""What each task of both state machines retries, and where its failures go (docs/decision_log.md,
2026-11-30, "What the workflows retry").

Error names are the ones AWS reports for a Lambda task (lambda:invoke integration): the five transient
Lambda service errors, Sandbox.Timedout for a function that reached its timeout, Lambda.Unknown for one
that died (never retried). The policy is written out here in full, not imported, so a change to
infra/retries.py has to be made twice on purpose.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

LAMBDA_SERVICE_ERRORS = ["Lambda.ClientExecutionTimeoutException", "Lambda.ServiceException",
                         "Lambda.AWSLambdaException", "Lambda.SdkClientException", "Lambda.TooManyRequestsException"]
SERVICE = {"ErrorEquals": LAMBDA_SERVICE_ERRORS, "IntervalSeconds": 2, "MaxAttempts": 6, "BackoffRate": 2,
           "JitterStrategy": "FULL"}
STEP_FAILED = {"ErrorEquals": ["StepFailedError"], "IntervalSeconds": 2, "MaxAttempts": 2, "BackoffRate": 2}
TIMED_OUT_ONCE = {"ErrorEquals": ["Sandbox.Timedout"], "IntervalSeconds": 5, "MaxAttempts": 1, "BackoffRate": 1}
ANYTHING_THRICE = {"ErrorEquals": ["States.ALL"], "IntervalSeconds": 2, "MaxAttempts": 3, "BackoffRate": 2}
DATASET_BUSY = {"ErrorEquals": ["DatasetBusyError"], "IntervalSeconds": 1, "MaxAttempts": 400, "BackoffRate": 1.5,
                "MaxDelaySeconds": 20, "JitterStrategy": "FULL"}

# state -> (its retriers in order, the state its Catch goes to; None: no Catch of its own)
LOAD_WORKFLOW = {
    "Inspect": ([SERVICE, STEP_FAILED, TIMED_OUT_ONCE, DATASET_BUSY], "MarkFailed"),
    # Map iterations are idempotent (each rewrites its own work files); their Map catches.
    "ScanRange": ([SERVICE, STEP_FAILED, TIMED_OUT_ONCE], None),
    "SplitRange": ([SERVICE, STEP_FAILED, TIMED_OUT_ONCE], None),
    "LoadPartition": ([SERVICE, STEP_FAILED, TIMED_OUT_ONCE], None),
    "PlanSplit": ([SERVICE, STEP_FAILED, TIMED_OUT_ONCE], "MarkFailed"),
    # One bounded link of the chain from its cursor: a timeout is worth one more try.
    "Decompress": ([SERVICE, STEP_FAILED, TIMED_OUT_ONCE], "MarkFailed"),
    "InflateMemberGroup": ([SERVICE, STEP_FAILED, TIMED_OUT_ONCE], None),
    "JoinMembers": ([SERVICE, STEP_FAILED, TIMED_OUT_ONCE], "MarkFailed"),
    "InflateMembers": ([], "MarkFailed"),
    "PlanLoad": ([SERVICE, STEP_FAILED, TIMED_OUT_ONCE], "MarkFailed"),
    "Finalize": ([SERVICE, STEP_FAILED, TIMED_OUT_ONCE], "MarkFailed"),  # idempotent
    "MarkFailed": ([SERVICE, ANYTHING_THRICE], None),  # the last word on a job: retries anything
    "Scan": ([], "MarkFailed"),
    "Split": ([], "MarkFailed"),
    "Load": ([], "MarkFailed"),
}
CLEAR_WORKFLOW = {
    "PlanClear": ([SERVICE, TIMED_OUT_ONCE], "ClearFailed"),
    "ClearPartition": ([SERVICE], None),  # a retry would undercount "removed"; the user clears again
    "FinishClear": ([SERVICE, TIMED_OUT_ONCE], "ClearFailed"),
    "ClearFailed": ([SERVICE, ANYTHING_THRICE], None),
    "ClearPartitions": ([], "ClearFailed"),
}

REVERT_WORKFLOW = {
    "PlanRevert": ([SERVICE, TIMED_OUT_ONCE, DATASET_BUSY], "RevertFailed"),  # waits for the dataset's hold
    "RevertPartition": ([SERVICE], None),  # a retry would count what it put back as kept; the user asks again
    "FinishRevert": ([SERVICE, TIMED_OUT_ONCE], "RevertFailed"),
    "RevertFailed": ([SERVICE, ANYTHING_THRICE], None),
    "RevertPartitions": ([], "RevertFailed"),
}


def definition(template: dict, output: str) -> dict:
    """The state machine named by a stack output, its definition parsed (intrinsics as "<?>")."""
    target = template["Outputs"][output]["Value"]["Ref"]
    body = template["Resources"][target]["Properties"]["DefinitionString"]
    if isinstance(body, str):
        return json.loads(body)
    separator, parts = body["Fn::Join"]
    return json.loads(separator.join(part if isinstance(part, str) else "<?>" for part in parts))


def states_of(machine: dict) -> dict[str, dict]:
    """Every state, those inside Map item processors included."""
    found: dict[str, dict] = {}
    for name, state in machine["States"].items():
        found[name] = state
        if state["Type"] == "Map":
            found.update(states_of(state["ItemProcessor"]))
    return found


@pytest.fixture(scope="module")
def machines(template) -> dict[str, dict[str, dict]]:
    return {"StateMachineArn": states_of(definition(template, "StateMachineArn")),
            "ClearStateMachineArn": states_of(definition(template, "ClearStateMachineArn")),
            "RevertStateMachineArn": states_of(definition(template, "RevertStateMachineArn"))}


POLICIES = {"StateMachineArn": LOAD_WORKFLOW, "ClearStateMachineArn": CLEAR_WORKFLOW,
            "RevertStateMachineArn": REVERT_WORKFLOW}


@pytest.mark.parametrize("machine", sorted(POLICIES))
def test_every_task_and_map_is_in_the_policy(machines, machine):
    retried = {name for name, state in machines[machine].items() if state["Type"] in ("Task", "Map")}
    assert retried == set(POLICIES[machine])


@pytest.mark.parametrize("machine, state", [(m, s) for m, policy in sorted(POLICIES.items()) for s in policy])
def test_each_state_retries_and_catches_as_decided(machines, machine, state):
    retriers, catch_to = POLICIES[machine][state]
    found = machines[machine][state]
    assert found.get("Retry", []) == retriers
    expected_catch = [] if catch_to is None else [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error",
                                                   "Next": catch_to}]
    assert found.get("Catch", []) == expected_catch


def all_retriers(machines) -> list[tuple[str, list[dict[str, Any]]]]:
    return [(name, state.get("Retry", [])) for states in machines.values() for name, state in states.items()]


def test_no_error_is_listed_twice_in_one_states_retriers(machines):
    for name, retriers in all_retriers(machines):
        errors = [error for retrier in retriers for error in retrier["ErrorEquals"]]
        assert len(errors) == len(set(errors)), f"{name}: {errors}"


def test_only_errors_that_can_happen_and_may_pass_are_retried(machines):
    for name, retriers in all_retriers(machines):
        errors = {error for retrier in retriers for error in retrier["ErrorEquals"]}
        # No task sets TimeoutSeconds, so States.Timeout cannot happen; Lambda.Unknown (out of memory, a
        # crash) would happen again on the same input.
        assert not errors & {"States.Timeout", "Lambda.Unknown"}, name
        if "States.ALL" in errors:
            assert retriers[-1]["ErrorEquals"] == ["States.ALL"], f"{name}: States.ALL must be alone and last"


def test_infra_and_failure_reason_know_the_same_lambda_errors():
    from infra import retries
    from ingest.logic.load import failure as pipeline

    assert set(retries.LAMBDA_SERVICE_ERRORS) == pipeline.LAMBDA_SERVICE_ERRORS == set(LAMBDA_SERVICE_ERRORS)
    assert retries.LAMBDA_TIMEOUT == pipeline.LAMBDA_TIMEOUT == "Sandbox.Timedout"
    assert retries.LAMBDA_UNKNOWN == pipeline.LAMBDA_UNKNOWN == "Lambda.Unknown"
