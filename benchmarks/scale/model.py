"""From what the sample jobs measured to the scenarios: each step's modelled time on Lambda against its
timeout, its memory and /tmp against its limits, the job's wall time against the table's write floor,
and the cost per million records.

Extrapolation (the sample is smaller than the scenarios; docs/capacity.md discusses it):
  - CPU scales with what drives it: bytes of the range (Scan, Split), plain bytes (Decompress), records
    (Load); the planning steps with the number of ranges, Finalize with ranges x partitions (the work
    files it lists and deletes). A step's CPU on Lambda = CPU here x LAMBDA_CPU_SPEED_VS_HERE / its vCPU
    share (memory / 1,769 MB, at most 1: the steps are single-threaded where it counts).
  - S3 transfer = bytes moved / S3_BYTES_PER_S_PER_CONNECTION, requests x S3_REQUEST_LATENCY_S, added to
    the CPU (no overlap assumed: the pessimistic case).
  - Load = its reads (S3 parts, and the revert journal's pre-read of a window's keys where it reads them
    first: its BatchGetItem calls one after another) + the larger of its CPU and its writes' time under
    the DynamoDB model (the writes overlap the CPU on the writer's threads). The sample loads fresh keys,
    so every window is journalled optimistically: no read, no refused write. `every_key_exists` models
    the other end: each Load's first PROBE_KEYS keys refused (a write unit each) and written again, every
    later key read first (logic/load/loading.py `reads_first`).
  - Memory and /tmp: the sample's peak per step. Every step holds a bounded window whatever the file;
    the sample runs full-size ranges (range_bytes as configured), so its peaks are the scenarios' peaks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from benchmarks.scale import figures
from benchmarks.scale.dynamodb import ReadTally, WriteLimits, WriteTally
from benchmarks.scale.limits import FunctionLimits
from benchmarks.scale.run import Invocation, JobRun
from benchmarks.scale.s3 import FREE, PUT_CLASS
from ingest.adapters.record_store import BATCH_GET_LIMIT
from ingest.logic.load.context import partitions_for
from ingest.logic.load.decompress import PART_UPLOADS
from ingest.logic.load.loading import PROBE_KEYS

GIB = 1024**3
TARGET_SHARE = 0.5  # every step under 50 % of its timeout, memory and /tmp
TARGET_FLOOR_RATIO = 1.2  # the job within 1.2x the table's write floor
TARGET_OTHER_COST = 0.05  # everything else <= 5 % of the DynamoDB write cost
# Step Functions (Standard) transitions: the job's own states, and per Distributed Map child execution
# (its start, its one Task state, its end). ASSUMPTION from the state machine's shape (docs/load_workflow.md).
MAIN_STATE_TRANSITIONS = 12
TRANSITIONS_PER_CHILD = 3
PRE_READ = "DynamoDB reads (revert pre-read)"
REFUSED = "DynamoDB refused writes (revert journal)"


@dataclass(frozen=True)
class Scenario:
    name: str
    object_bytes: int  # as uploaded (compressed, for gzip)
    plain_bytes: int
    gzip: bool
    members: bool = False  # gzip written as independent members (the CLI's multipart upload): InflateMembers
    # Issue 12 sets the job-vs-write-floor target (TARGET_FLOOR_RATIO) for 10 M records only; the other
    # scenarios print their ratio without a verdict.
    floor_target: bool = False


@dataclass
class StepRates:
    """One step's figures from the sample, per unit of what drives it."""

    step: str
    invocations: int
    driver_total: float  # bytes, records, ranges... summed over the sample's invocations
    cpu_s: float
    bytes_moved: int
    requests: dict[str, int]
    peak_rss: int
    peak_tmp: int
    writes: WriteTally
    reads: ReadTally = field(default_factory=ReadTally)

    @property
    def cpu_per_driver(self) -> float:
        return self.cpu_s / self.driver_total if self.driver_total else 0.0

    @property
    def bytes_per_driver(self) -> float:
        return self.bytes_moved / self.driver_total if self.driver_total else 0.0


