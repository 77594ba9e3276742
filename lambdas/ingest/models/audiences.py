"""Audience lists (/v1/audiences)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from ingest.models.base import OMITTED, RequestModel, View
from ingest.models.common import Count, PathSegment, Timestamp
from ingest.models.rules import RequiredText
from ingest.models.uploads import MAX_AUDIENCE_NAME_LENGTH


class AudiencesQuery(RequestModel):
    """GET /v1/audiences"""

    app_id: Annotated[str | None, Field(description="only the audiences of this app")] = None


class AudienceRename(RequestModel):
    """PATCH /v1/audiences/{audience_id}"""

    unknown_fields_message = "only name can be changed; got {unknown}"

    name: RequiredText("name", MAX_AUDIENCE_NAME_LENGTH) = None


class MemberAddress(RequestModel):
    """GET /v1/audiences/{audience_id}/members/{customer_id}: the path, as API Gateway decoded it."""

    audience_id: PathSegment
    customer_id: PathSegment


class AudienceView(View):
    id: str
    name: str
    app_id: str | None
    version: Annotated[int, Field(ge=0, description=(
        "0 until a load completes; each completed load replaces the members and adds 1"))]
    record_count: Annotated[int, Field(ge=0, description="members in the current version")]
    created_at: Timestamp
    updated_at: Timestamp
    loading_upload: Annotated[str | None, OMITTED,
                              Field(description="the upload replacing the members now, if any")] = None

    @classmethod
    def of(cls, item: dict[str, Any]) -> AudienceView:
        return cls(id=item["audience_id"], name=item["name"], app_id=item.get("app_id"),
                   version=item.get("version", 0), record_count=item.get("record_count", 0),
                   created_at=item["created_at"], updated_at=item["updated_at"],
                   loading_upload=item.get("loading_job") or None)


class AudienceList(View):
    audiences: list[AudienceView]


class Membership(View):
    member: Literal[True]  # a non-member is a 404
    audience_id: str
    customer_id: str
    version: Count
