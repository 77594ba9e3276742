"""The embedded local stack: the synthesized CloudFormation template deployed onto moto.

One module per emulated piece:
  template.py       reads the template and resolves CloudFormation intrinsic functions
  deployer.py       creates the template's buckets, tables, functions and state machine in moto
  lambda_runtime.py runs our Lambda handlers in-process whenever moto invokes a function
  moto_server.py    moto's server, adapted so an S3 PUT stores the bytes sent whatever its Content-Type
  api_gateway.py    a local REST API Gateway that routes the template's API to the handlers
  stack.py          starts and stops the whole thing; __main__.py is `make run`
"""