@dataclass
class StepModel:
    step: str
    function: FunctionLimits
    invocations: int
    seconds: float  # the longest invocation
    total_seconds: float  # all invocations (Lambda GB-s)
    peak_rss: int
    peak_tmp: int
    bounds: dict[str, float] = field(default_factory=dict)  # Load: what its write time is bound by
    requests: dict[str, float] = field(default_factory=dict)  # S3 requests of all its invocations, by operation

    @property
    def time_share(self) -> float:
        return self.seconds / self.function.timeout_s

    @property
    def memory_share(self) -> float:
        return self.peak_rss / (self.function.memory_mb * 1024 * 1024)

    @property
    def tmp_share(self) -> float:
        return self.peak_tmp / (self.function.ephemeral_mb * 1024 * 1024)

    @property
    def worst_share(self) -> float:
        return max(self.time_share, self.memory_share, self.tmp_share)


@dataclass
class JobModel:
    scenario: Scenario
    records: int
    ranges: int
    partitions: int
    steps: list[StepModel]
    wall_s: float
    write_floor_s: float
    load_phase_bounds: dict[str, float]
    costs: dict[str, float]  # USD for the whole job, by item
    quantities: dict[str, str] = field(default_factory=dict)  # what each cost counts, by item (printed)

    @property
    def floor_ratio(self) -> float:
        return self.wall_s / self.write_floor_s

    @property
    def dynamodb_writes_cost(self) -> float:
        return self.costs["DynamoDB writes"]

    @property
    def other_cost(self) -> float:
        return sum(value for name, value in self.costs.items() if name != "DynamoDB writes")

    @property
    def other_share(self) -> float:
        """Everything but the record writes, as a share of the record writes' cost (target <= 5 %)."""
        return self.other_cost / self.dynamodb_writes_cost

    def share_of(self, item: str) -> float:
        return self.costs.get(item, 0.0) / self.dynamodb_writes_cost

    def per_million(self, usd: float) -> float:
        return usd / self.records * 1e6


def _driver(run: JobRun, invocation: Invocation) -> float:
    """What an invocation's work grows with."""
    step = invocation.step
    if step in ("Scan", "Split"):
        return invocation.s3["bytes_out"]  # the range it read
    if step in ("Decompress", "InflateMembers"):
        return invocation.s3["bytes_in"]  # the plain parts (member outputs) it wrote
    if step == "Load":
        return invocation.writes.items
    if step in ("PlanSplit", "PlanLoad", "JoinMembers"):
        return run.job.ranges or 1
    if step == "Finalize":
        return (run.job.ranges or 1) * run.job.partitions
    return 1.0  # Inspect


def load_cpu_per_record(load_rates: StepRates) -> float:
    """A Load's CPU a record here: the sample's (the DynamoDB model answers below HTTP) plus each write
    call's HTTP exchange, which the sample leaves out (figures.HTTP_CPU_PER_WRITE_CALL_S)."""
    calls_per_record = load_rates.writes.calls / load_rates.writes.items if load_rates.writes.items else 0.0
    return load_rates.cpu_per_driver + figures.HTTP_CPU_PER_WRITE_CALL_S.value * calls_per_record


def rates_of(run: JobRun) -> dict[str, StepRates]:
    rates: dict[str, StepRates] = {}
    for invocation in run.invocations:
        rate = rates.setdefault(invocation.step, StepRates(invocation.step, 0, 0.0, 0.0, 0, {}, 0, 0, WriteTally()))
        rate.invocations += 1
        rate.driver_total += _driver(run, invocation)
        rate.cpu_s += invocation.cpu_s
        rate.bytes_moved += invocation.s3["bytes_in"] + invocation.s3["bytes_out"]
        for operation, count in invocation.s3["requests"].items():
            rate.requests[operation] = rate.requests.get(operation, 0) + count
        rate.peak_rss = max(rate.peak_rss, invocation.peak_rss_bytes)
        rate.peak_tmp = max(rate.peak_tmp, invocation.tmp_peak_bytes)
        rate.writes.merge(invocation.writes)
        rate.reads.merge(getattr(invocation, "reads", ReadTally()))  # runs saved before reads were counted: none
    return rates


