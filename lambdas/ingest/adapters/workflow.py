"""Starting the load workflow in Step Functions."""

from __future__ import annotations

import json

from botocore.exceptions import ClientError

from ingest.adapters.aws_errors import translated


class ExecutionAlreadyStartedError(Exception):
    pass


@translated
class WorkflowStarter:
    def __init__(self, sfn_client, state_machine_arn: str):
        self._sfn = sfn_client
        self._arn = state_machine_arn

    def execution_arn(self, name: str) -> str:
        return self._arn.replace(":stateMachine:", ":execution:") + ":" + name

    def start(self, name: str, payload: dict) -> str:
        """Start one execution named `name`; a second start with the same name is refused by Step Functions."""
        try:
            return self._sfn.start_execution(stateMachineArn=self._arn, name=name, input=json.dumps(payload))[
                "executionArn"
            ]
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ExecutionAlreadyExists":
                raise ExecutionAlreadyStartedError(name) from exc
            raise
