"""The S3 event the upload trigger receives (ObjectCreated under uploads/), as far as we read it."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class _Read(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


class S3Object(_Read):
    key: Annotated[str, Field(description="URL-encoded, as S3 sends it")]


class S3Entity(_Read):
    object: S3Object


class S3EventRecord(_Read):
    s3: S3Entity


class S3Event(_Read):
    records: Annotated[list[S3EventRecord], Field(alias="Records")] = []


class TriggerOutcome(_Read):
    """What the trigger did with one object: started, a duplicate, or ignored (and why)."""

    outcome: str
    upload_id: str | None = None
    execution_arn: str | None = None
