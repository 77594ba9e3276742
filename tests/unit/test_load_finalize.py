"""Finalize and MarkFailed (logic/load/finalize.py, failure.py) on the fakes: what the job, the
dataset and the work files look like after each, also when a step is retried."""

from __future__ import annotations

import json

import orjson
import pytest

from ingest.errors import StepFailedError
from ingest.logic.load.layout import WorkKeys
from ingest.logic.load.loading import load_partition
from tests.unit.load_world import ACCOUNT, World, customer, rejected


def lines_with_errors():
    return [customer(1, "a"), rejected(2, b"{bad"), customer(3, "b"), customer(4, "a"), rejected(5, b"[1"),
            customer(6, "c")]


def test_finalize_completes_the_job_with_its_stats_and_leaves_nothing_behind():
    world = World(partitions=2)
    job = world.split(lines_with_errors())
    world.load(job)
    outcome = world.finalize(job)
    assert outcome.status == "Completed"
    assert outcome.stats.state() == {"total": 6, "loaded": 4, "rejected": 2, "created": 3, "replaced": 0}
    item = world.job_item(job)
    assert item["status"] == "Completed" and item["stats"] == outcome.stats.state() and item["finished_at"]
    assert item["progress"]["phase"] == "Finalizing"
    assert [(error["line"], error["raw"]) for error in world.error_log(job)] == [(2, "{bad"), (5, "[1")]
    assert world.dataset["record_counts"] == {"customer_record": 3}
    assert world.dataset["last_load"]["upload_id"] == job.upload_id
    assert world.holder() is None
    assert world.work_files(job) == []


def test_a_retried_finalize_counts_once_and_answers_the_first_outcome():
    world = World()
    job = world.split(lines_with_errors())
    world.load(job)
    update = world.jobs.update
    calls = {"n": 0}

    def dies_on_completion(account_id, job_id, **fields):
        if fields.get("status") == "Completed" and not calls["n"]:
            calls["n"] += 1
            raise RuntimeError("injected: Finalize died before the job was Completed")
        update(account_id, job_id, **fields)

    world.jobs.update = dies_on_completion
    with pytest.raises(RuntimeError, match="injected"):
        world.finalize(job)
    assert world.dataset["record_counts"] == {"customer_record": 3}  # counted before the crash
    first = world.finalize(job)
    assert world.dataset["record_counts"] == {"customer_record": 3}  # not twice
    again = world.finalize(job)  # a retry after the job is Completed and the work files are gone
    assert first == again and again.stats.created == 3
    assert [error["line"] for error in world.error_log(job)] == [2, 5]


def test_finalize_fails_clearly_when_a_partition_has_no_result():
    world = World(partitions=4)
    job = world.split([customer(n, key) for n, key in enumerate("abcdefgh", start=1)])
    tasks = world.tasks(job)
    assert len(tasks) > 1
    for task in tasks[1:]:
        load_partition(world.ctx, job, task, "a1")
    with pytest.raises(StepFailedError, match=f"failed on 1 of {len(tasks)} partitions, also after retries"):
        world.finalize(job)
    assert world.job_item(job)["status"] == "Processing"  # MarkFailed, next, ends it


def test_a_dry_run_completes_without_counting_or_writing():
    world = World()
    job = world.split(lines_with_errors(), dry_run=True)
    world.load(job)
    outcome = world.finalize(job)
    assert outcome.stats.state() == {"total": 6, "loaded": 4, "rejected": 2}
    assert world.dataset["record_counts"] == {} and "last_load" not in world.dataset


