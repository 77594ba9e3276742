"""`make bench-local`: does the local stack hold up as data grows? Each figure next to a baseline
taken in the same run, on the same stack (docs/local_stack.md, "Staying fast as data grows").

  a. a small job on the fresh stack, then the same job after the records table holds a million
     records of another dataset (written straight into moto's table, as the Load would write them)
     and the bucket 50,000 kept uploads -> ratio of the two (target: at most 2x)
  b. 30 uploads at once, each its own file (keys repeat within a file; pairs of uploads share a
     dataset and half their keys) while a poller GETs /v1/uploads/{id} -> all Completed, counts
     exact, GET latency p50/p95/max (target: p95 under 2 s)
  c. a whole job vs writing the same items straight into the same local DynamoDB: boto3 UpdateItem
     per record as the Load does (RecordStore.writer: same request, same client configuration), on
     as many threads as the job's Loads use at once -> ratio (target: at least 0.8x)
  d. (--gzip-gb N) a gzip file of N GB of lines whose keys repeat: completes with exact counts; time.

The stack is synthesized with the default CDK context (what `make run` serves) unless --context test
(tests/conftest.py TEST_CONTEXT) or --template names a synthesized template.

    .venv/bin/python -m benchmarks.local_stack [--quick] [--preload 1000000] [--gzip-gb 1]
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
RECORD_TYPE = "customer_record"
TEST_CONTEXT = {"range_bytes": 4096, "load_partitions": 4}  # as tests/conftest.py (not importable from here)
DEFAULT_SETTINGS = {"load_partitions": 64, "load_max_concurrency": 32}  # infra/config.py defaults
LOAD_THREADS = 16  # ingest.logic.load.context.LoadSettings.load_threads
GET_TIMEOUT_SECONDS = 120  # a status GET not answered by then counts as failed (status 0)
POLL_INTERVAL_SECONDS = 0.05  # the poller's pace: under the per-token limit (25/s), so no GET is throttled


# -- files ---------------------------------------------------------------------------------------------

def customer_line(key: str, version: int = 0) -> bytes:
    """A Lexer customer_record of ~300 bytes keyed `customer_id:<key>`."""
    return json.dumps({
        "link": {"customer_id": key}, "email": f"{key}@example.com", "first_name": f"Name{version}",
        "last_name": "Okafor", "country": "Australia", "state": "Victoria", "city": "Fitzroy",
        "postcode": "3065", "address_1": f"{version % 400 + 1} Brunswick St", "customer_type": "Gold",
        "custom_fields": {"loyalty_points": version, "tags": ["newsletter", "vip"]},
    }).encode()


def distinct_file(prefix: str, count: int) -> bytes:
    return b"".join(customer_line(f"{prefix}-{index:07d}", index) + b"\n" for index in range(count))


@dataclass
class UploadFile:
    """One of the concurrent uploads: its lines and the keys they hold."""

    name: str
    dataset_index: int
    content: bytes
    lines: int
    keys: set[str]


def concurrent_files(uploads: int, records: int, shared_every: int = 3) -> list[UploadFile]:
    """uploads files of `records` lines. In each, every 10th line repeats the key of the line 5 before
    it (keys overlap within a file). Each `shared_every`-th upload goes to the dataset of the upload
    before it and repeats the first half of its keys (datasets shared, keys overlapping across files)."""
    files: list[UploadFile] = []
    dataset_index = -1
    for number in range(uploads):
        shared = number % shared_every == shared_every - 1 and files
        if not shared:
            dataset_index += 1
        keys: list[str] = []
        for line in range(records):
            if line % 10 == 9:
                keys.append(keys[line - 5])
            elif shared and line < records // 2:
                keys.append(f"u{number - 1}-{line:06d}")  # a key of the previous upload's file
            else:
                keys.append(f"u{number}-{line:06d}")
        content = b"".join(customer_line(key, line) + b"\n" for line, key in enumerate(keys))
        files.append(UploadFile(f"concurrent-{number:02d}.ndjson", dataset_index, content, records,
                                {f"customer_id:{key}" for key in keys}))
    return files


def repeating_lines(target_bytes: int, distinct_keys: int) -> Iterator[bytes]:
    """Lines up to target_bytes in all whose keys cycle over distinct_keys."""
    written = line = 0
    while written < target_bytes:
        text = customer_line(f"g-{line % distinct_keys:07d}", line) + b"\n"
        written += len(text)
        line += 1
        yield text


# -- the stack -----------------------------------------------------------------------------------------

def synthesize(context: str, out_dir: Path) -> Path:
    env = {**os.environ, "CDK_OUTDIR": str(out_dir), "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    env.pop("CDK_CONTEXT_JSON", None)
    if context == "test":
        env["CDK_CONTEXT_JSON"] = json.dumps(TEST_CONTEXT)
    subprocess.run([sys.executable, "app.py"], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    return out_dir / "BulkIngest.template.json"


@dataclass
class Bench:
    """The running stack and one account's clients on it."""

    stack: object  # local_stack.stack.LocalStack
    api_url: str
    account: str
    token: str
    load_partitions: int
    load_max_concurrency: int
    tokens: list[str] = field(default_factory=list)

    @classmethod
    def start(cls, template: Path, settings: dict) -> Bench:
        from local_stack.stack import LocalStack, free_port
        from local_stack.tokens import mint_local_token

        stack = LocalStack(template, aws_port=free_port(), api_port=free_port())
        info = stack.start()
        return cls(stack, info.api_url, "bench", mint_local_token(info.tokens_table, "bench"),
                   settings["load_partitions"], settings["load_max_concurrency"])

    def new_token(self) -> str:
        """Another token of the same account: the API throttles per token."""
        from local_stack.tokens import mint_local_token

        return mint_local_token(self.stack.info.tokens_table, self.account)  # type: ignore[attr-defined]

    def client(self, token: str | None = None):
        from cli.client import IngestClient

        return IngestClient(self.api_url, token or self.token)

    def table_name(self, fragment: str) -> str:
        deployment = self.stack.deployment  # type: ignore[attr-defined]
        return next(deployment.physical_id(logical) for logical in deployment.template.of_type("AWS::DynamoDB::Table")
                    if fragment in logical)

    @property
    def concurrent_load_threads(self) -> int:
        """Writer threads of one job's Loads running at once."""
        return min(self.load_partitions, self.load_max_concurrency) * LOAD_THREADS


