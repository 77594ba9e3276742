"""The one-load-at-a-time hold on an item (a dataset, an audience): `loading_job` set by a conditional write.

The load workflow takes it in Inspect and releases it when the job ends (logic/load/hold.py); datasets and
audiences keep it on their own items, so both tables share these two writes.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from ingest.adapters.aws_errors import condition_failed


def hold(table, key: dict[str, str], job_id: str, at: str, stale_holder: str | None = None,
         also_require: str = "") -> bool:
    """Make job_id the holder of the item; False while another job holds it (or also_require fails).

    The item must exist; its current holder may be job_id itself (a retried Inspect) or, when given,
    stale_holder (a job known to have ended without letting go).
    """
    key_attribute = next(iter(key))
    holders = "attribute_not_exists(loading_job) OR loading_job = :job"
    values: dict[str, Any] = {":job": job_id, ":at": at}
    if stale_holder:
        holders += " OR loading_job = :stale"
        values[":stale"] = stale_holder
    condition = f"attribute_exists({key_attribute}) AND ({holders})"
    if also_require:
        condition += f" AND {also_require}"
    try:
        table.update_item(Key=key, UpdateExpression="SET loading_job = :job, loading_since = :at",
                          ConditionExpression=condition, ExpressionAttributeValues=values)
        return True
    except ClientError as exc:
        if condition_failed(exc):
            return False
        raise


def release(table, key: dict[str, str], job_id: str) -> None:
    """Let the next load in, if job_id holds the item (a no-op otherwise, so retries are safe)."""
    try:
        table.update_item(Key=key, UpdateExpression="REMOVE loading_job, loading_since",
                          ConditionExpression="loading_job = :job", ExpressionAttributeValues={":job": job_id})
    except ClientError as exc:
        if not condition_failed(exc):
            raise
