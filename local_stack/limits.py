"""AWS's size limits that the local stack enforces, each in one place.

Per-function limits (timeout, ephemeral storage) are not here: they are read from each function's
configuration in the template.
"""

from moto.stepfunctions.parser.quotas import MAX_STATE_SIZE_UTF8_BYTES

# API Gateway REST APIs accept request payloads up to 10 MB.
API_GATEWAY_PAYLOAD_BYTES = 10 * 1024 * 1024
# Lambda: a synchronous invocation's request and its response are each at most 6 MB
# ("Request must be smaller than 6291456 bytes for the InvokeFunction operation").
LAMBDA_PAYLOAD_BYTES = 6 * 1024 * 1024
# Step Functions: a state's input or output, a task's result, at most 256 KiB as UTF-8. moto's
# interpreter enforces it (States.DataLimitExceeded); local_stack/stepfunctions.py makes the error
# terminal, as on AWS.
STATE_PAYLOAD_BYTES = 256 * 1024
if MAX_STATE_SIZE_UTF8_BYTES != STATE_PAYLOAD_BYTES:  # not an assert: checked under `python -O` too
    raise RuntimeError("moto's interpreter changed its state size quota")