def upload_and_wait(client, dataset_id: str, name: str, content: bytes, poll: float = 0.2) -> tuple[dict, float]:
    """(the finished upload, seconds from requesting the upload to seeing it final)."""
    from cli.client import put_file

    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / name
        path.write_bytes(content)
        started = time.perf_counter()
        upload = client.request_upload(name, dataset_id, RECORD_TYPE)
        put_file(upload["url"], str(path))
        finished = client.wait_for(upload["id"], timeout=7200, poll=poll)
        return finished, time.perf_counter() - started


# -- a. a small job, fresh and after a million records ------------------------------------------------

def small_job_seconds(bench: Bench, lines: int, runs: int, label: str) -> float:
    """The median time of `runs` small jobs, each into a new dataset (so each creates its records)."""
    client = bench.client()
    times = []
    for run in range(runs):
        dataset = client.create_dataset(f"small {label} {run}")
        finished, seconds = upload_and_wait(client, dataset["id"], "small.ndjson", distinct_file(f"s{run}", lines))
        stats = finished["stats"]
        if finished["status"] != "Completed" or stats["loaded"] != lines or stats["created"] != lines:
            raise AssertionError(f"small job: {finished}")
        times.append(seconds)
    return statistics.median(times)


def preload(bench: Bench, records: int, objects: int) -> tuple[str, float]:
    """Write `records` customer records of a new dataset straight into moto's records table, as the
    Load writes them (partition key of the key's shard, the record as sent, job and attempt stamps),
    and set the dataset's count; and `objects` small files into the uploads bucket where kept uploads
    are. -> (dataset id, seconds for the records)."""
    from moto.dynamodb.models import dynamodb_backends

    from ingest.adapters.record_store import partition, shard_of
    from local_stack.stack import ACCOUNT_ID, REGION

    client = bench.client()
    dataset = client.create_dataset("a million records")
    shards = int(_dataset_item(bench, dataset["id"]).get("shards", 16))
    table = dynamodb_backends[ACCOUNT_ID][REGION].get_table(bench.table_name("Records"))
    pks = [partition(bench.account, dataset["id"], RECORD_TYPE, shard) for shard in range(shards)]
    started = time.perf_counter()
    for index in range(records):
        key = f"customer_id:m-{index:07d}"
        table.put_item({"pk": {"S": pks[shard_of(key, shards)]}, "sk": {"S": key},
                        "data": {"S": customer_line(f"m-{index:07d}", index).decode()},
                        "job_id": {"S": "preload"}, "attempt": {"S": "preload"}, "created_by": {"S": "preload"},
                        "line": {"N": str(index + 1)}})
    seconds = time.perf_counter() - started
    preload_objects(bench, objects)
    import boto3

    boto3.client("dynamodb").update_item(
        TableName=bench.table_name("Datasets"),
        Key={"account_id": {"S": bench.account}, "dataset_id": {"S": dataset["id"]}},
        UpdateExpression="SET record_counts.#rt = :n", ExpressionAttributeNames={"#rt": RECORD_TYPE},
        ExpressionAttributeValues={":n": {"N": str(records)}})
    # The service reads them as its own: the dataset's count, and one record by its key.
    if client.get_dataset(dataset["id"])["record_counts"].get(RECORD_TYPE) != records:
        raise AssertionError("the preloaded dataset's count is not the service's")
    record = requests.get(f"{bench.api_url}/v1/datasets/{dataset['id']}/records/{RECORD_TYPE}/customer_id:m-0000007",
                          headers={"Auth-Api-Token": bench.token}, timeout=60)
    if record.status_code != 200:
        raise AssertionError(f"a preloaded record is not served: {record.status_code} {record.text[:200]}")
    return dataset["id"], seconds


