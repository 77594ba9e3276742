"""`make bench-scale` (python -m benchmarks.scale): the load workflow's steps at scale.

  figures.py   every AWS figure and price the model uses, with its source
  dynamodb.py  the DynamoDB write model (write units, partition and table limits, call latency) and a
               boto3-shaped client over it that the real RecordStore writes through
  s3.py        a boto3-shaped S3 client over files (GB-sized objects, streamed), counting requests
  limits.py    each step's Lambda limits from the synthesized template
  generate.py  generated upload files (NDJSON customer records, plain and gzip), streamed to disk
  run.py       runs one job's real steps, each invocation in its own process, and measures them
  model.py     from the sample's rates to the scenarios: time vs timeout, memory, /tmp, wall time vs
               the write floor, cost per million records
"""
