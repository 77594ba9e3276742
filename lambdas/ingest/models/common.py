"""Field types that many views share."""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import Field

from ingest.models.base import REQUIRED

Timestamp = Annotated[str, Field(description="RFC 3339, UTC")]
JobStatus = Literal["Pending", "Processing", "Completed", "Failed"]
JOB_STATUSES: tuple[str, ...] = get_args(JobStatus)
Count = Annotated[int, Field(ge=0)]
# A path parameter as API Gateway matched it: never empty (a route with an empty segment is another route).
PathSegment = Annotated[str, Field(min_length=1), REQUIRED]
PageToken = Annotated[str | None, Field(description="pass as `next_token` for the next page; null on the last page")]
