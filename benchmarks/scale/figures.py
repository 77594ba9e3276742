"""Every AWS figure the scale model uses, with where it comes from (docs/capacity.md repeats them).

Limits are AWS's documented quotas; prices are the public price lists for us-east-1 (checked
2026-11-30; other regions differ by a few per cent, and every target here is a ratio of two prices
from the same list). Throughput and latency figures marked ASSUMPTION are not AWS guarantees: they
are round numbers within what AWS and measurements report, and the model states its results in them.
"""

from __future__ import annotations

from dataclasses import dataclass

KIB = 1024
MB = 1_000_000
GIB = 1024**3


@dataclass(frozen=True)
class Figure:
    value: float
    unit: str
    source: str


# -- DynamoDB ------------------------------------------------------------------------------------------
# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/provisioned-capacity-mode.html
#   "One write capacity unit represents one write per second for an item up to 1 KB in size. If you need
#   to write an item that is larger than 1 KB, DynamoDB must consume additional write capacity units."
# On-demand: one write request unit (WRU) per 1 KB, rounded up, the same way:
# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/on-demand-capacity-mode.html
WRITE_UNIT_BYTES = Figure(1 * KIB, "bytes per write unit",
                          "DynamoDB Developer Guide, capacity modes (1 KB, rounded up)")
# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html
#   "A strongly consistent read request of an item up to 4 KB requires one read unit", "eventually
#   consistent ... one-half read unit"; BatchGetItem "processes each item in the batch as an individual
#   GetItem request", each rounded up to 4 KB; reading an item that does not exist still consumes the
#   minimum (1 for a strongly consistent read).
READ_UNIT_BYTES = Figure(4 * KIB, "bytes per read unit",
                         "DynamoDB Developer Guide, read and write operations (4 KB, rounded up)")
# ASSUMPTION: one BatchGetItem of up to 100 keys from a Lambda in the table's region; the decision log
# ("Undo a load") and docs/capacity.md assume 10-20 ms. The Load sends them one after another.
BATCH_GET_LATENCY_S = Figure(0.015, "s per BatchGetItem call (100 keys)", "ASSUMPTION (10-20 ms, not measured on AWS)")
# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html
#   "...each partition ... maximum of 3,000 read units per second and 1,000 write units per second."
# One partition-key value is always on one partition, so 1,000 WCU/s is the ceiling of one key value.
PARTITION_WRITE_UNITS_PER_S = Figure(1_000, "WCU/s per partition", "DynamoDB Developer Guide, partition key design")
# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html ("Read/write throughput
# ... on-demand ... per table: 40,000 write request units", adjustable with a quota increase).
TABLE_WRITE_UNITS_PER_S = Figure(40_000, "WRU/s per on-demand table (default quota)",
                                 "DynamoDB Developer Guide, service quotas")
# ASSUMPTION: one PutItem round trip from a Lambda in the table's region. AWS: "single-digit millisecond
# performance at any scale" (https://aws.amazon.com/dynamodb/); the issue measured 10-25 ms per 25-item
# BatchWriteItem. 8 ms is the pessimistic end of single digits.
PUT_ITEM_LATENCY_S = Figure(0.008, "s per PutItem call", "ASSUMPTION within AWS's 'single-digit millisecond'")

