"""The walking skeleton's flow over real HTTP on the local stack."""

from __future__ import annotations

import gzip
import json
import subprocess

import boto3
import requests

from cli.client import put_file
from tests.support.stats import line_counts


def _customer(customer_id: str, **fields) -> str:
    return json.dumps({"link": {"customer_id": customer_id}, **fields})


def test_curl_and_jq_flow_as_the_lexer_docs_show_it(stack, account, dataset, tmp_path):
    sample = tmp_path / "customer_record-2024-08-29-1.json"
    sample.write_text("\n".join(_customer(f"c{i}", first_name=f"N{i}") for i in range(50)) + "\n")
    script = f"""
set -euo pipefail
body='{{"filename": "customer_record-2024-08-29-1.json", "destination": {{"destination_type": "dataset_load", "dataset_id": "{dataset['id']}", "record_type": "customer_record"}}}}'
response=$(curl -s -XPOST "$API/v1/uploads" -H "Auth-Api-Token: $TOKEN" -H 'Content-Type: application/json' -d "$body")
url=$(echo "$response" | jq -r .url)
id=$(echo "$response" | jq -r .id)
code=$(curl -s -o /dev/null -w '%{{http_code}}' -XPUT "$url" --upload-file {sample})
echo "put=$code"
for i in $(seq 1 200); do
  status=$(curl -s "$API/v1/uploads/$id" -H "Auth-Api-Token: $TOKEN" | jq -r .status)
  if [ "$status" = Completed ] || [ "$status" = Failed ]; then break; fi
  sleep 0.2
done
curl -s "$API/v1/uploads/$id" -H "Auth-Api-Token: $TOKEN"
"""  # noqa: E501 (the docs' commands, as they show them)
    env = {"API": stack.info.api_url, "TOKEN": account["token"], "PATH": "/usr/bin:/bin"}
    result = subprocess.run(["bash", "-c", script], env=env, check=False, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    put_line, final = result.stdout.split("\n", 1)
    assert put_line == "put=200"
    upload = json.loads(final)
    assert upload["status"] == "Completed"
    assert line_counts(upload["stats"]) == {"total": 50, "loaded": 50, "rejected": 0}
    assert upload["execution_arn"].endswith(":" + upload["id"])
    assert "error_log_url" not in upload


def test_upload_response_is_plain_json_with_a_url_curl_can_use(stack, account, dataset):
    response = requests.post(
        stack.info.api_url + "/v1/uploads",
        headers={"Auth-Api-Token": account["token"]},
        json={"filename": "purchase_event-1.ndjson",
              "destination": {"destination_type": "dataset_load",
                              "dataset_id": dataset["id"], "record_type": "purchase_event"}},
    )
    assert response.status_code == 201
    assert "\\u0026" not in response.text  # the Lexer docs' trap: an escaped '&' breaks the URL
    body = response.json()
    assert "&X-Amz-Signature=" in body["url"] and "X-Amz-Expires=3600" in body["url"]
    assert body["status"] == "Pending" and body["expires_at"].endswith("Z")
    assert body["url"].startswith("http://127.0.0.1:")


def test_malformed_lines_are_rejected_with_their_line_numbers_and_the_rest_loads(client, dataset, load_file):
    lines = [
        _customer("a1"),
        "{not json",
        "",  # blank: not counted, but still a line for numbering
        json.dumps({"first_name": "no link"}),
        json.dumps([1, 2]),
        _customer("a2"),
    ]
    upload = load_file(("\n".join(lines) + "\n").encode())
    assert upload["status"] == "Completed"
    assert line_counts(upload["stats"]) == {"total": 5, "loaded": 2, "rejected": 3}
    errors = [json.loads(line) for line in requests.get(upload["error_log_url"]).text.splitlines()]
    assert [error["line"] for error in errors] == [2, 4, 5]
    assert errors[0]["raw"] == "{not json" and errors[0]["error"].startswith("invalid JSON")
    assert errors[1]["error"] == "link: is required"
    assert errors[2]["error"] == "expected a JSON object, got an array"
    assert client.get_dataset(dataset["id"])["record_counts"] == {"customer_record": 2}


def test_gzipped_file_detected_by_content_loads(client, dataset, load_file):
    content = gzip.compress(("\n".join(_customer(f"g{i}") for i in range(300)) + "\n").encode())
    upload = load_file(content, filename="customer_record-batch.json.gz")
    assert upload["status"] == "Completed"
    assert line_counts(upload["stats"]) == {"total": 300, "loaded": 300, "rejected": 0}
    assert client.get_dataset(dataset["id"])["record_counts"] == {"customer_record": 300}


def test_truncated_gzip_ends_failed_with_a_reason(client, load_file):
    content = gzip.compress(("\n".join(_customer(f"t{i}") for i in range(500)) + "\n").encode())
    upload = load_file(content[: len(content) // 2], filename="customer_record-cut.json.gz")
    assert upload["status"] == "Failed"
    assert "truncated" in upload["failure_reason"]


def test_empty_file_ends_failed_not_processing(load_file):
    upload = load_file(b"")
    assert upload["status"] == "Failed"
    assert "empty" in upload["failure_reason"]


def test_duplicate_keys_last_line_wins_across_many_chunks(stack, client, dataset, load_file, account):
    # 400 lines over many 4 KB chunks; every key appears three times.
    lines = [_customer(f"k{i % 130}", version=i) for i in range(390)]
    upload = load_file(("\n".join(lines) + "\n").encode())
    assert line_counts(upload["stats"]) == {"total": 390, "loaded": 390, "rejected": 0}
    assert client.get_dataset(dataset["id"])["record_counts"] == {"customer_record": 130}
    for key in ("k0", "k57", "k129"):
        record = requests.get(
            f"{stack.info.api_url}/v1/datasets/{dataset['id']}/records/customer_record/customer_id:{key}",
            headers={"Auth-Api-Token": account["token"]},
        ).json()
        assert record["version"] == max(i for i in range(390) if f"k{i % 130}" == key)


def test_same_file_twice_leaves_the_same_data(client, dataset, load_file):
    content = ("\n".join(_customer(f"s{i}", n=i) for i in range(120)) + "\n").encode()
    first = load_file(content)
    counts = client.get_dataset(dataset["id"])["record_counts"]
    second = load_file(content)
    assert line_counts(first["stats"]) == line_counts(second["stats"]) == {"total": 120, "loaded": 120, "rejected": 0}
    # The first load created every record; the same file again replaced each of them and created none.
    assert (first["stats"]["created"], second["stats"]["created"], second["stats"]["replaced"]) == (120, 0, 120)
    assert client.get_dataset(dataset["id"])["record_counts"] == counts == {"customer_record": 120}
    assert first["id"] != second["id"]


def test_duplicated_s3_event_starts_one_execution(stack, client, dataset, load_file):
    upload = load_file(("\n".join(_customer(f"d{i}") for i in range(40)) + "\n").encode())
    assert upload["status"] == "Completed"
    deployment = stack.deployment
    trigger = next(f for f in deployment.functions.values() if f["handler"].endswith("upload_trigger.handler"))
    key = f"uploads/{client_account(upload)}/{upload['id']}/{upload['filename']}"
    event = {"Records": [{"eventName": "ObjectCreated:Put",
                          "s3": {"bucket": {"name": stack.info.uploads_bucket}, "object": {"key": key}}}]}
    result = boto3.client("lambda").invoke(FunctionName=trigger["name"], Payload=json.dumps(event))
    assert json.loads(result["Payload"].read())["outcomes"][0]["outcome"].startswith("duplicate")
    executions = boto3.client("stepfunctions").list_executions(stateMachineArn=stack.info.state_machine_arn)
    assert [e["name"] for e in executions["executions"]].count(upload["id"]) == 1
    assert client.get_upload(upload["id"])["stats"] == upload["stats"]
    assert client.get_dataset(dataset["id"])["record_counts"] == {"customer_record": 40}


def client_account(upload: dict) -> str:
    # The execution ARN is named after the upload; the account is in the job's object key.
    executions = boto3.client("stepfunctions").describe_execution(executionArn=upload["execution_arn"])
    return json.loads(executions["input"])["account_id"]


def test_second_put_to_the_same_url_does_not_rerun_the_job(client, dataset, tmp_path, stack):
    path = tmp_path / "customer_record-again.json"
    path.write_text(_customer("r1") + "\n")
    upload = client.request_upload(path.name, dataset["id"], "customer_record")
    put_file(upload["url"], str(path))
    first = client.wait_for(upload["id"], timeout=60, poll=0.2)
    path.write_text(_customer("r1") + "\n" + _customer("r2") + "\n")
    put_file(upload["url"], str(path))
    after = client.get_upload(upload["id"])
    assert after["status"] == "Completed" and after["stats"] == first["stats"]
    assert line_counts(first["stats"]) == {"total": 1, "loaded": 1, "rejected": 0}
    assert client.get_dataset(dataset["id"])["record_counts"] == {"customer_record": 1}


def test_purchase_events_load_and_read_back(stack, client, dataset, load_file, account):
    lines = [
        json.dumps({"purchase_id": "p1", "link": {"customer_id": "c1"}, "action_at": "2024-05-03T10:00:00Z",
                    "type": "ecommerce", "currency": "AUD",
                    "products": [{"product_reference": {"id": "sku1", "id_type": "sku"},
                                  "quantity": 2, "price_paid": 6.25}]}),
        json.dumps({"purchase_id": "p2", "link": {"customer_id": "c1"}, "action_at": "2024-05-03T10:00:00Z",
                    "type": "ecommerce", "products": [{"price_paid": 1, "quantity": 0}]}),
    ]
    # purchase_event is the old name of purchase: the job keeps the new one.
    upload = load_file(("\n".join(lines) + "\n").encode(), record_type="purchase_event")
    assert upload["destination"]["record_type"] == "purchase"
    assert line_counts(upload["stats"]) == {"total": 2, "loaded": 1, "rejected": 1}
    error = json.loads(requests.get(upload["error_log_url"]).text.splitlines()[0])
    assert error == {"line": 2, "error": "products[0].quantity: must be ≥ 1", "raw": lines[1]}
    assert client.get_dataset(dataset["id"])["record_counts"] == {"purchase": 1}
    base = f"{stack.info.api_url}/v1/datasets/{dataset['id']}/records/purchase"
    headers = {"Auth-Api-Token": account["token"]}
    assert requests.get(f"{base}/p1", headers=headers).json() == json.loads(lines[0])  # stored as sent
    assert requests.get(f"{base}_event/p1", headers=headers).json() == json.loads(lines[0])  # the old name reads it too
    missing = requests.get(f"{base}/p2", headers=headers)
    assert missing.status_code == 404 and "p2" in missing.json()["message"]
