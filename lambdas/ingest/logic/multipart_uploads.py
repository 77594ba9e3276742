"""Multipart uploads: files over 5 GB, and uploads that resume after a dropped connection.

POST /v1/uploads with "multipart": true creates the job (Pending) and S3's multipart upload; the client
then asks for presigned UploadPart URLs, PUTs its parts (each one retryable alone), lists the parts S3
holds to resume, and completes the upload: S3 assembles the object and its event starts the load
workflow, as for a single PUT. Or it aborts (the job is Failed, "aborted by the client").

While the upload is open the job carries the open-multipart mark (adapters/control_tables.py); complete,
abort and the lifecycle sweep (logic/multipart_sweep.py) each remove it with a conditional write, so
exactly one of them ends the upload and the others get 409.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ingest.adapters.control_tables import OPEN, OPEN_MULTIPART
from ingest.clock import iso_in, iso_now
from ingest.errors import BadRequestError, ConflictError, NotFoundError
from ingest.models.uploads import (
    MAX_PART_BYTES,
    MAX_PARTS,
    MIN_PART_BYTES,
    CompleteRequest,
    PartNumbers,
    PartUrl,
    PartUrls,
    StoredPart,
    StoredParts,
)

MIB = 1024 * 1024
# The part size chosen when the client names none: 16 MiB keeps a resume's loss to seconds on a slow
# link and a 100 GiB file at 6,400 parts; larger files get larger parts so they stay within 10,000.
DEFAULT_PART_BYTES = 16 * MIB
ABORTED_BY_CLIENT = "aborted by the client"
# The deployment's default limit (CDK context max_upload_bytes, infra/config.py; the figures: README, Limits).
DEFAULT_MAX_UPLOAD_BYTES = 100 * 1024 * MIB


@dataclass(frozen=True)
class PartPlan:
    part_size: int
    part_count: int


def plan_parts(size: int, part_size: int | None, max_upload_bytes: int) -> PartPlan:
    """The parts of a `size`-byte file: `part_size` when given (S3's 5 MiB to 5 GiB), else the default
    or the smallest whole MiB that keeps the file within 10,000 parts. BadRequestError past the
    deployment's limit or S3's part count."""
    if size > max_upload_bytes:
        raise BadRequestError(f"size {size} bytes is over the {max_upload_bytes}-byte limit of one upload "
                              "(what the load workflow can process within its limits: README, Limits); "
                              "split the file")
    if part_size is None:
        needed = -(-size // MAX_PARTS)
        part_size = max(DEFAULT_PART_BYTES, -(-needed // MIB) * MIB)
    if not MIN_PART_BYTES <= part_size <= MAX_PART_BYTES:
        raise BadRequestError(f"part_size must be from {MIN_PART_BYTES} to {MAX_PART_BYTES} bytes")
    count = max(1, -(-size // part_size))
    if count > MAX_PARTS:
        raise BadRequestError(f"part_size {part_size} cuts {size} bytes into {count} parts; S3 takes at most "
                              f"{MAX_PARTS}: use parts of at least {-(-size // MAX_PARTS)} bytes")
    return PartPlan(part_size, count)


def multipart_fields(upload_id: str, key: str, plan: PartPlan) -> dict[str, Any]:
    """What the job item holds of its multipart upload (open until completed, aborted or swept)."""
    return {"multipart": {"upload_id": upload_id, "key": key, "part_size": plan.part_size,
                          "part_count": plan.part_count},
            OPEN_MULTIPART: OPEN}


def _open_upload(jobs, account_id: str, upload_id: str) -> dict[str, Any]:
    """The job of an open multipart upload of this account: 404 for none (or another account's),
    409 for a single-PUT upload or one already completed or aborted."""
    job = jobs.get(account_id, upload_id)
    if job is None or job.get("job_type") != "upload":
        raise NotFoundError(f"upload {upload_id} not found")
    if not job.get("multipart"):
        raise ConflictError(f"upload {upload_id} is not a multipart upload: PUT its file to the upload's url")
    if OPEN_MULTIPART not in job:
        state = "aborted" if job.get("status") == "Failed" and not job.get("multipart_completed_at") else "completed"
        raise ConflictError(f"upload {upload_id}'s multipart upload is {state}: it takes no more parts")
    return job


def sign_parts(jobs, objects, account_id: str, upload_id: str, request: PartNumbers,
               url_ttl_seconds: int) -> PartUrls:
    """POST /v1/uploads/{id}/parts: a presigned UploadPart URL per part number, each valid url_ttl_seconds."""
    job = _open_upload(jobs, account_id, upload_id)
    multipart = job["multipart"]
    expires_at = iso_in(url_ttl_seconds)
    return PartUrls(parts=[
        PartUrl(part_number=number, expires_at=expires_at,
                url=objects.presigned_part(multipart["key"], multipart["upload_id"], number, url_ttl_seconds))
        for number in request.part_numbers])


def stored_parts(jobs, objects, account_id: str, upload_id: str) -> StoredParts:
    """GET /v1/uploads/{id}/parts: the parts S3 holds (number, size, ETag), so a client resumes."""
    job = _open_upload(jobs, account_id, upload_id)
    multipart = job["multipart"]
    parts = objects.list_parts(multipart["key"], multipart["upload_id"])
    if parts is None:
        raise ConflictError(f"upload {upload_id}'s multipart upload is no longer open in storage")
    return StoredParts(parts=[StoredPart(**part) for part in parts])


def complete(jobs, objects, account_id: str, upload_id: str, request: CompleteRequest) -> None:
    """POST /v1/uploads/{id}/complete: S3 assembles the object, whose event starts the load workflow.
    400 when the part list does not match what S3 holds (the upload stays open to fix it)."""
    job = _open_upload(jobs, account_id, upload_id)
    multipart = job["multipart"]
    if not objects.complete_multipart(multipart["key"], multipart["upload_id"],
                                      [(part.part_number, part.etag) for part in request.parts]):
        raise ConflictError(f"upload {upload_id}'s multipart upload is no longer open in storage")
    now = iso_now()
    # Not the status: the S3 event's workflow owns it from here (it may already be Processing).
    jobs.close_multipart(account_id, upload_id, multipart_completed_at=now)


def abort(jobs, objects, account_id: str, upload_id: str) -> None:
    """DELETE /v1/uploads/{id}: S3 deletes the parts; the job is Failed, "aborted by the client"."""
    job = _open_upload(jobs, account_id, upload_id)
    multipart = job["multipart"]
    objects.abort_multipart(multipart["key"], multipart["upload_id"])  # idempotent: gone is fine
    now = iso_now()
    if not jobs.close_multipart(account_id, upload_id, pending_only=True, status="Failed",
                                failure_reason=ABORTED_BY_CLIENT, finished_at=now, updated_at=now):
        raise ConflictError(f"upload {upload_id}'s multipart upload was completed or aborted meanwhile")
