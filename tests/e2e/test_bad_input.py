"""The bad-input matrix: each gets a clear, specific error, and nothing else is disturbed."""

from __future__ import annotations

import json

import pytest
import requests

from tests.support.stats import line_counts


def _headers(account):
    return {"Auth-Api-Token": account["token"]}


def _upload_body(dataset_id, **extra):
    return {"filename": "customer_record-1.json",
            "destination": {"destination_type": "dataset_load", "dataset_id": dataset_id,
                            "record_type": "customer_record"}, **extra}


@pytest.mark.parametrize("token", ["", "Bearer abc", "ing_" + "x" * 500, "ing_\u00e9"])
def test_missing_or_malformed_tokens_get_401(stack, token):
    headers = {"Auth-Api-Token": token.encode("utf-8").decode("latin-1")} if token else {}
    response = requests.get(stack.info.api_url + "/v1/uploads", headers=headers)
    assert response.status_code == 401
    assert "message" in response.json()


@pytest.mark.parametrize(
    "body, status, message",
    [
        ({"filename": 42, "destination": {}}, 400, "filename may contain only"),
        ({"filename": "a.json"}, 400, "destination must be a JSON object"),
        ({"filename": "a.json", "destination": {"destination_type": "dataset_load", "record_type": "customer_record"}},
         400, "destination.dataset_id is required"),
        ({"filename": "a.json", "destination": {"destination_type": "dataset_load", "dataset_id": 7,
                                                "record_type": "customer_record"}}, 400, "dataset_id must be a string"),
    ],
)
def test_missing_or_wrong_typed_fields(stack, account, body, status, message):
    response = requests.post(stack.info.api_url + "/v1/uploads", json=body, headers=_headers(account))
    assert response.status_code == status and message in response.json()["message"]


def test_declared_size_over_5_gb_is_refused_and_a_declared_size_is_signed(stack, account, dataset):
    over = requests.post(stack.info.api_url + "/v1/uploads", headers=_headers(account),
                         json=_upload_body(dataset["id"], size=5 * 1024**3 + 1))
    assert over.status_code == 400 and "over the 5 GB limit" in over.json()["message"]
    bad = requests.post(stack.info.api_url + "/v1/uploads", headers=_headers(account),
                        json=_upload_body(dataset["id"], size="big"))
    assert bad.status_code == 400 and "size must be" in bad.json()["message"]
    ok = requests.post(stack.info.api_url + "/v1/uploads", headers=_headers(account),
                       json=_upload_body(dataset["id"], size=1234))
    assert ok.status_code == 201
    assert "X-Amz-SignedHeaders=content-length%3Bhost" in ok.json()["url"]


def test_a_put_of_another_size_than_declared_is_refused_as_s3_refuses_it(stack, account, dataset):
    body = b'{"link": {"customer_id": "c1"}}\n'
    upload = requests.post(stack.info.api_url + "/v1/uploads", headers=_headers(account),
                           json=_upload_body(dataset["id"], size=len(body))).json()
    longer = requests.put(upload["url"], data=body + b'{"link": {"customer_id": "c2"}}\n')
    assert longer.status_code == 403 and "<Code>SignatureDoesNotMatch</Code>" in longer.text
    assert requests.get(f"{stack.info.api_url}/v1/uploads/{upload['id']}",
                        headers=_headers(account)).json()["status"] == "Pending"  # nothing stored, no job ran
    assert requests.put(upload["url"], data=body).status_code == 200


def test_oversized_request_body_gets_413_pointing_to_the_presigned_flow(stack, account):
    response = requests.post(stack.info.api_url + "/v1/datasets", headers=_headers(account),
                             data=b'{"name": "' + b"x" * (10 * 1024 * 1024 + 10) + b'"}')
    assert response.status_code == 413 and "presigned" in response.json()["message"]


def test_hostile_lines_are_rejected_alone_and_the_rest_loads(client, dataset, load_file):
    deep = "[" * 10_000 + "]" * 10_000
    lines = [
        json.dumps({"link": {"customer_id": "ok1"}}).encode(),
        b'{"link": {"customer_id": "big"}, "pad": "' + b"x" * (10 * 1024 * 1024) + b'"}',  # a 10 MB line
        ('{"link": {"customer_id": "deep"}, "nested": ' + deep + "}").encode(),  # nested 10,000 deep
        b"42",
        b"null",
        json.dumps({"link": {"customer_id": "ok2"}}).encode(),
    ]
    upload = load_file(b"\n".join(lines) + b"\n")
    assert upload["status"] == "Completed"
    assert line_counts(upload["stats"]) == {"total": 6, "loaded": 2, "rejected": 4}
    errors = [json.loads(line) for line in requests.get(upload["error_log_url"]).text.splitlines()]
    assert [(e["line"], e["error"].split(":")[0]) for e in errors] == [
        (2, "line is longer than 1048576 bytes"), (3, "invalid JSON"),
        (4, "expected a JSON object, got a number"), (5, "expected a JSON object, got null")]
    assert client.get_dataset(dataset["id"])["record_counts"] == {"customer_record": 2}


def test_a_first_line_too_long_to_hold_is_rejected_alone_and_the_rest_loads(client, dataset, load_file):
    # Inspect answers "too long" at the line limit without reading the line to its end; Split rejects it.
    first = b'{"link": {"customer_id": "big"}, "pad": "' + b"x" * (3 * 1024 * 1024) + b'"}'
    upload = load_file(first + b"\n" + json.dumps({"link": {"customer_id": "ok"}}).encode() + b"\n")
    assert upload["status"] == "Completed"
    assert line_counts(upload["stats"]) == {"total": 2, "loaded": 1, "rejected": 1}
    errors = [json.loads(line) for line in requests.get(upload["error_log_url"]).text.splitlines()]
    assert [(e["line"], e["error"]) for e in errors] == [(1, "line is longer than 1048576 bytes")]
    assert client.get_dataset(dataset["id"])["record_counts"] == {"customer_record": 1}


def test_duplicate_keys_in_one_object_keep_the_last_value(stack, account, dataset, load_file):
    upload = load_file(b'{"link": {"customer_id": "dup"}, "first_name": "first", "first_name": "second"}\n')
    assert line_counts(upload["stats"]) == {"total": 1, "loaded": 1, "rejected": 0}
    stored = requests.get(f"{stack.info.api_url}/v1/datasets/{dataset['id']}/records/customer_record/customer_id:dup",
                          headers=_headers(account)).json()
    assert stored["first_name"] == "second"  # as JSON parsers commonly do; documented in the README
