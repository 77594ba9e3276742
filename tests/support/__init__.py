"""Test support: code the tests share that is part of neither the service nor the local stack.

faults.py  fault injection into the running local stack, through the seams it and the composition
           root offer (lambdas/ingest/handlers/wiring.py `use`, local_stack/lambda_runtime.py's hooks
           and wall clock, the access guard's role statements, the API Gateway's clock)
"""
