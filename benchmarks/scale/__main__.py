"""`make bench-scale`: the load workflow at scale, measured on a sample and modelled on AWS's limits.

Runs the real step code (ingest.logic.load: Inspect, Scan, PlanSplit, Decompress, Split, PlanLoad, Load,
Finalize) on generated files - by default 1 GiB of NDJSON plain and the same lines gzipped - each
invocation in its own process, over a file-backed S3 and a DynamoDB model (benchmarks/scale/). From
what the sample used per byte and per record, it models on Lambda, under each function's limits read
from the synthesized template, the scenarios of issue 12: 5 GiB plain, 5 GiB gzip at 4:1 and 10:1, and
10 M records of ~500 B. docs/capacity.md explains the model and gives the figures' sources.

    python -m benchmarks.scale [--size BYTES] [--quick] [--template cdk.out/BulkIngest.template.json]
"""

from __future__ import annotations

import argparse
import math
import pickle
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from benchmarks.scale import figures, generate
from benchmarks.scale.limits import step_limits
from benchmarks.scale.model import (
    GIB,
    PRE_READ,
    REFUSED,
    TARGET_FLOOR_RATIO,
    TARGET_OTHER_COST,
    TARGET_SHARE,
    JobModel,
    Plan,
    Scenario,
    hottest_share,
    largest_within_target,
    load_cpu_per_record,
    model_job,
    rates_of,
)
from benchmarks.scale.run import UNPACED_RATE, Harness, JobRun
from ingest.logic.load.loading import PROBE_KEYS

ROOT = Path(__file__).resolve().parents[2]
MIB = 1024 * 1024
# --quick: a smoke test (tests/unit/test_bench_scale.py). Load's boto3 requests cost ~0.85 ms of CPU a
# record here, so 8 MiB (~16,000 records) loads in well under a minute on 2 shared cores; the gzip job stops
# after PlanLoad (the model takes only Decompress's rates from it).
QUICK_BYTES = 8 * MIB
QUICK_RANGE_BYTES = 1 * MIB  # several ranges in the quick sample (the real default is 128 MiB)
SPLIT_MAX_CONCURRENCY = 64  # docs/load_workflow.md, `split_max_concurrency`
RECORD_BYTES_TARGET = 500


def scenarios(record_bytes: float) -> list[Scenario]:
    ten_million = round(10_000_000 * record_bytes)
    return [
        Scenario("5 GiB plain", 5 * GIB, 5 * GIB, gzip=False),
        Scenario("5 GiB gzip 4:1", 5 * GIB, 20 * GIB, gzip=True),
        Scenario("5 GiB gzip 10:1", 5 * GIB, 50 * GIB, gzip=True),
        Scenario("5 GiB gzip 4:1 multi-member", 5 * GIB, 20 * GIB, gzip=True, members=True),
        Scenario("5 GiB gzip 10:1 multi-member", 5 * GIB, 50 * GIB, gzip=True, members=True),
        Scenario(f"10 M records x {record_bytes:.0f} B", ten_million, ten_million, gzip=False, floor_target=True),
    ]


def run_sample(label: str, source: Path, filename: str, plain_bytes: int, records: int, settings,
               workdir: Path, load: bool = True, load_writes: str = "wire") -> JobRun:
    harness = Harness(workdir / label, settings, load_writes)
    run = JobRun(label, plain_bytes, source.stat().st_size, filename.endswith(".gz"), records, settings)
    started = time.perf_counter()

    def progress(state: str) -> None:
        print(f"  [{time.perf_counter() - started:7.1f} s] {label}: {state}", file=sys.stderr, flush=True)

    harness.run_job(run, source, filename, generate.RECORD_TYPE, progress, load=load)
    progress(f"done, {run.outcome.status if run.outcome else 'stopped after PlanLoad'}")
    shutil.rmtree(workdir / label, ignore_errors=True)
    return run


def pct(share: float) -> str:
    return f"{share * 100:5.1f}%" + (" !" if share > TARGET_SHARE else "  ")


