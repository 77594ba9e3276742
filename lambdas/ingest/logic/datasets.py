"""Datasets: named containers of records, owned by one account."""

from __future__ import annotations

from typing import Any

from ingest import ids, record_types
from ingest.adapters.record_store import dataset_shards
from ingest.clock import iso_now
from ingest.errors import NotFoundError
from ingest.models.datasets import (
    DatasetChanges,
    DatasetPage,
    DatasetView,
    NewDataset,
    PageQuery,
    RecordAddress,
    RecordTypeList,
    RecordTypeView,
    StoredRecord,
)


def create_dataset(datasets, account_id: str, request: NewDataset) -> DatasetView:
    now = iso_now()
    dataset = {
        "account_id": account_id,
        "dataset_id": ids.new_id(),
        "name": request.name,
        "description": request.description or "",
        "record_counts": {},
        "created_at": now,
        "updated_at": now,
    }
    datasets.create(dataset)
    return dataset_view(dataset)


def get_dataset(datasets, account_id: str, dataset_id: str) -> dict[str, Any]:
    """The dataset's item; NotFoundError if the account has no such dataset."""
    dataset = datasets.get(account_id, dataset_id)
    if dataset is None:
        raise NotFoundError(f"dataset {dataset_id} not found")
    return dataset


def show_dataset(datasets, account_id: str, dataset_id: str) -> DatasetView:
    return dataset_view(get_dataset(datasets, account_id, dataset_id))


def update_dataset(datasets, account_id: str, dataset_id: str, changes: DatasetChanges) -> DatasetView:
    get_dataset(datasets, account_id, dataset_id)
    # NotFoundError too when it was deleted meanwhile (the adapter's conditional update).
    return dataset_view(datasets.update(account_id, dataset_id, **changes.fields(), updated_at=iso_now()))


def list_datasets(datasets, account_id: str, query: PageQuery) -> DatasetPage:
    items, token = datasets.list(account_id, query.limit, query.next_token)
    return DatasetPage(datasets=[dataset_view(item) for item in items], next_token=token)


def get_record(datasets, records, account_id: str, address: RecordAddress) -> StoredRecord:
    dataset_id, key = address.dataset_id, address.key
    dataset = get_dataset(datasets, account_id, dataset_id)
    record_type = record_types.canonical(address.record_type) or address.record_type  # purchase_event reads purchase
    readable = record_types.stored_types()  # e.g. profile, which is loaded through profile_changes
    if record_type not in readable:
        uploaded = record_types.get(record_type)
        if uploaded is not None:
            raise NotFoundError(f"{record_type} records are not stored as such: they change {uploaded.stored_type} "
                                f"records; read /records/{uploaded.stored_type}/{{key}}")
        raise NotFoundError(f"record type {record_type} not found; readable types: {', '.join(readable)}")
    stored = records.get(account_id, dataset_id, record_type, key, dataset_shards(dataset))
    if stored is None:
        raise NotFoundError(f"no {record_type} with key {key} in dataset {dataset_id}")
    return StoredRecord(json_text=stored)


def record_type_catalogue() -> RecordTypeList:
    return RecordTypeList(record_types=[RecordTypeView.model_validate(record_type.describe())
                                        for record_type in record_types.catalogue().values()])


def dataset_view(dataset: dict[str, Any]) -> DatasetView:
    return DatasetView.of(dataset)
