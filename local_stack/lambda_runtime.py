"""Run our Lambda handlers in-process whenever moto invokes a function.

moto runs Lambda code only in Docker, which we do not have. Every invocation moto makes (S3
notifications, Step Functions tasks, the Invoke API) goes through
`moto.awslambda.models.LambdaFunction._invoke_lambda(self, event) -> (payload, errored, logs)`;
we route that one method to the handler named in the function's configuration, imported from
lambdas/ - the same code the Lambda asset contains. tests/unit/test_lambda_runtime.py fails loudly
if a moto upgrade changes this seam.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
import time
import traceback
import uuid
from pathlib import Path
from typing import Any, Callable

from moto.awslambda import models as lambda_models

LAMBDA_SOURCE = Path(__file__).resolve().parent.parent / "lambdas"
log = logging.getLogger("local_stack.lambda")

# Test-only seam for local_stack/faults.py, empty unless a test injects a fault. Each hook is called
# as hook(function, event) before the handler: raising fails the invocation as a handler exception
# would; returning anything but None replaces the handler's result (the handler does not run).
invoke_hooks: list[Callable[[Any, Any], Any]] = []


class LambdaContext:
    """The attributes of AWS's context object that handlers and Powertools read."""

    def __init__(self, function: Any):
        self.function_name = function.function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = function.function_arn
        self.memory_limit_in_mb = int(function.memory_size)
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function.function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + int(function.timeout)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _handler_for(handler_path: str):
    module_name, _, function_name = handler_path.rpartition(".")
    return getattr(importlib.import_module(module_name), function_name)


def invoke(function: Any, event: Any) -> tuple[str, bool, str]:
    """Run the function's handler on the event; returns moto's (payload, errored, logs)."""
    mismatched = [
        name for name, value in (function.environment_vars or {}).items() if os.environ.get(name) != str(value)
    ]
    if mismatched:
        raise RuntimeError(f"{function.function_name}: environment not applied locally: {', '.join(mismatched)}")
    if isinstance(event, (str, bytes)):
        event = json.loads(event or "{}")
    context = LambdaContext(function)
    started = time.monotonic()
    try:
        # Handler logs go to this process's stdout (Powertools JSON lines), as to CloudWatch in AWS.
        result = next((r for r in (hook(function, event) for hook in list(invoke_hooks)) if r is not None), None)
        if result is None:
            result = _handler_for(function.handler)(event, context)
        payload, errored = json.dumps(result), False
    except Exception as exc:  # the Lambda runtime reports every exception this way
        payload = json.dumps(
            {
                "errorMessage": str(exc),
                "errorType": type(exc).__name__,
                "stackTrace": traceback.format_tb(exc.__traceback__),
            }
        )
        errored = True
    log.debug("%s %s in %.0f ms", function.function_name, "failed" if errored else "ok", (time.monotonic() - started) * 1000)
    return payload, errored, ""


def _patched_invoke_lambda(self, event: Any = None) -> tuple[str, bool, str]:
    return invoke(self, event if event is not None else {})


def install() -> None:
    """Route moto's Lambda invocations to in-process handlers (idempotent)."""
    if str(LAMBDA_SOURCE) not in sys.path:
        sys.path.insert(0, str(LAMBDA_SOURCE))
    original = getattr(lambda_models.LambdaFunction, "_invoke_lambda", None)
    if original is None:
        raise RuntimeError(
            "moto.awslambda.models.LambdaFunction._invoke_lambda is gone: "
            "this moto version changed the seam local_stack/lambda_runtime.py relies on"
        )
    lambda_models.LambdaFunction._invoke_lambda = _patched_invoke_lambda
