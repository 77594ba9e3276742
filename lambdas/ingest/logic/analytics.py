"""The analytics file-upload API: POST /analytics/files/upload and GET /analytics/files/{id}.

A thin layer over uploads.create_upload (same rules, same jobs, same workflow): datasetType picks
the record type, and each account has one dataset per datasetType, created on first use
(logic/target_datasets.py). The answers use this API's camelCase names (models/analytics.py).
"""

from __future__ import annotations

from typing import Any

from ingest.errors import NotFoundError
from ingest.logic import target_datasets, uploads
from ingest.models.analytics import DATASET_TYPES, FILE_TYPES, FileUploadRequest, FileUploadStarted, FileUploadView
from ingest.models.uploads import UploadView

__all__ = ["DATASET_TYPES", "FILE_TYPES"]
FINISHED = ("Completed", "Failed")


def request_file_upload(jobs, datasets, objects, targets, account_id: str, request: FileUploadRequest,
                        url_ttl_seconds: int) -> FileUploadStarted:
    dataset_id = target_datasets.ensure_dataset(targets, datasets, account_id, target_datasets.ANALYTICS,
                                                request.dataset_type)
    created = uploads.create_upload(jobs, datasets, objects, None, account_id, uploads.NewUpload(
        filename=request.file.name,
        destination=uploads.DatasetLoad(dataset_id=dataset_id, record_type=request.record_type),
        marks=uploads.Marks(analytics_file=(request.dataset_type, request.file)),
    ), url_ttl_seconds)
    return FileUploadStarted(id=created.view.id, url=created.url, expires_at=created.expires_at,
                             status=created.view.status, dataset_type=request.dataset_type,
                             file={"name": request.file.name, "type": request.file.type})


def file_view(upload: UploadView, analytics_file: dict[str, Any]) -> FileUploadView:
    """An upload's view in this API's words."""
    stats = upload.stats
    return FileUploadView(
        id=upload.id,
        status=upload.status,
        dataset_type=analytics_file["dataset_type"],
        file={"name": analytics_file["name"], "type": analytics_file["type"]},
        created_at=upload.created_at,
        updated_at=upload.updated_at,
        statistics=({"total": stats.total, "imported": stats.loaded, "rejected": stats.rejected}
                    if upload.status in FINISHED else None),
        error_log_url=upload.error_log_url,
        finished_at=upload.finished_at,
        failure_reason=upload.failure_reason if upload.status == "Failed" else None,
        progress=upload.progress.model_dump() if upload.progress else None,
    )


def get_file_upload(jobs, objects, account_id: str, file_id: str, url_ttl_seconds: int) -> FileUploadView:
    job = jobs.get(account_id, file_id)
    if job is None or job.get("job_type") != "upload" or not job.get("analytics_file"):
        raise NotFoundError(f"file upload {file_id} not found")
    return file_view(uploads.upload_view(job, objects, url_ttl_seconds), job["analytics_file"])
