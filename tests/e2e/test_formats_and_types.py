"""Record types, CSV and gzip, dry runs and the error budget, over HTTP on the local stack."""

from __future__ import annotations

import copy
import csv
import gzip
import io
import json
from urllib.parse import quote

import pytest
import requests

from ingest import record_types
from tests.record_examples import VALID


def _variants(name: str, count: int) -> list[dict]:
    """`count` valid records of one type with distinct keys."""
    record_type = record_types.get(name)
    records = []
    for i in range(count):
        record = copy.deepcopy(VALID[name][0])
        if record_type.key_fields:
            record.setdefault("link", {})["customer_id"] = f"cust-{i}"
        else:
            node = record
            *parents, leaf = record_type.key_paths[0]
            for part in parents:
                node = node[part]
            node[leaf] = f"{node[leaf]}-{i}"
        records.append(record)
    return records


def _invalid(name: str) -> dict:
    """A record missing its key (or a required key field)."""
    record_type = record_types.get(name)
    record = copy.deepcopy(VALID[name][0])
    path = record_type.key_fields[-1] if record_type.key_fields else record_type.key_paths[0]
    node = record
    for part in path[:-1]:
        node = node[part]
    del node[path[-1]]
    if not record_type.key_fields and len(record_type.key_paths) > 1:  # customer_record: drop every alternative
        for alternative in record_type.key_paths[1:]:
            record[alternative[0]].pop(alternative[1], None)
    return record


def _flatten(record: dict, schema: dict, prefix: str = "") -> dict[str, str]:
    cells: dict[str, str] = {}
    for field, value in record.items():
        node = (schema.get("properties") or {}).get(field, {})
        column = prefix + field
        if isinstance(value, dict) and node.get("properties"):
            cells.update(_flatten(value, node, column + "."))
        elif isinstance(value, (dict, list)):
            cells[column] = json.dumps(value)
        elif isinstance(value, bool):
            cells[column] = "true" if value else "false"
        else:
            cells[column] = str(value)
    return cells


def to_csv(records: list[dict], schema: dict) -> bytes:
    rows = [_flatten(record, schema) for record in records]
    header = sorted({column for row in rows for column in row})
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("fmt", ["ndjson", "csv"])
@pytest.mark.parametrize("name", sorted(VALID))
def test_every_record_type_loads_from_ndjson_and_csv(stack, account, client, dataset, load_file, name, fmt, compressed):
    records = _variants(name, 3)
    lines = records[:2] + [_invalid(name)] + records[2:]
    if fmt == "csv":
        content = to_csv(lines, record_types.get(name).schema)
    else:
        content = ("\n".join(json.dumps(record) for record in lines) + "\n").encode()
    filename = f"{name}-test.{fmt}" + (".gz" if compressed else "")
    upload = load_file(gzip.compress(content) if compressed else content, record_type=name, filename=filename)

    assert upload["status"] == "Completed", upload.get("failure_reason")
    assert upload["stats"] == {"total": 4, "loaded": 3, "rejected": 1}
    errors = [json.loads(line) for line in requests.get(upload["error_log_url"]).text.splitlines()]
    assert [error["line"] for error in errors] == [4 if fmt == "csv" else 3]  # CSV line 1 is the header
    assert "required" in errors[0]["error"] or "missing record key" in errors[0]["error"] or "one of" in errors[0]["error"]
    assert client.get_dataset(dataset["id"])["record_counts"] == {name: 3}
    key = record_types.get(name).key_of(records[1])
    if "/" not in key:  # keys holding a URL cannot travel in one path segment
        stored = requests.get(
            f"{stack.info.api_url}/v1/datasets/{dataset['id']}/records/{name}/{quote(key, safe='')}",
            headers={"Auth-Api-Token": account["token"]},
        )
        assert stored.status_code == 200, stored.text
        if fmt == "ndjson":
            assert stored.json() == records[1]
        else:  # CSV cells typed "string or integer" stay text, so compare what identifies the record
            assert record_types.get(name).key_of(stored.json()) == key