def preload_objects(bench: Bench, objects: int) -> None:
    """`objects` one-line files under uploads/<account>/, as earlier uploads leave them (kept for the
    bucket's retention), put straight into moto's bucket."""
    from moto.s3.models import FakeKey, s3_backends

    from local_stack.stack import ACCOUNT_ID, REGION

    info = bench.stack.info  # type: ignore[attr-defined]
    bucket = s3_backends[ACCOUNT_ID]["aws"].buckets[info.uploads_bucket]
    body = customer_line("kept") + b"\n"
    for index in range(objects):
        name = f"uploads/{bench.account}/kept-{index:07d}/kept.ndjson"
        bucket.keys[name] = FakeKey(name, body, account_id=ACCOUNT_ID, region_name=REGION)


def _dataset_item(bench: Bench, dataset_id: str) -> dict:
    import boto3

    item = boto3.resource("dynamodb").Table(bench.table_name("Datasets")).get_item(
        Key={"account_id": bench.account, "dataset_id": dataset_id})["Item"]
    return item


# -- b. concurrent uploads while a poller reads their status ------------------------------------------

@dataclass
class ConcurrentOutcome:
    uploads: dict[str, dict]  # upload id -> its final view
    files: dict[str, UploadFile]  # upload id -> its file
    dataset_ids: list[str]
    dataset_counts: dict[str, int]  # dataset id -> record_counts[customer_record] at the end
    get_latencies: list[float]
    get_statuses: dict[int, int]  # HTTP status -> GETs that answered it
    seconds: float

    def problems(self) -> list[str]:
        """What is not exact: a job not Completed, stats off its file, a dataset count off its keys."""
        found = []
        for upload_id, upload in self.uploads.items():
            file = self.files[upload_id]
            stats = upload.get("stats") or {}
            expected = {"total": file.lines, "loaded": file.lines, "rejected": 0}
            if upload["status"] != "Completed" or any(stats.get(name) != value for name, value in expected.items()):
                found.append(f"{file.name}: {upload['status']} {stats} (expected {expected})")
            elif stats.get("created", 0) + stats.get("replaced", 0) != len(file.keys):
                found.append(f"{file.name}: created+replaced {stats} != {len(file.keys)} distinct keys")
        for index, dataset_id in enumerate(self.dataset_ids):
            files = [upload_id for upload_id, file in self.files.items() if file.dataset_index == index]
            keys = set().union(*(self.files[upload_id].keys for upload_id in files))
            created = sum((self.uploads[upload_id].get("stats") or {}).get("created", 0) for upload_id in files)
            if self.dataset_counts.get(dataset_id) != len(keys) or created != len(keys):
                found.append(f"dataset {dataset_id}: count {self.dataset_counts.get(dataset_id)}, "
                             f"created {created}, distinct keys {len(keys)}")
        if set(self.get_statuses) - {200}:
            found.append(f"GETs answered {self.get_statuses}")
        return found


