"""All of an account's jobs, newest first (the Lexer "Logs" page)."""

from __future__ import annotations

from typing import Any

from ingest.errors import BadRequestError, NotFoundError
from ingest.logic.clear import clear_view
from ingest.logic.requests import page_limit
from ingest.logic.uploads import STATUSES, upload_view

JOB_TYPES = ("upload", "clear")


def list_jobs(jobs, objects, account_id: str, query: dict[str, str], url_ttl_seconds: int) -> dict[str, Any]:
    filters = {}
    if query.get("type") is not None:
        if query["type"] not in JOB_TYPES:
            raise BadRequestError(f"type must be one of: {', '.join(JOB_TYPES)}")
        filters["job_type"] = query["type"]
    if query.get("status") is not None:
        if query["status"] not in STATUSES:
            raise BadRequestError(f"status must be one of: {', '.join(STATUSES)}")
        filters["status"] = query["status"]
    if query.get("dataset_id"):
        filters["dataset_id"] = query["dataset_id"]
    try:
        items, token = jobs.list(account_id, filters, page_limit(query.get("limit")), query.get("next_token"))
    except ValueError as exc:
        raise BadRequestError(str(exc)) from exc
    views = [clear_view(item) if item.get("job_type") == "clear" else upload_view(item, objects, url_ttl_seconds)
             for item in items]
    return {"jobs": views, "next_token": token}


def list_uploads(jobs, objects, account_id: str, query: dict[str, str], url_ttl_seconds: int) -> dict[str, Any]:
    """GET /v1/uploads: the account's upload jobs only, in the Lexer-style envelope."""
    listed = list_jobs(jobs, objects, account_id, {**query, "type": "upload"}, url_ttl_seconds)
    return {"uploads": listed["jobs"], "next_token": listed["next_token"]}


def get_job(jobs, objects, account_id: str, job_id: str, url_ttl_seconds: int) -> dict[str, Any]:
    job = jobs.get(account_id, job_id)
    if job is None:
        raise NotFoundError(f"job {job_id} not found")
    return clear_view(job) if job.get("job_type") == "clear" else upload_view(job, objects, url_ttl_seconds)