def test_csv_edge_cases(stack, account, client, dataset, load_file):
    content = (
        "\ufefflink.customer_id,link.email,first_name,last_name,attributes\r\n"
        'c1,,"Smith, Jr.","O""Brien",\r\n'
        'c2,c2@example.com,"two\nlines",,"{""tier"": ""gold""}"\r\n'
        "\r\n"
        ",,nobody,,\r\n"
        'c3,,x,y,z,extra\r\n'
        "c4,,last,row,"
    ).encode("utf-8")
    upload = load_file(content, filename="customer_record-edge.csv")
    assert upload["status"] == "Completed", upload.get("failure_reason")
    assert upload["stats"] == {"total": 5, "loaded": 3, "rejected": 2}
    errors = {e["line"]: e for e in map(json.loads, requests.get(upload["error_log_url"]).text.splitlines())}
    assert sorted(errors) == [6, 7]  # the record with a quoted newline spans lines 3-4
    assert errors[6]["raw"] == ",,nobody,," and "link" in errors[6]["error"]
    assert errors[7]["error"] == "row has 6 fields; the header has 5"

    def record(key):
        return requests.get(f"{stack.info.api_url}/v1/datasets/{dataset['id']}/records/customer_record/{key}",
                            headers={"Auth-Api-Token": account["token"]}).json()

    assert record("c1") == {"link": {"customer_id": "c1"}, "first_name": "Smith, Jr.", "last_name": "O\"Brien"}
    assert record("c2") == {"link": {"customer_id": "c2", "email": "c2@example.com"}, "first_name": "two\nlines",
                            "attributes": {"tier": "gold"}}
    assert record("c4") == {"link": {"customer_id": "c4"}, "first_name": "last", "last_name": "row"}


def test_csv_cells_are_typed_by_the_schema(stack, account, dataset, load_file):
    content = (
        "purchase_id,link.customer_id,total,currency,products\n"
        'p1,c1,12.50,AUD,"[{""product_id"": ""a"", ""quantity"": 2}]"\n'
        "p2,c1,twelve,AUD,\n"
    ).encode()
    upload = load_file(content, record_type="purchase_event", filename="purchase_event-typed.csv")
    assert upload["stats"] == {"total": 2, "loaded": 1, "rejected": 1}
    error = json.loads(requests.get(upload["error_log_url"]).text)
    assert error == {"line": 3, "error": "total: must be of type number", "raw": "p2,c1,twelve,AUD,"}
    stored = requests.get(f"{stack.info.api_url}/v1/datasets/{dataset['id']}/records/purchase_event/p1",
                          headers={"Auth-Api-Token": account["token"]}).json()
    assert stored == {"purchase_id": "p1", "link": {"customer_id": "c1"}, "total": 12.5, "currency": "AUD",
                      "products": [{"product_id": "a", "quantity": 2}]}


def test_bad_csv_header_fails_right_after_inspect_naming_the_columns(client, dataset, load_file):
    content = b"purchase_id,colour,link.customer_id\np1,red,c1\n"
    upload = load_file(content, record_type="purchase_event", filename="purchase_event-bad.csv")
    assert upload["status"] == "Failed"
    assert "unknown columns: colour" in upload["failure_reason"]
    missing = load_file(b"total,currency\n1,AUD\n", record_type="purchase_event", filename="purchase_event-miss.csv")
    assert missing["status"] == "Failed"
    assert "missing required columns: purchase_id, link.*" in missing["failure_reason"]
    assert client.get_dataset(dataset["id"])["record_counts"] == {}


@pytest.mark.parametrize(
    "filename, content, reason",
    [
        ("customer_record-x.csv", b'{"link": {"customer_id": "a"}}\n', "holds JSON lines"),
        ("customer_record-x.json", b"link.customer_id,first_name\na,b\n", "looks like CSV"),
        ("customer_record-x.json", b'[\n{"link": {"customer_id": "a"}}\n]\n', "one JSON array"),
        ("customer_record-x.json", b"\x00\x01\x02binary\x00garbage\n", "binary"),
    ],
)
def test_file_that_is_not_what_its_name_says_fails_with_a_reason(load_file, filename, content, reason):
    upload = load_file(content, filename=filename)
    assert upload["status"] == "Failed"
    assert reason in upload["failure_reason"]


def test_ndjson_encodings_and_line_problems(load_file, dataset, client):
    content = (
        b"\xef\xbb\xbf" + json.dumps({"link": {"customer_id": "bom"}}).encode() + b"\r\n"
        + b'{"link": {"customer_id": "caf\xe9"}}\r\n'  # Latin-1, not UTF-8
        + b'"just a string"\n'
        + json.dumps({"link": {"customer_id": "x" * 2000}}).encode() + b"\n"
    )
    upload = load_file(content)
    assert upload["stats"] == {"total": 4, "loaded": 1, "rejected": 3}
    errors = [json.loads(line) for line in requests.get(upload["error_log_url"]).text.splitlines()]
    assert [e["line"] for e in errors] == [2, 3, 4]
    assert "invalid JSON" in errors[0]["error"]
    assert errors[1]["error"] == "expected a JSON object, got a string"
    assert "at most 1024 bytes" in errors[2]["error"]


