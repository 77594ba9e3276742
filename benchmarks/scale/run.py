"""Runs the real step code of one upload job on a generated file, step by step, each invocation in its
own forked process (as each is its own Lambda invocation), and measures what it used.

Per invocation: CPU seconds of the process (every thread) less the CPU spent in the bench's own fakes
(the file-backed S3, the DynamoDB model), the process's peak RSS (ru_maxrss, as Lambda's "Max Memory
Used" counts the runtime too), the peak bytes under its own TMPDIR (sampled every 0.1 s, and at the
end), the S3 requests and bytes it made, and the record writes and reads (the pre-read of what a load
replaces, kept for a revert) it sent to the DynamoDB model.

The control tables (jobs, datasets) are the in-memory fakes of tests/unit/fakes.py, passed back and
forth between the processes by pickling; each of their calls is counted (they are DynamoDB writes and
reads too, priced as such).
"""

from __future__ import annotations

import os
import pickle
import resource
import shutil
import signal
import tempfile
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing import Pipe
from pathlib import Path
from typing import Any

import orjson

from benchmarks.scale.dynamodb import ModelledDynamoDB, ReadTally, WriteTally, modelled_client, modelled_wire
from benchmarks.scale.s3 import FileS3, S3Meter

BUCKET = "uploads"
RECORDS_TABLE = "records"
ACCOUNT = "bench-account"
# Load runs unpaced here (its token bucket never waits): the pace is what the DynamoDB model charges for.
UNPACED_RATE = 10**9


@dataclass
class Invocation:
    step: str
    cpu_s: float
    wall_s: float
    peak_rss_bytes: int
    baseline_rss_bytes: int
    tmp_peak_bytes: int
    s3: dict
    writes: WriteTally
    control_calls: Counter
    reads: ReadTally = field(default_factory=ReadTally)  # the records table's reads (the revert pre-read)

    @property
    def s3_requests(self) -> int:
        return sum(self.s3["requests"].values())


@dataclass
class JobRun:
    """Every invocation of one job, and what the job produced."""

    label: str
    plain_bytes: int
    object_bytes: int
    gzip: bool
    records: int
    settings: Any
    invocations: list[Invocation] = field(default_factory=list)
    outcome: Any = None
    job: Any = None

    def of(self, step: str) -> list[Invocation]:
        return [inv for inv in self.invocations if inv.step == step]


class Counted:
    """A control-table fake whose method calls are counted (DynamoDB requests on AWS)."""

    def __init__(self, inner: Any):
        self.inner = inner
        self.calls: Counter = Counter()

    def __getattr__(self, name: str):
        attribute = getattr(self.inner, name)
        if not callable(attribute):
            return attribute

        def call(*args, **kwargs):
            self.calls[name] += 1
            return attribute(*args, **kwargs)
        return call


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _tree_bytes(path: Path) -> int:
    total = 0
    for folder, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(folder, name))
            except OSError:
                pass
    return total


