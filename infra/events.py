"""Job events: the functions that change a job's status may publish to the account's default bus.

Only events:PutEvents, only on the default bus (lambdas/ingest/adapters/events.py publishes there;
logic/job_events.py says what). The functions are those whose jobs table announces changes
(handlers/wiring.py _announcing_jobs): the API (creates upload and clear jobs), the load workflow's
Inspect, CheckErrorBudget, Finalize and MarkFailed, and the clear workflow's PlanClear, FinishClear and
ClearFailed.
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_


def default_bus_arn(stack: Stack) -> str:
    return f"arn:{stack.partition}:events:{stack.region}:{stack.account}:event-bus/default"


def grant_job_events(*functions: lambda_.IFunction) -> None:
    for function in functions:
        function.add_to_role_policy(iam.PolicyStatement(
            actions=["events:PutEvents"], resources=[default_bus_arn(Stack.of(function))]))
