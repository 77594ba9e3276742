"""Upload requests and the views of jobs (uploads and clears)."""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, WithJsonSchema, model_validator

from ingest import record_types
from ingest.errors import BadRequestError
from ingest.models.base import OMITTED, REQUIRED, RequestModel, View
from ingest.models.common import JOB_STATUSES, Count, JobStatus, PageToken, Timestamp
from ingest.models.rules import (
    NextToken,
    OptionalText,
    PageLimit,
    RequiredText,
    one_of,
    require_object,
    required_text,
    rule,
)

FILENAME_RULE = re.compile(r"^[A-Za-z0-9_-]+\.(json|ndjson|jsonl|csv)(\.gz)?$")
FILENAME_RULE_TEXT = (
    "filename may contain only letters, digits, '-' and '_', followed by one of "
    ".json, .ndjson, .jsonl or .csv, optionally followed by .gz "
    "(for example customer_record-2024-08-29-1.json)"
)
MAX_FILENAME_LENGTH = 200
# The largest object one upload may be (S3's single PUT limit); logic/load/inspect.py refuses larger files too.
MAX_UPLOAD_BYTES = 5 * 1024 * 1024 * 1024
# S3's multipart limits: parts of 5 MiB to 5 GiB (the last may be smaller), at most 10,000 of them.
MIN_PART_BYTES = 5 * 1024 * 1024
MAX_PART_BYTES = 5 * 1024 * 1024 * 1024
MAX_PARTS = 10_000
MAX_PARTS_PER_REQUEST = 1000  # part URLs signed by one POST /v1/uploads/{id}/parts
DATASET_LOAD = "dataset_load"
AUDIENCE_LIST = "audience_list"  # Localytics Audience Imports semantics (logic/audiences.py)
DESTINATION_TYPES = (DATASET_LOAD, AUDIENCE_LIST)
MEMBER_TYPE = "audience_member"  # the record type of an audience file's lines
MAX_AUDIENCE_NAME_LENGTH = 256
MAX_APP_ID_LENGTH = 128
JOB_TYPES = ("upload", "clear", "revert")


def _filename(value: Any) -> str:
    if not isinstance(value, str) or len(value) > MAX_FILENAME_LENGTH or not FILENAME_RULE.fullmatch(value):
        raise BadRequestError(FILENAME_RULE_TEXT)
    return value


Filename = Annotated[str, Field(max_length=MAX_FILENAME_LENGTH, pattern=FILENAME_RULE.pattern), REQUIRED,
                     rule(_filename)]


def _record_type(value: Any) -> str:
    named = required_text(value, "destination.record_type", 64)
    record_type = record_types.canonical(named)  # an old name (purchase_event) is an alias: the job keeps the new one
    if record_type is None:
        raise BadRequestError(
            f"destination.record_type {named!r} is unknown; known types: {', '.join(record_types.catalogue())}")
    if record_type == MEMBER_TYPE:
        raise BadRequestError(f"record type {record_type} loads audience lists: "
                              f"use destination_type {AUDIENCE_LIST} with audience_name or audience_id")
    return record_type


class DatasetLoad(RequestModel):
    """Load the file's records into one of the account's datasets."""

    destination_type: Annotated[Literal["dataset_load"], REQUIRED] = DATASET_LOAD
    dataset_id: RequiredText("destination.dataset_id", 64) = None
    record_type: Annotated[str, Field(min_length=1, max_length=64, description=(
        "a name or alias from `GET /v1/record-types` (not audience_member); an unknown one is a 400; "
        "the job keeps the canonical name")), REQUIRED, rule(_record_type)] = None


def _member_type(value: Any) -> str:
    if value not in (None, MEMBER_TYPE):
        raise BadRequestError(f"destination.record_type must be {MEMBER_TYPE} (or left out) for an audience list")
    return MEMBER_TYPE


