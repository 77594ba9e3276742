"""`make bench-scale --quick` runs the real load steps end to end on small generated files (plain and
gzip) and prints every scenario of issue 12. The figures depend on the machine, so the test checks what
is printed and that the jobs completed with every record loaded, not how fast they ran."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

from benchmarks.scale.__main__ import LOAD_MEMORY_CHOICES, main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory, template_path) -> str:
    data = tmp_path_factory.mktemp("bench-scale-data")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["--quick", "--template", str(template_path), "--data", str(data)]) == 0
    return printed.getvalue()


def test_quick_run_loads_every_generated_record_and_splits_the_gzip_one(quick_report):
    plain = re.search(r"Sample 'plain': .*?, ([\d,]+) records; outcome (\w+) (\{.*\})", quick_report)
    assert plain, quick_report
    records, status, stats = plain.groups()
    count = int(records.replace(",", ""))
    assert status == "Completed"
    assert f"'total': {count}," in stats and f"'loaded': {count}," in stats and "'rejected': 0" in stats
    assert f"'created': {count}," in stats
    gzip = re.search(r"Sample 'gzip': .*?, ([\d,]+) records; stopped after PlanLoad (\{.*\})", quick_report)
    assert gzip, quick_report
    assert gzip.group(1) == records
    assert f"'total': {count}," in gzip.group(2) and "'rejected': 0" in gzip.group(2)
    assert "WARNING" not in quick_report


def test_quick_run_prints_every_scenario_with_every_step_and_the_targets(quick_report):
    for scenario in ("5 GiB plain", "5 GiB gzip 4:1", "5 GiB gzip 10:1", "10 M records x"):
        block = quick_report.split(f"== {scenario}")[1].split("\n== ")[0]
        steps = ["Inspect", "Split", "PlanLoad", "Load", "Finalize"]
        steps += ["Decompress"] if "gzip" in scenario else ["Scan", "PlanSplit"]
        for step in steps:
            assert re.search(rf"^  {step} +\S+ +\d+ +[\d.]+s +\d+s", block, re.MULTILINE), (scenario, step)
        floor = re.search(r"job wall time [\d,]+ s vs write floor [\d,]+ s .*: [\d.]+x \((.*)\)", block)
        assert floor, block
        # Issue 12 sets the 1.2x target for 10 M records only: the others are not judged against it.
        if scenario == "10 M records x":
            assert re.fullmatch(r"(meets|MISSES) the 1\.2x target", floor[1]), floor[1]
        else:
            assert floor[1] == "no target: the 1.2x is set for the 10 M-record scenario", floor[1]
        assert re.search(r"cost per million records \(USD\): DynamoDB writes [\d.]+, Lambda [\d.]+, "
                         r"Step Functions [\d.]+, S3 requests [\d.]+, S3 storage [\d.]+", block)
        assert "everything but DynamoDB writes:" in block
    assert "Largest plain file with every step under 50%" in quick_report
    assert "Largest gzip file at 10:1" in quick_report


def test_each_record_write_is_one_write_unit_at_500_bytes(quick_report):
    """~530-byte customer records with the item's other attributes stay under 1 KiB: one unit each."""
    calls, items, units = (int(n.replace(",", "")) for n in re.search(
        r"record writes: ([\d,]+) calls, ([\d,]+) items, ([\d,]+) write units", quick_report).groups())
    assert items == units
    assert calls == items  # one UpdateItem per record (ReturnValues=ALL_OLD)


COST_PARTS = ("Lambda", "Step Functions", "S3 requests", "S3 storage", "DynamoDB reads (revert pre-read)",
              "DynamoDB refused writes (revert journal)", "DynamoDB control tables")


def test_the_cost_share_is_printed_with_its_parts_and_the_journal_costs_nothing_in_dynamodb_on_fresh_keys(quick_report):
    """The share of everything but the record writes is the sum of its printed parts. The sample's keys
    are fresh, so the Load journals every window optimistically: no key is read first and no write is
    refused (before the optimistic mode, the pre-read alone was 20 % of the write cost)."""
    for scenario in ("5 GiB plain", "5 GiB gzip 10:1", "10 M records x"):
        block = quick_report.split(f"== {scenario}")[1].split("\n== ")[0]
        total, without = (float(share) for share in re.search(
            r"everything but DynamoDB writes: ([\d.]+)% of the DynamoDB write cost .*; without the revert journal's "
            r"reads and refused writes ([\d.]+)%", block).groups())
        parts = {name: float(share) for name, share in re.findall(
            r"^    (.+?) +([\d.]+)%  USD", block, re.MULTILINE)}
        assert set(parts) == set(COST_PARTS), block
        assert sum(parts.values()) == pytest.approx(total, abs=0.1)  # each printed to 0.01 %, the total to 0.1 %
        assert parts["DynamoDB reads (revert pre-read)"] == parts["DynamoDB refused writes (revert journal)"] == 0
        assert total == without
        assert re.search(r"DynamoDB reads \(revert pre-read\) .* 0 RRU", block)


def test_the_case_where_every_key_already_exists_prices_the_refused_probe_and_the_reads_after_it(quick_report):
    """Every key another upload's: each Load's first 1,000 keys are refused (1 WRU a key under 1 KiB) and
    the rest read first (1 RRU a key): the share is then about 20 % (the pre-read) over the fresh-key share."""
    for scenario in ("5 GiB plain", "10 M records x"):
        block = quick_report.split(f"== {scenario}")[1].split("\n== ")[0]
        existing, pre_read, refused, fresh = (float(share) for share in re.search(
            r"if every key already existed .*: everything but DynamoDB writes ([\d.]+)% \(pre-read ([\d.]+)%, "
            r"refused writes ([\d.]+)%\).*; fresh keys: ([\d.]+)%", block).groups())
        assert 19 < pre_read < 20 and 0 < refused < 1  # 1,000 (PROBE_KEYS) of a Load's ~159,000 keys refused
        # Every key is either read (1 RRU: a fifth of the write's price) or refused (1 WRU).
        assert pre_read / 20 + refused / 100 == pytest.approx(1.0, abs=0.01)
        assert existing == pytest.approx(fresh + pre_read + refused, abs=0.5)  # and Load waits on the reads


def test_the_load_memory_table_starts_from_the_templates_load_function(quick_report, template):
    load_memory = next(resource["Properties"]["MemorySize"] for resource in template["Resources"].values()
                       if resource["Type"] == "AWS::Lambda::Function"
                       and resource["Properties"].get("Handler") == "ingest.handlers.workflow.load")
    table = quick_report.split("Load's memory (the template's: ")[1].split("\n\n")[0]
    assert table.startswith(f"{load_memory} MB")
    for scenario in ("5 GiB plain", "5 GiB gzip 10:1", "10 M records x"):
        row = re.search(rf"^  {re.escape(scenario)}.*$", table, re.MULTILINE).group(0)
        assert len(re.findall(r"[\d.]+%/[\d.]+% \d+% [\d.]+x", row)) == len(LOAD_MEMORY_CHOICES), row
    assert "The floor where every key already exists: the pre-read costs" in table
