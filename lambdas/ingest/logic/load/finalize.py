"""Finalize: the partitions' results summed, the dataset's count changed once, the job Completed.

Each Load wrote its PartitionResult to load/<p>.json (a retried Load overwrote it with the last
attempt's exact figures); every partition of the load manifest must have one, else a partition
failed and the job cannot complete. The upload's `created` records are added to the dataset's count
of the stored type with one conditional write keyed on the upload (DatasetsTable.add_load), so a
retried Finalize does not add them twice; loads into a dataset are serialized by the load hold, so
no other load changes the count meanwhile. An audience load instead makes its member set the
audience's list (audiences.complete_load). Then the error logs are merged, the job is Completed,
the hold released and the work files deleted. A retry after all that returns the first outcome.
"""

from __future__ import annotations

from typing import Any

import orjson

from ingest import record_types
from ingest.clock import iso_now
from ingest.errors import StepFailedError
from ingest.logic import audiences, revert
from ingest.logic.load import error_log, hold, rows
from ingest.logic.load.context import LoadContext
from ingest.logic.load.layout import WorkKeys, missing_results_message
from ingest.models.workflow import JobOutcome, JobStats, LoadJob, PartitionResult


def job_fields(job: LoadJob) -> dict[str, Any]:
    """The job as the audience functions and the hold take it (a dict of the job item's names)."""
    return {"account_id": job.account_id, "upload_id": job.upload_id, "dataset_id": job.dataset_id,
            "record_type": job.record_type}


def counted_type(job: LoadJob) -> str:
    """The record type whose count an upload changes: what it is stored as (profile_changes -> profile)."""
    record_type = record_types.get(job.record_type)
    return record_type.stored_type if record_type else job.record_type


def finished_partitions(ctx: LoadContext, work: WorkKeys) -> list[PartitionResult]:
    """The PartitionResults the Loads wrote (partitions that finished), in partition order."""
    return [PartitionResult.model_validate(orjson.loads(ctx.objects.read(key)))
            for key in ctx.objects.list_keys(work.load_results_prefix)]


def expected_partitions(ctx: LoadContext, work: WorkKeys) -> list[int]:
    """The partitions of the load manifest (PlanLoad wrote one PartitionTask per partition with records)."""
    return [task["partition"] for task in orjson.loads(ctx.objects.read(work.load_manifest))]


def changes_records(job: LoadJob) -> bool:
    """Whether the upload creates and replaces dataset records (not a dry run, not an audience's members)."""
    return not job.dry_run and not audiences.is_audience_load(job_fields(job))


def summed_stats(job: LoadJob, expected: list[int], results: list[PartitionResult]) -> JobStats:
    missing = sorted(set(expected) - {result.partition for result in results})
    if missing:
        raise StepFailedError(missing_results_message("Load", missing, len(expected), "partitions"))
    split = job.split
    if split is None:
        raise ValueError("Finalize needs the job's split totals (PlanLoad sets them)")
    applied = sum(result.loaded + result.rejected for result in results)
    if applied != split.total - split.rejected:
        raise RuntimeError(f"the partitions applied {applied} lines of the {split.total - split.rejected} valid ones")
    counts = changes_records(job)
    return JobStats(total=split.total, loaded=sum(result.loaded for result in results),
                    rejected=split.rejected + sum(result.rejected for result in results),
                    created=sum(result.created for result in results) if counts else None,
                    replaced=sum(result.replaced for result in results) if counts else None)


def finalize(ctx: LoadContext, job: LoadJob) -> JobOutcome:
    account_id, upload_id = job.account_id, job.upload_id
    work = WorkKeys(account_id, upload_id)
    settled = ctx.jobs.get(account_id, upload_id) or {}
    if settled.get("status") == "Completed":
        # A retry after Finalize did its work: merging again would publish an empty error log (the work
        # files may be gone). The first run's outcome stands; what it may not have done yet is redone.
        hold.release(ctx, account_id, upload_id)
        ctx.objects.delete_prefix(work.prefix)
        return JobOutcome(upload_id=upload_id, status="Completed", stats=JobStats.model_validate(settled["stats"]))
    ctx.jobs.set_progress(account_id, upload_id, "Finalizing")
    stats = summed_stats(job, expected_partitions(ctx, work), finished_partitions(ctx, work))
    finished = iso_now()
    if not job.dry_run:
        if audiences.is_audience_load(job_fields(job)):  # the audience's list becomes this file's members, whole
            audiences.complete_load(ctx.audiences, ctx.records, job_fields(job))
        else:
            ctx.datasets.add_load(account_id, job.dataset_id, counted_type(job), stats.created or 0,
                                  {"upload_id": upload_id, "finished_at": finished, **stats.state()})
    log_key, _ = error_log.merge(ctx.objects, work, settled.get("line_map_key"))
    fields: dict[str, Any] = {"status": "Completed", "stats": stats.state(), "updated_at": finished,
                              "finished_at": finished, **rows.publish(ctx.objects, work, settled, job)}
    if log_key:
        fields["error_log_key"] = log_key
    if changes_records(job) and settled.get("created_at"):  # its Loads kept what a revert needs
        fields["revertible_until"] = revert.revertible_until(settled["created_at"], ctx.settings.revert_retention_days)
    ctx.jobs.update(account_id, upload_id, **fields)
    hold.release(ctx, account_id, upload_id)
    ctx.objects.delete_prefix(work.prefix)
    return JobOutcome(upload_id=upload_id, status="Completed", stats=stats)