def print_sample(run: JobRun) -> None:
    if run.outcome is not None:
        outcome = f"outcome {run.outcome.status} {run.outcome.stats.state() if run.outcome.stats else ''}"
        total = run.outcome.stats.total if run.outcome.stats else None
        loaded = run.outcome.stats.loaded if run.outcome.stats else None
    else:
        outcome = f"stopped after PlanLoad {run.job.split.state()}"
        total, loaded = run.job.split.total, run.records
    print(f"\nSample '{run.label}': {run.object_bytes / MIB:,.1f} MiB as uploaded, {run.plain_bytes / MIB:,.1f} MiB of "
          f"lines, {run.records:,} records; {outcome}")
    if total != run.records or loaded != run.records:
        print(f"  WARNING: the file has {run.records:,} records; the job counted {total} and loaded {loaded}")
    print(f"  {'step':14} {'calls':>5} {'CPU s':>8} {'CPU/unit':>16} {'peak RSS':>9} "
          f"{'/tmp':>7} {'S3 req':>7} {'S3 MiB':>8}")  # noqa: S108 (a column: the function's /tmp)
    for step, rates in rates_of(run).items():
        unit = {"Scan": "us/KiB", "Split": "us/KiB", "Decompress": "us/KiB", "InflateMembers": "us/KiB",
                "Load": "us/record"}.get(step)
        per = (f"{rates.cpu_per_driver * (1024 if 'KiB' in unit else 1) * 1e6:9.2f} {unit}" if unit else "")
        print(f"  {step:14} {rates.invocations:>5} {rates.cpu_s:>8.2f} {per:>16} {rates.peak_rss / MIB:>7.0f}MB "
              f"{rates.peak_tmp / MIB:>5.1f}MB {sum(rates.requests.values()):>7} {rates.bytes_moved / MIB:>8.0f}")
    if "Load" not in rates_of(run):
        return
    load = rates_of(run)["Load"].writes
    print(f"  record writes: {load.calls:,} calls, {load.items:,} items, {load.units:,} write units "
          f"({load.item_bytes / max(1, load.items):.0f} B/item), {len(load.units_by_partition)} partition keys; "
          f"one Load's hottest key takes {hottest_share(run):.0%} of its writes")


def journal_share(model: JobModel) -> float:
    """What the revert journal's DynamoDB calls (the pre-read, the refused writes) cost, as a share of the
    record writes."""
    return model.share_of(PRE_READ) + model.share_of(REFUSED)


def print_existing(model: JobModel, existing: JobModel) -> None:
    """The same job over a dataset where every key already holds another upload's item."""
    load = next(step for step in existing.steps if step.step == "Load")
    print(f"  if every key already existed (each Load's first {PROBE_KEYS:,} keys refused and written again, the "
          f"others read first): everything but DynamoDB writes {existing.other_share:.1%} (pre-read "
          f"{existing.share_of(PRE_READ):.1%}, refused writes {existing.share_of(REFUSED):.2%}); Load "
          f"{load.seconds:,.0f} s (pre-read calls {load.bounds['pre-read calls (before the writes)']:,.0f} s); job "
          f"{existing.floor_ratio:.2f}x the floor; fresh keys: {model.other_share:.1%}")


def print_job(model: JobModel) -> None:
    scenario = model.scenario
    print(f"\n== {scenario.name}: {scenario.object_bytes / GIB:.2f} GiB uploaded, {scenario.plain_bytes / GIB:.2f} GiB "
          f"of lines, {model.records:,} records, {model.ranges} ranges x {model.partitions} partitions")
    print(f"  {'step':14} {'function':26} {'runs':>5} {'modelled':>9} {'timeout':>7} {'time':>8} "
          f"{'memory':>7} {'of':>6} {'mem':>8} {'/tmp':>7} {'of':>6} {'/tmp':>8}")  # noqa: S108 (columns: the function's /tmp)
    for step in model.steps:
        fn = step.function
        print(f"  {step.step:14} {fn.function[:26]:26} {step.invocations:>5} {step.seconds:>8.1f}s {fn.timeout_s:>6}s "
              f"{pct(step.time_share):>8} {step.peak_rss / MIB:>5.0f}MB {fn.memory_mb:>4}MB "
              f"{pct(step.memory_share):>8} "
              f"{step.peak_tmp / MIB:>5.1f}MB {fn.ephemeral_mb:>4}MB {pct(step.tmp_share):>8}")
    load = next(step for step in model.steps if step.step == "Load")
    print("  one Load's time is bound by: "
          + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in load.bounds.items()))
    print("  load phase bound by: "
          + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in model.load_phase_bounds.items()))
    if scenario.floor_target:
        verdict = "meets" if model.floor_ratio <= TARGET_FLOOR_RATIO else "MISSES"
        judged = f"{verdict} the {TARGET_FLOOR_RATIO}x target"
    else:
        judged = f"no target: the {TARGET_FLOOR_RATIO}x is set for the 10 M-record scenario"
    print(f"  job wall time {model.wall_s:,.0f} s vs write floor {model.write_floor_s:,.0f} s (write units / "
          f"configured rate): {model.floor_ratio:.2f}x ({judged})")
    worst = max(step.worst_share for step in model.steps)
    print(f"  every step under {TARGET_SHARE:.0%} of its timeout, memory and /tmp: "
          f"{'yes' if worst <= TARGET_SHARE else 'NO'} (worst {worst:.0%})")
    print("  cost per million records (USD): " + ", ".join(
        f"{name} {model.per_million(usd):.4f}" for name, usd in model.costs.items()))
    share = model.other_share
    print(f"  everything but DynamoDB writes: {share:.1%} of the DynamoDB write cost "
          f"({'meets' if share <= TARGET_OTHER_COST else 'MISSES'} the {TARGET_OTHER_COST:.0%} target); "
          f"without the revert journal's reads and refused writes {share - journal_share(model):.1%}")
    for name, usd in model.costs.items():
        part = "(the base)" if name == "DynamoDB writes" else f"{model.share_of(name):6.2%}"
        print(f"    {name:34} {part:>10}  USD {usd:10.4f}  {model.quantities.get(name, '')}")


