"""Profile changes (Localytics Profile Imports) uploaded through the normal flow, over HTTP on the local stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
import requests

from cli.client import ApiError
from tests.support import faults
from tests.support.stats import line_counts
from tests.unit.test_profiles import LOCALYTICS_EXAMPLE, LOCALYTICS_RESULT

ROOT = Path(__file__).resolve().parents[2]


def _file(*records: dict) -> bytes:
    return b"".join(orjson.dumps(record) + b"\n" for record in records)


def _change(customer: str, *changes: dict) -> dict:
    return {"customer_id": customer, "changes": list(changes)}


def _op(name: str, attr: str, *value) -> dict:
    return {"op": name, "attr": attr, **({"value": value[0]} if value else {})}


def _headers(account) -> dict:
    return {"Auth-Api-Token": account["token"]}


def _profile(stack, account, dataset, customer: str) -> requests.Response:
    return requests.get(f"{stack.info.api_url}/v1/datasets/{dataset['id']}/records/profile/{customer}",
                        headers=_headers(account), timeout=30)


def _load(load_file, content: bytes) -> dict:
    upload = load_file(content, record_type="profile_changes", filename="profile_changes.ndjson")
    assert upload["status"] == "Completed", upload.get("failure_reason")
    return upload


def _error_log(upload: dict) -> list[dict]:
    return [json.loads(line) for line in requests.get(upload["error_log_url"], timeout=30).text.splitlines()]


def _counters_file(customers: int, rounds: int) -> bytes:
    """Each customer's lines spread over the file: increments, a set growing, the round last seen."""
    return _file(*(
        _change(f"cust-{i:03d}", _op("increment", "points", 10), _op("set-add", "rounds", [r]),
                _op("assign", "last_round", r))
        for r in range(rounds) for i in range(customers)
    ))


def test_the_localytics_example_gives_the_documented_profiles(stack, account, client, dataset, load_file):
    upload = _load(load_file, _file(*LOCALYTICS_EXAMPLE))
    assert line_counts(upload["stats"]) == {"total": 5, "loaded": 5, "rejected": 0}
    for customer, attributes in LOCALYTICS_RESULT.items():
        response = _profile(stack, account, dataset, customer)
        assert response.status_code == 200
        assert response.json() == attributes
    assert client.get_dataset(dataset["id"])["record_counts"] == {"profile": 3}

    # The changes themselves are not records; the catalogue says how they load.
    as_changes = requests.get(f"{stack.info.api_url}/v1/datasets/{dataset['id']}/records/profile_changes/abc",
                              headers=_headers(account), timeout=30)
    assert as_changes.status_code == 404 and "not stored as such" in as_changes.json()["message"]
    catalogue = requests.get(f"{stack.info.api_url}/v1/record-types", headers=_headers(account), timeout=30).json()
    [described] = [t for t in catalogue["record_types"] if t["name"] == "profile_changes"]
    assert (described["key"], described["stored_as"]) == ("customer_id", "profile")


def test_one_customers_lines_apply_in_file_order_across_chunks(stack, account, dataset, load_file):
    content = _counters_file(customers=40, rounds=6)
    assert len(content) > 3 * 4096  # several 4 KB chunks
    with faults.inject(faults.Invocations()) as seen:
        upload = _load(load_file, content)
    assert len(seen.of("Load", upload["id"])) > 1
    assert line_counts(upload["stats"]) == {"total": 240, "loaded": 240, "rejected": 0}
    for customer in ("cust-000", "cust-017", "cust-039"):
        assert _profile(stack, account, dataset, customer).json() == {
            "points": 60, "rounds": [0, 1, 2, 3, 4, 5], "last_round": 5}


