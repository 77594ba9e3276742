"""DynamoDB tables for control data: jobs, datasets and API tokens.

Items are partitioned by account, so every read is scoped to the caller by construction.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from ingest.adapters import counters, load_hold
from ingest.adapters.aws_errors import translated, update_if
from ingest.adapters.record_store import NEW_DATASET_SHARDS
from ingest.errors import BadRequestError, NotFoundError

BAD_PAGE_TOKEN = "next_token is not a token this API returned"  # noqa: S105 (an error message)


def plain(value: Any) -> Any:
    """DynamoDB's Decimals back to ints/floats, recursively."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, set, tuple)):
        return [plain(v) for v in value]
    return value


def encode_token(last_key: dict | None) -> str | None:
    if not last_key:
        return None
    return base64.urlsafe_b64encode(json.dumps(plain(last_key)).encode()).decode()


def decode_token(token: str | None, key_names: tuple[str, ...] | None = None) -> dict | None:
    if not token:
        return None
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, TypeError) as exc:
        raise BadRequestError(BAD_PAGE_TOKEN) from exc
    if not isinstance(decoded, dict):
        raise BadRequestError(BAD_PAGE_TOKEN)
    # Anything but the table's own string key would reach DynamoDB as a bad ExclusiveStartKey (a 500).
    if key_names is not None and (set(decoded) != set(key_names)
                                  or not all(isinstance(value, str) and value for value in decoded.values())):
        raise BadRequestError(BAD_PAGE_TOKEN)
    return decoded


def _update_expression(fields: dict[str, Any]) -> dict[str, Any]:
    names, values, sets = {}, {}, []
    for index, (name, value) in enumerate(fields.items()):
        names[f"#f{index}"] = name
        values[f":v{index}"] = value
        sets.append(f"#f{index} = :v{index}")
    return {
        "UpdateExpression": "SET " + ", ".join(sets),
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }


# A multipart upload's job carries OPEN_MULTIPART while its S3 upload is open: complete, abort and the
# lifecycle sweep each remove it with a conditional write, so exactly one of them ends the upload.
OPEN_MULTIPART = "open_multipart"
OPEN = "open"

StatusListener = Callable[[dict[str, Any]], None]
"""Told the job's whole item each time its status changes (logic/job_events.py publishes it)."""


