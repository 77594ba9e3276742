"""`make bench`: throughput of the hot path and of a whole job, each next to a baseline from the same run.

The machine is small and noisy, so absolute numbers drift; the ratios are what to compare.
  1. validation: our per-line check (load/record_limits.check_line: the typed accept path, else orjson + the
     declared Lexer type's checker; then the key) vs json + jsonschema Draft7 over the served
     schema; and the same check against bare orjson.loads
  2. exact path: lines the typed path leaves to the exact checker (a conversion), check_line vs
     the exact checker alone: what the typed attempt costs those lines
  3. hot path, per Lexer type: what the load workflow does per line from the line as sent to the
     write request: Split's line_router (parse + validate + key + key hash + partition + work-file
     line), then Load's frame decoding, last line per key and UpdateItem parameters (bench_hot_path
     says exactly what), vs bare orjson.loads of the same lines, CPU time of this thread, rounds
     interleaved, best round each (other processes' load skews both alike)
  4. split: what Split does per record (logic/load/split.py: read, check, route by the key's hash,
     frame) vs merely splitting bytes into lines
  5. end to end on the local stack: a whole upload job vs the same UpdateItems written straight into
     the same embedded DynamoDB by a Load's writer (locally, the store is the bottleneck; this is
     benchmarks/local_stack.py's part c, default context)
Then, in a second table, what boto3 costs per record to write (HTTP stubbed: no network), and a Load's
RecordWriter through boto3 and through the functions' wire sender (adapters/dynamodb_wire.py).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import sys
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


def customer_lines(count: int, seed: int = 2) -> list[bytes]:
    """Lexer customer_records of ~500 bytes: linked by email, by customer id in a system, or by mobile."""
    rng = random.Random(seed)
    first_names = ["Mia", "Sam", "Lee", "Ava", "Noah", "Zoe", "Liam", "Isla"]
    last_names = ["Chen", "Okafor", "Nguyen", "Smith", "Rossi", "Kowalski", "Singh", "Brown"]
    cities = [("Fitzroy", "Victoria", "3065"), ("Newtown", "New South Wales", "2042"),
              ("Fremantle", "Western Australia", "6160")]
    lines = []
    for i in range(count):
        first, last = rng.choice(first_names), rng.choice(last_names)
        email = f"{first}.{last}{i}@example.com".lower()
        link = rng.choice([{"email": email}, {"customer_id": f"crm-{i:07d}", "system_name": "shopfront_pos"},
                           {"mobile": f"614{rng.randrange(10**8):08d}"}])
        city, state, postcode = rng.choice(cities)
        record = {
            "link": link,
            "email": email,
            "first_name": first,
            "last_name": last,
            "gender": rng.choice(["Female", "Male", "Non-binary"]),
            "date_of_birth": f"{rng.randrange(1950, 2006)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}",
            "country": "Australia",
            "state": state,
            "city": city,
            "postcode": postcode,
            "address_1": f"{rng.randrange(1, 400)} Brunswick St",
            "employee_flag": rng.random() < 0.05,
            "customer_type": rng.choice(["Gold", "Silver", "Bronze"]),
            "custom_fields": {"loyalty_points": rng.randrange(20000), "churn_risk": round(rng.random(), 2),
                              "tags": rng.sample(["newsletter", "early-adopter", "vip", "app-user"], 2)},
        }
        lines.append(json.dumps(record).encode())
    return lines


HOT_PATH_LINES = {"purchase": purchase_lines, "customer_record": customer_lines}


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
    import orjson

    from ingest import record_types
    from ingest.logic.load.record_limits import check_line

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

    # Two alternations, not one: a round of jsonschema (~20 s of allocation) just before orjson.loads
    # slowed the parse by a third, and the row against it read 1.11x where the check is 0.75x.
    against_parse = best_cpu_times({"ours": ours, "parse_only": parse_only}, rounds=5)
    against_jsonschema = best_cpu_times({"ours": ours, "baseline": baseline}, rounds=3)
    return {"records": len(lines), "ours_per_s": rate(len(lines), against_jsonschema["ours"]),
            "baseline_per_s": rate(len(lines), against_jsonschema["baseline"]),
            "ours_vs_parse_per_s": rate(len(lines), against_parse["ours"]),
            "orjson_loads_per_s": rate(len(lines), against_parse["parse_only"])}


def bench_exact_path(lines: list[bytes], rounds: int = 5) -> dict:
    """Lines the typed path leaves to the exact checker (here: each quantity sent as a string, which
    pydantic converts): check_line (a typed attempt first) vs the exact checker alone."""
    from ingest import record_types
    from ingest.logic.load.record_limits import check_line

    record_type = record_types.get("purchase")
    converted = [raw.replace(b'"quantity": ', b'"quantity": "').replace(b', "price_paid"', b'", "price_paid"')
                 for raw in lines]
    # still accepted, by the exact checker
    assert all(check_line(record_type, raw)[0] is None for raw in converted[:100])

    def ours():
        for raw in converted:
            check_line(record_type, raw)

    def exact_only():
        for raw in converted:
            record_type.check_line_exactly(raw)

    times = best_cpu_times({"ours": ours, "exact": exact_only}, rounds)
    return {"records": len(lines), "ours_per_s": rate(len(lines), times["ours"]),
            "baseline_per_s": rate(len(lines), times["exact"])}


def best_cpu_times(actions: dict, rounds: int) -> dict:
    """The least CPU time of this thread each action took, over rounds that alternate the actions.
    CPU time leaves out the time other processes hold the core; alternating spreads the rest of
    their interference (caches, the sibling hyperthread) over every action alike."""
    best = {name: float("inf") for name in actions}
    for _ in range(rounds):
        for name, action in actions.items():
            started = time.thread_time()
            action()
            best[name] = min(best[name], time.thread_time() - started)
    return best


def bench_hot_path(record_type_name: str, lines: list[bytes], rounds: int = 7) -> dict:
    """Per line, what the load workflow does from the line as sent to the write request, vs bare
    orjson.loads of the same lines. Split: split.line_router (check, key, key hash, partition, the
    work-file line), each line appended to its partition's list (Split's writer.write); Load:
    frames.decode_stream over each partition, windows, last_per_key and RecordWriter.upsert_requests
    (the UpdateItem parameters write_upserts sends, shard from the carried hash). Not counted:
    S3 and boto3's own per-call work (the second table has boto3's), and reading lines off the file
    (the split row below has that)."""
    import orjson

    from ingest import record_types
    from ingest.adapters.record_store import RecordTarget, RecordWriter, Stamp, TokenBucket
    from ingest.logic.load import frames, loading
    from ingest.logic.load.context import LoadSettings
    from ingest.logic.load.split import line_router
    from ingest.record_types import fast_path

    record_type = record_types.get(record_type_name)
    settings = LoadSettings()
    route = line_router(record_type, settings.partitions)
    # Its request builder alone: no client call is made, and its thread pool starts no thread.
    target = RecordTarget("bench-account", "bench-dataset", record_type.stored_type, 64)
    writer = RecordWriter(None, "bench-records", target, Stamp("bench-job", "bench-attempt"), 1, TokenBucket(1))
    requests = []

    def split_lines() -> list[bytes]:
        parts: dict[int, list[bytes]] = {}
        for number, raw in enumerate(lines, 1):
            problem, partition, frame = route(number, raw, None)
            if problem is None:
                part = parts.get(partition)
                if part is None:
                    part = parts[partition] = []
                part.append(frame)
        return [b"".join(part) for part in parts.values()]

    def load_parts(work_files: list[bytes]) -> None:
        for work_file in work_files:
            for window in loading.windows(frames.decode_stream([work_file]), settings.load_window_records):
                requests.extend(writer.upsert_requests(loading.last_per_key(window)))  # write_upserts' requests
                requests.clear()

    def full():
        load_parts(split_lines())

    work_files = split_lines()

    def parse_only():
        for raw in lines:
            orjson.loads(raw)

    check, hash_of_key = record_type.check_line, frames.hash_of_key

    def check_and_request():
        """The issue's narrower reading: parse + validate + the write request, without Split's routing
        and work file: each accepted line straight to its UpdateItem parameters (its key hashed for
        the shard, as Split does once)."""
        accepted = []
        for number, raw in enumerate(lines, 1):
            problem, key = check(raw)
            if problem is None:
                accepted.append(frames.Frame(number, key, raw, raw, hash_of_key(key)))
        requests.extend(writer.upsert_requests(accepted))
        requests.clear()

    times = best_cpu_times({"full": full, "orjson": parse_only, "split": split_lines,
                            "load": lambda: load_parts(work_files), "check+request": check_and_request}, rounds)
    accept = fast_path.accepting(*record_type.typed_path)
    typed = sum(accept(raw) is not None for raw in lines)
    return {"records": len(lines), "ours_per_s": rate(len(lines), times["full"]),
            "baseline_per_s": rate(len(lines), times["orjson"]), "typed_path_share": typed / len(lines),
            "parts_of_a_parse": {"Split": times["split"] / times["orjson"], "Load": times["load"] / times["orjson"]},
            "check_and_request_of_a_parse": times["check+request"] / times["orjson"]}


class _StubbedBody:
    def __init__(self, content: bytes):
        self._content = content

    def stream(self, **_):
        yield self._content


def _stubbed_dynamodb(parameter_validation: bool, answers: dict[str, bytes]):
    """A real boto3 DynamoDB client (serialization, signing, retries, parsing) whose HTTP layer is
    stubbed: `before-send` answers each operation with a canned body, so nothing leaves the process
    (and the endpoint is a closed local port, should the stub ever be bypassed)."""
    import boto3
    from botocore.awsrequest import AWSResponse
    from botocore.config import Config

    session = boto3.session.Session(aws_access_key_id="bench", aws_secret_access_key="bench",
                                    region_name="ap-southeast-2")
    client = session.client("dynamodb", endpoint_url="http://127.0.0.1:9",
                            config=Config(parameter_validation=parameter_validation))
    for operation, body in answers.items():
        def answer(request, body=body, **_):
            headers = {"content-type": "application/x-amz-json-1.0", "x-amzn-requestid": "bench"}
            return AWSResponse(request.url, 200, headers, _StubbedBody(body))
        client.meta.events.register(f"before-send.dynamodb.{operation}", answer)
    return client


def bench_boto3_writes(lines: list[bytes], rounds: int = 3) -> dict[str, float]:
    """CPU seconds per record of writing records through boto3, all but the network: PutItem one
    item a call (ReturnValues=ALL_OLD, answered with the old item or with nothing) and
    BatchWriteItem 25 a call, each with default settings and with parameter_validation off; and,
    for scale, building the same item as wire JSON (record_store.wire_items)."""
    import orjson

    from ingest.adapters.record_store import BATCH_WRITE_LIMIT, partition, record_item, shard_of, wire_items

    table = "bench-records"
    pairs = [(orjson.loads(raw)["purchase_id"], raw.decode()) for raw in lines]
    items = [record_item(partition("bench", "ds", "purchase", shard_of(key)), key, text, "job") for key, text in pairs]
    replaced = orjson.dumps({"Attributes": items[0]})  # an upsert over an earlier version of the record
    batches = [items[start:start + BATCH_WRITE_LIMIT] for start in range(0, len(items), BATCH_WRITE_LIMIT)]
    costs: dict[str, float] = {}
    for validation in (True, False):
        setting = "default config" if validation else "parameter_validation=False"
        for returned, body in (("old item returned", replaced), ("nothing returned", b"{}")):
            client = _stubbed_dynamodb(validation, {"PutItem": body})
            client.put_item(TableName=table, Item=items[0], ReturnValues="ALL_OLD")  # loads the models once

            def put_each(client=client):
                for item in items:
                    client.put_item(TableName=table, Item=item, ReturnValues="ALL_OLD")

            costs[f"PutItem, ALL_OLD ({returned}), {setting}"] = best_cpu_times({"": put_each}, rounds)[""] / len(items)
        client = _stubbed_dynamodb(validation, {"BatchWriteItem": b'{"UnprocessedItems":{}}'})
        client.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": items[0]}}]})

        def write_batches(client=client):
            for batch in batches:
                client.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": item}} for item in batch]})

        costs[f"BatchWriteItem, 25 a call, {setting}"] = best_cpu_times({"": write_batches}, rounds)[""] / len(items)
    wire = wire_items("bench", "ds", "purchase", "job")
    raws = [(key, text.encode()) for key, text in pairs]

    def build_wire_items():
        for key, raw in raws:
            wire(key, raw)

    costs["record_store.wire_items (the item as wire JSON, no call)"] = (
        best_cpu_times({"": build_wire_items}, rounds)[""] / len(items))
    # A Load's writes: RecordWriter's UpdateItem (ALL_OLD, old item returned), 16 threads, through boto3
    # and through the wire sender the functions use (benchmarks/load_writer.py has the full table).
    from benchmarks.load_writer import OLD_ITEM, cpu_per_record, records, stubbed_senders

    writer_costs = cpu_per_record(stubbed_senders(OLD_ITEM, 16), 16, records(len(lines)), rounds)
    for sender in ("boto3, default config", "wire sender"):
        costs[f"RecordWriter UpdateItem ALL_OLD, 16 threads, {sender}"] = writer_costs[sender]
    return costs


def print_boto3_costs(costs: dict[str, float]) -> None:
    print("boto3 DynamoDB writes: CPU per record, HTTP stubbed (no network), ~500-byte purchases")
    for name, seconds in costs.items():
        print(f"  {name:66} {seconds * 1e6:>8.1f} us  {rate(1, seconds):>10,.0f} records/s")


def bench_split(lines: list[bytes]) -> dict:
    from ingest import record_types
    from ingest.logic import formats
    from ingest.logic import lines as line_reader
    from ingest.logic.load.context import LoadSettings
    from ingest.logic.load.split import line_router

    data = b"\n".join(lines) + b"\n"
    chunks = [data[i:i + 1024 * 1024] for i in range(0, len(data), 1024 * 1024)]
    record_type = record_types.get("purchase")
    partitions = LoadSettings().partitions

    route = line_router(record_type, partitions)

    def ours():  # as split.split_range routes a record: line_router's partition and work-file line
        routed = [0] * partitions
        for record in formats.records_of(chunks, formats.NDJSON, record_type):
            problem, partition, _ = route(record.number, record.json, None)
            if problem is None:
                routed[partition] += 1
        return routed

    assert sum(ours()) == len(lines), "the row times routing of every record: the generated ones are all valid"

    def baseline():
        for _ in line_reader.numbered_lines(chunks):
            pass

    ours_s, base_s = best_of(3, ours), best_of(3, baseline)
    return {"records": len(lines), "ours_per_s": rate(len(lines), ours_s), "baseline_per_s": rate(len(lines), base_s)}


def bench_end_to_end(records: int, template: Path) -> dict:
    """One upload job of `records` distinct records through the whole local stack, against the same
    UpdateItems written straight into the same embedded DynamoDB by a Load's own writer on as many threads
    as the job's Loads use (benchmarks/local_stack.py part c: locally the store is the bottleneck, so this
    is what the job's overhead is measured against)."""
    from benchmarks.local_stack import DEFAULT_SETTINGS, Bench, job_vs_direct_writes

    bench = Bench.start(template, DEFAULT_SETTINGS)
    # The handlers run in this process and log JSON lines to stdout, as to CloudWatch: keep the
    # results table readable by sending those to a file, as `make run` does.
    log_path = ROOT / ".local" / "bench-lambda.log"
    log_path.parent.mkdir(exist_ok=True)
    with open(log_path, "a", buffering=1) as handler_log, contextlib.redirect_stdout(handler_log):
        try:
            job_s, direct_s = job_vs_direct_writes(bench, records)
        finally:
            bench.stack.stop()  # type: ignore[attr-defined]
    return {"records": records, "ours_per_s": rate(records, job_s), "baseline_per_s": rate(records, direct_s)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=50_000, help="records for the in-memory benchmarks")
    parser.add_argument("--e2e-records", type=int, default=3_000, help="records for the end-to-end job")
    parser.add_argument("--boto3-records", type=int, default=2_000, help="records for the boto3 write costs")
    parser.add_argument("--template", default=str(ROOT / "cdk.out" / "BulkIngest.template.json"))
    parser.add_argument("--skip-end-to-end", action="store_true", help="in-memory benchmarks only (no local stack)")
    args = parser.parse_args()

    lines = purchase_lines(args.records)
    validation = bench_validation(lines)
    results = {
        "validation (check_line vs json+jsonschema)": validation,
        "validation (check_line vs bare orjson.loads)": {**validation, "ours_per_s": validation["ours_vs_parse_per_s"],
                                                         "baseline_per_s": validation["orjson_loads_per_s"]},
    }
    for name, make_lines in HOT_PATH_LINES.items():
        results[f"hot path {name} (Split + Load per line vs orjson.loads)"] = bench_hot_path(
            name, lines if name == "purchase" else make_lines(args.records))
    results["exact path purchase (check_line vs exact checker alone)"] = bench_exact_path(lines)
    results["split (read + check + route + frame vs bare line split)"] = bench_split(lines)
    if not args.skip_end_to_end:
        results["end-to-end job on local stack (vs its writes straight)"] = bench_end_to_end(
            args.e2e_records, Path(args.template))
    print(f"{'benchmark':62} {'records':>8} {'ours/s':>10} {'baseline/s':>11} {'ratio':>7}")
    for name, result in results.items():
        ratio = result["ours_per_s"] / result["baseline_per_s"]
        print(f"{name:62} {result['records']:>8} {result['ours_per_s']:>10,.0f} "
              f"{result['baseline_per_s']:>11,.0f} {ratio:>6.2f}x")
    for name, result in results.items():
        if "typed_path_share" in result:
            parts = ", ".join(f"{step} {cost:.2f}x" for step, cost in result["parts_of_a_parse"].items())
            narrow = result["check_and_request_of_a_parse"]
            print(f"  {name.split(' (')[0]}: {result['typed_path_share']:.0%} of lines accepted by the typed path;"
                  f" CPU per line as x of a parse: {parts}; parse + check + request alone {narrow:.2f}x"
                  f" ({1 / narrow:.2f}x the speed of a parse)")
    print()
    print_boto3_costs(bench_boto3_writes(purchase_lines(args.boto3_records, seed=3)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
