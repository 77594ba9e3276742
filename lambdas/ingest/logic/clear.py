"""Clear Data: a job that removes every record of a dataset; the dataset itself stays.

While a clear runs the dataset is marked (`clearing_job`): new upload requests get 409 and a file
that arrives anyway is refused by Inspect. A clear is refused with 409 while a load holds the
dataset (`loading_job`, see logic/load/hold.py). Both are conditional writes, not reads.
"""

from __future__ import annotations

from typing import Any

from ingest import ids, record_types
from ingest.adapters.record_store import dataset_shards
from ingest.adapters.workflow import ExecutionAlreadyStartedError
from ingest.clock import iso_now
from ingest.errors import ConflictError
from ingest.logic.datasets import get_dataset
from ingest.logic.load.hold import busy_with
from ingest.models.uploads import ClearJobView


def request_clear(jobs, datasets, starter, account_id: str, dataset_id: str) -> ClearJobView:
    get_dataset(datasets, account_id, dataset_id)
    job_id = ids.new_id()
    now = iso_now()
    # The mark is a conditional write, refused while a clear or a load holds the dataset.
    for _ in range(3):
        if datasets.start_clear(account_id, dataset_id, job_id, now):
            break
        dataset = get_dataset(datasets, account_id, dataset_id)
        if dataset.get("clearing_job"):
            raise ConflictError(f"dataset {dataset_id} is already being cleared")
        holder = dataset.get("loading_job")
        if holder:
            holding_job = jobs.get(account_id, holder)
            if holding_job is not None and holding_job.get("status") not in ("Completed", "Failed"):
                raise ConflictError(f"dataset {dataset_id} is busy {busy_with(holder, holding_job)}; "
                                    "clear it when that job has finished")
            datasets.release_load(account_id, dataset_id, holder)  # its job has ended: a stale hold
    else:
        raise ConflictError(f"dataset {dataset_id} is busy; try the clear again")
    job = {
        "account_id": account_id,
        "job_id": job_id,
        "job_type": "clear",
        "status": "Pending",
        "dataset_id": dataset_id,
        "stats": {"removed": 0},
        "created_at": now,
        "updated_at": now,
    }
    jobs.create(job)
    try:
        job["execution_arn"] = starter.start(
            job_id, {"account_id": account_id, "job_id": job_id, "dataset_id": dataset_id})
    except ExecutionAlreadyStartedError:  # cannot happen with a fresh id; keep the job consistent anyway
        job["execution_arn"] = starter.execution_arn(job_id)
    jobs.update(account_id, job_id, execution_arn=job["execution_arn"])
    return clear_view(job)


def plan(jobs, datasets, event: dict[str, Any]) -> dict[str, Any]:
    """The partitions to clear: every record type a load ever started into this dataset.

    Inspect notes the type before any record is written, so this covers loads that failed
    midway too (their counts may lag); one Map item per type.
    """
    jobs.update(event["account_id"], event["job_id"], status="Processing", updated_at=iso_now())
    dataset = datasets.get(event["account_id"], event["dataset_id"]) or {}
    seen = sorted(set(dataset.get("record_types_seen") or ()) | set(dataset.get("record_counts") or {}))
    # An uploaded type may be stored as another (profile_changes -> profile), and records loaded under
    # an old name (purchase_event) keep that name's partitions: clear all of them.
    stored = sorted(set().union(*(record_types.partitions_of(name) for name in seen)))
    # Each item carries the dataset's shard count: the clear visits every shard the loads wrote to.
    shards = dataset_shards(dataset)
    return {**event, "partitions": [{"record_type": name, "shards": shards} for name in stored]}


def clear_partition(records, job: dict[str, Any], partition: dict[str, Any]) -> dict[str, Any]:
    """One Map item of the plan: {record_type, shards} (no shards: a plan made before datasets had a count)."""
    record_type = partition["record_type"]
    removed = records.delete_all(job["account_id"], job["dataset_id"], record_type, dataset_shards(partition))
    return {"record_type": record_type, "removed": removed}


def finish(jobs, datasets, state: dict[str, Any]) -> dict[str, Any]:
    removed = sum(item["removed"] for item in state.get("results", []))
    now = iso_now()
    datasets.end_clear(state["account_id"], state["dataset_id"], state["job_id"], now, emptied=True)
    jobs.update(state["account_id"], state["job_id"], status="Completed", stats={"removed": removed},
                updated_at=now, finished_at=now)
    return {"job_id": state["job_id"], "status": "Completed", "removed": removed}


def fail(jobs, datasets, state: dict[str, Any], reason: str) -> dict[str, Any]:
    now = iso_now()
    datasets.end_clear(state["account_id"], state["dataset_id"], state["job_id"], now, emptied=False)
    jobs.update(state["account_id"], state["job_id"], status="Failed", failure_reason=reason,
                updated_at=now, finished_at=now)
    return {"job_id": state["job_id"], "status": "Failed", "failure_reason": reason}


def clear_view(job: dict[str, Any]) -> ClearJobView:
    return ClearJobView(
        id=job["job_id"],
        status=job["status"],
        dataset_id=job["dataset_id"],
        created_at=job["created_at"],
        updated_at=job["updated_at"],
        stats={"removed": (job.get("stats") or {}).get("removed", 0)},
        execution_arn=job.get("execution_arn"),
        finished_at=job.get("finished_at") or None,
        failure_reason=(job.get("failure_reason") or "the job failed for an unknown reason")
        if job["status"] == "Failed" else None,
    )