LOAD_MEMORY_CHOICES = (512, 640, 768, 1024, 1152, 1769)


def print_sizing(models: list[JobModel], plain_run: JobRun, gzip_run: JobRun | None, members_run: JobRun | None,
                 limits, plan: Plan) -> None:
    """What Load's memory buys: the cost share (with and without the journal's reads and refused writes),
    its time and the floor ratio, each scenario re-modelled with only Load's memory changed; and the floor
    the pre-read sets where every key exists."""
    load = limits["Load"]
    print(f"\nLoad's memory (the template's: {load.memory_mb} MB; infra/config.py `load_memory_mb`): the cost share "
          "(all / without the journal's reads and refused writes), Load's share of its timeout, the job vs its "
          "write floor (fresh keys)")
    print(f"  {'scenario':30}" + "".join(f"{memory:>22}" for memory in LOAD_MEMORY_CHOICES))
    for model in models:
        cells = []
        for memory in LOAD_MEMORY_CHOICES:
            sized = dict(limits, Load=replace(load, memory_mb=memory))
            other = model_job(model.scenario, plain_run, gzip_run, sized, plan, members_run=members_run)
            step = next(step for step in other.steps if step.step == "Load")
            cells.append(f"{other.other_share:.1%}/{other.other_share - journal_share(other):.1%} "
                         f"{step.time_share:.0%} {other.floor_ratio:.2f}x")
        print(f"  {model.scenario.name[:30]:30}" + "".join(f"{cell:>22}" for cell in cells))
    cpu = load_cpu_per_record(rates_of(plain_run)["Load"]) * figures.LAMBDA_CPU_SPEED_VS_HERE.value
    pace = plan.write_rate / plan.load_concurrency
    print(f"  One Load keeps its pace ({pace:,.0f} writes/s) from "
          f"{figures.LAMBDA_MB_PER_VCPU.value * cpu * pace:,.0f} MB: "
          f"{cpu * 1e6:,.0f} us of CPU a record (measured here, with its HTTP exchange) x {pace:,.0f}/s = "
          f"{cpu * pace:.2f} vCPU. Below that it "
          "is CPU-bound (slower, the same GB-s); above it, it pays for waiting on its pace.")
    if models:
        model = model_job(models[0].scenario, plain_run, gzip_run, limits, plan, members_run=members_run,
                          every_key_exists=True)
        reads = model.costs[PRE_READ] / model.records
        writes = model.dynamodb_writes_cost / model.records
        print(f"  The floor where every key already exists: the pre-read costs {reads * 1e6:.4f} USD per million "
              f"records against {writes * 1e6:.4f} for the writes, {reads / writes:.1%} whatever the sizing (1 RRU at "
              f"{figures.PRICE_READ_REQUEST_UNIT.value * 1e6:.3f} vs 1 WRU at "
              f"{figures.PRICE_WRITE_REQUEST_UNIT.value * 1e6:.3f} USD per million for items under 1 KiB; each Load's "
              f"first {PROBE_KEYS:,} keys are refused instead, a WRU a key); on fresh keys nothing is read. "
              "Lambda's part cannot go "
              "below the Loads' CPU: under 1,769 MB, GB-s per CPU-second are the same at every memory size.")


