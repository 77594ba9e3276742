"""The Localytics-compatible routes (/v1/imports/...) and their import keys (/v1/import-keys).

Profile and audience imports are multipart forms (logic/multipart.py parses the body); each form
model is built from the parsed form by `of`, which checks the fields in the order the API always
has, with its messages. Whether the key may use the org or app it names is the logic's business.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Literal

from pydantic import ConfigDict, Field, RootModel, WithJsonSchema

from ingest.errors import BadRequestError
from ingest.models.base import OMITTED, REQUIRED, RequestModel, View
from ingest.models.common import Count, Timestamp
from ingest.models.rules import RequiredText, optional_text, rule
from ingest.models.uploads import MAX_AUDIENCE_NAME_LENGTH

PROFILE_FORMATS = ("json",)
IDENTIFIER_TYPES = ("customer_id",)
APP_ID_RULE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
APP_ID_RULE_TEXT = "1-100 characters: letters, digits, '.', '_' and '-', starting with a letter or digit"
# Localytics org ids are numbers ("60"); ours may be any such label, the account name included.
ORG_ID_RULE = APP_ID_RULE
ORG_ID_RULE_TEXT = APP_ID_RULE_TEXT
MAX_APPS_PER_KEY = 20
MAX_KEY_LABEL_LENGTH = 100
ImportStatus = Literal["Pending", "Running", "Completed", "Failed"]
FileBytes = Annotated[bytes, WithJsonSchema({"type": "string", "format": "binary"})]
LocalyticsTime = Annotated[str, Field(pattern=r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$", description=(
    "UTC, without a zone designator, as Localytics writes times (\"2017-04-25T08:00:00\")"))]


def _file_part(form) -> bytes:
    part = form.files.get("file")
    if part is None or "file" in form.repeated:
        raise BadRequestError("file is required: one file part named \"file\"")
    return part.data


def _text(form, name: str) -> str:
    if name in form.repeated:
        raise BadRequestError(f"{name} can be sent once")
    value = form.fields.get(name, "").strip()
    if not value:
        raise BadRequestError(f"{name} is required: a non-empty text field")
    return value


def _sent(form, name: str) -> bool:
    return name in form.fields or name in form.repeated


# -- profile imports ---------------------------------------------------------------------------------
class ImportTarget(View):
    """{"org_id": ...} or {"app_id": ...}: where an import goes (the page's table calls it target)."""

    org_id: Annotated[str | None, OMITTED] = None
    app_id: Annotated[str | None, OMITTED] = None


class ProfileImportForm(RequestModel):
    """POST /v1/imports/profiles/upload (multipart/form-data): exactly one of org_id and app_id."""

    org_id: str | None = None
    app_id: str | None = None
    format: Annotated[Literal["json"], REQUIRED, Field(description=(
        "one JSON object per line: {\"customer_id\", \"changes\": [...]}"))] = "json"
    file: Annotated[FileBytes, REQUIRED] = b""

    @classmethod
    def of(cls, form) -> ProfileImportForm:
        given = [name for name in ("org_id", "app_id") if name in form.fields or name in form.files]
        if len(given) != 1 or given[0] in form.repeated:
            raise BadRequestError("send exactly one of org_id and app_id (once)")
        name = given[0]
        value = form.fields.get(name, "").strip()
        if not value:
            raise BadRequestError(f"{name} must be a non-empty text field")
        fmt = form.fields.get("format")
        if fmt is None:
            raise BadRequestError(f"format is required: one of {', '.join(PROFILE_FORMATS)}")
        if fmt.strip().lower() not in PROFILE_FORMATS:
            raise BadRequestError(f"format {fmt!r} is not supported: one of {', '.join(PROFILE_FORMATS)} "
                                  "(one JSON object per line: {\"customer_id\", \"changes\": [...]})")
        data = _file_part(form)
        if not data.strip():
            raise BadRequestError("file is empty")
        return cls(**{name: value}, format="json", file=data)

    @property
    def target(self) -> ImportTarget:
        return ImportTarget(org_id=self.org_id, app_id=self.app_id)


class ProfileImportStarted(View):
    activity_id: str


class ProfileImportStatistics(View):
    successful_imports: Count
    parsed_imports: Count
    failed_imports: Count
    total_number_of_imports: Count


class ProfileImportStatus(View):
    activity_id: str
    status: ImportStatus
    error_log: Annotated[str | None,
                         Field(description="presigned GET of the NDJSON error log (when lines were rejected)")]
    target: ImportTarget
    upload_statistics: ProfileImportStatistics
    failure_reason: Annotated[str | None, OMITTED, Field(description="when Failed")] = None


# -- audience imports --------------------------------------------------------------------------------
def _members(form) -> tuple[str, bytes]:
    identifier_type = _text(form, "identifier_type")
    if identifier_type not in IDENTIFIER_TYPES:
        raise BadRequestError(
            f"identifier_type {identifier_type!r} is not supported: one of {', '.join(IDENTIFIER_TYPES)}")
    data = _file_part(form).lstrip(b"\xef\xbb\xbf")  # a BOM would make a CSV header unrecognisable
    if not data.strip():
        raise BadRequestError("file is empty")
    return identifier_type, data


class AudienceImportForm(RequestModel):
    """POST /v1/imports/audiences/list (multipart/form-data): a new list of the app, and its members."""

    app_id: Annotated[str, REQUIRED] = ""
    audience_name: Annotated[str, Field(max_length=MAX_AUDIENCE_NAME_LENGTH), REQUIRED] = ""
    identifier_type: Annotated[Literal["customer_id"], REQUIRED] = "customer_id"
    file: Annotated[FileBytes, REQUIRED, Field(description=(
        "JSON lines, one {\"customer_id\": ...} each; "
        "or a CSV of customer ids, with or without a customer_id header"))] = b""

    @classmethod
    def of(cls, form) -> AudienceImportForm:
        app_id = _text(form, "app_id")
        name = _text(form, "audience_name")
        identifier_type, data = _members(form)
        if len(name) > MAX_AUDIENCE_NAME_LENGTH:
            raise BadRequestError(f"audience_name must be at most {MAX_AUDIENCE_NAME_LENGTH} characters")
        return cls(app_id=app_id, audience_name=name, identifier_type=identifier_type, file=data)


class AudienceReplaceForm(RequestModel):
    """PUT /v1/imports/audiences/list/{audience_list_id} (multipart/form-data): the new members.

    Localytics documents app_id and audience_list_id as fields of an update too; they add nothing to
    the path's list id, so they may be left out, but when sent they must name this list."""

    audience_list_id: str | None = None
    app_id: str | None = None
    identifier_type: Annotated[Literal["customer_id"], REQUIRED] = "customer_id"
    file: Annotated[FileBytes, REQUIRED] = b""

    @classmethod
    def of(cls, form) -> AudienceReplaceForm:
        echoed = {name: _text(form, name) for name in ("audience_list_id", "app_id") if _sent(form, name)}
        identifier_type, data = _members(form)
        return cls(**echoed, identifier_type=identifier_type, file=data)


class AudienceListRename(RequestModel):
    """PUT /v1/imports/audiences/list/{audience_list_id}/name?name=..."""

    name: RequiredText("name", MAX_AUDIENCE_NAME_LENGTH) = None


class AudienceImportStarted(View):
    activity_id: str
    audience_list_id: str


class AudienceImportStatistics(View):
    """Strings, as the page's one complete example writes them ("total_lines": "1")."""

    total_lines: Annotated[str, Field(pattern="^[0-9]+$")]
    audience_id: Annotated[str, Field(description="our audience id (the same as audience_list_id)")]
    audience_list_id: str
    failed_lines: Annotated[str, Field(pattern="^[0-9]+$")]
    successful_lines: Annotated[str, Field(pattern="^[0-9]+$")]


class AudienceImportStatus(View):
    status: ImportStatus
    error_reason: Annotated[str | None, Field(description="why the import failed; null unless Failed")]
    app_uuid: Annotated[str, Field(description="the app of the list")]
    created_at: LocalyticsTime
    updated_at: LocalyticsTime
    upload_statistics: Annotated[AudienceImportStatistics | None, Field(description=(
        "null until the import ends (Pending, Running); counts as strings, as Localytics' example gives them"))]
    activity_id: str
    audience_list_id: str
    error_log: Annotated[str | None,
                         Field(description="presigned GET of the NDJSON error log (when lines were rejected)")]


class AudienceListEntry(View):
    id: Annotated[str, Field(description="the audience list id (our ids are text; Localytics' are numbers)")]
    name: str
    app_id: str
    version: Count
    record_count: Count
    created_at: LocalyticsTime
    updated_at: LocalyticsTime


class AudienceListEntries(RootModel[list[AudienceListEntry]]):
    """An app's lists: a bare JSON array, as Localytics answers."""

    model_config = ConfigDict(frozen=True)

    def body(self) -> Any:
        return self.model_dump(mode="json", by_alias=True)


# -- import keys (Auth-Api-Token) --------------------------------------------------------------------
def _org_id(raw: Any) -> str | None:
    """Given as text, or a JSON integer as Localytics writes them; None: the account name (logic decides)."""
    if raw is None:
        return None
    if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 0:
        raw = str(raw)
    if not isinstance(raw, str) or not ORG_ID_RULE.fullmatch(raw.strip()):
        raise BadRequestError(f"org_id: {raw!r} is not an org id ({ORG_ID_RULE_TEXT}; a non-negative integer is "
                              "taken as its digits)")
    return raw.strip()


def app_ids_rule(raw: Any) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(app, str) for app in raw):
        raise BadRequestError("app_ids must be a list of strings")
    apps = list(dict.fromkeys(app.strip() for app in raw))
    bad = [app for app in apps if not APP_ID_RULE.fullmatch(app)]
    if bad:
        raise BadRequestError(f"app_ids: {bad[0]!r} is not an app id ({APP_ID_RULE_TEXT})")
    if len(apps) > MAX_APPS_PER_KEY:
        raise BadRequestError(f"app_ids may hold at most {MAX_APPS_PER_KEY} apps; got {len(apps)}")
    return apps


