"""What one upload and one record may be, and the per-record check: shared by Inspect, Split and the
CLI's validate. Pure (no AWS client, no model), so `python -m cli validate` imports this and not the
steps, whose adapters pull in boto3 (a second of start-up for a local command)."""

from __future__ import annotations

MAX_OBJECT_BYTES = 5 * 1024**3  # 5 GB: the largest object a single presigned PUT can create
# DynamoDB items are limited to 400 KB; leave room for the keys and attributes.
MAX_STORED_RECORD_BYTES = 380 * 1024


def check_line(record_type, raw: bytes) -> tuple[str | None, str | None, bytes | None]:
    """(problem, key, stored JSON) for one record's JSON; problem is None when it is accepted.
    The stored record is the line as sent: checks convert nothing, and nothing is dumped again.
    (The CLI's validate runs this; Split runs the same checks through split.line_router.)"""
    problem, key = record_type.check_line(raw)
    if problem is None and len(raw) <= MAX_STORED_RECORD_BYTES:
        return None, key, raw
    if problem is None:
        problem = too_big(raw)
    return problem, None, None


def too_big(raw: bytes) -> str:
    return f"record is {len(raw)} bytes, over the {MAX_STORED_RECORD_BYTES}-byte limit of the dataset store"