class AudienceLoad(RequestModel):
    """An audience list (Localytics Audience Imports): `audience_name` (and optionally `app_id`)
    creates an empty audience now (409 once the account has 500); `audience_id` replaces an existing
    one's members when the file's load completes (404 if there is no such audience). Exactly one of
    the two. A dry run cannot create an audience."""

    unknown_fields_message = (f"destination: unknown fields {{unknown}} for destination_type {AUDIENCE_LIST}; "
                              "give audience_name (and optionally app_id) to create, or audience_id to replace")

    destination_type: Annotated[Literal["audience_list"], REQUIRED] = AUDIENCE_LIST
    record_type: Annotated[Literal["audience_member"], rule(_member_type)] = None
    audience_id: OptionalText("destination.audience_id", 64) = None
    audience_name: OptionalText("destination.audience_name", MAX_AUDIENCE_NAME_LENGTH) = None
    app_id: OptionalText("destination.app_id", MAX_APP_ID_LENGTH) = None

    @model_validator(mode="after")
    def _create_or_replace(self) -> AudienceLoad:
        creating = bool(self.audience_name and self.audience_name.strip())
        if bool(self.audience_id) == creating:
            raise BadRequestError("destination: give audience_name to create an audience list, "
                                  "or audience_id to replace an existing one's members (one of the two)")
        if self.audience_id and self.app_id is not None:
            raise BadRequestError("destination.app_id can be given only when creating an audience list")
        return self

    @property
    def creates(self) -> bool:
        return not self.audience_id


def _destination(value: Any) -> Any:
    destination = require_object(value, "destination")
    destination_type = required_text(destination.get("destination_type"), "destination.destination_type")
    one_of(destination_type, "destination.destination_type", DESTINATION_TYPES)
    return destination


Destination = Annotated[DatasetLoad | AudienceLoad, Field(discriminator="destination_type")]


def _options(value: Any) -> Any:
    return {} if value is None else require_object(value, "options")


def _dry_run(value: Any) -> bool:
    if not isinstance(value, bool):
        raise BadRequestError("options.dry_run must be true or false")
    return value