def label_rule(raw: Any) -> str:
    return optional_text(raw or None, "label", MAX_KEY_LABEL_LENGTH) or ""


class NewImportKey(RequestModel):
    """POST /v1/import-keys (the body may be left out)."""

    unknown_fields_message = "only org_id, app_ids and label can be given; got {unknown}"

    org_id: Annotated[Annotated[str, Field(pattern=ORG_ID_RULE.pattern)] | Annotated[int, Field(ge=0)] | None,
                      Field(description=(
        "the Localytics org id clients will send (default: the account name); a non-negative integer is taken "
        "as its digits")), rule(_org_id)] = None
    # null reads as left out: no apps, no label.
    app_ids: Annotated[list[Annotated[str, Field(pattern=APP_ID_RULE.pattern)]] | None,
                       Field(max_length=MAX_APPS_PER_KEY), rule(app_ids_rule)] = None
    label: Annotated[str | None, Field(max_length=MAX_KEY_LABEL_LENGTH), rule(label_rule)] = None


class KeyDatasets(View):
    """The datasets imported profiles land in (read them through the records route)."""

    org: str | None
    apps: dict[str, str | None]


class ImportKeyView(View):
    """What a caller may see of a stored key: never the secret nor its hash."""

    key: Annotated[str, Field(pattern="^lk_", description="the key id: the Basic auth user name")]
    label: str
    org_id: Annotated[str, Field(description="the Localytics org id clients send (default: the account name)")]
    app_ids: list[str]
    datasets: KeyDatasets
    created_at: Timestamp


class NewImportKeyView(ImportKeyView):
    secret_fields: ClassVar[tuple[str, ...]] = ("secret",)

    secret: Annotated[Annotated[str, Field(min_length=1)] | None, Field(description=(
        "the Basic auth password: shown in this answer only, stored only as a hash; null when the answer is "
        "an Idempotency-Key replay (the secret is not kept to be shown again)"))]


class ImportKeyList(View):
    import_keys: list[ImportKeyView]