@translated
class JobsTable:
    """One item per job (uploads, clears and reverts), key (account_id, job_id).

    Every write of a job's status goes through `create`, `update` or `update_unless_final`, so this is
    the one place a status change is seen: each one (creation included) is handed to
    `on_status_change` once, after the write, with the item as it now is. A write that leaves the
    status as it was (a step's retry) is not a change.
    """

    def __init__(self, table, on_status_change: StatusListener | None = None):
        self._table = table
        self._on_status_change = on_status_change

    def create(self, job: dict[str, Any]) -> None:
        self._table.put_item(Item=job, ConditionExpression=Attr("job_id").not_exists())
        self._changed(None, job)

    def _changed(self, before: dict[str, Any] | None, after: dict[str, Any]) -> None:
        if self._on_status_change is not None and (before or {}).get("status") != after.get("status"):
            self._on_status_change(plain(after))

    def get(self, account_id: str, job_id: str) -> dict[str, Any] | None:
        item = self._table.get_item(Key={"account_id": account_id, "job_id": job_id}).get("Item")
        return plain(item) if item else None

    def update(self, account_id: str, job_id: str, **fields: Any) -> None:
        # Every update SETs top-level fields, so the item before it and the fields give the item after it.
        before = self._table.update_item(
            Key={"account_id": account_id, "job_id": job_id},
            ConditionExpression=Attr("job_id").exists(),
            **self._returning_old(fields),
            **_update_expression(fields),
        ).get("Attributes")
        if "status" in fields:
            self._changed(before, {**(before or {}), **fields})

    def add_retry(self, account_id: str, job_id: str, retry_id: str) -> None:
        """Append a retry's id to the job's `retries` (one write, whatever else changes the job meanwhile)."""
        self._table.update_item(
            Key={"account_id": account_id, "job_id": job_id},
            ConditionExpression=Attr("job_id").exists(),
            UpdateExpression="SET retries = list_append(if_not_exists(retries, :none), :retry)",
            ExpressionAttributeValues={":none": [], ":retry": [retry_id]},
        )

    def _returning_old(self, fields: dict[str, Any]) -> dict[str, Any]:
        return {"ReturnValues": "ALL_OLD"} if "status" in fields and self._on_status_change is not None else {}

    def _updated(self, answer: dict[str, Any] | None, fields: dict[str, Any]) -> bool:
        """After a conditional update of `fields`: False if its condition refused it; else True, with a
        status change announced."""
        if answer is None:
            return False
        if "status" in fields:
            before = answer.get("Attributes")
            self._changed(before, {**(before or {}), **fields})
        return True

    def set_progress(self, account_id: str, job_id: str, phase: str, **totals: int) -> None:
        """Start a phase of a running job's progress: its name and totals (logic/load/progress.py)."""
        fields: dict[str, Any] = {"progress.phase": phase,
                                  **{f"progress.{name}": value for name, value in totals.items()}}
        names = {"#progress": "progress"}
        sets, values = [], {}
        for index, (path, value) in enumerate(fields.items()):
            names[f"#p{index}"] = path.split(".", 1)[1]
            values[f":p{index}"] = value
            sets.append(f"#progress.#p{index} = :p{index}")
        # The map must exist before its members can be set: create it empty on the first phase.
        if update_if(
            self._table,
            Key={"account_id": account_id, "job_id": job_id},
            UpdateExpression="SET " + ", ".join(sets),
            ConditionExpression="attribute_exists(job_id) AND attribute_exists(progress)",
            ExpressionAttributeNames=names, ExpressionAttributeValues=values,
        ) is None:
            self._table.update_item(
                Key={"account_id": account_id, "job_id": job_id},
                UpdateExpression="SET #progress = :progress",
                ConditionExpression=Attr("job_id").exists(),
                ExpressionAttributeNames={"#progress": "progress"},
                ExpressionAttributeValues={":progress": {"phase": phase, **totals}},
            )

    def add_progress(self, account_id: str, job_id: str, increments: dict[str, int]) -> None:
        """Add work done to a running job's progress counters, atomically (ADD on map members)."""
        names = {"#progress": "progress"}
        adds, values = [], {}
        for index, (name, value) in enumerate(increments.items()):
            names[f"#p{index}"] = name
            values[f":p{index}"] = value
            adds.append(f"#progress.#p{index} :p{index}")
        self._table.update_item(
            Key={"account_id": account_id, "job_id": job_id},
            UpdateExpression="ADD " + ", ".join(adds),
            ConditionExpression="attribute_exists(job_id) AND attribute_exists(progress)",
            ExpressionAttributeNames=names, ExpressionAttributeValues=values,
        )

    def update_unless_final(self, account_id: str, job_id: str, **fields: Any) -> bool:
        """Update a job that has not yet reached Completed or Failed; False if it had."""
        expression = _update_expression(fields)
        expression["ExpressionAttributeValues"].update({":done": "Completed", ":failed": "Failed"})
        answer = update_if(
            self._table,
            Key={"account_id": account_id, "job_id": job_id},
            ConditionExpression="attribute_exists(job_id) AND #st <> :done AND #st <> :failed",
            **self._returning_old(fields),
            **{**expression, "ExpressionAttributeNames": {**expression["ExpressionAttributeNames"], "#st": "status"}},
        )
        return self._updated(answer, fields)

    def claim_revert(self, account_id: str, upload_id: str, revert_id: str) -> bool:
        """Mark the upload `reverted_by` revert_id unless a revert already holds it; False if one does."""
        return update_if(
            self._table,
            Key={"account_id": account_id, "job_id": upload_id},
            UpdateExpression="SET reverted_by = :revert",
            ConditionExpression="attribute_exists(job_id) AND attribute_not_exists(reverted_by)",
            ExpressionAttributeValues={":revert": revert_id},
        ) is not None

    def release_revert(self, account_id: str, upload_id: str, revert_id: str) -> None:
        """Unmark the upload, only if revert_id marked it (a failed revert lets it be reverted again)."""
        update_if(
            self._table,
            Key={"account_id": account_id, "job_id": upload_id},
            UpdateExpression="REMOVE reverted_by",
            ConditionExpression="reverted_by = :revert",
            ExpressionAttributeValues={":revert": revert_id},
        )

    def close_multipart(self, account_id: str, job_id: str, *, pending_only: bool = False, **fields: Any) -> bool:
        """End a multipart upload's open state (complete, abort, lifecycle), setting `fields`; False if it
        was not open (already completed or aborted) or, with pending_only, the job had left Pending."""
        expression = _update_expression(fields)
        expression["UpdateExpression"] += " REMOVE #open"
        expression["ExpressionAttributeNames"]["#open"] = OPEN_MULTIPART
        condition = "attribute_exists(#open)"
        if pending_only:
            condition += " AND #st = :pending"
            expression["ExpressionAttributeNames"]["#st"] = "status"
            expression["ExpressionAttributeValues"][":pending"] = "Pending"
        answer = update_if(
            self._table,
            Key={"account_id": account_id, "job_id": job_id}, ConditionExpression=condition,
            **self._returning_old(fields), **expression,
        )
        return self._updated(answer, fields)

    def list(self, account_id: str, filters: dict[str, str], limit: int, token: str | None):
        """Newest first (job ids sort by time); filters are exact matches on top-level fields."""
        query: dict[str, Any] = {
            "KeyConditionExpression": Key("account_id").eq(account_id),
            "ScanIndexForward": False,
            "Limit": limit,
        }
        condition = None
        for name, value in filters.items():
            clause = Attr(name).eq(value)
            condition = clause if condition is None else condition & clause
        if condition is not None:
            query["FilterExpression"] = condition
        start = decode_token(token, ("account_id", "job_id"))
        if start:
            if start.get("account_id") != account_id:
                raise BadRequestError(BAD_PAGE_TOKEN)
            query["ExclusiveStartKey"] = start
        items: list[dict[str, Any]] = []
        # A filter can leave a page short; keep reading until the page is full or the end.
        while True:
            page = self._table.query(**query)
            items.extend(plain(item) for item in page.get("Items", []))
            last = page.get("LastEvaluatedKey")
            if len(items) >= limit or not last:
                break
            query["ExclusiveStartKey"] = last
            query["Limit"] = limit - len(items)
        next_key = None
        if last:
            next_key = {"account_id": account_id, "job_id": items[-1]["job_id"]} if items else last
        return items[:limit], encode_token(next_key)