def concurrent_uploads(bench: Bench, uploads: int = 30, records: int = 3000, timeout: float = 3600.0,
                       on_final: Callable[[dict], None] | None = None) -> ConcurrentOutcome:
    """`uploads` uploads at once (one thread each; one request_upload call each, within the token's
    burst) while one poller, with a token of its own (the API throttles per token; an account may
    have 5), GETs /v1/uploads/{id} of every upload in turn, one request at a time, until all are final."""
    files = concurrent_files(uploads, records)
    setup = bench.client()
    dataset_ids = [setup.create_dataset(f"concurrent {index}")["id"]
                   for index in range(max(file.dataset_index for file in files) + 1)]
    poller_token = bench.new_token()
    upload_ids: list[str | None] = [None] * len(files)
    started = time.perf_counter()

    def upload(number: int) -> None:
        from cli.client import put_file

        file, client = files[number], bench.client()
        with tempfile.TemporaryDirectory() as scratch:
            path = Path(scratch) / file.name
            path.write_bytes(file.content)
            requested = client.request_upload(file.name, dataset_ids[file.dataset_index], RECORD_TYPE)
            upload_ids[number] = requested["id"]
            put_file(requested["url"], str(path))

    latencies: list[float] = []
    statuses: dict[int, int] = {}
    final: dict[str, dict] = {}
    with ThreadPoolExecutor(max_workers=uploads) as pool:
        sent = [pool.submit(upload, number) for number in range(len(files))]
        session = requests.Session()
        deadline = time.monotonic() + timeout
        while len(final) < len(files) or not all(future.done() for future in sent):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(files) - len(final)} uploads not final after {timeout:.0f} s")
            for future in sent:
                if future.done() and future.exception():
                    raise future.exception()  # type: ignore[misc]
            pending = [upload_id for upload_id in upload_ids if upload_id and upload_id not in final]
            for upload_id in pending or [None]:
                if upload_id is None:
                    time.sleep(POLL_INTERVAL_SECONDS)
                    continue
                asked = time.perf_counter()
                try:
                    answer = session.get(f"{bench.api_url}/v1/uploads/{upload_id}",
                                         headers={"Auth-Api-Token": poller_token}, timeout=GET_TIMEOUT_SECONDS)
                except requests.RequestException:  # counted as status 0: no answer within the timeout
                    answer = None
                latencies.append(time.perf_counter() - asked)
                code = answer.status_code if answer is not None else 0
                statuses[code] = statuses.get(code, 0) + 1
                if answer is not None and code == 200 and answer.json()["status"] in ("Completed", "Failed"):
                    final[upload_id] = answer.json()
                    if on_final:
                        on_final(final[upload_id])
                time.sleep(max(0.0, POLL_INTERVAL_SECONDS - (time.perf_counter() - asked)))
    seconds = time.perf_counter() - started
    counts = {dataset_id: setup.get_dataset(dataset_id)["record_counts"].get(RECORD_TYPE, 0)
              for dataset_id in dataset_ids}
    return ConcurrentOutcome(final, {upload_ids[number]: file for number, file in enumerate(files)},  # type: ignore[misc]
                             dataset_ids, counts, latencies, statuses, seconds)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


# -- c. a whole job vs the same writes straight into the store ----------------------------------------

_CREDENTIAL = re.compile(r"Credential=[^/]*/[^/]*/[^/]*/([^/]+)/")


