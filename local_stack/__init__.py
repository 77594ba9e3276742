"""The embedded local stack: the synthesized CloudFormation template deployed onto moto.

One module per emulated piece:
  template.py       reads the template and resolves CloudFormation intrinsic functions
  deployer.py       creates the template's buckets, tables, functions and state machine in moto
  lambda_runtime.py runs our Lambda handlers in-process whenever moto invokes a function, within the
                    function's timeout, /tmp size and payload limits (ephemeral_storage.py, limits.py)
  access_guard.py   checks every AWS call a function makes against its role in the template
                    (iam.py evaluates policies, iam_requests.py maps calls to IAM actions)
  moto_server.py    moto's server, adapted so an S3 PUT stores the bytes sent whatever its Content-Type,
                    behind the checks AWS makes at its door (presigned URLs, Invoke size)
  dynamodb.py       serializes moto's DynamoDB requests (per-item atomicity, as on AWS)
  stepfunctions.py  where moto's Step Functions interpreter must behave as AWS does
  api_gateway/      a local REST API Gateway that routes the template's API to the handlers, one
                    module per part: definition (what the template declares), usage_plans (API keys
                    and throttling), authorizers (REQUEST authorizers and their cache), proxy (proxy
                    events and responses, payload limits), server (HTTP), clock
  stack.py          starts and stops the whole thing; __main__.py is `make run`

Fault injection is test support (tests/support/faults.py), not part of the local stack: it works
through the seams named here - lambda_runtime's invoke hooks and wall clock, the access guard's role
statements, api_gateway.clock - and the composition root's (lambdas/ingest/handlers/wiring.py `use`).
"""
