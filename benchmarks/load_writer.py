"""Client CPU per record of the load workflow's writes (adapters/record_store.RecordWriter), through
boto3's DynamoDB client and through the wire sender the functions use (adapters/dynamodb_wire.py),
against the same HTTP model, in the same run:

  stubbed    the HTTP layer answers at once with the same canned body: boto3's `before-send`
             (benchmarks/__main__.py `_stubbed_dynamodb`), the wire sender's urllib3 pool (its `http`
             seam). What is measured is building, serializing, signing, sending through the client's
             machinery and parsing the answer; never the network.
  loopback   both over real HTTP/1.1 keep-alive connections to a tiny server in a child process on
             127.0.0.1 that answers the same canned body: the HTTP layers' own CPU (urllib3, http.client)
             is in, the server's is not (another process).

CPU time of this whole process (every writer thread), best of `rounds` rounds, the senders'
rounds interleaved so the machine's load skews them alike; the ratio is what to compare.

    .venv/bin/python -m benchmarks.load_writer [--records 3000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import http.server
import multiprocessing
import socket
import time
from collections.abc import Callable
from typing import Any

import orjson

from benchmarks.__main__ import _stubbed_dynamodb
from benchmarks.scale.dynamodb import WireAnswer
from ingest.adapters.dynamodb_wire import DynamoDBWire
from ingest.adapters.record_store import RecordStore, RecordWrite

OLD_ITEM = orjson.dumps({"Attributes": {
    "pk": {"S": "bench#ds#purchase#07"}, "sk": {"S": "p-1"}, "data": {"S": '{"purchase_id": "p-1", "total": 3}' * 12},
    "job_id": {"S": "U0"}, "attempt": {"S": "a0"}, "created_by": {"S": "U0"}, "line": {"N": "17"}}})
REGION = "ap-southeast-2"


def records(count: int) -> list[RecordWrite]:
    line = orjson.dumps({"purchase_id": "p", "total": 12.5, "items": [{"sku": "x" * 20, "qty": 2}] * 6,
                         "customer": {"customer_id": "c" * 16}, "note": "n" * 120})
    return [RecordWrite(f"p-{index:07d}", line.decode(), index + 1) for index in range(count)]


class _StubbedPool:
    """urllib3's urlopen for the wire sender, answering at once (the wire's side of `_stubbed_dynamodb`)."""

    def __init__(self, answer: bytes):
        self._answer = answer

    def urlopen(self, *_: Any, **__: Any) -> WireAnswer:
        return WireAnswer(self._answer)


def _credentials():
    from botocore.credentials import Credentials

    return Credentials("bench", "bench")


def stubbed_senders(answer: bytes, threads: int) -> dict[str, Any]:
    return {
        "boto3, default config": _stubbed_dynamodb(True, {"UpdateItem": answer}),
        "boto3, parameter_validation=False": _stubbed_dynamodb(False, {"UpdateItem": answer}),
        "wire sender": DynamoDBWire("http://127.0.0.1:9", REGION, _credentials(), max_connections=threads,
                                    http=_StubbedPool(answer)),
    }


def _serve(port_pipe, answer: bytes) -> None:  # the loopback server's process
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # the status line, headers and body go out at once, as a real server's

        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-amz-json-1.0")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *_: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port_pipe.send(server.server_address[1])
    server.serve_forever()


def loopback_senders(endpoint: str, threads: int) -> dict[str, Any]:
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(aws_access_key_id="bench", aws_secret_access_key="bench", region_name=REGION)
    config = Config(max_pool_connections=threads, retries={"mode": "adaptive", "max_attempts": 8})
    return {"boto3 (the functions' config)": session.client("dynamodb", endpoint_url=endpoint, config=config),
            "wire sender": DynamoDBWire(endpoint, REGION, _credentials(), max_connections=threads)}


def cpu_per_record(senders: dict[str, Any], threads: int, batch: list[RecordWrite], rounds: int) -> dict[str, float]:
    writers: dict[str, Callable[[list[RecordWrite]], Any]] = {}
    closers = []
    for name, sender in senders.items():
        store = RecordStore(sender, "bench-records", load_writes=sender)
        writer = store.writer("bench", "ds", "purchase", 64, "U1", "a1", threads, 10_000_000)
        closers.append(writer.close)
        writer.write(batch[:threads * 4])  # loads the service model, opens the connections
        writers[name] = writer.write
    best = dict.fromkeys(writers, float("inf"))
    for _ in range(rounds):
        for name, write in writers.items():
            started = time.process_time()
            write(batch)
            best[name] = min(best[name], time.process_time() - started)
    for close in closers:
        close()
    return {name: seconds / len(batch) for name, seconds in best.items()}


def report(title: str, costs: dict[str, float]) -> None:
    baseline = next(iter(costs.values()))
    print(title)
    for name, seconds in costs.items():
        print(f"    {name:36} {seconds * 1e6:7.1f} us  {1 / seconds:8,.0f} records/s per core  "
              f"{seconds / baseline:5.2f}x of the first")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    batch = records(options.records)
    print(f"RecordWriter: client CPU per record, UpdateItem ALL_OLD, ~{len(batch[0].data)}-byte records, "
          f"best of {options.rounds} interleaved rounds of {len(batch):,}")
    for answer_name, answer in (("old item returned", OLD_ITEM), ("new record", b"{}")):
        for threads in (1, 16):
            report(f"  HTTP stubbed, {answer_name}, {threads} threads:",
                   cpu_per_record(stubbed_senders(answer, threads), threads, batch, options.rounds))
    receiver, sender = multiprocessing.Pipe(duplex=False)
    server = multiprocessing.get_context("spawn").Process(target=_serve, args=(sender, OLD_ITEM), daemon=True)
    server.start()
    try:
        port = receiver.recv()
        with socket.create_connection(("127.0.0.1", port), timeout=30):
            pass
        for threads in (1, 16):
            report(f"  loopback HTTP (server in a child process), old item returned, {threads} threads:",
                   cpu_per_record(loopback_senders(f"http://127.0.0.1:{port}", threads), threads, batch,
                                  options.rounds))
    finally:
        server.terminate()
        server.join(timeout=30)


if __name__ == "__main__":
    main()
