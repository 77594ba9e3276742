"""`make bench-scale --quick` runs the real load steps end to end on small generated files (plain and
gzip) and prints every scenario of issue 12. The figures depend on the machine, so the test checks what
is printed and that the jobs completed with every record loaded, not how fast they ran."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

from benchmarks.scale.__main__ import main

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
        assert re.search(r"job wall time [\d,]+ s vs write floor [\d,]+ s .*: [\d.]+x", block)
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
