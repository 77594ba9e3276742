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
from tests.support.stats import line_counts

# Where each type's record key comes from: (path to the identifier, a template for its value).
IDENTIFIERS = {
    "customer_record": (("link", "email"), "ada+{i}@example.com"),
    "product": (("product_id",), "p-{i}"),
    "purchase": (("purchase_id",), "order-{i}"),
    "return": (("return_id",), "ret-{i}"),
    **{name: ((("email_id",) if name.startswith("email") else ("sms_id",)), name + "-{i}")
       for name in VALID if name.startswith(("email_", "sms_"))},
}


def _variants(name: str, count: int) -> list[dict]:
    """`count` valid records of one type with distinct keys."""
    (*parents, leaf), template = IDENTIFIERS[name]
    records = []
    for i in range(count):
        record = copy.deepcopy(VALID[name][0])
        node = record
        for part in parents:
            node = node[part]
        node[leaf] = template.format(i=i)
        records.append(record)
    return records


def _invalid(name: str) -> dict:
    """A record without the field its key comes from."""
    record = copy.deepcopy(VALID[name][0])
    del record[IDENTIFIERS[name][0][0]]
    return record


def _flatten(record: dict, schema: dict, prefix: str = "") -> dict[str, str]:
    cells: dict[str, str] = {}
    for field, value in record.items():
        node = (schema.get("properties") or {}).get(field, {})
        node = node.get("anyOf", [node])[0]  # an optional object: its object schema
        column = prefix + field
        if isinstance(value, dict) and (node.get("properties") or "oneOf" in node):  # a link: link.email, ...
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
    lines = [*records[:2], _invalid(name), *records[2:]]
    if fmt == "csv":
        content = to_csv(lines, record_types.get(name).schema)
    else:
        content = ("\n".join(json.dumps(record) for record in lines) + "\n").encode()
    filename = f"{name}-test.{fmt}" + (".gz" if compressed else "")
    upload = load_file(gzip.compress(content) if compressed else content, record_type=name, filename=filename)

    assert upload["status"] == "Completed", upload.get("failure_reason")
    assert line_counts(upload["stats"]) == {"total": 4, "loaded": 3, "rejected": 1}
    errors = [json.loads(line) for line in requests.get(upload["error_log_url"]).text.splitlines()]
    assert [error["line"] for error in errors] == [4 if fmt == "csv" else 3]  # CSV line 1 is the header
    assert errors[0]["error"].startswith(IDENTIFIERS[name][0][0] + ": is required")
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
        else:  # CSV cells are typed by the declared kinds: the same record
            assert stored.json() == records[1]


def test_csv_edge_cases(stack, account, client, dataset, load_file):
    content = (
        "\ufefflink.customer_id,link.email,first_name,last_name,custom_fields\r\n"
        'c1,,"Smith, Jr.","O""Brien",\r\n'
        ',C2@Example.com,"two\nlines",,"{""tier"": ""gold""}"\r\n'
        "\r\n"
        ",,nobody,,\r\n"
        'c3,,x,y,z,extra\r\n'
        "c4,,last,row,"
    ).encode("utf-8")
    upload = load_file(content, filename="customer_record-edge.csv")
    assert upload["status"] == "Completed", upload.get("failure_reason")
    assert line_counts(upload["stats"]) == {"total": 5, "loaded": 3, "rejected": 2}
    errors = {e["line"]: e for e in map(json.loads, requests.get(upload["error_log_url"]).text.splitlines())}
    assert sorted(errors) == [6, 7]  # the record with a quoted newline spans lines 3-4
    assert errors[6] == {"line": 6, "error": "link: is required", "raw": ",,nobody,,"}
    assert errors[7]["error"] == "row has 6 fields; the header has 5"

    def record(key):
        return requests.get(f"{stack.info.api_url}/v1/datasets/{dataset['id']}/records/customer_record/{key}",
                            headers={"Auth-Api-Token": account["token"]}).json()

    assert record("customer_id:c1") == {"link": {"customer_id": "c1"}, "first_name": "Smith, Jr.",
                                        "last_name": "O\"Brien"}
    # The email link's key is the address as Lexer reads it: lower-cased.
    assert record("email:c2@example.com") == {"link": {"email": "C2@Example.com"}, "first_name": "two\nlines",
                                              "custom_fields": {"tier": "gold"}}
    assert record("customer_id:c4") == {"link": {"customer_id": "c4"}, "first_name": "last", "last_name": "row"}


