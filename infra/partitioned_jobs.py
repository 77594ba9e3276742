"""The shape the Clear Data and Revert workflows share: Plan<X> -> <X>Partitions (a Map of
<X>Partition) -> Finish<X>, each caught into <X>Failed, which settles the job and ends in <X>JobFailed.

One place for what both state machines must get right: which steps retry what (infra/retries.py),
that every state's failure settles the job, and logging without execution data (it can hold record
keys). State and construct ids are built from the job's name, so the template keeps the ids it had.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_cdk import RemovalPolicy
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra import nag
from infra.retries import lambda_task, wait_for_the_dataset


@dataclass(frozen=True)
class PartitionedJobFunctions:
    plan: lambda_.Function
    partition: lambda_.Function
    finish: lambda_.Function
    failed: lambda_.Function

    def all(self) -> tuple[lambda_.Function, ...]:
        return self.plan, self.partition, self.finish, self.failed


def partitioned_job_state_machine(scope: Construct, name: str, functions: PartitionedJobFunctions, *,
                                  job_selector: dict[str, Any], max_concurrency: int,
                                  plan_waits_for_the_dataset: bool = False) -> sfn.StateMachine:
    """The state machine `<name>Workflow`. Plan answers `{..job fields, "partitions": [...]}`; each
    partition's iteration gets `{"job": job_selector, "partition": <item>}`.

    Plan and Finish are a few reads and writes in a minute: a timeout is worth one cheap retry. A
    timed-out partition is not retried: a second run would count only what it did itself, so the
    job's figures would be short. The job fails instead and the user asks again.
    """
    failed = sfn.Fail(scope, f"{name}JobFailed", cause="see the job's failure_reason", error=f"{name}Failed")
    mark_failed = lambda_task(scope, f"{name}Failed", functions.failed, step_failed=False, settles_failure=True)
    mark_failed.next(failed)
    plan = lambda_task(scope, f"Plan{name}", functions.plan, step_failed=False, timeout=True)
    if plan_waits_for_the_dataset:
        wait_for_the_dataset(plan)
    partitions = sfn.Map(
        scope,
        f"{name}Partitions",
        items_path="$.partitions",
        item_selector={"job": job_selector, "partition": sfn.JsonPath.object_at("$$.Map.Item.Value")},
        max_concurrency=max_concurrency,
        result_path="$.results",
    )
    partitions.item_processor(lambda_task(scope, f"{name}Partition", functions.partition, step_failed=False))
    finish = lambda_task(scope, f"Finish{name}", functions.finish, step_failed=False, timeout=True)
    for state in (plan, partitions, finish):
        state.add_catch(mark_failed, errors=["States.ALL"], result_path="$.error")

    state_machine = sfn.StateMachine(
        scope,
        f"{name}Workflow",
        state_machine_type=sfn.StateMachineType.STANDARD,
        definition_body=sfn.DefinitionBody.from_chainable(
            plan.next(partitions).next(finish).next(sfn.Succeed(scope, f"{name}Completed"))
        ),
        tracing_enabled=True,
        logs=sfn.LogOptions(
            destination=logs.LogGroup(
                scope, f"{name}WorkflowLogs", retention=logs.RetentionDays.ONE_MONTH,
                removal_policy=RemovalPolicy.DESTROY,
            ),
            level=sfn.LogLevel.ERROR,
            include_execution_data=False,  # execution data can hold record keys
        ),
    )
    nag.acknowledge_state_machine(state_machine, functions.all())
    return state_machine