@dataclass
class Census:
    """Where a stretch of the run spent the process's CPU: each AWS operation moto's server served
    (count, and the CPU of the server thread serving it: time.thread_time, which leaves out GIL waits),
    against the whole process's CPU and the wall time. A Lambda Invoke's own CPU is its handler's main
    thread (handlers run in the server thread); its writer threads and the Step Functions interpreter's
    threads are in the rest."""

    operations: dict[str, list[float]] = field(default_factory=dict)  # name -> [count, cpu seconds]
    process_cpu: float = 0.0
    wall: float = 0.0

    def rows(self, top: int = 12) -> list[str]:
        served = sum(cpu for _, cpu in self.operations.values())
        lines = [(f"wall {self.wall:.1f} s, process CPU {self.process_cpu:.1f} s, of which moto's server threads "
                  f"{served:.1f} s ({served / max(self.process_cpu, 1e-9):.0%})")]
        for name, (count, cpu) in sorted(self.operations.items(), key=lambda item: -item[1][1])[:top]:
            lines.append(f"  {name:<34} {int(count):>7,} requests {cpu:8.2f} s CPU "
                         f"({cpu / max(self.process_cpu, 1e-9):5.1%}) {cpu / count * 1000:7.2f} ms each")
        return lines


def _operation(environ: dict) -> str:
    service = (_CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", "")) or [None, "s3"])[1]
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        return f"{service} {target.rsplit('.', 1)[-1]}"
    path = environ.get("PATH_INFO", "")
    if service == "lambda" and path.endswith("/invocations"):
        return "lambda Invoke"
    return f"{service} {environ.get('REQUEST_METHOD')}"


@contextlib.contextmanager
def census() -> Iterator[Census]:
    """Counts what moto's server serves while the block runs (benchmark support: wraps the local stack's
    moto dispatcher for the block)."""
    from local_stack import moto_server

    seen = Census()
    dispatcher = moto_server._PutBodyUnreadDispatcher
    original = dispatcher.__call__

    def counted(self, environ: dict, start_response):
        started = time.thread_time()
        try:
            return original(self, environ, start_response)
        finally:
            entry = seen.operations.setdefault(_operation(environ), [0, 0.0])
            entry[0] += 1
            entry[1] += time.thread_time() - started

    dispatcher.__call__ = counted  # type: ignore[method-assign]
    cpu, wall = time.process_time(), time.perf_counter()
    try:
        yield seen
    finally:
        dispatcher.__call__ = original  # type: ignore[method-assign]
        seen.process_cpu, seen.wall = time.process_time() - cpu, time.perf_counter() - wall


def job_vs_direct_writes(bench: Bench, records: int, censuses: dict | None = None) -> tuple[float, float]:
    """(job seconds, direct-write seconds) for `records` distinct records into new datasets; `censuses`
    gets the job's and the direct writes' Census."""
    from ingest.adapters import aws
    from ingest.adapters.record_store import RecordStore, RecordWrite

    client = bench.client()
    content = distinct_file("job", records)
    dataset = client.create_dataset("job vs writes: the job")
    with census() as job_census:
        finished, job_seconds = upload_and_wait(client, dataset["id"], "job.ndjson", content, poll=0.5)
    if finished["status"] != "Completed" or finished["stats"]["created"] != records:
        raise AssertionError(f"the job: {finished}")
    direct = client.create_dataset("job vs writes: straight into the store")
    shards = int(_dataset_item(bench, direct["id"]).get("shards", 16))
    writes = [RecordWrite(f"customer_id:job-{index:07d}", line.decode(), index + 1)
              for index, line in enumerate(content.splitlines())]
    store = RecordStore(aws.new_client("dynamodb"), bench.table_name("Records"))
    started = time.perf_counter()
    with census() as direct_census, store.writer(bench.account, direct["id"], RECORD_TYPE, shards, "direct",
                                                 "direct", bench.concurrent_load_threads, 10_000_000) as writer:
        replaced = writer.write(writes)
    direct_seconds = time.perf_counter() - started
    if censuses is not None:
        censuses.update(job=job_census, direct=direct_census)
    if any(old is not None for old in replaced):
        raise AssertionError("direct writes replaced records: the datasets overlap")
    return job_seconds, direct_seconds


# -- d. a large gzip file with repeating keys ---------------------------------------------------------

def gzip_job(bench: Bench, gigabytes: float, distinct_keys: int) -> dict:
    client = bench.client()
    dataset = client.create_dataset("large gzip")
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "large.ndjson.gz"
        lines = 0
        with gzip.open(path, "wb", compresslevel=1) as out:
            for text in repeating_lines(int(gigabytes * 1e9), distinct_keys):
                out.write(text)
                lines += 1
        from cli.client import put_file

        started = time.perf_counter()
        upload = client.request_upload(path.name, dataset["id"], RECORD_TYPE)
        put_file(upload["url"], str(path))
        finished = client.wait_for(upload["id"], timeout=4 * 3600, poll=5)
        seconds = time.perf_counter() - started
        size = path.stat().st_size
    count = client.get_dataset(dataset["id"])["record_counts"].get(RECORD_TYPE)
    stats = finished.get("stats") or {}
    exact = (finished["status"] == "Completed" and stats.get("total") == lines and stats.get("loaded") == lines
             and stats.get("created") == min(lines, distinct_keys) == count)
    return {"lines": lines, "gzip_bytes": size, "seconds": seconds, "exact": exact, "stats": stats,
            "record_count": count, "status": finished["status"]}


# -- the run ------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 20,000 preloaded records, 6 uploads of 200 lines, a 1,000-record job")
    parser.add_argument("--preload", type=int, default=None, help="records preloaded for (a) (default 1,000,000)")
    parser.add_argument("--preload-objects", type=int, default=None,
                        help="kept uploads put into the bucket for (a) (default 50,000; --quick 1,000)")
    parser.add_argument("--small-lines", type=int, default=100)
    parser.add_argument("--small-runs", type=int, default=None, help="small jobs per measurement (median; default 3)")
    parser.add_argument("--uploads", type=int, default=None, help="concurrent uploads for (b) (default 30)")
    parser.add_argument("--upload-records", type=int, default=None, help="lines per concurrent upload (default 3,000)")
    parser.add_argument("--job-records", type=int, default=None, help="records of the job in (c) (default 20,000)")
    parser.add_argument("--gzip-gb", type=float, default=0.0, help="(d): a gzip file of this many GB of lines")
    parser.add_argument("--gzip-keys", type=int, default=200_000, help="distinct keys in the (d) file")
    parser.add_argument("--parts", default="abc", help="which of a, b, c to run (d: --gzip-gb)")
    parser.add_argument("--context", choices=("default", "test"), default="default")
    parser.add_argument("--template", help="an already synthesized template (its context: --context)")
    args = parser.parse_args(argv)
    quick = args.quick
    preload_records = args.preload if args.preload is not None else (20_000 if quick else 1_000_000)
    small_runs = args.small_runs or (1 if quick else 3)
    if args.preload_objects is None:
        args.preload_objects = 1000 if quick else 50_000
    uploads = args.uploads or (6 if quick else 30)
    upload_records = args.upload_records or (200 if quick else 3000)
    job_records = args.job_records or (1000 if quick else 20_000)
    settings = dict(DEFAULT_SETTINGS)
    if args.context == "test":
        settings["load_partitions"] = TEST_CONTEXT["load_partitions"]

    log_path = ROOT / ".local" / "bench-local-lambda.log"
    log_path.parent.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as synth_dir:
        template = Path(args.template) if args.template else synthesize(args.context, Path(synth_dir))
        bench = Bench.start(template, settings)
        # Handlers run in this process and log JSON lines to stdout: keep the figures readable.
        report = sys.stdout
        try:
            with open(log_path, "a", buffering=1) as handler_log, contextlib.redirect_stdout(handler_log):
                return run(bench, args, report, preload_records, small_runs, uploads, upload_records, job_records)
        finally:
            bench.stack.stop()  # type: ignore[attr-defined]


def run(bench: Bench, args, out, preload_records: int, small_runs: int, uploads: int, upload_records: int,
        job_records: int) -> int:
    def say(text: str) -> None:
        print(text, file=out, flush=True)

    say(f"local stack ({args.context} context: {bench.load_partitions} partitions, "
        f"{bench.load_max_concurrency} Loads at once, {LOAD_THREADS} threads each)")
    ok = True
    if "a" in args.parts:
        ok &= small_job_after_preload(bench, args.small_lines, small_runs, preload_records,
                                      args.preload_objects, say)
    if "b" in args.parts:
        ok &= concurrent_uploads_with_poller(bench, uploads, upload_records, say)
    if "c" in args.parts:
        ok &= job_against_direct_writes(bench, job_records, say)
    if args.gzip_gb:
        result = gzip_job(bench, args.gzip_gb, args.gzip_keys)
        ok &= result["exact"]
        say(f"d. {args.gzip_gb:g} GB of lines ({result['lines']:,} lines, {args.gzip_keys:,} distinct keys; "
            f"{result['gzip_bytes'] / 1e6:,.0f} MB gzip): {result['status']} in {result['seconds']:.0f} s, "
            f"counts {'exact' if result['exact'] else 'WRONG'} ({result['stats']}, count {result['record_count']})")
    say("all targets met" if ok else "SOME TARGETS MISSED")
    return 0


def small_job_after_preload(bench: Bench, small_lines: int, small_runs: int, preload_records: int,
                            preload_objects: int, say) -> bool:
    small_job_seconds(bench, small_lines, 1, "warm-up")  # imports, first invocations: not measured
    fresh = small_job_seconds(bench, small_lines, small_runs, "fresh")
    _, preload_seconds = preload(bench, preload_records, preload_objects)
    say(f"a. preloaded {preload_records:,} records into the records table in {preload_seconds:.0f} s, "
        f"and {preload_objects:,} kept uploads into the bucket")
    loaded = small_job_seconds(bench, small_lines, small_runs, "loaded")
    ratio = loaded / fresh
    say(f"a. {small_lines}-line job (median of {small_runs}): fresh {fresh:.2f} s, "
        f"with {preload_records:,} records {loaded:.2f} s -> {ratio:.2f}x (target <= 2x)")
    return ratio <= 2


def concurrent_uploads_with_poller(bench: Bench, uploads: int, upload_records: int, say) -> bool:
    outcome = concurrent_uploads(bench, uploads, upload_records)
    problems = outcome.problems()
    latencies = outcome.get_latencies
    p95 = percentile(latencies, 0.95)
    say(f"b. {uploads} concurrent uploads of {upload_records:,} lines into {len(outcome.dataset_ids)} datasets: "
        f"{sum(u['status'] == 'Completed' for u in outcome.uploads.values())} Completed in {outcome.seconds:.0f} s, "
        f"counts {'exact' if not problems else 'WRONG'}; {len(latencies)} GETs {outcome.get_statuses}: "
        f"p50 {percentile(latencies, 0.5) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
        f"max {max(latencies) * 1000:.0f} ms (target p95 < 2 s)")
    for problem in problems:
        say(f"   {problem}")
    return not problems and p95 < 2


def job_against_direct_writes(bench: Bench, job_records: int, say) -> bool:
    censuses: dict[str, Census] = {}
    job_seconds, direct_seconds = job_vs_direct_writes(bench, job_records, censuses)
    speed = direct_seconds / job_seconds
    say(f"c. {job_records:,}-record job {job_seconds:.1f} s ({job_records / job_seconds:,.0f}/s) vs the same "
        f"UpdateItems straight into the local DynamoDB on {bench.concurrent_load_threads} threads "
        f"{direct_seconds:.1f} s ({job_records / direct_seconds:,.0f}/s) -> {speed:.2f}x (target >= 0.8x)")
    job_cpu, direct_cpu = censuses["job"].process_cpu, censuses["direct"].process_cpu
    # On a shared machine the wall ratio follows the share of a core each stretch got; CPU does not.
    say(f"   process CPU: job {job_cpu:.1f} s, direct writes {direct_cpu:.1f} s -> {direct_cpu / job_cpu:.2f}x")
    for name, seen in censuses.items():
        say(f"   {name}: " + "\n   ".join(seen.rows()))
    return speed >= 0.8


if __name__ == "__main__":
    sys.exit(main())
