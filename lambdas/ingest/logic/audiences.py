"""Audience lists (Localytics Audience Imports semantics): named lists of customer ids.

An audience is created by an upload request (destination_type "audience_list" with audience_name)
and starts empty at version 0; each completed load of a file replaces its members whole and bumps
its version. The file goes through the normal load workflow (logic/load) as record type `audience_member`, whose load
kind (AUDIENCE_MEMBERS_LOAD) writes the lines into a member set of its own.

Member sets: the members a load wrote live in the records table under the "dataset" name
member_set(audience, load) = "audience-<audience id>-<upload id>" (record type audience_member, sort
key customer_id). Dataset ids are ULIDs, so such a name can never be a dataset's. The audience item
points at its current set (members_load). Finalize flips the pointer, the version and the
record_count in one conditional write, after the new set is complete; readers resolve the pointer
first (a strongly consistent read) and then read that set, so they see the old list or the new one,
never a mix. The replaced set is deleted after the flip (best effort: it stays noted in
retired_loads, unreachable, and the next completed load of that audience or its deletion retries).

At most MAX_AUDIENCES per account, kept by a counter changed in the same transaction as the
audience item (as tokens keep their limit; adapters/audience_store.py).
"""

from __future__ import annotations

import logging
from typing import Any

from ingest import ids
from ingest.adapters.record_store import LEGACY_SHARDS
from ingest.clock import iso_now
from ingest.errors import BadRequestError, ConflictError, FileRejectedError, NotFoundError, StepFailedError
from ingest.logic.counted import counted_write
from ingest.models.audiences import (
    AudienceList,
    AudienceRename,
    AudiencesQuery,
    AudienceView,
    MemberAddress,
    Membership,
)
from ingest.models.uploads import AUDIENCE_LIST, MAX_AUDIENCE_NAME_LENGTH, MEMBER_TYPE, AudienceLoad

AUDIENCE_MEMBERS_LOAD = "audience_members"  # its load kind (logic/load/loading.py)
# Member sets keep the records table's first layout (16 shards) whatever the datasets' count: every
# reader (AudienceMembers.contains, the count and the deletes below) and the Load's writes agree on it.
MEMBER_SET_SHARDS = LEGACY_SHARDS
MAX_AUDIENCES = 500
LIMIT_MESSAGE = f"an account may have at most {MAX_AUDIENCES} audiences; delete one first"
MAX_NAME_LENGTH = MAX_AUDIENCE_NAME_LENGTH

log = logging.getLogger(__name__)


def member_set(audience_id: str, load_id: str) -> str:
    """The records-table "dataset" holding the members one load wrote."""
    return f"audience-{audience_id}-{load_id}"


def is_audience_load(job: dict[str, Any]) -> bool:
    return job.get("record_type") == MEMBER_TYPE


def audience_view(item: dict[str, Any]) -> AudienceView:
    return AudienceView.of(item)


# -- creating, through an upload request ------------------------------------------------------
def _start_count(audiences, account_id: str) -> None:
    audiences.start_count(account_id, len(audiences.list_for_account(account_id)))


def create_audience(audiences, account_id: str, name: str, app_id: str | None = None,
                    at: str | None = None) -> dict[str, Any]:
    """A new, empty audience (version 0); ConflictError once the account has MAX_AUDIENCES.

    `at`: the request's moment, when the audience is created by an upload request, so the audience and
    the job that fills it share one creation time."""
    now = at or iso_now()
    item = {
        "account_id": account_id,
        "audience_id": ids.new_id(),
        "name": name,
        "version": 0,
        "record_count": 0,
        "members_load": "",  # no member set yet: nobody is a member
        "created_at": now,
        "updated_at": now,
    }
    if app_id:
        item["app_id"] = app_id
    if counted_write(lambda: audiences.add_within_limit(item, MAX_AUDIENCES),
                     lambda: _start_count(audiences, account_id)):
        return item
    raise ConflictError(LIMIT_MESSAGE)


def prepare_upload(audiences, account_id: str, target: AudienceLoad, dry_run: bool, at: str) -> dict[str, Any]:
    """Create the audience (request time, so the limit and the job's status are known at once) or
    check the one to replace; the job's destination, as the upload shows it."""
    destination: dict[str, Any] = {"destination_type": AUDIENCE_LIST, "record_type": MEMBER_TYPE}
    if not target.creates:
        audience = audiences.get(account_id, target.audience_id)
        if audience is None:
            raise NotFoundError(f"audience {target.audience_id} not found")
        return {**destination, "audience_id": target.audience_id, "audience_name": audience["name"]}
    if dry_run:
        raise BadRequestError("a dry run cannot create an audience list; "
                              "dry-run a replace (destination.audience_id) or upload without dry_run")
    audience = create_audience(audiences, account_id, target.audience_name, target.app_id or None, at=at)
    return {**destination, "audience_name": target.audience_name,
            **({"app_id": target.app_id} if target.app_id else {}), "audience_id": audience["audience_id"]}