class Harness:
    """The context every step gets, over a file-backed S3 and the DynamoDB model, and the runner."""

    def __init__(self, workdir: Path, settings, load_writes: str = "wire"):
        from ingest.adapters.object_store import ObjectStore
        from ingest.adapters.record_store import RecordStore
        from ingest.logic.load.context import LoadContext
        from tests.unit.fakes import FakeDatasetsTable, FakeJobsTable

        self.workdir = Path(workdir)
        self.s3 = FileS3(self.workdir / "s3")
        self.ddb = ModelledDynamoDB()
        self.jobs = Counted(FakeJobsTable())
        self.datasets = Counted(FakeDatasetsTable())
        self.settings = settings
        # A Load's writes go through the wire sender, as the functions' wiring makes them
        # (handlers/wiring.py); load_writes="boto3" sends them through the boto3 client instead.
        wire = modelled_wire(self.ddb) if load_writes == "wire" else None
        records = RecordStore(modelled_client(self.ddb), RECORDS_TABLE, load_writes=wire)
        self.ctx = LoadContext(objects=ObjectStore(self.s3, BUCKET), jobs=self.jobs, datasets=self.datasets,
                               records=records, audiences=None, settings=settings)
        self._counter = 0

    def invoke(self, step: str, action: Callable[[Any], Any]) -> tuple[Any, Invocation]:
        """Run action(ctx) in a forked process; returns its result and what the invocation used."""
        self._counter += 1
        tmp = self.workdir / "tmp" / f"{self._counter:05d}-{step}"
        tmp.mkdir(parents=True)
        receiver, sender = Pipe(duplex=False)
        baseline = _rss_bytes()
        pid = os.fork()
        if pid == 0:  # the invocation
            code = 0
            try:
                sender.send_bytes(pickle.dumps(self._child(step, action, tmp)))
            except BaseException:  # noqa: BLE001 - everything goes back to the parent, which raises
                sender.send_bytes(pickle.dumps({"error": traceback.format_exc()}))
                code = 1
            finally:
                os._exit(code)
        sender.close()
        try:
            message = pickle.loads(receiver.recv_bytes())  # noqa: S301 (from our own forked child)
        except EOFError:  # it ended without answering: killed (the OOM killer, a signal) or exited
            message = None
        _, status, usage = os.wait4(pid, 0)
        receiver.close()
        shutil.rmtree(tmp, ignore_errors=True)
        if message is None:
            raise RuntimeError(f"{step}: its invocation {_ending(status)} before answering")
        if "error" in message:
            raise RuntimeError(f"{step} failed in its invocation:\n{message['error']}")
        self.jobs.inner, self.datasets.inner = message["jobs"], message["datasets"]
        self.jobs.calls.update(message["jobs_calls"])
        self.datasets.calls.update(message["datasets_calls"])
        invocation = Invocation(
            step=step, cpu_s=message["cpu_s"], wall_s=message["wall_s"],
            peak_rss_bytes=usage.ru_maxrss * 1024, baseline_rss_bytes=baseline,
            tmp_peak_bytes=message["tmp_peak"], s3=message["s3"], writes=WriteTally.from_state(message["writes"]),
            control_calls=Counter(message["jobs_calls"]) + Counter(message["datasets_calls"]),
            reads=ReadTally.from_state(message["reads"]))
        return message["result"], invocation

    def _child(self, step: str, action: Callable[[Any], Any], tmp: Path) -> dict:
        os.environ["TMPDIR"] = str(tmp)
        tempfile.tempdir = str(tmp)
        self.s3.meter = S3Meter()
        self.ddb.tally = WriteTally()
        self.ddb.reads = ReadTally()
        self.ddb.cpu_s = 0.0
        self.jobs.calls.clear()
        self.datasets.calls.clear()
        peak = {"tmp": 0}
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.1):
                peak["tmp"] = max(peak["tmp"], _tree_bytes(tmp))

        sampler = threading.Thread(target=sample, daemon=True)
        before = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        sampler.start()
        result = action(self.ctx)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_SELF)
        done.set()
        sampler.join()
        peak["tmp"] = max(peak["tmp"], _tree_bytes(tmp))
        cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        return {"result": result, "cpu_s": max(0.0, cpu - self.s3.meter.cpu_s - self.ddb.cpu_s), "wall_s": wall,
                "tmp_peak": peak["tmp"], "s3": self.s3.meter.state(), "writes": self.ddb.tally.state(),
                "reads": self.ddb.reads.state(),
                "jobs": self.jobs.inner, "datasets": self.datasets.inner,
                "jobs_calls": dict(self.jobs.calls), "datasets_calls": dict(self.datasets.calls)}

    # -- the job, state by state (as the state machine runs it) -----------------------------------------
    def create_upload(self, filename: str, source: Path, record_type: str) -> str:
        from ingest.logic import datasets, uploads
        from ingest.models.datasets import NewDataset
        from ingest.models.uploads import UploadRequest

        dataset = datasets.create_dataset(self.datasets, ACCOUNT, NewDataset.model_validate({"name": "bench"}))
        request = UploadRequest.model_validate({
            "filename": filename,
            "destination": {"destination_type": "dataset_load", "dataset_id": dataset.id, "record_type": record_type}})
        view = uploads.request_upload(self.jobs, self.datasets, self.ctx.objects, None, ACCOUNT, request, 3600)
        upload_id = view.id
        key = self.jobs.get(ACCOUNT, upload_id)["object_key"]
        target = self.s3.path(BUCKET, key)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source, target)  # the generated file as the uploaded object, without a copy
        except OSError:
            shutil.copyfile(source, target)
        self.jobs.calls.clear()
        self.datasets.calls.clear()
        return upload_id

    def manifest(self, key: str) -> list[dict]:
        items = orjson.loads(self.s3.path(BUCKET, key).read_bytes())
        return [item.get("task", item) for item in items]

    def run_job(self, run: JobRun, source: Path, filename: str, record_type: str,
                progress: Callable[[str], None] = lambda _: None, load: bool = True) -> JobRun:
        """Every state of one job; with load=False it stops after PlanLoad (run.job then has the split
        totals, run.outcome stays None)."""
        from ingest.logic.load import decompress, finalize, inspect, loading, members, scan, split
        from ingest.logic.load.layout import WorkKeys
        from ingest.models.workflow import DecompressState, ExecutionInput, MemberGroupTask, PartitionTask, RangeTask

        upload_id = self.create_upload(filename, source, record_type)
        keys = WorkKeys(ACCOUNT, upload_id)

        def step(name: str, action: Callable[[Any], Any]) -> Any:
            result, invocation = self.invoke(name, action)
            run.invocations.append(invocation)
            return result

        progress("Inspect")
        job = step("Inspect", lambda ctx: inspect.inspect(ctx, ExecutionInput(account_id=ACCOUNT, upload_id=upload_id)))
        if job.gzip:
            if job.member_groups:  # in parallel by member; not a chain of members: the Decompress chain
                groups = [MemberGroupTask.model_validate(item) for item in self.manifest(keys.inflate_manifest)]
                progress(f"InflateMembers x{len(groups)}")
                for group in groups:
                    step("InflateMembers", lambda ctx, group=group: members.inflate_group(ctx, job, group))
                job = step("JoinMembers", lambda ctx: members.join_members(ctx, job))
            state = DecompressState(job=job)
            while job.ranges is None:
                progress("Decompress")
                state = step("Decompress", lambda ctx, state=state: decompress.decompress(ctx, state.job,
                                                                                          state.decompress))
                job = state.job if state.decompress is None else job
        else:
            tasks = [RangeTask.model_validate(item) for item in self.manifest(keys.scan_manifest)]
            progress(f"Scan x{len(tasks)}")
            for task in tasks:
                step("Scan", lambda ctx, task=task: scan.scan_range(ctx, job, task))
            job = step("PlanSplit", lambda ctx: scan.plan_split(ctx, job))
        tasks = [RangeTask.model_validate(item) for item in self.manifest(keys.split_manifest)]
        progress(f"Split x{len(tasks)}")
        for task in tasks:
            step("Split", lambda ctx, task=task: split.split_range(ctx, job, task))
        planned = step("PlanLoad", lambda ctx: split.plan_load(ctx, job))
        job = run.job = planned.job
        if not planned.within_budget:
            raise RuntimeError("the generated file was over its error budget")
        if not load:
            return run
        partitions = [PartitionTask.model_validate(item) for item in self.manifest(keys.load_manifest)]
        progress(f"Load x{len(partitions)}")
        for task in partitions:
            step("Load", lambda ctx, task=task: loading.load_partition(ctx, job, task, f"attempt-{task.partition}"))
        progress("Finalize")
        run.outcome = step("Finalize", lambda ctx: finalize.finalize(ctx, job))
        run.job = job
        return run


def _ending(status: int) -> str:
    """How a child process ended, from its wait status: "was killed by SIGKILL", "exited with 3"."""
    code = os.waitstatus_to_exitcode(status)
    if code < 0:
        return f"was killed by {signal.Signals(-code).name}"
    return f"exited with {code}"