def test_an_ill_fitting_change_rejects_only_its_line(stack, account, client, dataset, load_file):
    upload = _load(load_file, _file(
        _change("ann", _op("assign", "points", "ten"), _op("set-add", "tags", ["new"])),
        _change("bob", _op("increment", "points", 1)),
        _change("ann", _op("assign", "tier", "gold"), _op("increment", "points", 5)),
        _change("ann", _op("set-add", "tags", ["vip"])),
        _change("bob", _op("set-add", "points", ["x"])),
    ))
    assert line_counts(upload["stats"]) == {"total": 5, "loaded": 3, "rejected": 2}
    assert [(e["line"], e["error"]) for e in _error_log(upload)] == [
        (3, 'changes[1]: increment needs a number, "points" holds a string'),
        (5, 'changes[0]: set-add needs a set, "points" holds a number'),
    ]
    assert _profile(stack, account, dataset, "ann").json() == {"points": "ten", "tags": ["new", "vip"]}
    assert _profile(stack, account, dataset, "bob").json() == {"points": 1}


def test_a_load_that_crashes_after_writing_half_its_profiles_is_retried_without_doubling(
        stack, account, client, dataset, load_file):
    _load(load_file, _file(*(_change(f"cust-{i:03d}", _op("increment", "points", 1000)) for i in range(40))))
    content = _counters_file(customers=40, rounds=3)
    with faults.inject(faults.FailAfterWrites(step="Load", times=1, account=account["name"])) as fault:
        upload = _load(load_file, content)
    assert fault.fired == 1 and fault.written[0] > 0, "a Load must have written part of its chunk, then crashed"
    assert line_counts(upload["stats"]) == {"total": 120, "loaded": 120, "rejected": 0}
    for i in range(40):
        assert _profile(stack, account, dataset, f"cust-{i:03d}").json() == {
            "points": 1030, "rounds": [0, 1, 2], "last_round": 2}, f"cust-{i:03d}"
    assert client.get_dataset(dataset["id"])["record_counts"] == {"profile": 40}


def test_csv_is_refused_at_upload_request_time(client, dataset):
    with pytest.raises(ApiError) as refused:
        client.request_upload("profile_changes.csv", dataset["id"], "profile_changes")
    assert refused.value.status == 400
    assert "profile_changes takes NDJSON files only, not CSV" in refused.value.message


def test_clear_data_removes_profiles(stack, account, client, dataset, load_file):
    _load(load_file, _file(*LOCALYTICS_EXAMPLE))
    cleared = requests.post(f"{stack.info.api_url}/v1/datasets/{dataset['id']}/clear", headers=_headers(account))
    assert cleared.status_code == 202
    deadline = time.monotonic() + 120
    while True:
        job = requests.get(f"{stack.info.api_url}/v1/jobs/{cleared.json()['id']}", headers=_headers(account)).json()
        if job["status"] in ("Completed", "Failed") or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert (job["status"], job["stats"]) == ("Completed", {"removed": 3})
    assert _profile(stack, account, dataset, "abc").status_code == 404
    assert client.get_dataset(dataset["id"])["record_counts"] == {}


def test_validate_gives_the_servers_schema_errors(load_file, tmp_path):
    content = _file(
        _change("ann", _op("increment", "points", "1")),
        _change("ann"),
        {"changes": [_op("delete", "a")]},
        _change("ann", _op("delete", "a", 1), _op("assign", "b", 2)),
        _change("ann", _op("assign", "points", "ten")),
    ) + b"{not json\n"
    upload = load_file(content, record_type="profile_changes", filename="profile_changes-validate.ndjson")
    server_log = requests.get(upload["error_log_url"], timeout=30).text.splitlines()
    path = tmp_path / "local.ndjson"
    path.write_bytes(content)
    env = {k: v for k, v in os.environ.items() if not k.startswith("INGEST_")}
    env["INGEST_STACK_FILE"] = str(tmp_path / "no-such-stack.json")
    local = subprocess.run([sys.executable, "-m", "cli", "validate", str(path), "--record-type", "profile_changes",
                            "--json"], cwd=ROOT, env=env, check=False, capture_output=True, text=True, timeout=120)
    assert local.returncode == 1, local.stderr
    assert local.stdout.splitlines() == server_log
    assert [json.loads(line)["line"] for line in server_log] == [1, 2, 3, 4, 6]
    assert line_counts(upload["stats"]) == {"total": 6, "loaded": 1, "rejected": 5}
