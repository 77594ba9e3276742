"""Failed rows, unprocessed rows and retries over HTTP on the local stack (issue 13).

Files span several 4 KiB ranges (tests/conftest.py), so the rows come from several work files and the
merge's line order is what is checked. Part-way failures are injected with tests/support/faults.py.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from cli.client import ApiError, IngestClient
from tests.support import faults

ROOT = Path(__file__).resolve().parents[2]

def _customer(key: str, **fields) -> bytes:
    return json.dumps({"link": {"customer_id": key}, **fields}).encode()


def _mixed(prefix: str, count: int = 300) -> list[bytes]:
    """Valid lines with a rejected one every 23rd line (two kinds), over several ranges."""
    lines = []
    for number in range(1, count + 1):
        if number % 23 == 4:
            lines.append(b'{"link": {"customer_id": ' if number % 2 else b'{"first_name": "no key \xc3\xa9"}')
        else:
            lines.append(_customer(f"{prefix}{number}", n=number, pad="x" * 40))
    return lines


def _rejected(lines: list[bytes]) -> list[int]:
    return [number for number, line in enumerate(lines, 1) if not line.startswith(b'{"link": {"customer_id": "')]


def _upload(client: IngestClient, tmp_path, dataset: dict, filename: str, content: bytes, **options) -> dict:
    """POST /v1/uploads, PUT the file with curl, wait for the job to end."""
    body = {"filename": filename, "destination": {"destination_type": "dataset_load", "dataset_id": dataset["id"],
                                                  "record_type": "customer_record"}}
    if options:
        body["options"] = options
    upload = client._call("POST", "/v1/uploads", json=body)
    _put_with_curl(upload["url"], tmp_path, content)
    return client.wait_for(upload["id"], timeout=120, poll=0.2)


def _put_with_curl(url: str, tmp_path, content: bytes) -> None:
    path = tmp_path / "file"
    path.write_bytes(content)
    subprocess.run(["curl", "-sS", "--fail", "-X", "PUT", "--data-binary", f"@{path}", url], check=True,
                   capture_output=True, timeout=60)


def _get(url: str) -> bytes:
    response = requests.get(url, timeout=30)
    assert response.status_code == 200, response.text
    return response.content


def _error_lines(upload: dict) -> list[int]:
    return [json.loads(line)["line"] for line in _get(upload["error_log_url"]).splitlines()]


def _retry(client: IngestClient, upload_id: str, body: dict | None = None) -> requests.Response:
    """POST /v1/uploads/{id}/retry with the client's token, answering the response as it is."""
    return requests.post(f"{client.api_url}/v1/uploads/{upload_id}/retry", json=body,
                         headers={"Auth-Api-Token": client._session.headers["Auth-Api-Token"]}, timeout=30)


def test_ndjson_failed_rows_are_the_rejected_lines_unchanged_in_line_order(client, dataset, tmp_path):
    lines = _mixed("n")
    upload = _upload(client, tmp_path, dataset, "people.ndjson", b"\n".join(lines) + b"\n")
    rejected = _rejected(lines)
    assert upload["status"] == "Completed" and upload["stats"]["rejected"] == len(rejected) > 10
    assert _get(upload["failed_rows_url"]) == b"".join(lines[number - 1] + b"\n" for number in rejected)
    assert _error_lines(upload) == rejected
    assert "unprocessed_rows_url" not in upload and "parent_id" not in upload and "retries" not in upload


CSV_HEADER = b"link.customer_id,first_name,custom_fields"


def _csv_rows(count: int = 240) -> list[bytes]:
    rows = []
    for number in range(count):
        if number % 31 == 3:
            rows.append(b',"no key, a field\nover two lines",')  # rejected: no key
        elif number % 31 == 9:
            rows.append(b"k%d,too,many,fields" % number)  # rejected: 4 fields
        else:
            rows.append(b'k%d,"Ann ""A"" %s",' % (number, b"y" * 40))
    return rows


