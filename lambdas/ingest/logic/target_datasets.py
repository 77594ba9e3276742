"""The datasets the compatible APIs load into: one per account and target, created on first use.

A Localytics org (the account itself) or app, or an analytics dataset type, is not a dataset of
ours, so the imports table maps each (account, family, name) to one dataset. The mapping is claimed
first (a conditional put: concurrent first uses agree on one id), then the dataset is created
under that id if it does not exist yet, so a crash between the two steps heals on the next use.
"""

from __future__ import annotations

from ingest import ids
from ingest.clock import iso_now

LOCALYTICS_ORG = "localytics-org"
LOCALYTICS_APP = "localytics-app"
ANALYTICS = "analytics"

_NAMES = {
    LOCALYTICS_ORG: ("Localytics org {name}",
                     "Profiles imported through the Localytics Profile Imports API for the org"),
    LOCALYTICS_APP: ("Localytics app {name}",
                     "Profiles imported through the Localytics Profile Imports API for the app"),
    ANALYTICS: ("Analytics {name}", "Files uploaded through the analytics file-upload API (datasetType {name})"),
}


def ensure_dataset(targets, datasets, account_id: str, family: str, name: str) -> str:
    """The id of the account's dataset for (family, name), creating both mapping and dataset if needed."""
    dataset_id = targets.get_target(account_id, family, name)
    if dataset_id is None:
        dataset_id = targets.claim_target(account_id, family, name, ids.new_id(), iso_now())
    if datasets.get(account_id, dataset_id) is None:
        title, description = _NAMES[family]
        now = iso_now()
        try:
            datasets.create({
                "account_id": account_id, "dataset_id": dataset_id, "name": title.format(name=name),
                "description": description.format(name=name), "record_counts": {}, "created_at": now, "updated_at": now,
            })
        except Exception:
            # A concurrent first use created it a moment ago: that is the dataset we want.
            if datasets.get(account_id, dataset_id) is None:
                raise
    return dataset_id