def print_figures() -> None:
    print("\nFigures (benchmarks/scale/figures.py; docs/capacity.md):")
    for name, figure in figures.ALL.items():
        print(f"  {name:32} {figure.value:>14,.10g} {figure.unit:42} {figure.source}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=GIB, help="bytes of lines in each sample file (default 1 GiB)")
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK_BYTES // MIB} MiB samples in {QUICK_RANGE_BYTES // MIB} MiB ranges "
                             "(a smoke test)")
    parser.add_argument("--template", default=str(ROOT / "cdk.out" / "BulkIngest.template.json"))
    parser.add_argument("--data", default=str(ROOT / ".local" / "bench-scale"),
                        help="where generated files are kept between runs")
    parser.add_argument("--workdir", default=None, help="scratch space for the file-backed S3 (default: a temp dir)")
    parser.add_argument("--no-gzip", action="store_true", help="skip the gzip sample (and the gzip scenarios)")
    parser.add_argument("--saved", default=None,
                        help="model the sample runs saved by an earlier run (its --data/last-runs-<size>.pickle) "
                             "instead of running the steps again")
    parser.add_argument("--no-gzip-load", action="store_true",
                        help="stop the gzip job after PlanLoad (the model takes only Decompress's rates from it)")
    parser.add_argument("--load-writes", choices=("wire", "boto3"), default="wire",
                        help="what a Load's UpdateItem calls go through: the functions' wire sender (default) or "
                             "the boto3 client (the sender before 2026-11-30)")
    args = parser.parse_args(argv)

    from ingest.logic.load.context import LoadSettings

    configured = LoadSettings()
    size = QUICK_BYTES if args.quick else args.size
    range_bytes = QUICK_RANGE_BYTES if args.quick else configured.range_bytes
    run_settings = replace(configured, range_bytes=range_bytes, load_write_rate_per_second=UNPACED_RATE)
    plan = Plan(range_bytes=configured.range_bytes, partitions=configured.partitions,
                partition_bytes=configured.partition_bytes, max_partitions=configured.max_partitions,
                load_concurrency=configured.load_max_concurrency, split_concurrency=SPLIT_MAX_CONCURRENCY,
                write_rate=configured.load_write_rate_per_second, load_threads=configured.load_threads,
                load_window_records=configured.load_window_records,
                decompress_budget_s=configured.decompress_budget_seconds,
                inflate_group_bytes=configured.inflate_group_bytes,
                seek_point_bytes=configured.inflate_seek_point_bytes)
    limits = step_limits(Path(args.template))

    data = Path(args.data)
    data.mkdir(parents=True, exist_ok=True)
    plain = generate.write_plain(data / f"customers-{size}.ndjson", size)
    plain_bytes = plain.stat().st_size
    with open(plain, "rb") as lines:
        records = sum(block.count(b"\n") for block in iter(lambda: lines.read(8 * MIB), b""))
    if args.saved:
        plain_run, gzip_run, members_run = pickle.loads(Path(args.saved).read_bytes())  # noqa: S301 (runs this command saved)
        print(f"make bench-scale: modelling the sample runs saved in {args.saved}")
        return report(args, plain_run, gzip_run, configured, plan, limits, members_run)
    saved = data / f"last-runs-{size}.pickle"
    scratch = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="bench-scale-"))
    try:
        print(f"make bench-scale: the real step code on {plain_bytes / MIB:,.0f} MiB samples ({records:,} records, "
              f"range_bytes {range_bytes // MIB} MiB, {configured.partitions} partitions), extrapolated per byte and "
              f"per record to the scenarios below; a Load's writes through {args.load_writes}; limits from "
              f"{args.template}")
        plain_run = run_sample("plain", plain, "customers.ndjson", plain_bytes, records, run_settings, scratch,
                               load_writes=args.load_writes)
        gzip_run = members_run = None
        if not args.no_gzip:
            # One member: straight to the Decompress chain (the sample's groups cover the file).
            gzipped = generate.write_gzip(data / f"customers-{size}.ndjson.gz", plain)
            single_settings = replace(run_settings, inflate_group_bytes=gzipped.stat().st_size)
            gzip_run = run_sample("gzip", gzipped, "customers.ndjson.gz", plain_bytes, records, single_settings,
                                  scratch, load=not (args.quick or args.no_gzip_load), load_writes=args.load_writes)
            # Independent members, one per range of lines (as the CLI writes one per part), in groups of
            # about 8 members (quick) or the configured group size.
            members = generate.write_gzip_members(data / f"customers-{size}-members.ndjson.gz", plain, range_bytes)
            group = max(1024, members.stat().st_size // 8) if args.quick else configured.inflate_group_bytes
            members_run = run_sample("gzip-members", members, "customers.ndjson.gz", plain_bytes, records,
                                     replace(run_settings, inflate_group_bytes=group), scratch, load=False)
    finally:
        if not args.workdir:
            shutil.rmtree(scratch, ignore_errors=True)
    saved.write_bytes(pickle.dumps((plain_run, gzip_run, members_run)))
    return report(args, plain_run, gzip_run, configured, plan, limits, members_run)


def report(args, plain_run: JobRun, gzip_run: JobRun | None, configured, plan: Plan, limits,
           members_run: JobRun | None = None) -> int:
    """Print the samples, the scenarios modelled from them, the largest files within the targets."""
    if args.quick:
        print(f"\n--quick: {QUICK_RANGE_BYTES // MIB} MiB ranges, so the peaks and request counts below are not the "
              "scenarios'")
    print_sample(plain_run)
    if members_run:
        print_sample(members_run)
    if gzip_run:
        print_sample(gzip_run)
        print(f"  (the sample compresses {gzip_run.plain_bytes / gzip_run.object_bytes:.1f}:1; "
              "Decompress is modelled per plain byte, so the scenarios' ratios change only how many plain bytes "
              "5 GiB holds)")
    print(f"\nModelled on AWS (Load paced at {plan.write_rate:,.0f} writes/s per job, {plan.load_concurrency} Loads at "
          f"once, {plan.load_threads} threads each; ranges of {plan.range_bytes // MIB} MiB, {plan.split_concurrency} "
          "at once). '!' marks a step over 50 % of a limit.")
    record_bytes = plain_run.plain_bytes / plain_run.records
    models = []
    for scenario in scenarios(record_bytes):
        # A members sample smaller than one group goes straight to Decompress (no InflateMembers to model).
        inflated_by_member = members_run is not None and bool(members_run.of("InflateMembers"))
        if (scenario.gzip and gzip_run is None) or (scenario.members and not inflated_by_member):
            continue
        model = model_job(scenario, plain_run, gzip_run, limits, plan, members_run=members_run)
        models.append(model)
        print_job(model)
        print_existing(model, model_job(scenario, plain_run, gzip_run, limits, plan, members_run=members_run,
                                        every_key_exists=True))
        if hottest_share(plain_run) > 2 / configured.new_dataset_shards:
            spread = model_job(scenario, plain_run, gzip_run, limits, plan, hot_share=1 / configured.new_dataset_shards,
                               members_run=members_run)
            print(f"  what if each Load spread its writes over all {configured.new_dataset_shards} shards (a shard "
                  f"independent of the partition): job {spread.wall_s:,.0f} s, {spread.floor_ratio:.2f}x the floor; "
                  f"Load {max(s.time_share for s in spread.steps if s.step == 'Load'):.0%} of its timeout")

    print_sizing(models, plain_run, gzip_run, members_run, limits, plan)

    def plain_job(size: int) -> JobModel:
        return model_job(Scenario("", size, size, False), plain_run, gzip_run, limits, plan)

    largest_plain = largest_within_target(plain_job, 64 * MIB, 200 * GIB)
    print(f"\nLargest plain file with every step under {TARGET_SHARE:.0%} of its limits: "
          f"{largest_plain / GIB:,.1f} GiB (uploads stop at 5 GiB, S3's single-PUT maximum)")
    if gzip_run:
        for ratio in (4, 10):
            def gzip_job(size: int, ratio: int = ratio) -> JobModel:
                return model_job(Scenario("", math.ceil(size / ratio), size, True), plain_run, gzip_run, limits, plan,
                                 members_run=members_run)
            largest = largest_within_target(gzip_job, 64 * MIB, 400 * GIB)
            print(f"Largest gzip file at {ratio}:1 with every step under {TARGET_SHARE:.0%}: "
                  f"{largest / ratio / GIB:,.2f} GiB compressed ({largest / GIB:,.1f} GiB of lines)")
    print_figures()
    return 0


if __name__ == "__main__":
    sys.exit(main())