def hottest_share(run: JobRun) -> float:
    """The largest share of one Load's write units that went to a single partition-key value."""
    shares = [max(inv.writes.units_by_partition.values()) / inv.writes.units
              for inv in run.of("Load") if inv.writes.units]
    return max(shares, default=0.0)


def _request_seconds(requests: float) -> float:
    return requests * figures.S3_REQUEST_LATENCY_S.value


def _transfer_seconds(moved: float) -> float:
    return moved / figures.S3_BYTES_PER_S_PER_CONNECTION.value


def _cpu_on_lambda(cpu_here: float, function: FunctionLimits) -> float:
    return cpu_here * figures.LAMBDA_CPU_SPEED_VS_HERE.value / function.vcpu


@dataclass(frozen=True)
class Scale:
    """How a scenario's counts relate to the sample's: ranges, work files (ranges x partitions), plain bytes."""

    ranges: float
    files: float
    plain_bytes: float
    windows: float = 1.0  # one Load's windows (one revert journal object each) vs the sample Load's
    partitions: float = 1.0  # the scenario's partitions vs the sample's (Split writes one work file each)

    def requests(self, step: str, requests: dict[str, int], invocations: int) -> dict[str, float]:
        """One invocation's requests in the scenario, by operation. GETs of per-range objects grow with the
        ranges (Load reads one part per range, the planning steps one result per range), Load's writes
        with its windows (one revert journal object each), Split's with the partitions (a work file each); Finalize's
        listing and deleting with the work files (1,000 keys a page); Decompress's parts with the
        plain bytes; everything else is per invocation."""
        scaled = {}
        for operation, count in requests.items():
            each = count / invocations
            if step == "Decompress":
                each *= self.plain_bytes
            elif step in ("Load", "PlanSplit", "PlanLoad") and operation == "get_object":
                each *= self.ranges
            elif step == "Load" and operation in PUT_CLASS:  # the journal: one object per window
                each *= self.windows
            elif step == "Split" and operation in PUT_CLASS:  # one work file per partition with lines
                each *= self.partitions
            elif step == "Finalize" and operation in ("list_objects_v2", "delete_objects"):
                each *= self.files
            elif step == "Finalize" and operation == "get_object":  # each Load's result
                each *= self.partitions
            scaled[operation] = each
        return scaled


@dataclass(frozen=True)
class Plan:
    """The sizes the job runs with (LoadSettings, and the Map concurrency of Scan/Split)."""

    range_bytes: int
    partitions: int  # at least this many (LoadSettings.partitions)
    partition_bytes: int  # at most this many bytes of lines per partition (LoadSettings.partitions_for)
    max_partitions: int
    load_concurrency: int
    split_concurrency: int
    write_rate: float  # all Loads of one job together
    load_threads: int
    load_window_records: int = 20_000  # LoadSettings.load_window_records: one journal object and pre-read each
    decompress_budget_s: float = 240.0  # LoadSettings.decompress_budget_seconds
    inflate_group_bytes: int = 64 * 1024 * 1024  # LoadSettings.inflate_group_bytes
    seek_point_bytes: int = 32 * 1024 * 1024  # LoadSettings.inflate_seek_point_bytes