@translated
class DatasetsTable:
    """Datasets, key (account_id, dataset_id). A new dataset gets `shards` (its records-table shard
    count, adapters/record_store.py) from `new_dataset_shards` unless the item names one."""

    def __init__(self, table, new_dataset_shards: int = NEW_DATASET_SHARDS):
        self._table = table
        self._new_dataset_shards = new_dataset_shards

    def create(self, dataset: dict[str, Any]) -> None:
        item = {"shards": self._new_dataset_shards, **dataset}
        self._table.put_item(Item=item, ConditionExpression=Attr("dataset_id").not_exists())

    def get(self, account_id: str, dataset_id: str) -> dict[str, Any] | None:
        item = self._table.get_item(Key={"account_id": account_id, "dataset_id": dataset_id}).get("Item")
        return plain(item) if item else None

    def list(self, account_id: str, limit: int, token: str | None):
        query: dict[str, Any] = {
            "KeyConditionExpression": Key("account_id").eq(account_id),
            "ScanIndexForward": False,
            "Limit": limit,
        }
        start = decode_token(token, ("account_id", "dataset_id"))
        if start:
            if start.get("account_id") != account_id:
                raise BadRequestError(BAD_PAGE_TOKEN)
            query["ExclusiveStartKey"] = start
        page = self._table.query(**query)
        return [plain(item) for item in page.get("Items", [])], encode_token(page.get("LastEvaluatedKey"))

    def record_load(self, account_id: str, dataset_id: str, record_type: str, count: int, load: dict) -> None:
        """Store the distinct-record count of one type and the last load's summary."""
        self._table.update_item(
            Key={"account_id": account_id, "dataset_id": dataset_id},
            UpdateExpression="SET record_counts.#rt = :count, last_load = :load, updated_at = :at",
            ConditionExpression=Attr("dataset_id").exists(),
            ExpressionAttributeNames={"#rt": record_type},
            ExpressionAttributeValues={":count": count, ":load": load, ":at": load["finished_at"]},
        )

    def add_load(self, account_id: str, dataset_id: str, record_type: str, created: int, load: dict) -> bool:
        """Add what one upload created to the type's record count and make it the last load, once per
        upload: conditional on the dataset's last load not being this upload (loads into a dataset are
        serialized by the load hold, so the last one is the only one that can be retried). False when
        this upload was already counted (a retried Finalize or MarkFailed) or the dataset is gone."""
        return update_if(
            self._table,
            Key={"account_id": account_id, "dataset_id": dataset_id},
            UpdateExpression="SET record_counts.#rt = if_not_exists(record_counts.#rt, :zero) + :created, "
                             "last_load = :load, updated_at = :at",
            ConditionExpression="attribute_exists(dataset_id) AND "
                                "(attribute_not_exists(last_load.upload_id) OR last_load.upload_id <> :upload)",
            ExpressionAttributeNames={"#rt": record_type},
            ExpressionAttributeValues={":zero": 0, ":created": created, ":load": load,
                                       ":at": load["finished_at"], ":upload": load["upload_id"]},
        ) is not None

    def remove_records(self, account_id: str, dataset_id: str, record_type: str, removed: int, revert_id: str) -> bool:
        """Take a revert's removed records off the type's count, once per revert job (conditional on the
        dataset's last revert not being this one; a revert holds the dataset as a load does). False when
        already done or the dataset is gone."""
        return update_if(
            self._table,
            Key={"account_id": account_id, "dataset_id": dataset_id},
            UpdateExpression="SET record_counts.#rt = if_not_exists(record_counts.#rt, :zero) - :removed, "
                             "last_revert = :revert",
            ConditionExpression="attribute_exists(dataset_id) AND "
                                "(attribute_not_exists(last_revert) OR last_revert <> :revert)",
            ExpressionAttributeNames={"#rt": record_type},
            ExpressionAttributeValues={":zero": 0, ":removed": removed, ":revert": revert_id},
        ) is not None

    def update(self, account_id: str, dataset_id: str, **fields: Any) -> dict[str, Any]:
        answer = update_if(
            self._table,
            Key={"account_id": account_id, "dataset_id": dataset_id},
            ConditionExpression=Attr("dataset_id").exists(),
            ReturnValues="ALL_NEW",
            **_update_expression(fields),
        )
        if answer is None:
            raise NotFoundError(f"dataset {dataset_id} not found")
        return plain(answer["Attributes"])

    def hold_for_load(self, account_id: str, dataset_id: str, job_id: str, at: str,
                      stale_holder: str | None = None) -> bool:
        """Make job_id the one load that may write into the dataset; False while another holds it.

        Loads into one dataset run one at a time, so concurrent uploads with overlapping keys end as
        some serial order of the files. Also refused while a clear holds the dataset.
        """
        return load_hold.hold(self._table, {"account_id": account_id, "dataset_id": dataset_id}, job_id, at,
                              stale_holder, also_require="attribute_not_exists(clearing_job)")

    def release_load(self, account_id: str, dataset_id: str, job_id: str) -> None:
        load_hold.release(self._table, {"account_id": account_id, "dataset_id": dataset_id}, job_id)

    def note_record_type(self, account_id: str, dataset_id: str, record_type: str) -> None:
        """Remember that records of this type may exist (Clear Data visits only these types)."""
        self._table.update_item(
            Key={"account_id": account_id, "dataset_id": dataset_id},
            UpdateExpression="ADD record_types_seen :type",
            ConditionExpression=Attr("dataset_id").exists(),
            ExpressionAttributeValues={":type": {record_type}},
        )

    def start_clear(self, account_id: str, dataset_id: str, job_id: str, at: str) -> bool:
        """Mark the dataset as being cleared by job_id; False if another clear or a load holds it."""
        return update_if(
            self._table,
            Key={"account_id": account_id, "dataset_id": dataset_id},
            UpdateExpression="SET clearing_job = :job, updated_at = :at",
            ConditionExpression="attribute_exists(dataset_id) AND attribute_not_exists(clearing_job) "
                                "AND attribute_not_exists(loading_job)",
            ExpressionAttributeValues={":job": job_id, ":at": at},
        ) is not None

    def end_clear(self, account_id: str, dataset_id: str, job_id: str, at: str, emptied: bool) -> None:
        """Release the clear mark (only if job_id holds it); an emptied dataset counts no records."""
        expression = "REMOVE clearing_job SET updated_at = :at"
        if emptied:
            expression += ", record_counts = :empty"
        values: dict[str, Any] = {":job": job_id, ":at": at}
        if emptied:
            values[":empty"] = {}
        update_if(
            self._table,
            Key={"account_id": account_id, "dataset_id": dataset_id},
            UpdateExpression=expression,
            ConditionExpression="clearing_job = :job",
            ExpressionAttributeValues=values,
        )