# -- MarkFailed ----------------------------------------------------------------------------------
def test_mark_failed_mid_load_counts_finished_partitions_once_and_keeps_the_rejected_lines():
    world = World(partitions=4)
    job = world.split([*lines_with_errors(), customer(7, "d"), customer(8, "e")])
    tasks = world.tasks(job)
    finished = [load_partition(world.ctx, job, task, "a1") for task in tasks[:-1]]
    world.records.fail_after_writes = 0
    with pytest.raises(RuntimeError):
        load_partition(world.ctx, job, tasks[-1], "a1")
    outcome = world.mark_failed(job)
    created = sum(result.created for result in finished)
    loaded = sum(result.loaded for result in finished)
    assert outcome.status == "Failed" and "a step failed on some ranges or partitions" in outcome.failure_reason
    item = world.job_item(job)
    assert item["status"] == "Failed" and item["failure_reason"] == outcome.failure_reason
    assert item["stats"] == {"total": 8, "loaded": loaded, "rejected": 2, "created": created, "replaced": 0,
                             "not_loaded": 8 - 2 - loaded}
    assert [error["line"] for error in world.error_log(job)] == [2, 5]
    assert world.dataset["record_counts"] == {"customer_record": created}
    assert world.dataset["last_load"]["status"] == "Failed"
    again = world.mark_failed(job)  # a retried MarkFailed changes nothing
    assert again.status == "Failed" and world.dataset["record_counts"] == {"customer_record": created}
    assert world.holder() is None and world.work_files(job) == []


def test_mark_failed_after_finalize_counted_does_not_count_again():
    world = World()
    job = world.split(lines_with_errors())
    world.load(job)
    world.jobs.update = _failing_on_completion(world.jobs.update)
    with pytest.raises(RuntimeError):
        world.finalize(job)
    world.mark_failed(job, error="Sandbox.Timedout")
    assert world.dataset["record_counts"] == {"customer_record": 3}
    assert world.job_item(job)["status"] == "Failed"


def _failing_on_completion(update):
    def failing(account_id, job_id, **fields):
        if fields.get("status") == "Completed":
            raise RuntimeError("injected")
        update(account_id, job_id, **fields)
    return failing


def test_mark_failed_before_inspect_described_the_job_still_ends_it_and_lets_go():
    world = World()
    job = world.split([customer(1, "a")])
    outcome = world.mark_failed(None, error="FileRejectedError", upload_id=job.upload_id)
    assert outcome.status == "Failed" and world.job_item(job)["status"] == "Failed"
    assert "stats" not in outcome.state()
    assert world.holder() is None and world.work_files(job) == []
    assert world.dataset["record_counts"] == {}


def test_a_failure_message_of_our_own_is_shown_as_written():
    world = World()
    job = world.split([customer(1, "a")])
    cause = json.dumps({"errorMessage": "the uploaded file is empty (0 bytes)"})
    from ingest.logic.load.failure import mark_failed
    from ingest.models.workflow import FailedState, StepError

    outcome = mark_failed(world.ctx, FailedState(job=job, error=StepError(Error="FileRejectedError", Cause=cause)))
    assert outcome.failure_reason == "the uploaded file is empty (0 bytes)"


def test_mark_failed_leaves_a_completed_job_completed():
    world = World()
    job = world.split([customer(1, "a")])
    world.load(job)
    completed = world.finalize(job)
    outcome = world.mark_failed(job)
    assert outcome.status == "Completed" and outcome.stats == completed.stats
    assert world.job_item(job)["status"] == "Completed"


def test_mark_failed_abandons_an_audience_load_and_keeps_the_old_list():
    world = World()
    world.audiences.start_count(ACCOUNT, 0)
    assert world.audiences.add_within_limit({"account_id": ACCOUNT, "audience_id": "AUD1", "name": "v", "version": 0,
                                             "record_count": 0, "members_load": "", "created_at": "t",
                                             "updated_at": "t"}, 10)
    job = world.split([customer(1, "m1"), customer(2, "m2")], record_type="audience_member", dataset_id="AUD1")
    world.load(job)
    member_set = f"audience-AUD1-{job.upload_id}"
    assert world.records.count(ACCOUNT, member_set, "audience_member") == 2
    world.mark_failed(job)
    assert world.records.count(ACCOUNT, member_set, "audience_member") == 0
    assert world.audiences.get(ACCOUNT, "AUD1")["members_load"] == ""
    assert world.audiences.get(ACCOUNT, "AUD1").get("loading_job") is None


def test_partition_results_are_read_from_the_work_files():
    world = World(partitions=2)
    job = world.split([customer(1, "a"), customer(2, "b"), customer(3, "c")])
    results = world.load(job)
    work = WorkKeys(ACCOUNT, job.upload_id)
    stored = [orjson.loads(world.objects.read(key)) for key in world.objects.list_keys(work.load_results_prefix)]
    assert stored == [result.state() for result in results]
