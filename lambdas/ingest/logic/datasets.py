"""Datasets: named containers of records, owned by one account."""

from __future__ import annotations

from typing import Any

from ingest import ids, record_types
from ingest.clock import iso_now
from ingest.errors import BadRequestError, NotFoundError
from ingest.logic.requests import optional_string, page_limit, require_object, required_string


def create_dataset(datasets, account_id: str, body: Any) -> dict[str, Any]:
    body = require_object(body)
    name = required_string(body, "name", max_length=256)
    description = optional_string(body, "description", max_length=4096) or ""
    now = iso_now()
    dataset = {
        "account_id": account_id,
        "dataset_id": ids.new_id(),
        "name": name,
        "description": description,
        "record_counts": {},
        "created_at": now,
        "updated_at": now,
    }
    datasets.create(dataset)
    return dataset_view(dataset)


def get_dataset(datasets, account_id: str, dataset_id: str) -> dict[str, Any]:
    dataset = datasets.get(account_id, dataset_id)
    if dataset is None:
        raise NotFoundError(f"dataset {dataset_id} not found")
    return dataset


def update_dataset(datasets, account_id: str, dataset_id: str, body: Any) -> dict[str, Any]:
    body = require_object(body)
    unknown = sorted(set(body) - {"name", "description"})
    if unknown:
        raise BadRequestError(f"only name and description can be changed; got {', '.join(unknown)}")
    changes: dict[str, Any] = {}
    if "name" in body:
        changes["name"] = required_string(body, "name", max_length=256)
    if "description" in body:
        changes["description"] = optional_string(body, "description", max_length=4096) or ""
    if not changes:
        raise BadRequestError("send name and/or description to change")
    get_dataset(datasets, account_id, dataset_id)
    try:
        updated = datasets.update(account_id, dataset_id, **changes, updated_at=iso_now())
    except LookupError as exc:
        raise NotFoundError(f"dataset {dataset_id} not found") from exc
    return dataset_view(updated)


def list_datasets(datasets, account_id: str, limit: str | None, next_token: str | None) -> dict[str, Any]:
    try:
        items, token = datasets.list(account_id, page_limit(limit), next_token)
    except ValueError as exc:
        raise BadRequestError(str(exc)) from exc
    return {"datasets": [dataset_view(item) for item in items], "next_token": token}


def get_record(datasets, records, account_id: str, dataset_id: str, record_type: str, key: str) -> str:
    get_dataset(datasets, account_id, dataset_id)
    record_type = record_types.canonical(record_type) or record_type  # purchase_event reads purchase
    readable = record_types.stored_types()  # e.g. profile, which is loaded through profile_changes
    if record_type not in readable:
        uploaded = record_types.get(record_type)
        if uploaded is not None:
            raise NotFoundError(f"{record_type} records are not stored as such: they change {uploaded.stored_type} "
                                f"records; read /records/{uploaded.stored_type}/{{key}}")
        raise NotFoundError(f"record type {record_type} not found; readable types: {', '.join(readable)}")
    stored = records.get(account_id, dataset_id, record_type, key)
    if stored is None:
        raise NotFoundError(f"no {record_type} with key {key} in dataset {dataset_id}")
    return stored


def dataset_view(dataset: dict[str, Any]) -> dict[str, Any]:
    view = {
        "id": dataset["dataset_id"],
        "name": dataset["name"],
        "description": dataset.get("description", ""),
        "record_counts": dataset.get("record_counts", {}),
        "created_at": dataset["created_at"],
        "updated_at": dataset["updated_at"],
    }
    if dataset.get("last_load"):
        view["last_load"] = dataset["last_load"]
    if dataset.get("clearing_job"):
        view["clearing_job"] = dataset["clearing_job"]
    return view