def test_csv_failed_rows_start_with_the_header_and_keep_multi_line_rows_then_a_corrected_file_is_retried(
        client, dataset, tmp_path):
    rows = _csv_rows()
    content = CSV_HEADER + b"\r\n" + b"\r\n".join(rows) + b"\r\n"
    parent = _upload(client, tmp_path, dataset, "customers.csv", content)
    bad = [row for row in rows if row.startswith(b",") or row.endswith(b"fields")]
    assert parent["status"] == "Completed" and parent["stats"]["rejected"] == len(bad) > 10
    failed = _get(parent["failed_rows_url"])
    assert failed == CSV_HEADER + b"\n" + b"".join(row + b"\n" for row in bad)

    # Fix the rows in the file we got back, and send it as the upload's retry.
    fixed = failed.replace(b',"no key', b'fixed,"no key').replace(b",too,many,fields", b",fixed,")
    fixed = b"\n".join(b"f%d%s" % (index, line) if index else line
                       for index, line in enumerate(fixed.split(b"\n")) if line)  # keys made unique
    response = _retry(client, parent["id"])
    assert response.status_code == 201, response.text
    retry = response.json()
    assert retry["parent_id"] == parent["id"] and retry["status"] == "Pending" and retry["url"]
    assert retry["filename"] == "customers.csv" and retry["destination"] == parent["destination"]
    _put_with_curl(retry["url"], tmp_path, fixed + b"\n")
    child = client.wait_for(retry["id"], timeout=120, poll=0.2)
    assert child["status"] == "Completed", child.get("failure_reason")
    assert child["stats"]["loaded"] == len(bad) and child["stats"]["rejected"] == 0
    assert "failed_rows_url" not in child
    assert client.get_upload(parent["id"])["retries"] == [retry["id"]]
    assert client._call("GET", f"/v1/jobs/{retry['id']}")["parent_id"] == parent["id"]


def test_gzip_failed_rows_are_gzip(client, dataset, tmp_path):
    lines = _mixed("g", count=200)
    upload = _upload(client, tmp_path, dataset, "people.ndjson.gz", gzip.compress(b"\n".join(lines) + b"\n"))
    failed = _get(upload["failed_rows_url"])
    assert failed[:2] == b"\x1f\x8b"
    assert gzip.decompress(failed) == b"".join(lines[number - 1] + b"\n" for number in _rejected(lines))


def test_a_job_failed_in_its_loads_gives_its_unprocessed_rows_and_a_retry_loads_them(
        stack, account, client, dataset, tmp_path):
    lines = _mixed("u")
    rejected = _rejected(lines)
    valid = [number for number in range(1, len(lines) + 1) if number not in rejected]
    with faults.inject(faults.FailAfterWrites(step="Load", times=None, account=account["name"])):
        parent = _upload(client, tmp_path, dataset, "people.ndjson", b"\n".join(lines) + b"\n")
    assert parent["status"] == "Failed"
    assert parent["stats"]["loaded"] == 0 and parent["stats"]["not_loaded"] == len(valid)
    # Every line is exactly one of: loaded, rejected (failed rows), unprocessed.
    assert _get(parent["unprocessed_rows_url"]) == b"".join(lines[number - 1] + b"\n" for number in valid)
    assert _get(parent["failed_rows_url"]) == b"".join(lines[number - 1] + b"\n" for number in rejected)

    response = _retry(client, parent["id"], {"rows": "unprocessed"})
    assert response.status_code == 201, response.text
    retry = response.json()
    assert "url" not in retry and retry["parent_id"] == parent["id"]
    child = client.wait_for(retry["id"], timeout=120, poll=0.2)
    assert child["status"] == "Completed", child.get("failure_reason")
    assert {name: child["stats"][name] for name in ("total", "loaded", "rejected")} == {
        "total": len(valid), "loaded": len(valid), "rejected": 0}
    assert client.get_dataset(dataset["id"])["record_counts"] == {"customer_record": len(valid)}
    assert client.get_upload(parent["id"])["retries"] == [retry["id"]]
    # Nothing left to retry in a Completed child; the parent's unprocessed rows can be retried again.
    assert _retry(client, retry["id"], {"rows": "unprocessed"}).status_code == 409


def test_a_retry_of_a_job_that_failed_before_its_lines_were_checked_names_the_parents_line_numbers(
        account, client, dataset, tmp_path):
    lines = _mixed("s")
    with faults.inject(faults.Crash("Split", account=account["name"])):
        parent = _upload(client, tmp_path, dataset, "people.ndjson", b"\n".join(lines) + b"\n")
    assert parent["status"] == "Failed"
    assert _get(parent["unprocessed_rows_url"]) == b"\n".join(lines) + b"\n"  # the whole upload
    retry = _retry(client, parent["id"], {"rows": "unprocessed"}).json()
    child = client.wait_for(retry["id"], timeout=120, poll=0.2)
    assert child["status"] == "Completed", child.get("failure_reason")
    assert _error_lines(child) == _rejected(lines)
    assert child["stats"]["loaded"] == len(lines) - len(_rejected(lines))