def model_job(scenario: Scenario, plain_run: JobRun, gzip_run: JobRun | None, limits: dict[str, FunctionLimits],
              plan: Plan, hot_share: float | None = None, members_run: JobRun | None = None,
              every_key_exists: bool = False) -> JobModel:
    """The scenario's job, from the sample runs' rates (the gzip run gives Decompress's rates).
    hot_share: what-if for the share of one Load's writes on its busiest partition-key value (default:
    as measured). every_key_exists: what-if every key the job writes already held another upload's item
    (module docstring)."""
    plain_rates = rates_of(plain_run)
    gzip_rates = rates_of(gzip_run) if gzip_run else {}
    members_rates = rates_of(members_run) if members_run else {}
    record_bytes = plain_run.plain_bytes / plain_run.records
    records = round(scenario.plain_bytes / record_bytes)
    ranges = math.ceil(scenario.plain_bytes / plan.range_bytes)
    partitions = partitions_for(scenario.plain_bytes, at_least=plan.partitions, bytes_each=plan.partition_bytes,
                                at_most=plan.max_partitions, concurrency=plan.load_concurrency)
    sample_ranges = plain_run.job.ranges or 1
    sample_work_files = sample_ranges * plain_run.job.partitions
    sample_loads = plain_rates["Load"].invocations
    sample_windows = math.ceil(plain_rates["Load"].writes.items / sample_loads / plan.load_window_records)
    steps: list[StepModel] = []

    scale = Scale(ranges=ranges / sample_ranges,
                  files=math.ceil(ranges * partitions / 1000) / math.ceil(sample_work_files / 1000),
                  plain_bytes=scenario.plain_bytes / gzip_rates["Decompress"].driver_total if "Decompress" in gzip_rates
                  else 1.0,
                  windows=math.ceil(records / partitions / plan.load_window_records) / max(1, sample_windows),
                  partitions=partitions / plain_run.job.partitions)

    def modelled(step: str, rates: StepRates, invocations: int, driver_each: float, extra: float = 0.0,
                 connections: int = 1) -> StepModel:
        function = limits[step]
        requests_each = sum(scale.requests(step, rates.requests, rates.invocations).values())
        cpu = _cpu_on_lambda(rates.cpu_per_driver * driver_each, function)
        transfer = _transfer_seconds(rates.bytes_per_driver * driver_each) / connections
        seconds = cpu + transfer + _request_seconds(requests_each) + extra
        requests = {operation: each * invocations
                    for operation, each in scale.requests(step, rates.requests, rates.invocations).items()}
        return StepModel(step, function, invocations, seconds, seconds * invocations, rates.peak_rss, rates.peak_tmp,
                         requests=requests)

    def per_byte(step: str, rates: StepRates, invocations: int, plain_each: float) -> StepModel:
        """A step whose every cost grows with the plain bytes it writes (InflateMembers, one group's)."""
        function = limits[step]
        share = plain_each / (rates.driver_total / rates.invocations)  # of one sample invocation's plain bytes
        requests = {operation: count / rates.invocations * share for operation, count in rates.requests.items()}
        seconds = (_cpu_on_lambda(rates.cpu_per_driver * plain_each, function)
                   + _transfer_seconds(rates.bytes_per_driver * plain_each) / PART_UPLOADS
                   + _request_seconds(sum(requests.values())))
        return StepModel(step, function, invocations, seconds, seconds * invocations, rates.peak_rss, rates.peak_tmp,
                         requests={operation: each * invocations for operation, each in requests.items()})

    steps.append(modelled("Inspect", plain_rates["Inspect"], 1, 1))
    if scenario.gzip:
        if "Decompress" not in gzip_rates:
            raise ValueError("a gzip scenario needs the gzip sample run")
        rates = gzip_rates["Decompress"]
        groups = math.ceil(scenario.object_bytes / plan.inflate_group_bytes)
        ratio = scenario.plain_bytes / scenario.object_bytes
        if scenario.members:
            if "InflateMembers" not in members_rates:
                raise ValueError("a multi-member gzip scenario needs the multi-member sample run")
            steps.append(per_byte("InflateMembers", members_rates["InflateMembers"], groups,
                                  scenario.plain_bytes / groups))
            steps.append(modelled("JoinMembers", members_rates["JoinMembers"], 1, groups))
        else:
            if groups > 1 and "InflateMembers" in members_rates:
                # Tried by member first: each group reads its range, the first inflates into the second's
                # (its one member goes on), then all stop: the worst group's cost, for every group.
                first = per_byte("InflateMembers", members_rates["InflateMembers"], 1,
                                 2 * plan.inflate_group_bytes * ratio)
                others = (groups - 1) * (_transfer_seconds(plan.inflate_group_bytes) + _request_seconds(1))
                first.invocations, first.total_seconds = groups, first.total_seconds + others
                first.requests["get_object"] = first.requests.get("get_object", 0) + groups - 1
                steps.append(first)  # the others only read their range and find no member start in it
                steps.append(modelled("JoinMembers", members_rates["JoinMembers"], 1, groups))
            # One pass, cut into a chain of invocations of decompress_budget_s each (logic/load/decompress.py):
            # each goes on to the end of its part and first inflates again from its seek point.
            one_pass = modelled("Decompress", rates, 1, scenario.plain_bytes, connections=PART_UPLOADS)
            links = max(1, math.ceil(one_pass.seconds / plan.decompress_budget_s))
            plain_each = scenario.plain_bytes / links
            part = plan.range_bytes * one_pass.seconds / scenario.plain_bytes
            resume = 2 * plan.seek_point_bytes * one_pass.seconds / scenario.plain_bytes if links > 1 else 0.0
            each = min(one_pass.seconds, plain_each * one_pass.seconds / scenario.plain_bytes + part) + resume
            steps.append(StepModel("Decompress", one_pass.function, links, each, each * links, rates.peak_rss,
                                   rates.peak_tmp, requests=one_pass.requests))
    else:
        steps.append(modelled("Scan", plain_rates["Scan"], ranges, min(plan.range_bytes, scenario.plain_bytes)))
        steps.append(modelled("PlanSplit", plain_rates["PlanSplit"], 1, ranges))
    steps.append(modelled("Split", plain_rates["Split"], ranges, min(plan.range_bytes, scenario.plain_bytes)))
    steps.append(modelled("PlanLoad", plain_rates["PlanLoad"], 1, ranges))

    # Load: one partition's records, its reads, and its writes under the DynamoDB model.
    load_rates = plain_rates["Load"]
    per_load = records / partitions
    units_per_record = load_rates.writes.units / load_rates.writes.items
    calls_per_record = load_rates.writes.calls / load_rates.writes.items
    hot = hottest_share(plain_run) if hot_share is None else hot_share
    # The revert journal (logic/load/loading.py): a window is kept optimistically (no read; a key another
    # upload holds refuses the write, at the existing item's write units, and is written again) or read
    # first (1 RRU a key). The sample's keys are fresh: as measured, no refusal and no read.
    windows_per_load = math.ceil(per_load / plan.load_window_records)
    if every_key_exists:
        refused_per_load = min(per_load, PROBE_KEYS)  # the first window's probe; then read first
        keys_per_load = per_load - refused_per_load
        read_windows = windows_per_load  # the first window's rest too
        item_bytes = load_rates.writes.item_bytes / load_rates.writes.items
        read_units_per_key = float(max(1, math.ceil(item_bytes / figures.READ_UNIT_BYTES.value)))
    else:
        refused_per_load = 0.0
        keys_per_load = per_load * load_rates.reads.keys / load_rates.writes.items
        read_windows = windows_per_load
        read_units_per_key = load_rates.reads.units / load_rates.reads.keys if load_rates.reads.keys else 0.0
    refused_units = refused_per_load * units_per_record  # the existing item: a record like the one written
    load_units = per_load * units_per_record + refused_units
    one_load = WriteTally(calls=round(per_load * calls_per_record), items=round(per_load), units=round(load_units))
    one_load.units_by_partition["hottest"] = round(load_units * hot)
    load_bounds = one_load.bounds(WriteLimits(rate_per_s=plan.write_rate / plan.load_concurrency,
                                              threads=plan.load_threads))
    del load_bounds["table limit"]  # the table is shared by every Load: a bound of the job (below), not of one Load
    load_function = limits["Load"]
    load_cpu = _cpu_on_lambda(load_cpu_per_record(load_rates) * per_load
                              + figures.HTTP_CPU_PER_WRITE_CALL_S.value * refused_per_load, load_function)
    load_scaled = scale.requests("Load", load_rates.requests, load_rates.invocations)
    # Journal objects beyond the sample's one a window (its Loads are smaller than PROBE_KEYS): an
    # optimistic window over PROBE_KEYS keys writes its probe and its rest apart; every key existing, the
    # first window's probe, its found items and its rest (read first), the later windows one each.
    sample_per_load = load_rates.writes.items / load_rates.invocations
    if sample_per_load <= PROBE_KEYS < min(per_load, plan.load_window_records):
        extra_objects = 2 if every_key_exists else windows_per_load
        load_scaled["put_object"] = load_scaled.get("put_object", 0.0) + extra_objects
    load_requests = sum(load_scaled.values())
    # The pre-read (revert journal): its BatchGetItem calls, one after another before each window's writes.
    # Calls: the keys read, BATCH_GET_LIMIT a call, per window read first (the sample's small Loads end
    # more calls part-full than a scenario's; counting them per record would overstate a scenario's calls).
    read_calls = read_windows * math.ceil(keys_per_load / read_windows / BATCH_GET_LIMIT) if read_windows else 0
    pre_read_s = read_calls * figures.BATCH_GET_LATENCY_S.value
    load_seconds = (_transfer_seconds(load_rates.bytes_per_driver * per_load) + _request_seconds(load_requests)
                    + pre_read_s + max(load_cpu, *load_bounds.values()))
    steps.append(StepModel("Load", load_function, partitions, load_seconds, load_seconds * partitions,
                           load_rates.peak_rss, load_rates.peak_tmp,
                           {"CPU": load_cpu, **load_bounds, "pre-read calls (before the writes)": pre_read_s},
                           requests={operation: each * partitions for operation, each in load_scaled.items()}))
    work_files = ranges * partitions
    steps.append(modelled("Finalize", plain_rates["Finalize"], 1, work_files))

    # The job: its states one after another, each Map in waves of its concurrency.
    by_step = {model.step: model for model in steps}
    total_units = records * units_per_record
    job_tally = WriteTally(items=records, units=round(total_units + refused_units * partitions))
    # The hottest key over the whole job: with every Load on its own key (hot share 1: the partition
    # decides the shard) one Load's units; with Loads spread over all the shards, the job's share.
    job_tally.units_by_partition["hottest"] = round(max(load_units * hot, total_units * hot / plan.partitions
                                                        if hot < 1 else 0))
    load_phase_bounds = {
        "Load waves": math.ceil(partitions / plan.load_concurrency) * by_step["Load"].seconds,
        **{f"job: {name}": value for name, value in job_tally.bounds(WriteLimits(rate_per_s=plan.write_rate)).items()
           if name != "call latency"},
    }
    load_phase = max(load_phase_bounds.values())
    split_waves = math.ceil(ranges / plan.split_concurrency)
    wall = by_step["Inspect"].seconds
    if scenario.gzip:
        for name in ("InflateMembers", "JoinMembers", "Decompress"):
            if name in by_step:
                waves = math.ceil(by_step[name].invocations / plan.split_concurrency) if name == "InflateMembers" else 1
                wall += (waves * by_step[name].seconds if name == "InflateMembers"
                         else by_step[name].total_seconds)
    else:
        wall += split_waves * by_step["Scan"].seconds + by_step["PlanSplit"].seconds
    wall += (split_waves * by_step["Split"].seconds + by_step["PlanLoad"].seconds + load_phase
             + by_step["Finalize"].seconds)
    wall += MAIN_STATE_TRANSITIONS * figures.STATE_OVERHEAD_S.value
    write_floor = total_units / plan.write_rate

    # Costs of the whole job.
    gb_seconds = sum(model.total_seconds * model.function.memory_mb / 1024 for model in steps)
    invocations = sum(model.invocations for model in steps)
    children = sum(model.invocations for model in steps if model.step in ("Scan", "Split", "Load", "InflateMembers"))
    chain_links = sum(model.invocations - 1 for model in steps if model.step == "Decompress")  # its loop's states
    put_class = get_class = 0.0
    for model in steps:
        for operation, scaled in model.requests.items():
            if operation in PUT_CLASS:
                put_class += scaled
            elif operation not in FREE:
                get_class += scaled
    # Work files live from Split (or Decompress) until Finalize deletes them: about the job's wall time
    # after Inspect. Split's output is about the plain bytes (the frames add the line number and key).
    split_out_ratio = plain_rates["Split"].bytes_moved / plain_rates["Split"].driver_total - 1
    work_bytes = scenario.plain_bytes * split_out_ratio + (scenario.plain_bytes if scenario.gzip else 0)
    storage_gb_months = work_bytes / 1e9 * wall / figures.SECONDS_PER_MONTH
    control_requests = sum(sum(inv.control_calls.values()) for inv in plain_run.invocations)
    control_requests *= (ranges + partitions) / (sample_ranges + plain_run.job.partitions)
    transitions = MAIN_STATE_TRANSITIONS + TRANSITIONS_PER_CHILD * children + 2 * chain_links
    read_units = keys_per_load * partitions * read_units_per_key
    refused_total = refused_units * partitions
    load_gb_seconds = by_step["Load"].total_seconds * load_function.memory_mb / 1024
    costs = {
        "DynamoDB writes": total_units * figures.PRICE_WRITE_REQUEST_UNIT.value,
        "Lambda": gb_seconds * figures.PRICE_LAMBDA_GB_SECOND.value + invocations * figures.PRICE_LAMBDA_REQUEST.value,
        "Step Functions": transitions * figures.PRICE_STATE_TRANSITION.value,
        "S3 requests": put_class * figures.PRICE_S3_PUT.value + get_class * figures.PRICE_S3_GET.value,
        "S3 storage": storage_gb_months * figures.PRICE_S3_GB_MONTH.value,
        # The Load's pre-read of every key it writes, kept in the revert journal (docs/decision_log.md,
        # "Undo a load"): strongly consistent, 1 read unit per item up to 4 KiB, absent or not.
        PRE_READ: read_units * figures.PRICE_READ_REQUEST_UNIT.value,
        # The optimistic windows' writes refused by another upload's item (DynamoDB still consumes the
        # existing item's write units, at least 1): none for fresh keys.
        REFUSED: refused_total * figures.PRICE_WRITE_REQUEST_UNIT.value,
        # jobs and datasets items: progress, hold, counts (priced as 1 write unit each: an upper bound)
        "DynamoDB control tables": control_requests * figures.PRICE_WRITE_REQUEST_UNIT.value,
    }
    quantities = {
        "DynamoDB writes": f"{total_units:,.0f} WRU",
        "Lambda": f"{gb_seconds:,.0f} GB-s, {load_gb_seconds / gb_seconds:.0%} of it Load's at "
                  f"{load_function.memory_mb} MB; {invocations:,} invocations",
        "Step Functions": f"{transitions:,} transitions",
        "S3 requests": f"{put_class:,.0f} PUT-class, {get_class:,.0f} GET-class",
        "S3 storage": f"{storage_gb_months:,.3f} GB-months",
        PRE_READ: f"{read_units:,.0f} RRU ({read_units / records:.2f} a record)",
        REFUSED: f"{refused_total:,.0f} WRU ({refused_total / records:.2f} a record)",
        "DynamoDB control tables": f"{control_requests:,.0f} calls",
    }
    return JobModel(scenario, records, ranges, partitions, steps, wall, write_floor, load_phase_bounds, costs,
                    quantities)


def largest_within_target(make: callable, low: int, high: int) -> int:
    """The largest plain size (bytes) whose job keeps every step under TARGET_SHARE of its limits."""
    if make(low).steps and max(step.worst_share for step in make(low).steps) > TARGET_SHARE:
        return 0
    while high - low > 64 * 1024 * 1024:
        middle = (low + high) // 2
        if max(step.worst_share for step in make(middle).steps) <= TARGET_SHARE:
            low = middle
        else:
            high = middle
    return low
