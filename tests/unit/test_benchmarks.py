"""`make bench` must keep running: its in-memory benchmarks on a few records, with sane results."""

from benchmarks.__main__ import bench_split, bench_validation, purchase_lines


def test_in_memory_benchmarks_run_and_count_every_record():
    lines = purchase_lines(200)
    for result in (bench_validation(lines), bench_split(lines)):
        assert result["records"] == 200
        assert result["ours_per_s"] > 0 and result["baseline_per_s"] > 0
    from ingest import record_types
    from ingest.logic.pipeline import check_line
    assert all(check_line(record_types.get("purchase"), line)[0] is None for line in lines)  # valid Lexer purchases
