"""The dataset's load hold: one load writes into a dataset (or an audience list) at a time.

Inspect takes the hold (a busy dataset raises DatasetBusyError, which the state machine retries, so
the job waits, Pending with `queued_behind`, for its turn); Finalize and MarkFailed release it.
Loads into one dataset are therefore serialized, which is what lets Finalize apply the upload's
count delta without coordinating with other loads.
"""

from __future__ import annotations

from typing import Any

from ingest.clock import iso_now
from ingest.errors import DatasetBusyError, FileRejectedError
from ingest.logic import audiences
from ingest.logic.load.context import LoadContext

FINAL_STATUSES = ("Completed", "Failed")


def being_cleared(dataset_id: str) -> str:
    return f"dataset {dataset_id} was being cleared when the file arrived; upload it again when the clear job ends"


def load_target(ctx: LoadContext, job: Any):
    """The table holding what a load holds: audiences for an audience list's members, else datasets.
    `job` is the job item (a dict) or anything with `record_type`."""
    record_type = job.get("record_type") if isinstance(job, dict) else job.record_type
    return ctx.audiences if audiences.is_audience_load({"record_type": record_type}) else ctx.datasets


def take(ctx: LoadContext, account_id: str, upload_id: str, dataset_id: str, target) -> None:
    """Become the one load writing into the dataset, or raise DatasetBusyError naming the holder."""
    stale = None
    for _ in range(3):
        if target.hold_for_load(account_id, dataset_id, upload_id, iso_now(), stale_holder=stale):
            return
        dataset = target.get(account_id, dataset_id)
        if dataset is None:
            raise FileRejectedError(f"dataset {dataset_id} no longer exists")
        if dataset.get("clearing_job"):
            raise FileRejectedError(being_cleared(dataset_id))
        holder = dataset.get("loading_job")
        if holder is None:
            continue  # released in the meantime
        holding_job = ctx.jobs.get(account_id, holder)
        if holding_job is None or holding_job.get("status") in FINAL_STATUSES:
            stale = holder  # its job ended without letting go (a workflow stopped from outside)
            continue
        ctx.jobs.update(account_id, upload_id, queued_behind=holder, updated_at=iso_now())
        raise DatasetBusyError(f"dataset {dataset_id} is busy {busy_with(holder, holding_job)}")
    raise DatasetBusyError(f"dataset {dataset_id} is busy with another load")


def busy_with(holder: str, holding_job: dict[str, Any]) -> str:
    """What the job holding a dataset is doing, for messages: a load, or a revert (which takes the
    same hold)."""
    if holding_job.get("job_type") == "revert":
        return f"reverting upload {holding_job.get('upload_id')} (revert {holder})"
    return f"loading upload {holder}"


def release(ctx: LoadContext, account_id: str, upload_id: str) -> None:
    """Let the next load into the dataset start; a no-op unless this upload holds it. Reads the job
    item, so it works also when the workflow failed before Inspect described the job."""
    job = ctx.jobs.get(account_id, upload_id) or {}
    dataset_id = job.get("dataset_id")
    if dataset_id:
        load_target(ctx, job).release_load(account_id, dataset_id, upload_id)
