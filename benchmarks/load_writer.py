"""Client CPU per record of the load workflow's writes (adapters/record_store.RecordWriter): a real
boto3 DynamoDB client whose HTTP layer is stubbed (benchmarks/__main__.py `_stubbed_dynamodb`), so
what is measured is serializing, signing, sending through botocore's machinery and parsing the
answer, never the network or moto. CPU time of the whole process (every writer thread).

    .venv/bin/python -m benchmarks.load_writer [--records 3000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import time

import orjson

from benchmarks.__main__ import _stubbed_dynamodb
from ingest.adapters.record_store import RecordStore, RecordWrite

OLD_ITEM = orjson.dumps({"Attributes": {
    "pk": {"S": "bench#ds#purchase#07"}, "sk": {"S": "p-1"}, "data": {"S": '{"purchase_id": "p-1", "total": 3}' * 12},
    "job_id": {"S": "U0"}, "attempt": {"S": "a0"}, "created_by": {"S": "U0"}, "line": {"N": "17"}}})


def records(count: int) -> list[RecordWrite]:
    line = orjson.dumps({"purchase_id": "p", "total": 12.5, "items": [{"sku": "x" * 20, "qty": 2}] * 6,
                         "customer": {"customer_id": "c" * 16}, "note": "n" * 120})
    return [RecordWrite(f"p-{index:07d}", line.decode(), index + 1) for index in range(count)]


def cpu_per_record(validation: bool, answer: bytes, threads: int, batch: list[RecordWrite], rounds: int) -> float:
    client = _stubbed_dynamodb(validation, {"UpdateItem": answer})
    store = RecordStore(client, "bench-records")
    best = float("inf")
    with store.writer("bench", "ds", "purchase", 64, "U1", "a1", threads, 10_000_000) as writer:
        writer.write(batch[:10])  # loads the service model once
        for _ in range(rounds):
            started = time.process_time()
            writer.write(batch)
            best = min(best, time.process_time() - started)
    return best / len(batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    batch = records(options.records)
    print(f"RecordWriter: client CPU per record, HTTP stubbed, ~{len(batch[0].data)}-byte records")
    for validation in (True, False):
        for answer_name, answer in (("old item returned", OLD_ITEM), ("new record", b"{}")):
            for threads in (1, 16):
                seconds = cpu_per_record(validation, answer, threads, batch, options.rounds)
                setting = "default config" if validation else "parameter_validation=False"
                print(f"  UpdateItem ALL_OLD, {answer_name:17}, {setting:26}, {threads:2} threads: "
                      f"{seconds * 1e6:7.1f} us  {1 / seconds:8,.0f} records/s per core")


if __name__ == "__main__":
    main()
