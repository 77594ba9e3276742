"""The analytics file-upload API: POST /analytics/files/upload, GET /analytics/files/{id} (camelCase names)."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, model_validator

from ingest.errors import BadRequestError
from ingest.models.base import OMITTED, REQUIRED, RequestModel, View
from ingest.models.common import Count, JobStatus, Timestamp
from ingest.models.rules import require_object, required_text, rule
from ingest.models.uploads import FILENAME_RULE, FILENAME_RULE_TEXT, MAX_FILENAME_LENGTH, LoadPhase

# datasetType -> our record type.
DATASET_TYPES = {
    "transactions": "purchase",
    "customers": "customer_record",
    "products": "product",
    "returns": "return",
}
# file.type -> the file name extensions it allows (each optionally followed by .gz).
FILE_TYPES = {"csv": (".csv",), "json": (".json",), "ndjson": (".ndjson", ".jsonl")}
DatasetType = Literal["transactions", "customers", "products", "returns"]
FileType = Literal["csv", "json", "ndjson"]


def _dataset_type(value: Any) -> str:
    dataset_type = required_text(value, "datasetType", 64)
    if dataset_type not in DATASET_TYPES:
        raise BadRequestError(f"datasetType {dataset_type!r} is unknown; known types: {', '.join(DATASET_TYPES)}")
    return dataset_type


def _file_type(value: Any) -> str:
    file_type = required_text(value, "file.type", 16).lower()
    if file_type not in FILE_TYPES:
        raise BadRequestError(f"file.type {file_type!r} is unknown; known types: {', '.join(FILE_TYPES)}")
    return file_type


def _file_name(value: Any) -> str:
    name = required_text(value, "file.name", MAX_FILENAME_LENGTH)
    if not FILENAME_RULE.fullmatch(name):
        raise BadRequestError(f"file.name: {FILENAME_RULE_TEXT}")
    return name


class AnalyticsFile(RequestModel):
    """The file to upload: its name, and its type (which the name's extension must match)."""

    name: Annotated[str, Field(max_length=MAX_FILENAME_LENGTH, pattern=FILENAME_RULE.pattern), REQUIRED,
                    rule(_file_name)] = None
    type: Annotated[FileType, REQUIRED, rule(_file_type)] = None

    # The name's rule is checked after the type's, as it always was.
    @model_validator(mode="before")
    @classmethod
    def _type_before_name(cls, data: Any) -> Any:
        if isinstance(data, dict):
            required_text(data.get("name"), "file.name", MAX_FILENAME_LENGTH)
            _file_type(data.get("type"))
        return data

    @model_validator(mode="after")
    def _extension_matches(self) -> AnalyticsFile:
        stem = self.name[:-3] if self.name.endswith(".gz") else self.name
        if not stem.endswith(FILE_TYPES[self.type]):
            raise BadRequestError(f"file.type {self.type} does not match file.name {self.name!r}: a {self.type} file "
                                  "is named " + " or ".join(f"*{ext}[.gz]" for ext in FILE_TYPES[self.type]))
        return self


class FileUploadRequest(RequestModel):
    """POST /analytics/files/upload"""

    dataset_type: Annotated[DatasetType, Field(alias="datasetType"), REQUIRED, rule(_dataset_type)] = None
    file: Annotated[AnalyticsFile, REQUIRED, rule(require_object, "file")] = None

    @property
    def record_type(self) -> str:
        return DATASET_TYPES[self.dataset_type]


class AnalyticsFileView(View):
    name: str
    type: FileType


class FileUploadStarted(View):
    upload_url_fields: ClassVar[tuple[str, str, str] | None] = ("id", "url", "expiresAt")

    id: str
    url: Annotated[str, Field(description="presigned PUT URL of the file")]
    expires_at: Annotated[Timestamp, Field(alias="expiresAt")]
    status: Literal["Pending"]  # just requested: the file is not there yet
    dataset_type: Annotated[DatasetType, Field(alias="datasetType")]
    file: AnalyticsFileView


class FileStatistics(View):
    total: Count
    imported: Count
    rejected: Count


class FileProgress(View):
    """A running file's progress (our ProgressView in this API's camelCase)."""

    phase: LoadPhase
    bytes_total: Annotated[Count, Field(alias="bytesTotal")]
    bytes_read: Annotated[Count, Field(alias="bytesRead")]
    chunks_total: Annotated[Count, Field(alias="chunksTotal")]
    chunks_done: Annotated[Count, Field(alias="chunksDone")]
    lines_read: Annotated[Count, Field(alias="linesRead")]
    records_loaded: Annotated[Count, Field(alias="recordsLoaded")]


class FileUploadView(View):
    id: str
    status: JobStatus
    dataset_type: Annotated[DatasetType, Field(alias="datasetType")]
    file: AnalyticsFileView
    created_at: Annotated[Timestamp, Field(alias="createdAt")]
    updated_at: Annotated[Timestamp, Field(alias="updatedAt")]
    finished_at: Annotated[Timestamp | None, OMITTED, Field(alias="finishedAt")] = None
    statistics: Annotated[FileStatistics | None, OMITTED, Field(description="when Completed or Failed")] = None
    error_log_url: Annotated[str | None, OMITTED, Field(alias="errorLogUrl", description=(
        "presigned GET of the NDJSON error log (when lines were rejected)"))] = None
    progress: Annotated[FileProgress | None, OMITTED, Field(description="while Processing")] = None
    failure_reason: Annotated[str | None, OMITTED, Field(alias="failureReason", description="when Failed")] = None
