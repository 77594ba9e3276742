"""What every step of the load workflow works with: the adapters and the plan's sizes.

handlers/wiring.py builds one LoadContext per function from WorkflowSettings; tests build it from the
fakes (tests/unit/fakes.py). Steps are plain functions `step(ctx, ...)` in the modules of this package.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MIB = 1024 * 1024


def partitions_for(plain_bytes: int, *, at_least: int, bytes_each: int, at_most: int, concurrency: int) -> int:
    """How many partitions (one Load each) `plain_bytes` of lines get: at most `bytes_each` bytes each,
    at least `at_least`, at most `at_most`; and past one wave of `concurrency` Loads, a whole number of
    waves. Equal Loads finish together, so a last wave of a few Loads would leave the table's write rate
    mostly unused for a whole Load's time (458 partitions at 64 at once: 7 full waves and one of 10, 12 %
    of the job at a sixth of the rate); the same work cut into 512 fills all 8 (docs/capacity.md)."""
    needed = -(-plain_bytes // bytes_each)
    if needed > concurrency:
        needed = -(-needed // concurrency) * concurrency
    return max(at_least, min(at_most, needed))


@dataclass(frozen=True)
class LoadSettings:
    """The plan's sizes (CDK context through WorkflowSettings; docs/load_workflow.md explains each)."""

    range_bytes: int = 128 * MIB  # bytes of the file per Scan/Split range, at least
    max_ranges: int = 10_000  # ranges per file, at most: a larger file gets larger ranges
    partitions: int = 64  # Load's unit of work: records routed by partition_of(key, partitions), at least this many
    # At most this many bytes of lines per partition: a bigger file gets more partitions, so one Load's
    # work (~220,000 records of ~530 B: ~355 s at its 625 writes/s, plus ~40 s of pre-read calls for the
    # revert journal) stays under half its 15 minutes whatever the file (docs/capacity.md, "Cost").
    partition_bytes: int = 112 * MIB
    max_partitions: int = 1000
    new_dataset_shards: int = 64  # records-table shards of a dataset created from now on
    legacy_dataset_shards: int = 16  # datasets created before shards were recorded
    load_max_concurrency: int = 64  # Load iterations at once (the Map's MaxConcurrency)
    load_write_rate_per_second: int = 40_000  # writes/s all Loads of one job aim for together
    load_threads: int = 16  # writes in flight within one Load
    load_window_records: int = 20_000  # records one Load holds at once (memory bound)
    # A Decompress invocation stops at the first part end after this many seconds and hands over to the
    # next one (the chain): 240 s + one part + a checkpoint stays under 30 % of its 900 s (docs/capacity.md).
    # 0 makes every invocation write one part (tests).
    decompress_budget_seconds: float = 240.0
    inflate_seek_point_bytes: int = 32 * MIB  # plain bytes between two seek points (resumable_gzip.py)
    # Compressed bytes per InflateMembers group: a gzip upload larger than one group is tried in parallel
    # by member (members.py). 64 MiB at 10:1 is 640 MiB of lines: ~25 s on one vCPU.
    inflate_group_bytes: int = 64 * MIB
    revert_retention_days: int = 7  # how long what a load replaced is kept for a revert (logic/revert.py)


    # The largest multipart upload (CDK context max_upload_bytes; README, Limits, says what bounds it).
    max_upload_bytes: int = 100 * 1024 * MIB

    def range_bytes_for(self, size: int) -> int:
        """The range size for a plain file of `size` bytes: range_bytes, or more when that would cut
        the file into more than max_ranges ranges."""
        return max(self.range_bytes, -(-size // self.max_ranges))

    def partitions_for(self, plain_bytes: int) -> int:
        """The partitions of a file of `plain_bytes` bytes of lines (a gzip file's, once inflated)."""
        return partitions_for(plain_bytes, at_least=self.partitions, bytes_each=self.partition_bytes,
                              at_most=self.max_partitions, concurrency=self.load_max_concurrency)

    @property
    def write_rate_per_load(self) -> float:
        return self.load_write_rate_per_second / self.load_max_concurrency


@dataclass(frozen=True)
class LoadContext:
    objects: Any  # adapters.object_store.ObjectStore
    jobs: Any  # adapters.control_tables.JobsTable
    datasets: Any  # adapters.control_tables.DatasetsTable
    records: Any  # adapters.record_store.RecordStore
    audiences: Any = None  # adapters.audience_store.AudienceStore: audience lists' members
    settings: LoadSettings = LoadSettings()