def test_dry_run_validates_everything_and_writes_nothing(stack, account, client, dataset, tmp_path):
    lines = [json.dumps({"link": {"customer_id": f"d{i}"}}) for i in range(20)] + ["{broken"]
    path = tmp_path / "customer_record-dry.json"
    path.write_text("\n".join(lines) + "\n")
    body = {"filename": path.name, "options": {"dry_run": True},
            "destination": {"destination_type": "dataset_load", "dataset_id": dataset["id"], "record_type": "customer_record"}}
    upload = requests.post(stack.info.api_url + "/v1/uploads", json=body, headers={"Auth-Api-Token": account["token"]}).json()
    assert upload["options"]["dry_run"] is True
    requests.put(upload["url"], data=path.read_bytes()).raise_for_status()
    finished = client.wait_for(upload["id"], timeout=60, poll=0.2)
    assert finished["status"] == "Completed"
    assert finished["stats"] == {"total": 21, "loaded": 20, "rejected": 1}
    assert json.loads(requests.get(finished["error_log_url"]).text)["line"] == 21
    assert client.get_dataset(dataset["id"])["record_counts"] == {}
    assert requests.get(f"{stack.info.api_url}/v1/datasets/{dataset['id']}/records/customer_record/d0",
                        headers={"Auth-Api-Token": account["token"]}).status_code == 404


def _upload_with_options(stack, account, client, dataset, path, options):
    body = {"filename": path.name, "options": options,
            "destination": {"destination_type": "dataset_load", "dataset_id": dataset["id"], "record_type": "customer_record"}}
    response = requests.post(stack.info.api_url + "/v1/uploads", json=body, headers={"Auth-Api-Token": account["token"]})
    assert response.status_code == 201, response.text
    requests.put(response.json()["url"], data=path.read_bytes()).raise_for_status()
    return client.wait_for(response.json()["id"], timeout=60, poll=0.2)


def test_error_budget_exceeded_leaves_the_dataset_as_it_was(stack, account, client, dataset, load_file, tmp_path):
    original = [json.dumps({"link": {"customer_id": f"e{i}"}, "first_name": "before"}) for i in range(10)]
    load_file(("\n".join(original) + "\n").encode())
    counts = client.get_dataset(dataset["id"])["record_counts"]

    changed = [json.dumps({"link": {"customer_id": f"e{i}"}, "first_name": "after"}) for i in range(10)]
    new = [json.dumps({"link": {"customer_id": f"n{i}"}}) for i in range(5)]
    path = tmp_path / "customer_record-budget.json"
    path.write_text("\n".join(changed + new + ["{bad"] * 3) + "\n")  # 3 of 18 rejected = 16.7 %
    failed = _upload_with_options(stack, account, client, dataset, path, {"max_rejected_percent": 10})
    assert failed["status"] == "Failed"
    assert failed["failure_reason"].startswith("error budget exceeded: 3 of 18 lines rejected (16.7%)")
    assert failed["stats"]["rejected"] == 3 and failed["stats"]["loaded"] == 0
    assert [json.loads(l)["line"] for l in requests.get(failed["error_log_url"]).text.splitlines()] == [16, 17, 18]
    assert client.get_dataset(dataset["id"])["record_counts"] == counts == {"customer_record": 10}
    stored = requests.get(f"{stack.info.api_url}/v1/datasets/{dataset['id']}/records/customer_record/e3",
                          headers={"Auth-Api-Token": account["token"]}).json()
    assert stored["first_name"] == "before"

    within = _upload_with_options(stack, account, client, dataset, path, {"max_rejected_percent": 20})
    assert within["status"] == "Completed" and within["stats"] == {"total": 18, "loaded": 15, "rejected": 3}
    assert client.get_dataset(dataset["id"])["record_counts"] == {"customer_record": 15}


@pytest.mark.parametrize(
    "options, message",
    [({"dry_run": "yes"}, "dry_run must be true or false"),
     ({"max_rejected_percent": 120}, "from 0 to 100"),
     ({"fast": True}, "unknown options: fast")],
)
def test_bad_options_are_refused(stack, account, dataset, options, message):
    body = {"filename": "a.json", "options": options,
            "destination": {"destination_type": "dataset_load", "dataset_id": dataset["id"], "record_type": "customer_record"}}
    response = requests.post(stack.info.api_url + "/v1/uploads", json=body, headers={"Auth-Api-Token": account["token"]})
    assert response.status_code == 400 and message in response.json()["message"]