# -- Lambda --------------------------------------------------------------------------------------------
# https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html
#   "At 1,769 MB, a function has the equivalent of one vCPU (one vCPU-second of credits per second)."
LAMBDA_MB_PER_VCPU = Figure(1_769, "MB of memory per vCPU", "Lambda Developer Guide, configuring memory")
# ASSUMPTION: one Lambda vCPU (Graviton, arm64) runs this code about as fast as one core of this machine.
# Lambda's share below 1,769 MB is proportional to memory (same page), so a 512 MB function gets 0.29 vCPU.
LAMBDA_CPU_SPEED_VS_HERE = Figure(1.0, "x this machine's core", "ASSUMPTION (not measured on AWS)")
# The bench's DynamoDB model answers a Load's writes below the HTTP layer, so the sample's CPU leaves out
# sending each request and reading its answer over a socket. Measured with `python -m benchmarks.load_writer`
# (the wire sender, 16 threads): 389.6 us a record over loopback HTTP against 37.7 us with HTTP stubbed at
# the same layer, so ~350 us a call in the client process. TLS to DynamoDB's endpoint would add to it:
# not measured here.
HTTP_CPU_PER_WRITE_CALL_S = Figure(0.000350, "s of CPU per write call's HTTP exchange",
                                   "measured: benchmarks/load_writer.py, loopback vs stubbed, wire sender")

# -- S3 ------------------------------------------------------------------------------------------------
# ASSUMPTION: ~90 MB/s per connection for a large GET or PUT within a region. AWS's S3 performance
# guidelines scale throughput by parallel connections and byte-range requests
# (https://docs.aws.amazon.com/AmazonS3/latest/userguide/optimizing-performance-guidelines.html); 85-90
# MB/s per connection is the commonly measured figure from EC2 in-region, used here for Lambda too.
S3_BYTES_PER_S_PER_CONNECTION = Figure(90 * MB, "bytes/s per connection", "ASSUMPTION (S3 performance guidelines)")
# ASSUMPTION: first-byte latency of a small GET/PUT/LIST (S3 guidelines: 100-200 ms tail for small objects).
S3_REQUEST_LATENCY_S = Figure(0.03, "s per request", "ASSUMPTION (S3 performance guidelines)")

# -- Step Functions --------------------------------------------------------------------------------------
# ASSUMPTION: a state's own latency (scheduling a Task, a Map starting its children), outside the function.
STATE_OVERHEAD_S = Figure(0.1, "s per state", "ASSUMPTION")

# -- Prices, us-east-1 (checked 2026-11-30) ----------------------------------------------------------------
# https://aws.amazon.com/dynamodb/pricing/on-demand/ (after the 2024-11-01 reduction)
PRICE_WRITE_REQUEST_UNIT = Figure(0.625 / 1e6, "USD per WRU", "aws.amazon.com/dynamodb/pricing/on-demand, us-east-1")
PRICE_READ_REQUEST_UNIT = Figure(0.125 / 1e6, "USD per RRU", "aws.amazon.com/dynamodb/pricing/on-demand, us-east-1")
# https://aws.amazon.com/lambda/pricing/ (arm64, first pricing tier; the functions are arm64)
PRICE_LAMBDA_GB_SECOND = Figure(0.0000133334, "USD per GB-s (arm64)", "aws.amazon.com/lambda/pricing, us-east-1")
PRICE_LAMBDA_REQUEST = Figure(0.20 / 1e6, "USD per invocation", "aws.amazon.com/lambda/pricing, us-east-1")
# https://aws.amazon.com/step-functions/pricing/ (Standard workflows; a Distributed Map's Standard child
# executions are billed by their state transitions like any execution)
PRICE_STATE_TRANSITION = Figure(0.025 / 1000, "USD per state transition",
                                "aws.amazon.com/step-functions/pricing, us-east-1")
# https://aws.amazon.com/s3/pricing/ (S3 Standard)
PRICE_S3_PUT = Figure(0.005 / 1000, "USD per PUT/COPY/POST/LIST", "aws.amazon.com/s3/pricing, us-east-1")
PRICE_S3_GET = Figure(0.0004 / 1000, "USD per GET (and other) request", "aws.amazon.com/s3/pricing, us-east-1")
PRICE_S3_GB_MONTH = Figure(0.023, "USD per GB-month (first 50 TB)", "aws.amazon.com/s3/pricing, us-east-1")
SECONDS_PER_MONTH = 30 * 24 * 3600  # S3 prorates storage by the hour over the month: 30 days used here

ALL = {name: value for name, value in globals().items() if isinstance(value, Figure)}