def test_csv_cells_are_typed_by_the_declared_kinds(stack, account, dataset, load_file):
    content = (
        b"product_id,price,availability.available,inventory.quantity,options.colour\n"
        b'p1,12.50,yes,3,"[""red"", ""blue""]"\n'
        b"p2,twelve,no,1,\n"
        b"p3,1,maybe,1.5,\n"
    )
    # product_record is the old name of product: an alias, resolved when the upload is requested.
    upload = load_file(content, record_type="product_record", filename="product-typed.csv")
    assert line_counts(upload["stats"]) == {"total": 3, "loaded": 1, "rejected": 2}
    errors = [json.loads(line) for line in requests.get(upload["error_log_url"]).text.splitlines()]
    assert errors == [
        {"line": 3, "error": "price: must be a number", "raw": "p2,twelve,no,1,"},
        {"line": 4, "error": "availability.available: must be true or false; inventory.quantity: must be an integer",
         "raw": "p3,1,maybe,1.5,"},
    ]
    for name in ("product", "product_record"):  # the records route takes the alias too
        stored = requests.get(f"{stack.info.api_url}/v1/datasets/{dataset['id']}/records/{name}/product_id:p1",
                              headers={"Auth-Api-Token": account["token"]}).json()
        assert stored == {"product_id": "p1", "price": 12.5, "availability": {"available": True},
                          "inventory": {"quantity": 3}, "options": {"colour": ["red", "blue"]}}


def test_bad_csv_header_fails_right_after_inspect_naming_the_columns(client, dataset, load_file):
    content = b"purchase_id,link.colour,link.customer_id,action_at,type,products\np1,red,c1,1714745000,physical,[]\n"
    upload = load_file(content, record_type="purchase", filename="purchase-bad.csv")
    assert upload["status"] == "Failed"
    assert upload["failure_reason"].endswith("the CSV header does not match purchase: unknown columns: link.colour")
    nested = load_file(b"purchase_id,type.colour\np1,red\n", record_type="purchase", filename="purchase-nested.csv")
    assert nested["status"] == "Failed" and "unknown columns: type.colour" in nested["failure_reason"]
    missing = load_file(b"currency,type\nAUD,ecommerce\n", record_type="purchase_event", filename="purchase-miss.csv")
    assert missing["status"] == "Failed"
    assert "missing required columns: link (one of: link.email; link.email_sha256;" in missing["failure_reason"]
    assert missing["failure_reason"].endswith("), action_at, purchase_id, products")
    assert client.get_dataset(dataset["id"])["record_counts"] == {}


def test_other_csv_columns_are_kept_as_ndjson_keeps_other_fields(stack, account, dataset, load_file):
    # Lexer's validator ignores fields it does not declare; we keep them, as text.
    upload = load_file(b"link.email,colour,notes.first\na@b.co,red,hi\n", filename="customer_record-extra.csv")
    assert line_counts(upload["stats"]) == {"total": 1, "loaded": 1, "rejected": 0}
    stored = requests.get(f"{stack.info.api_url}/v1/datasets/{dataset['id']}/records/customer_record/email:a@b.co",
                          headers={"Auth-Api-Token": account["token"]}).json()
    assert stored == {"link": {"email": "a@b.co"}, "colour": "red", "notes": {"first": "hi"}}


