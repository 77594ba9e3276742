"""The CLI's job progress (`upload`, `status --follow`): a bar per phase on stderr, each ending full
once its phase is over, even when the polls missed its last update, and the job's end status on a
line of its own after the bar."""

from __future__ import annotations

from cli.__main__ import _JobProgress

UPLOAD = "01JOB"


def splitting(read: int) -> dict:
    return {"status": "Processing", "progress": {"phase": "Splitting", "bytes_total": 1000, "bytes_read": read,
                                                 "lines_read": read // 10, "records_loaded": 0}}


def loading(done: int) -> dict:
    return {"status": "Processing", "progress": {"phase": "Loading", "chunks_total": 64, "chunks_done": done,
                                                 "lines_read": 100, "records_loaded": done * 10}}


def drawn(capsys, *polls: dict) -> str:
    display = _JobProgress(UPLOAD)
    for poll in polls:
        display(poll)
    return capsys.readouterr().err


def test_a_completed_job_ends_every_bar_full_and_then_says_completed(capsys):
    err = drawn(capsys, splitting(300), loading(60), {"status": "Completed"})
    assert "Splitting: 100%" in err  # the job went on to Loading: Splitting was over at 300 of 1000 seen
    last_bar = err.rindex("Loading:")
    assert "Loading: 100%" in err[last_bar:] and "64/64" in err[last_bar:]
    assert f"\nupload {UPLOAD}: Completed" in err[last_bar:]


def test_a_failed_job_leaves_its_bar_where_the_job_stopped(capsys):
    err = drawn(capsys, loading(16), {"status": "Failed"})
    assert "Loading:  25%" in err and "100%" not in err
    assert f"\nupload {UPLOAD}: Failed" in err


def test_a_bar_first_seen_mid_phase_counts_its_rate_from_there(capsys):
    # `status --follow` on a running job: the first poll already finds 57 of 64 partitions done. Those
    # were done before the bar existed; counting them as done in its first instant made a rate of
    # hundreds of thousands of partitions a second (and an ETA of nothing).
    err = drawn(capsys, loading(57))
    last = err.rstrip().split("\r")[-1]
    assert "57/64" in last
    assert "?partitions/s" in last, last


def test_counts_are_written_out_whole(capsys):
    # tqdm's set_postfix writes a number in 3 significant digits when that is shorter: a job of 70,000
    # lines read "lines=7e+4".
    err = drawn(capsys, {"status": "Processing", "progress": {
        "phase": "Loading", "chunks_total": 64, "chunks_done": 3, "lines_read": 70000, "records_loaded": 100000}})
    assert "lines=70000" in err and "records=100000" in err, err


def test_a_completed_jobs_bar_ends_with_the_jobs_own_counts(capsys):
    # The polls missed the last Loads: the bar read "records=68952" at 64/64 for a job that loaded 69,999.
    err = drawn(capsys, loading(60), {"status": "Completed", "stats": {"total": 700, "loaded": 699, "rejected": 1}})
    last_bar = err[err.rindex("Loading:"):]
    assert "64/64" in last_bar and "lines=700" in last_bar and "records=699" in last_bar, last_bar


def test_a_bar_ends_with_the_counts_the_next_phase_reports(capsys):
    finalizing = {"status": "Processing", "progress": {"phase": "Finalizing", "lines_read": 100, "records_loaded": 640}}
    err = drawn(capsys, loading(60), finalizing, {"status": "Completed"})
    last_bar = err[err.rindex("Loading:"):]
    assert "64/64" in last_bar and "records=640" in last_bar, last_bar
