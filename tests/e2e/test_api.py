"""API behaviour over HTTP: auth, tenancy, request validation, listings, record reads."""

from __future__ import annotations

import json

import pytest
import requests

from cli.client import ApiError


def _post(stack, path, token, headers=None, **kwargs):
    return requests.post(stack.info.api_url + path, headers={"Auth-Api-Token": token, **(headers or {})}, **kwargs)


def _get(stack, path, token, **kwargs):
    return requests.get(stack.info.api_url + path, headers={"Auth-Api-Token": token}, **kwargs)


def _upload_body(dataset_id, filename="customer_record-1.json", record_type="customer_record"):
    return {"filename": filename,
            "destination": {"destination_type": "dataset_load", "dataset_id": dataset_id, "record_type": record_type}}


def test_every_route_needs_a_known_token(stack, dataset):
    missing = requests.get(stack.info.api_url + "/v1/uploads")
    assert missing.status_code == 401 and "Auth-Api-Token" in missing.json()["message"]
    unknown = _get(stack, "/v1/datasets/" + dataset["id"], "ing_not-a-real-token")
    assert unknown.status_code == 401


def test_unknown_route_is_a_json_404(stack, account):
    response = _get(stack, "/v1/nope", account["token"])
    assert response.status_code == 404 and "no such route" in response.json()["message"]
    wrong_method = requests.delete(stack.info.api_url + "/v1/uploads", headers={"Auth-Api-Token": account["token"]})
    assert wrong_method.status_code == 404


def test_create_and_read_a_dataset(stack, account):
    created = _post(stack, "/v1/datasets", account["token"], json={"name": "Customers", "description": "CRM export"})
    assert created.status_code == 201
    dataset = created.json()
    shown = _get(stack, f"/v1/datasets/{dataset['id']}", account["token"]).json()
    assert shown["name"] == "Customers" and shown["description"] == "CRM export" and shown["record_counts"] == {}
    listed = _get(stack, "/v1/datasets", account["token"]).json()
    assert [d["id"] for d in listed["datasets"]] == [dataset["id"]]


@pytest.mark.parametrize(
    "body, message",
    [
        ("{not json", "not valid JSON"),
        ("[]", "must be a JSON object"),
        (json.dumps({"description": "no name"}), "name is required"),
        (json.dumps({"name": 7}), "name must be a string"),
    ],
)
def test_dataset_creation_rejects_bad_bodies(stack, account, body, message):
    response = _post(stack, "/v1/datasets", account["token"], data=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and message in response.json()["message"]


@pytest.mark.parametrize("filename", ["data.txt", "has space.json", "x.json.zip", "../x.json", "x.JSON", ".json"])
def test_bad_filename_gets_400_stating_the_rule(stack, account, dataset, filename):
    response = _post(stack, "/v1/uploads", account["token"], json=_upload_body(dataset["id"], filename))
    assert response.status_code == 400
    assert "letters, digits, '-' and '_'" in response.json()["message"]
    assert ".json, .ndjson, .jsonl or .csv, optionally followed by .gz" in response.json()["message"]


@pytest.mark.parametrize("filename", ["a.json", "a-b_c.ndjson", "A1.jsonl", "x.csv", "x.json.gz", "x.csv.gz"])
def test_good_filenames_are_accepted(stack, account, dataset, filename):
    assert _post(stack, "/v1/uploads", account["token"], json=_upload_body(dataset["id"], filename)).status_code == 201


def test_upload_request_validation(stack, account, dataset):
    unknown_type = _post(stack, "/v1/uploads", account["token"], json=_upload_body(dataset["id"], record_type="widget"))
    assert unknown_type.status_code == 400 and "customer_record" in unknown_type.json()["message"]
    no_dataset = _post(stack, "/v1/uploads", account["token"], json=_upload_body("01NOPE"))
    assert no_dataset.status_code == 404
    wrong_destination = _upload_body(dataset["id"])
    wrong_destination["destination"]["destination_type"] = "s3"
    response = _post(stack, "/v1/uploads", account["token"], json=wrong_destination)
    assert response.status_code == 400 and "dataset_load" in response.json()["message"]


def test_another_accounts_ids_answer_404(stack, mint, client, dataset, load_file):
    upload = load_file(b'{"link": {"customer_id": "x"}}\n')
    other = mint("acct-intruder")
    assert _get(stack, f"/v1/uploads/{upload['id']}", other).status_code == 404
    assert _get(stack, f"/v1/datasets/{dataset['id']}", other).status_code == 404
    assert _get(stack, f"/v1/datasets/{dataset['id']}/records/customer_record/customer_id:x", other).status_code == 404
    assert _post(stack, "/v1/uploads", other, json=_upload_body(dataset["id"])).status_code == 404
    assert _get(stack, "/v1/uploads", other).json()["uploads"] == []
    # The owner still sees everything.
    assert _get(stack, f"/v1/datasets/{dataset['id']}/records/customer_record/customer_id:x",
                client._session.headers["Auth-Api-Token"]).status_code == 200


def test_list_uploads_newest_first_with_filters_and_pages(stack, account, client, dataset, load_file):
    other_dataset = client.create_dataset("other")
    finished = load_file(b'{"link": {"customer_id": "x"}}\n')
    pending = [client.request_upload(f"customer_record-{i}.json", dataset["id"], "customer_record") for i in range(3)]
    elsewhere = client.request_upload("customer_record-o.json", other_dataset["id"], "customer_record")

    everything = client.list_uploads()["uploads"]
    assert [u["id"] for u in everything] == [elsewhere["id"], *[p["id"] for p in reversed(pending)], finished["id"]]
    assert [u["id"] for u in client.list_uploads(status="Completed")["uploads"]] == [finished["id"]]
    assert [u["id"] for u in client.list_uploads(dataset_id=other_dataset["id"])["uploads"]] == [elsewhere["id"]]

    page1 = client.list_uploads(limit="2")
    assert len(page1["uploads"]) == 2 and page1["next_token"]
    page2 = client.list_uploads(limit="2", next_token=page1["next_token"])
    page3 = client.list_uploads(limit="2", next_token=page2["next_token"]) if page2["next_token"] else {"uploads": []}
    paged = [u["id"] for u in page1["uploads"] + page2["uploads"] + page3["uploads"]]
    assert paged == [u["id"] for u in everything]

    with pytest.raises(ApiError) as bad_status:
        client.list_uploads(status="Done")
    assert bad_status.value.status == 400 and "Pending" in bad_status.value.message


def test_upload_status_shape(client, dataset, load_file):
    upload = load_file(b'{"link": {"customer_id": "x"}}\n{oops\n')
    for field in ("id", "status", "filename", "destination", "created_at", "updated_at", "stats", "execution_arn"):
        assert field in upload
    assert upload["destination"] == {"destination_type": "dataset_load", "dataset_id": dataset["id"],
                                     "record_type": "customer_record"}
    assert upload["error_log_url"].startswith("http://127.0.0.1:")
    assert "failure_reason" not in upload


def test_record_types_are_listed_with_their_schemas(stack, account):
    types = {t["name"]: t for t in _get(stack, "/v1/record-types", account["token"]).json()["record_types"]}
    assert types["customer_record"]["key"].startswith("link as <kind>:<identifier>")
    assert types["purchase"]["schema"]["required"] == ["link", "action_at", "type", "purchase_id", "products"]
    assert types["purchase"]["aliases"] == ["purchase_event"] and "purchase_event" not in types
    assert types["product"]["lexer_source"] == "lexer_schemas/commerce_api/product_entity.py (ProductRecord)"