# The tokens table's index of an account's tokens (partition account_id, sort token_id). Only
# token items carry those attributes, so the per-account counter items stay out of it.
TOKENS_BY_ACCOUNT_INDEX = "by_account"
# Key prefix of the per-account counter of active tokens. Token keys are SHA-256 hex digests, which
# never contain '#', so a counter can never be taken for a token.
ACTIVE_COUNT_KEY_PREFIX = "active-tokens#"
ACTIVE_COUNT_ATTRIBUTE = "active_tokens"


@translated
class TokensTable:
    """API tokens by SHA-256 hash; the token itself is never stored.

    Beside the tokens, one counter item per account, {token_hash: "active-tokens#<account>",
    active_tokens: n}, changed only in the same transaction as a token, bounds the active tokens.
    """

    def __init__(self, table):
        self._table = table

    @staticmethod
    def _counter_key(account_id: str) -> dict[str, str]:
        return {"token_hash": ACTIVE_COUNT_KEY_PREFIX + account_id}

    def get(self, token_hash: str) -> dict[str, Any] | None:
        item = self._table.get_item(Key={"token_hash": token_hash}).get("Item")
        return plain(item) if item else None

    def add_within_limit(self, item: dict[str, Any], limit: int) -> bool:
        """Store the token and count it, atomically, only while the account has fewer than `limit`.

        False when the counter is at the limit or does not exist yet (see start_count).
        """
        return counters.transact(self._table, [
            counters.count_up(self._table, self._counter_key(item["account_id"]), ACTIVE_COUNT_ATTRIBUTE, limit),
            {"Put": {"TableName": self._table.name, "Item": item,
                     "ConditionExpression": "attribute_not_exists(token_hash)"}},
        ])

    def start_count(self, account_id: str, existing: int) -> bool:
        """Create the account's counter at `existing` (its active tokens) unless it exists; True if this
        call created it."""
        return counters.start(
            self._table, {**self._counter_key(account_id), "counter_of": account_id, ACTIVE_COUNT_ATTRIBUTE: existing},
            "token_hash")

    def revoke(self, account_id: str, token_hash: str, at: str) -> bool:
        """Mark the account's active token revoked and uncount it, atomically; False if it was not
        the account's active token (or the counter does not exist yet)."""
        return counters.transact(self._table, [
            {"Update": {
                "TableName": self._table.name,
                "Key": {"token_hash": token_hash},
                "UpdateExpression": "SET revoked_at = :at",
                "ConditionExpression": "account_id = :account AND attribute_not_exists(revoked_at)",
                "ExpressionAttributeValues": {":at": at, ":account": account_id},
            }},
            counters.count_down(self._table, self._counter_key(account_id), ACTIVE_COUNT_ATTRIBUTE),
        ])

    def list_for_account(self, account_id: str) -> list[dict[str, Any]]:
        """Every token of the account, revoked ones included (from the by-account index)."""
        query: dict[str, Any] = {
            "IndexName": TOKENS_BY_ACCOUNT_INDEX,
            "KeyConditionExpression": Key("account_id").eq(account_id),
        }
        items: list[dict[str, Any]] = []
        while True:
            page = self._table.query(**query)
            items.extend(plain(item) for item in page.get("Items", []))
            if not page.get("LastEvaluatedKey"):
                return items
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def find(self, account_id: str, token_id: str) -> dict[str, Any] | None:
        page = self._table.query(
            IndexName=TOKENS_BY_ACCOUNT_INDEX,
            KeyConditionExpression=Key("account_id").eq(account_id) & Key("token_id").eq(token_id),
        )
        items = page.get("Items", [])
        return plain(items[0]) if items else None

    def record_use(self, token_hash: str, at: str, stale_before: str) -> bool:
        """Set last_used_at unless it is newer than stale_before. Best effort: never fails the
        request it accompanies; False when nothing was written."""
        try:
            self._table.update_item(
                Key={"token_hash": token_hash},
                UpdateExpression="SET last_used_at = :at",
                ConditionExpression="attribute_exists(account_id) AND attribute_not_exists(revoked_at) "
                                    "AND (attribute_not_exists(last_used_at) OR last_used_at <= :stale)",
                ExpressionAttributeValues={":at": at, ":stale": stale_before},
            )
            return True
        except ClientError:
            return False


@translated
class AccountsTable:
    """Per-account settings, one item per account (key account_id); an account with no item has
    the defaults (no IP restriction)."""

    def __init__(self, table):
        self._table = table

    def get(self, account_id: str) -> dict[str, Any] | None:
        item = self._table.get_item(Key={"account_id": account_id}).get("Item")
        return plain(item) if item else None

    def put_ip_allowlist(self, account_id: str, cidrs: list[str], at: str) -> dict[str, Any]:
        """Replace the account's IP allow-list (the item holds nothing else yet, so a put is exact)."""
        item = {"account_id": account_id, "ip_allowlist": list(cidrs), "updated_at": at}
        self._table.put_item(Item=item)
        return item