# -- the API --------------------------------------------------------------------------------------
def _get(audiences, account_id: str, audience_id: str) -> dict[str, Any]:
    audience = audiences.get(account_id, audience_id)
    if audience is None:
        raise NotFoundError(f"audience {audience_id} not found")
    return audience


def get_audience(audiences, account_id: str, audience_id: str) -> AudienceView:
    return audience_view(_get(audiences, account_id, audience_id))


def list_audiences(audiences, account_id: str, query: AudiencesQuery) -> AudienceList:
    """The account's audiences (or one app's), oldest first."""
    items = sorted(audiences.list_for_account(account_id), key=lambda item: (item["created_at"], item["audience_id"]))
    if query.app_id is not None:
        items = [item for item in items if item.get("app_id") == query.app_id]
    return AudienceList(audiences=[audience_view(item) for item in items])


def rename_audience(audiences, account_id: str, audience_id: str, rename: AudienceRename) -> AudienceView:
    renamed = audiences.rename(account_id, audience_id, rename.name, iso_now())
    if renamed is None:
        raise NotFoundError(f"audience {audience_id} not found")
    return audience_view(renamed)


def delete_audience(audiences, records, account_id: str, audience_id: str) -> None:
    """Remove the audience at once (it answers 404 from now on and frees its place under the limit),
    then delete its member sets inline. A load still running into it fails at Finalize and
    MarkFailed deletes what it wrote."""
    audience = _get(audiences, account_id, audience_id)
    # Refused when it was deleted meanwhile (or the account's counter does not exist yet).
    if not counted_write(lambda: audiences.remove(account_id, audience_id),
                         lambda: _start_count(audiences, account_id)):
        raise NotFoundError(f"audience {audience_id} not found")
    for load_id in _member_sets(audience):
        records.delete_all(account_id, member_set(audience_id, load_id), MEMBER_TYPE, MEMBER_SET_SHARDS)


def _member_sets(audience: dict[str, Any]) -> list[str]:
    loads = [audience["members_load"]] if audience.get("members_load") else []
    return loads + sorted(audience.get("retired_loads") or [])


def membership(audiences, members, account_id: str, address: MemberAddress) -> Membership:
    """Whether the customer is in the audience's current list; NotFoundError if not (or no audience)."""
    audience_id, customer_id = address.audience_id, address.customer_id
    audience = _get(audiences, account_id, audience_id)  # resolve the current member set first
    current = audience.get("members_load")
    if not current or not members.contains(account_id, member_set(audience_id, current), MEMBER_TYPE, customer_id):
        raise NotFoundError(f"that customer is not a member of audience {audience_id} "
                            f"(version {audience.get('version', 0)})")
    return Membership(member=True, audience_id=audience_id, customer_id=customer_id,
                      version=audience.get("version", 0))


# -- the load workflow's Finalize and MarkFailed (Load's strategy: logic/load/loading.py AudienceMembersLoad)
def complete_load(audiences, records, job: dict[str, Any]) -> None:
    """Finalize of an audience load: make its member set the audience's list (idempotent), then
    delete the replaced sets (best effort)."""
    account_id, audience_id, load_id = job["account_id"], job["dataset_id"], job["upload_id"]
    audience = audiences.get(account_id, audience_id)
    if audience is None:
        raise FileRejectedError(f"audience {audience_id} was deleted while this file was loading; nothing was kept")
    if audience.get("members_load") != load_id:  # not flipped yet (a retry after the flip skips this)
        count = records.count(account_id, member_set(audience_id, load_id), MEMBER_TYPE, MEMBER_SET_SHARDS)
        if not audiences.flip(account_id, audience_id, load_id, audience.get("members_load", ""), count, iso_now()):
            audience = audiences.get(account_id, audience_id)
            if audience is None:
                raise FileRejectedError(
                    f"audience {audience_id} was deleted while this file was loading; nothing was kept")
            if audience.get("members_load") != load_id:
                raise StepFailedError(
                    f"audience {audience_id} changed while this upload held it; upload the file again")
        audience = audiences.get(account_id, audience_id) or audience
    for retired in sorted(audience.get("retired_loads") or []):
        try:
            records.delete_all(account_id, member_set(audience_id, retired), MEMBER_TYPE, MEMBER_SET_SHARDS)
            audiences.forget_retired(account_id, audience_id, retired)
        except Exception:  # the replace has happened; a leftover set is retried next time
            log.warning("could not delete a replaced member set of audience %s yet", audience_id, exc_info=True)


def abandon_load(audiences, records, job: dict[str, Any]) -> None:
    """MarkFailed of an audience load: the old list stays; delete what this load wrote (unless a
    flip already made it the list)."""
    account_id, audience_id, load_id = job["account_id"], job["dataset_id"], job["upload_id"]
    audience = audiences.get(account_id, audience_id)
    if audience is not None and audience.get("members_load") == load_id:
        return
    records.delete_all(account_id, member_set(audience_id, load_id), MEMBER_TYPE, MEMBER_SET_SHARDS)