@pytest.mark.parametrize(
    "filename, content, reason",
    [
        ("customer_record-x.csv", b'{"link": {"customer_id": "a"}}\n', "holds JSON lines"),
        ("customer_record-x.json", b"link.customer_id,first_name\na,b\n", "looks like CSV"),
        ("customer_record-x.json", b'[\n{"link": {"customer_id": "a"}}\n]\n', "one JSON array"),
        ("customer_record-x.json", b'[{"link": {"customer_id": "a"}}, {"link": {"customer_id": "b"}}]',
         "one JSON array"),
        ("customer_record-x.json", b"\x00\x01\x02binary\x00garbage\n", "binary"),
        # A PNG: its first "line" (up to the \n) holds no NUL; the bytes after it do.
        ("customer_record-x.json", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00" + b"\xa7" * 500, "binary"),
        ("customer_record-x.json.gz", gzip.compress(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 64, mtime=0),
         "binary"),
        # Classic Mac OS line endings (CR alone): read as they are, the file would be one line.
        ("customer_record-x.csv", b"link.customer_id,first_name\ra,Ann\rb,Bo\r",
         "lines end in a carriage return alone"),
    ],
    # Named ids: an id made of the bytes would hold gzip's header, and xdist refuses ids that differ
    # between its workers' collections.
    ids=["json-lines-named-csv", "csv-named-json", "json-array", "json-array-on-one-line", "nul-bytes",
         "png-named-json", "png-named-json-gz", "cr-line-endings"],
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
    assert line_counts(upload["stats"]) == {"total": 4, "loaded": 1, "rejected": 3}
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
            "destination": {"destination_type": "dataset_load",
                            "dataset_id": dataset["id"], "record_type": "customer_record"}}
    upload = requests.post(stack.info.api_url + "/v1/uploads",
                           json=body, headers={"Auth-Api-Token": account["token"]}).json()
    assert upload["options"]["dry_run"] is True
    requests.put(upload["url"], data=path.read_bytes()).raise_for_status()
    finished = client.wait_for(upload["id"], timeout=60, poll=0.2)
    assert finished["status"] == "Completed"
    assert line_counts(finished["stats"]) == {"total": 21, "loaded": 20, "rejected": 1}
    assert json.loads(requests.get(finished["error_log_url"]).text)["line"] == 21
    assert client.get_dataset(dataset["id"])["record_counts"] == {}
    assert requests.get(f"{stack.info.api_url}/v1/datasets/{dataset['id']}/records/customer_record/customer_id:d0",
                        headers={"Auth-Api-Token": account["token"]}).status_code == 404


def _upload_with_options(stack, account, client, dataset, path, options):
    body = {"filename": path.name, "options": options,
            "destination": {"destination_type": "dataset_load",
                            "dataset_id": dataset["id"], "record_type": "customer_record"}}
    response = requests.post(stack.info.api_url + "/v1/uploads",
                             json=body, headers={"Auth-Api-Token": account["token"]})
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
    error_log = requests.get(failed["error_log_url"]).text
    assert [json.loads(line)["line"] for line in error_log.splitlines()] == [16, 17, 18]
    assert client.get_dataset(dataset["id"])["record_counts"] == counts == {"customer_record": 10}
    stored = requests.get(f"{stack.info.api_url}/v1/datasets/{dataset['id']}/records/customer_record/customer_id:e3",
                          headers={"Auth-Api-Token": account["token"]}).json()
    assert stored["first_name"] == "before"

    within = _upload_with_options(stack, account, client, dataset, path, {"max_rejected_percent": 20})
    assert within["status"] == "Completed" and line_counts(within["stats"]) == {
        "total": 18, "loaded": 15, "rejected": 3}
    assert client.get_dataset(dataset["id"])["record_counts"] == {"customer_record": 15}


@pytest.mark.parametrize(
    "options, message",
    [({"dry_run": "yes"}, "dry_run must be true or false"),
     ({"max_rejected_percent": 120}, "from 0 to 100"),
     ({"fast": True}, "unknown options: fast")],
)
def test_bad_options_are_refused(stack, account, dataset, options, message):
    body = {"filename": "a.json", "options": options,
            "destination": {"destination_type": "dataset_load",
                            "dataset_id": dataset["id"], "record_type": "customer_record"}}
    response = requests.post(stack.info.api_url + "/v1/uploads",
                             json=body, headers={"Auth-Api-Token": account["token"]})
    assert response.status_code == 400 and message in response.json()["message"]
