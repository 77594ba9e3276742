"""`make bench` must keep running: its in-memory benchmarks on a few records, with sane results."""

from benchmarks.__main__ import (
    bench_boto3_writes,
    bench_exact_path,
    bench_hot_path,
    bench_split,
    bench_validation,
    customer_lines,
    purchase_lines,
)


def test_in_memory_benchmarks_run_and_count_every_record():
    lines = purchase_lines(200)
    for result in (bench_validation(lines), bench_split(lines), bench_exact_path(lines, rounds=1)):
        assert result["records"] == 200
        assert result["ours_per_s"] > 0 and result["baseline_per_s"] > 0
    from ingest import record_types
    from ingest.logic.load.record_limits import check_line
    assert all(check_line(record_types.get("purchase"), line)[0] is None for line in lines)  # valid Lexer purchases


def test_hot_path_rows_measure_lines_that_all_take_the_typed_path():
    for name, lines in (("purchase", purchase_lines(100)), ("customer_record", customer_lines(100))):
        result = bench_hot_path(name, lines, rounds=1)
        assert result["records"] == 100
        assert result["ours_per_s"] > 0 and result["baseline_per_s"] > 0
        assert result["typed_path_share"] == 1.0  # the generated records are well formed: the figure is the fast path's
        assert result["check_and_request_of_a_parse"] > 0  # the narrower reading is measured too


def test_boto3_write_costs_are_measured_without_a_network():
    costs = bench_boto3_writes(purchase_lines(30), rounds=1)
    assert len(costs) == 9 and all(seconds > 0 for seconds in costs.values())
    # A Load's writer, through boto3 and through the wire sender the functions use, both measured.
    assert {name for name in costs if name.startswith("RecordWriter")} == {
        "RecordWriter UpdateItem ALL_OLD, 16 threads, boto3, default config",
        "RecordWriter UpdateItem ALL_OLD, 16 threads, wire sender"}