def test_retry_refusals_unknown_foreign_running_and_nothing_unprocessed(client, mint, dataset, tmp_path, stack):
    pending = client.request_upload("later.ndjson", dataset["id"], "customer_record")  # no file yet: Pending
    response = _retry(client, pending["id"])
    assert response.status_code == 409 and "Pending" in response.json()["message"]
    assert _retry(client, "01JNOSUCHUPLOAD00000000000").status_code == 404

    done = _upload(client, tmp_path, dataset, "ok.ndjson", _customer("a") + b"\n")
    response = _retry(client, done["id"], {"rows": "unprocessed"})
    assert response.status_code == 409 and "no unprocessed rows" in response.json()["message"]
    assert _retry(client, done["id"], {"rows": "everything"}).status_code == 400

    stranger = IngestClient(stack.info.api_url, mint("acct-stranger-rows"))
    for body in (None, {"rows": "unprocessed"}):
        assert _retry(stranger, done["id"], body).status_code == 404
    with pytest.raises(ApiError) as error:
        stranger.get_upload(done["id"])
    assert error.value.status == 404
    assert "retries" not in client.get_upload(done["id"])  # nothing was created by the refusals


def test_the_cli_downloads_failed_rows_and_retries_with_a_corrected_file_and_with_unprocessed_rows(
        stack, account, client, dataset, tmp_path):
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("INGEST_")},
           "INGEST_STACK_FILE": str(tmp_path / "none.json"), "INGEST_API_URL": stack.info.api_url,
           "INGEST_TOKEN": account["token"]}

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "cli", *args], cwd=ROOT, env=env, check=False, capture_output=True,
                              text=True, timeout=180)

    lines = _mixed("c", count=120)
    rejected = _rejected(lines)
    with faults.inject(faults.FailAfterWrites(step="Load", times=None, account=account["name"])):
        parent = _upload(client, tmp_path, dataset, "people.ndjson", b"\n".join(lines) + b"\n")
    assert parent["status"] == "Failed"

    target = tmp_path / "bad.ndjson"
    result = cli("failed-rows", parent["id"], "-o", str(target))
    assert result.returncode == 0, result.stderr
    assert target.read_bytes() == b"".join(lines[number - 1] + b"\n" for number in rejected)

    result = cli("retry", parent["id"], "--unprocessed", "--follow")
    assert result.returncode == 0, result.stderr
    unprocessed = json.loads(result.stdout)
    assert unprocessed["status"] == "Completed" and unprocessed["parent_id"] == parent["id"]
    assert unprocessed["stats"]["loaded"] == len(lines) - len(rejected)

    fixed = tmp_path / "fixed.ndjson"
    fixed.write_bytes(b"".join(_customer(f"fixed{number}") + b"\n" for number in rejected))
    result = cli("retry", parent["id"], str(fixed), "--follow")
    assert result.returncode == 0, result.stderr
    corrected = json.loads(result.stdout)
    assert corrected["status"] == "Completed" and corrected["stats"]["loaded"] == len(rejected)
    assert client.get_upload(parent["id"])["retries"] == [unprocessed["id"], corrected["id"]]

    assert cli("failed-rows", corrected["id"]).returncode == 1  # nothing was rejected
    assert cli("retry", parent["id"]).returncode == 2  # neither FILE nor --unprocessed


def test_a_retry_sent_twice_with_one_idempotency_key_creates_one_child(client, dataset, tmp_path):
    done = _upload(client, tmp_path, dataset, "twice.ndjson", _customer("a") + b"\n{bad\n")
    headers = {"Auth-Api-Token": client._session.headers["Auth-Api-Token"], "Idempotency-Key": "retry-once-1"}
    url = f"{client.api_url}/v1/uploads/{done['id']}/retry"
    first = requests.post(url, headers=headers, timeout=30)
    second = requests.post(url, headers=headers, timeout=30)
    assert first.status_code == second.status_code == 201
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert first.json()["id"] == second.json()["id"]
    assert client.get_upload(done["id"])["retries"] == [first.json()["id"]]