def _budget(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 100:
        raise BadRequestError("options.max_rejected_percent must be a number from 0 to 100")
    # DynamoDB numbers stop at 1E-130 and 38 digits: a budget finer than a millionth of a percent is rounded.
    return round(float(value), 6)


class UploadOptions(RequestModel):
    """Job options: dry_run (validate only, write nothing) and max_rejected_percent (error budget)."""

    unknown_fields_message = "unknown options: {unknown}; known: dry_run, max_rejected_percent"

    dry_run: Annotated[bool, rule(_dry_run)] = False
    max_rejected_percent: Annotated[float, Field(ge=0, le=100), rule(_budget)] = 100


def _size(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise BadRequestError("size must be the file's size in bytes: a positive integer")
    return value


def _multipart(value: Any) -> bool:
    if not isinstance(value, bool):
        raise BadRequestError("multipart must be true or false")
    return value


def _part_size(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not MIN_PART_BYTES <= value <= MAX_PART_BYTES:
        raise BadRequestError(f"part_size must be a whole number of bytes from {MIN_PART_BYTES} (5 MiB) "
                              f"to {MAX_PART_BYTES} (5 GiB), S3's limits for a part")
    return value


# How the file is sent - one PUT or an S3 multipart upload - is declared alike by POST /v1/uploads and
# POST /v1/uploads/{upload_id}/retry: these three fields, checked together by check_sent_as.
Size = Annotated[int | None, Field(ge=1, description=(
    "the file's size in bytes. A single PUT: at most 5 GB, signed into the URL, so S3 accepts only that "
    "length. Multipart: required; at most the deployment's limit (README), it chooses the part size")),
                 rule(_size)]
Multipart = Annotated[bool, Field(description=(
    "true: an S3 multipart upload (files over 5 GB, resumable): no `url`; sign part URLs with "
    "POST /v1/uploads/{upload_id}/parts and finish with POST /v1/uploads/{upload_id}/complete")),
                      rule(_multipart)]
PartSize = Annotated[int | None, Field(ge=MIN_PART_BYTES, le=MAX_PART_BYTES, description=(
    "multipart only: bytes per part (the last may be smaller); the service chooses when absent")),
                     rule(_part_size)]


def check_sent_as(request: UploadRequest | RetryRequest) -> None:
    """A request's size, multipart and part_size agree: a multipart upload has a size, a single PUT no
    part size and at most 5 GB."""
    if not request.multipart:
        if request.part_size is not None:
            raise BadRequestError("part_size applies to multipart uploads only: send \"multipart\": true")
        if request.size is not None and request.size > MAX_UPLOAD_BYTES:
            raise BadRequestError(
                f"size {request.size} bytes is over the 5 GB limit of one PUT ({MAX_UPLOAD_BYTES} bytes); "
                "send \"multipart\": true to upload it in parts")
    elif request.size is None:
        raise BadRequestError("a multipart upload needs size: the file's size in bytes")


class UploadRequest(RequestModel):
    """POST /v1/uploads, exactly Lexer's File Upload request (plus our options and size)."""

    filename: Filename = None
    destination: Annotated[Destination, REQUIRED, rule(_destination)] = None
    options: Annotated[UploadOptions, rule(_options)] = None
    size: Size = None
    multipart: Multipart = False
    part_size: PartSize = None

    @model_validator(mode="after")
    def _size_fits_the_way(self) -> UploadRequest:
        check_sent_as(self)
        return self


# -- views ------------------------------------------------------------------------------------------
Percent = Annotated[int | float, WithJsonSchema({"type": "number", "minimum": 0, "maximum": 100})]


class DatasetLoadTarget(View):
    destination_type: Literal["dataset_load"]
    dataset_id: str
    record_type: str


class AudienceLoadTarget(View):
    destination_type: Literal["audience_list"]
    record_type: Literal["audience_member"]
    audience_id: str
    audience_name: str
    app_id: Annotated[str | None, OMITTED] = None


class UploadStats(View):
    total: Count
    loaded: Count
    rejected: Count
    not_loaded: Annotated[Count | None, OMITTED, Field(
        description="valid lines not loaded (error budget exceeded, or the job failed)")] = None
    created: Annotated[Count | None, OMITTED, Field(
        description="records new to the dataset (a key seen for the first time)")] = None
    replaced: Annotated[Count | None, OMITTED, Field(
        description="records that existed and were overwritten")] = None


LoadPhase = Literal["Inspecting", "Splitting", "Loading", "Finalizing"]


class ProgressView(View):
    """How far a running job is (docs/load_workflow.md): updated every few seconds of work."""

    phase: Annotated[LoadPhase, Field(description=(
        "Inspecting (checks), Splitting (reading the file: bytes_read of bytes_total), Loading (writing "
        "records: chunks_done of chunks_total partitions), Finalizing (counts and error log)"))]
    bytes_total: Count
    bytes_read: Count
    chunks_total: Annotated[Count, Field(description="ranges while Splitting, partitions while Loading")]
    chunks_done: Count
    lines_read: Count
    records_loaded: Count

    @classmethod
    def of(cls, progress: dict[str, Any]) -> ProgressView:
        """From the job item's progress map. A retried step counts its work again, so figures are
        clamped to their totals: progress is for people watching, stats come from the results."""
        figures = {name: int(progress.get(name) or 0) for name in (
            "bytes_total", "bytes_read", "chunks_total", "chunks_done", "lines_read", "records_loaded")}
        figures["bytes_read"] = min(figures["bytes_read"], figures["bytes_total"])
        figures["chunks_done"] = min(figures["chunks_done"], figures["chunks_total"])
        figures["records_loaded"] = min(figures["records_loaded"], figures["lines_read"] or figures["records_loaded"])
        return cls(phase=progress.get("phase", "Inspecting"), **figures)


class MultipartView(View):
    """The S3 multipart upload behind an upload (POST /v1/uploads with "multipart": true)."""

    upload_id: Annotated[str, Field(description="S3's UploadId")]
    key: Annotated[str, Field(description="the object key")]
    part_size: Annotated[int, Field(description="bytes per part the service planned (the last may be smaller)")]
    part_count: Annotated[int, Field(description="parts of part_size the declared size makes")]


class OptionsView(View):
    dry_run: bool
    max_rejected_percent: Percent


class UploadView(View):
    id: str
    type: Literal["upload"] = "upload"
    status: JobStatus
    filename: str
    destination: Annotated[DatasetLoadTarget | AudienceLoadTarget, Field(discriminator="destination_type")]
    created_at: Timestamp
    updated_at: Timestamp
    stats: UploadStats
    execution_arn: str | None
    options: OptionsView
    finished_at: Annotated[Timestamp | None, OMITTED] = None
    error_log_url: Annotated[str | None, OMITTED, Field(
        description="presigned GET of the NDJSON error log (when rejected > 0)")] = None
    queued_behind: Annotated[str | None, OMITTED, Field(description=(
        "while Pending: the upload loading into the same dataset (or audience) that this one waits for"))] = None
    progress: Annotated[ProgressView | None, OMITTED, Field(description="while Processing")] = None
    failure_reason: Annotated[str | None, OMITTED, Field(description="when Failed")] = None
    failed_rows_url: Annotated[str | None, OMITTED, Field(description=(
        "presigned GET of the rejected lines as sent, in line order, in the upload's own format (a CSV's "
        "header row first; gzip if the upload was): fix them and upload the file again"))] = None
    unprocessed_rows_url: Annotated[str | None, OMITTED, Field(description=(
        "when Failed: presigned GET of the lines neither loaded nor rejected, in the upload's own format; "
        "POST /v1/uploads/{id}/retry with rows=unprocessed loads them"))] = None
    parent_id: Annotated[str | None, OMITTED, Field(description="the upload this one retries")] = None
    retries: Annotated[list[str] | None, OMITTED, Field(
        description="the uploads that retry this one (POST /v1/uploads/{id}/retry), oldest first")] = None
    revertible_until: Annotated[Timestamp | None, OMITTED, Field(description=(
        "until when POST /v1/uploads/{id}/revert can undo this Completed load (what it replaced is kept "
        "that long); absent for dry runs, audience lists, unfinished or failed loads, once reverted, "
        "and after that time"))] = None
    reverted_by: Annotated[str | None, OMITTED, Field(description=(
        "the revert job that undid (or is undoing) this load"))] = None
    multipart: Annotated[MultipartView | None, OMITTED, Field(
        description="a multipart upload's S3 upload (absent for a single PUT)")] = None


class NewUploadView(UploadView):
    """The upload just requested, with where to PUT the file (201, as Lexer's API answers); a multipart
    upload has no URL: its parts' URLs are signed by POST /v1/uploads/{upload_id}/parts."""

    upload_url_fields: ClassVar[tuple[str, str, str] | None] = ("id", "url", "expires_at")

    url: Annotated[str | None, OMITTED, Field(description="presigned PUT URL of the file (not for multipart)")] = None
    expires_at: Annotated[Timestamp | None, OMITTED] = None


UNPROCESSED = "unprocessed"


class RetryRequest(RequestModel):
    """POST /v1/uploads/{upload_id}/retry: no body (or {}) for a corrected file the caller uploads to
    the answer's URL, or the multipart fields of POST /v1/uploads (size, multipart, part_size) to send
    it as POST /v1/uploads would; rows=unprocessed for the service to load the parent's unprocessed rows
    itself (no file is sent, so none of those fields)."""

    unknown_fields_message = "unknown fields {unknown}; known: rows, size, multipart, part_size"

    rows: Annotated[Literal["unprocessed"] | None, rule(one_of, "rows", (UNPROCESSED,))] = None
    size: Size = None
    multipart: Multipart = False
    part_size: PartSize = None

    @model_validator(mode="after")
    def _rows_or_a_file(self) -> RetryRequest:
        if self.rows == UNPROCESSED and (self.multipart or self.size is not None or self.part_size is not None):
            raise BadRequestError("rows: unprocessed takes no size, multipart or part_size: the service copies "
                                  "those rows itself; send them only to upload a corrected file")
        check_sent_as(self)
        return self


class RetryView(UploadView):
    """The retry just created (201): with `url` and `expires_at` when the caller PUTs the file, with
    `multipart` (and no URL) for a multipart retry, as NewUploadView."""

    upload_url_fields: ClassVar[tuple[str, str, str] | None] = ("id", "url", "expires_at")

    url: Annotated[str | None, OMITTED, Field(description="presigned PUT URL of the corrected file")] = None
    expires_at: Annotated[Timestamp | None, OMITTED] = None


class ClearStats(View):
    removed: Count


class ClearJobView(View):
    id: str
    type: Literal["clear"] = "clear"
    status: JobStatus
    dataset_id: str
    created_at: Timestamp
    updated_at: Timestamp
    stats: ClearStats
    execution_arn: str | None
    finished_at: Annotated[Timestamp | None, OMITTED] = None
    failure_reason: Annotated[str | None, OMITTED, Field(description="when Failed")] = None


class RevertStats(View):
    restored: Annotated[Count, Field(description="records put back to the value the upload replaced")]
    removed: Annotated[Count, Field(description="records the upload had created, removed")]
    kept: Annotated[Count, Field(description=(
        "records a later load or a clear changed after the upload, left as they are"))]


class RevertJobView(View):
    id: str
    type: Literal["revert"] = "revert"
    status: JobStatus
    dataset_id: str
    upload_id: Annotated[str, Field(description="the upload this job reverts")]
    created_at: Timestamp
    updated_at: Timestamp
    stats: RevertStats
    execution_arn: str | None
    finished_at: Annotated[Timestamp | None, OMITTED] = None
    queued_behind: Annotated[str | None, OMITTED, Field(description=(
        "while Pending: the job loading into (or reverting) the same dataset that this one waits for"))] = None
    failure_reason: Annotated[str | None, OMITTED, Field(description="when Failed")] = None


JobView = Annotated[UploadView | ClearJobView | RevertJobView, Field(discriminator="type")]


class JobPage(View):
    jobs: list[JobView]
    next_token: PageToken


class UploadPage(View):
    uploads: list[UploadView]
    next_token: PageToken


def _dataset_filter(value: Any) -> str | None:
    return value or None  # an empty filter filters nothing


class UploadsQuery(RequestModel):
    """GET /v1/uploads"""

    status: Annotated[JobStatus | None, rule(one_of, "status", JOB_STATUSES)] = None
    dataset_id: Annotated[str | None, Field(description="only jobs of this dataset"), rule(_dataset_filter)] = None
    limit: PageLimit = None
    next_token: NextToken = None


class JobsQuery(UploadsQuery):
    """GET /v1/jobs: UploadsQuery, and the job type."""

    type: Annotated[Literal["upload", "clear", "revert"] | None, rule(one_of, "type", JOB_TYPES)] = None

    # The type is checked first, as it always was.
    @model_validator(mode="before")
    @classmethod
    def _type_first(cls, data: Any) -> Any:
        if isinstance(data, dict):
            one_of(data.get("type"), "type", JOB_TYPES)
        return data




# -- multipart parts --------------------------------------------------------------------------------
def _part_number(value: Any, field: str = "part_number") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_PARTS:
        raise BadRequestError(f"{field} must be a whole number from 1 to {MAX_PARTS}")
    return value


def _part_numbers(value: Any) -> list[int]:
    if not isinstance(value, list) or not value or len(value) > MAX_PARTS_PER_REQUEST:
        raise BadRequestError(f"part_numbers must be a list of 1 to {MAX_PARTS_PER_REQUEST} part numbers")
    numbers = [_part_number(number, "part_numbers[]") for number in value]
    if len(set(numbers)) != len(numbers):
        raise BadRequestError("part_numbers must not repeat a number")
    return numbers


class PartNumbers(RequestModel):
    """POST /v1/uploads/{upload_id}/parts"""

    unknown_fields_message = "unknown fields: {unknown}; send part_numbers"

    part_numbers: Annotated[list[Annotated[int, Field(ge=1, le=MAX_PARTS)]],
                            Field(min_length=1, max_length=MAX_PARTS_PER_REQUEST), REQUIRED,
                            rule(_part_numbers)] = None


class PartUrl(View):
    part_number: int
    url: Annotated[str, Field(description="presigned UploadPart URL: PUT the part's bytes; keep the ETag header")]
    expires_at: Timestamp


class PartUrls(View):
    parts: list[PartUrl]


class StoredPart(View):
    part_number: int
    size: Count
    etag: Annotated[str, Field(description="the part's ETag, as S3 answered its PUT (quotes included)")]


class StoredParts(View):
    """The parts S3 holds for the upload, by number: a client resumes by sending the others."""

    parts: list[StoredPart]


def _etag(value: Any) -> str:
    return required_text(value, "parts[].etag", 128)


class CompletedPart(RequestModel):
    unknown_fields_message = "parts[]: unknown fields {unknown}; send part_number and etag"

    part_number: Annotated[int, Field(ge=1, le=MAX_PARTS), REQUIRED, rule(_part_number, "parts[].part_number")] = None
    etag: Annotated[str, Field(min_length=1, max_length=128), REQUIRED, rule(_etag)] = None


def _completed_parts(value: Any) -> Any:
    if not isinstance(value, list) or not value or len(value) > MAX_PARTS:
        raise BadRequestError(f"parts must be a list of 1 to {MAX_PARTS} objects {{part_number, etag}}")
    for part in value:
        require_object(part, "parts[]")
    return value


class CompleteRequest(RequestModel):
    """POST /v1/uploads/{upload_id}/complete: every part, in ascending part_number order."""

    unknown_fields_message = "unknown fields: {unknown}; send parts"

    parts: Annotated[list[CompletedPart], Field(min_length=1, max_length=MAX_PARTS), REQUIRED,
                     rule(_completed_parts)] = None

    @model_validator(mode="after")
    def _ascending(self) -> CompleteRequest:
        numbers = [part.part_number for part in self.parts]
        if numbers != sorted(set(numbers)):
            raise BadRequestError("parts must be in ascending part_number order, each number once")
        return self
