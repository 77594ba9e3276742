"""`make bench`: throughput of the hot path and of a whole job, each next to a baseline from the same run.

The machine is small and noisy, so absolute numbers drift; the ratios are what to compare.
  1. validation: our per-line check (orjson + the declared Lexer type's checker + dumps + key) vs
     json + jsonschema Draft7 over the served schema; and the same check against bare orjson.loads
  2. split: routing lines to chunks by record-key hash vs merely splitting bytes into lines
  3. end to end on the local stack: a whole upload job vs raw BatchWriteItem of the same
     records into the same embedded DynamoDB (locally, the store is the bottleneck)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def purchase_lines(count: int, seed: int = 1) -> list[bytes]:
    rng = random.Random(seed)
    lines = []
    for i in range(count):
        record = {
            "purchase_id": f"p-{i:08d}",
            "link": {"customer_id": f"c-{rng.randrange(count // 3 + 1):07d}", "system_name": "pos"},
            "action_at": "2024-08-29T10:11:12Z",
            "type": "physical",
            "currency": "AUD",
            "store": {"store_id": f"s-{rng.randrange(40)}", "type": "physical", "name": "Acme CBD"},
            "payment_types": [{"name": "visa", "total": round(rng.uniform(1, 500), 2)}],
            "products": [
                {"product_reference": {"id": f"sku-{rng.randrange(5000)}", "id_type": "sku"},
                 "quantity": rng.randrange(1, 4), "price_paid": round(rng.uniform(1, 100), 2)}
                for _ in range(rng.randrange(1, 4))
            ],
        }
        lines.append(json.dumps(record).encode())
    return lines


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds else float("inf")


def best_of(runs: int, action) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return min(times)


def bench_validation(lines: list[bytes]) -> dict:
    import jsonschema

    from ingest import record_types
    from ingest.logic.pipeline import check_line

    import orjson

    record_type = record_types.get("purchase")
    baseline_validator = jsonschema.Draft7Validator(record_type.schema)

    def ours():
        for raw in lines:
            check_line(record_type, raw)

    def baseline():
        for raw in lines:
            baseline_validator.is_valid(json.loads(raw))

    def parse_only():
        for raw in lines:
            orjson.loads(raw)

    ours_s, base_s, parse_s = best_of(3, ours), best_of(3, baseline), best_of(3, parse_only)
    return {"records": len(lines), "ours_per_s": rate(len(lines), ours_s), "baseline_per_s": rate(len(lines), base_s),
            "orjson_loads_per_s": rate(len(lines), parse_s)}


def bench_split(lines: list[bytes]) -> dict:
    from ingest import record_types
    from ingest.logic import formats
    from ingest.logic import lines as line_reader
    from ingest.logic.pipeline import Pipeline

    data = b"\n".join(lines) + b"\n"
    chunks = [data[i:i + 1024 * 1024] for i in range(0, len(data), 1024 * 1024)]
    record_type = record_types.get("purchase")

    def ours():
        for record in formats.records_of(chunks, formats.NDJSON, record_type):
            Pipeline._route(record.json, record_type, 64)

    def baseline():
        for _ in line_reader.numbered_lines(chunks):
            pass

    ours_s, base_s = best_of(3, ours), best_of(3, baseline)
    return {"records": len(lines), "ours_per_s": rate(len(lines), ours_s), "baseline_per_s": rate(len(lines), base_s)}


def bench_end_to_end(lines: list[bytes], template: Path) -> dict:
    from local_stack.stack import LocalStack, free_port

    stack = LocalStack(template, aws_port=free_port(), api_port=free_port())
    info = stack.start()
    # The handlers run in this process and log JSON lines to stdout, as to CloudWatch: keep the
    # results table readable by sending those to a file, as `make run` does.
    log_path = ROOT / ".local" / "bench-lambda.log"
    log_path.parent.mkdir(exist_ok=True)
    with open(log_path, "a", buffering=1) as handler_log, contextlib.redirect_stdout(handler_log):
        try:
            return _timed_job_and_baseline(stack, info, lines)
        finally:
            stack.stop()


def _timed_job_and_baseline(stack, info, lines: list[bytes]) -> dict:
    """One upload through the whole service, against writing the same records straight to the store."""
    import boto3

    from cli.client import IngestClient, put_file
    from ingest.adapters.record_store import RecordStore
    from local_stack.tokens import mint_local_token

    client = IngestClient(info.api_url, mint_local_token(info.tokens_table, "bench"))
    dataset = client.create_dataset("bench")
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "purchase-bench.ndjson"
        path.write_bytes(b"\n".join(lines) + b"\n")
        started = time.perf_counter()
        upload = client.request_upload(path.name, dataset["id"], "purchase")
        put_file(upload["url"], str(path))
        finished = client.wait_for(upload["id"], timeout=3600, poll=0.5)
        job_s = time.perf_counter() - started
    assert finished["status"] == "Completed", finished
    records_table = stack.deployment.outputs.get("RecordsTableName") or next(
        name for name in (stack.deployment.physical_id(lid) for lid in stack.deployment.template.of_type("AWS::DynamoDB::Table"))
        if "Records" in name
    )
    store = RecordStore(boto3.client("dynamodb"), records_table)
    pairs = [(json.loads(raw)["purchase_id"], raw.decode()) for raw in lines]
    started = time.perf_counter()
    store.put_records("bench", "baseline", "purchase", pairs, job_id="baseline")
    store_s = time.perf_counter() - started
    return {"records": len(lines), "ours_per_s": rate(len(lines), job_s), "baseline_per_s": rate(len(lines), store_s),
            "stats": finished["stats"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=50_000, help="records for the in-memory benchmarks")
    parser.add_argument("--e2e-records", type=int, default=10_000, help="records for the end-to-end job")
    parser.add_argument("--template", default=str(ROOT / "cdk.out" / "BulkIngest.template.json"))
    args = parser.parse_args()

    lines = purchase_lines(args.records)
    validation = bench_validation(lines)
    results = {
        "validation (check_line vs json+jsonschema)": validation,
        "validation (check_line vs bare orjson.loads)": {**validation, "baseline_per_s": validation["orjson_loads_per_s"]},
        "split routing (route by key hash vs bare line split)": bench_split(lines),
        "end-to-end job on local stack (vs raw BatchWriteItem)": bench_end_to_end(lines[: args.e2e_records], Path(args.template)),
    }
    print(f"{'benchmark':58} {'records':>8} {'ours/s':>10} {'baseline/s':>11} {'ratio':>7}")
    for name, result in results.items():
        ratio = result["ours_per_s"] / result["baseline_per_s"]
        print(f"{name:58} {result['records']:>8} {result['ours_per_s']:>10,.0f} {result['baseline_per_s']:>11,.0f} {ratio:>6.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
