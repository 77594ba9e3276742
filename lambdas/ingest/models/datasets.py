"""Datasets, their records and the record-type catalogue."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, model_validator

from ingest.errors import BadRequestError
from ingest.models.base import OMITTED, RequestModel, View
from ingest.models.common import PageToken, PathSegment, Timestamp
from ingest.models.rules import NextToken, OptionalText, PageLimit, RequiredText, optional_text, required_text

MAX_NAME_LENGTH = 256
MAX_DESCRIPTION_LENGTH = 4096


class NewDataset(RequestModel):
    """POST /v1/datasets"""

    name: RequiredText("name", MAX_NAME_LENGTH) = None
    description: OptionalText("description", MAX_DESCRIPTION_LENGTH) = None


class DatasetChanges(RequestModel):
    """PATCH /v1/datasets/{dataset_id}: the fields sent are the fields changed (a null description empties it)."""

    # An absent field stays unset (see fields()); at least one must be sent.
    model_config = ConfigDict(validate_default=False, json_schema_extra={"minProperties": 1})
    unknown_fields_message = "only name and description can be changed; got {unknown}"

    name: Annotated[str, Field(min_length=1, max_length=MAX_NAME_LENGTH, pattern=r"\S")] = None
    description: Annotated[str | None, Field(max_length=MAX_DESCRIPTION_LENGTH)] = None

    @model_validator(mode="before")
    @classmethod
    def _check_sent_fields(cls, data: Any) -> Any:
        # Presence matters here (a missing name is left alone, a null one is refused), so the
        # rules run on what was sent rather than on the fields' defaults.
        data = cls.refuse_unknown_fields(data)
        if isinstance(data, dict):
            if "name" in data:
                required_text(data["name"], "name", MAX_NAME_LENGTH)
            if "description" in data:
                optional_text(data["description"], "description", MAX_DESCRIPTION_LENGTH)
            if not {"name", "description"} & set(data):
                raise BadRequestError("send name and/or description to change")
        return data

    def fields(self) -> dict[str, str]:
        """The dataset attributes to write."""
        changed: dict[str, str] = {}
        if "name" in self.model_fields_set:
            changed["name"] = self.name
        if "description" in self.model_fields_set:
            changed["description"] = self.description or ""
        return changed


class PageQuery(RequestModel):
    """?limit=&next_token= of a paged list."""

    limit: PageLimit = None
    next_token: NextToken = None


class DatasetView(View):
    id: str
    name: str
    description: str
    record_counts: Annotated[dict[str, Annotated[int, Field(ge=0)]],
                             Field(description="distinct records per record type")]
    created_at: Timestamp
    updated_at: Timestamp
    last_load: Annotated[dict[str, Any] | None, OMITTED,
                         Field(description="summary of the latest load into the dataset")] = None
    clearing_job: Annotated[str | None, OMITTED, Field(description="the clear job running now, if any")] = None

    @classmethod
    def of(cls, item: dict[str, Any]) -> DatasetView:
        return cls(id=item["dataset_id"], name=item["name"], description=item.get("description", ""),
                   record_counts=item.get("record_counts", {}), created_at=item["created_at"],
                   updated_at=item["updated_at"], last_load=item.get("last_load") or None,
                   clearing_job=item.get("clearing_job") or None)


class DatasetPage(View):
    datasets: list[DatasetView]
    next_token: PageToken


class RecordAddress(RequestModel):
    """GET /v1/datasets/{dataset_id}/records/{record_type}/{key}: the path, as API Gateway decoded it."""

    dataset_id: PathSegment
    record_type: PathSegment
    key: PathSegment


class StoredRecord(View):
    """A record as it was stored: the JSON text of its line, answered as it is."""

    json_text: str

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema, handler) -> dict[str, Any]:
        # What is answered is the record (an object of its record type's fields), not this wrapper.
        return {"type": "object", "description": "the record, as it was loaded"}


class RecordTypeView(View):
    name: Annotated[str, Field(description="the canonical name (Lexer's names for Lexer's types)")]
    description: str
    aliases: Annotated[list[str], Field(description="older names that still work wherever a record type is named "
                                                    "(e.g. purchase_event for purchase)")]
    key: Annotated[str, Field(description="what the record key is made of (docs/record_types.md)")]
    lexer_source: Annotated[str | None, OMITTED,
                            Field(description="Lexer's types: the lexer-schemas file the type follows")] = None
    json_schema: Annotated[dict[str, Any], Field(alias="schema", description=(
        "the record type's JSON Schema in its canonical form; values Lexer's validator converts "
        "(a number for a string, \"1.5\" for a number, unix seconds for a date-time) are accepted too"))]
    load: Annotated[str | None, OMITTED, Field(description="how a load applies the lines, when not the default upsert "
                                                          "(e.g. profile_changes, audience_members)")] = None
    stored_as: Annotated[str | None, OMITTED,
                         Field(description="the record type the lines end up stored as (with load)")] = None
    formats: Annotated[list[Literal["ndjson", "csv"]] | None, OMITTED,
                       Field(description="the file formats the type takes (with load)")] = None


class RecordTypeList(View):
    record_types: list[RecordTypeView]
