"""All of an account's jobs, newest first (the Lexer "Logs" page)."""

from __future__ import annotations

from typing import Any

from ingest.errors import NotFoundError
from ingest.logic.clear import clear_view
from ingest.logic.revert import revert_view
from ingest.logic.uploads import upload_view
from ingest.models.uploads import ClearJobView, JobPage, JobsQuery, RevertJobView, UploadPage, UploadsQuery, UploadView


def _filters(query: UploadsQuery, job_type: str | None) -> dict[str, str]:
    filters = {"job_type": job_type, "status": query.status, "dataset_id": query.dataset_id}
    return {name: value for name, value in filters.items() if value is not None}


def _view(item: dict[str, Any], objects, url_ttl_seconds: int) -> UploadView | ClearJobView | RevertJobView:
    if item.get("job_type") == "clear":
        return clear_view(item)
    if item.get("job_type") == "revert":
        return revert_view(item)
    return upload_view(item, objects, url_ttl_seconds)


def list_jobs(jobs, objects, account_id: str, query: JobsQuery, url_ttl_seconds: int) -> JobPage:
    items, token = jobs.list(account_id, _filters(query, query.type), query.limit, query.next_token)
    return JobPage(jobs=[_view(item, objects, url_ttl_seconds) for item in items], next_token=token)


def list_uploads(jobs, objects, account_id: str, query: UploadsQuery, url_ttl_seconds: int) -> UploadPage:
    """GET /v1/uploads: the account's upload jobs only, in the Lexer-style envelope."""
    items, token = jobs.list(account_id, _filters(query, "upload"), query.limit, query.next_token)
    return UploadPage(uploads=[upload_view(item, objects, url_ttl_seconds) for item in items], next_token=token)


def get_job(jobs, objects, account_id: str, job_id: str,
            url_ttl_seconds: int) -> UploadView | ClearJobView | RevertJobView:
    job = jobs.get(account_id, job_id)
    if job is None:
        raise NotFoundError(f"job {job_id} not found")
    return _view(job, objects, url_ttl_seconds)
