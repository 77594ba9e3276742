"""Clients users PUT files with, over HTTP on the local stack: Lexer's own upload client's flow, and
curl, requests and urllib with every Content-Type they send. S3 stores the bytes of a PUT whatever its
Content-Type, so each case reads the stored object back and follows the job to its counts. Every
client call has a timeout: a PUT the local S3 never answers fails the test instead of hanging it.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import time
import urllib.request
from pathlib import Path
from urllib.parse import unquote, urlparse

import boto3
import pytest
import requests

from tests.support.stats import line_counts

CLIENT_TIMEOUT = 30  # seconds; a PUT of a few KB to the local stack takes milliseconds
JOB_TIMEOUT = 120
FORM = "application/x-www-form-urlencoded"
S3_DEFAULT_CONTENT_TYPE = "binary/octet-stream"  # what S3 records for a PUT that names no Content-Type
RECORDS = 40


def _customer_records(tag: str) -> bytes:
    """customer_record lines with Lexer's link shape (one identifier, the email), plus one line that is
    not JSON. Values carry `&`, `=`, `+` and `%20`, which a form decoder would turn into other bytes."""
    lines = [json.dumps({"link": {"email": f"{tag}-{n}@example.com"}, "first_name": f"N{n}",
                         "last_name": f"Smith & Sons=key+{n}%20"}) for n in range(RECORDS)]
    return ("\n".join([*lines, "{not json"]) + "\n").encode()


EXPECTED_STATS = {"total": RECORDS + 1, "loaded": RECORDS, "rejected": 1}


def _request_upload(stack, account, dataset_id: str, filename: str) -> dict:
    response = requests.post(stack.info.api_url + "/v1/uploads", timeout=CLIENT_TIMEOUT,
                             headers={"Auth-Api-Token": account["token"], "Content-Type": "application/json"},
                             json={"filename": filename,
                                   "destination": {"destination_type": "dataset_load", "dataset_id": dataset_id,
                                                   "record_type": "customer_record"}})
    assert response.status_code == 201, response.text
    return response.json()


def _stored_object(stack, url: str) -> dict:
    """The object a presigned PUT URL names, read back from the local S3."""
    bucket, key = unquote(urlparse(url).path).lstrip("/").split("/", 1)
    return boto3.client("s3", endpoint_url=stack.info.aws_endpoint).get_object(Bucket=bucket, Key=key)


# --- 1. Lexer's upload client (lexer-schemas examples/file_upload_api/upload.py, its `upload` action) ---

def test_lexers_upload_client_flow_works_unchanged(stack, account, client, dataset, tmp_path):
    # upload.py's default destination name: {dataset_id}_{record_type}_{unix seconds}.ndjson
    record_type = "customer_record"
    destination_filename = f"{dataset['id']}_{record_type}_{time.time():.0f}.ndjson"
    local_file = tmp_path / "customers.ndjson"
    content = b"".join(json.dumps({"link": {"email": f"lexer-{n}@example.com"}, "first_name": f"N{n}"}).encode() + b"\n"
                       for n in range(RECORDS))
    local_file.write_bytes(content)

    # What upload_file() sends, call for call (plus timeouts).
    uploads_response = requests.post(
        url=stack.info.api_url + "/v1/uploads",
        headers={"Auth-Api-Token": account["token"], "Content-Type": "application/json"},
        json={"filename": destination_filename,
              "destination": {"destination_type": "dataset_load",
                              "dataset_id": dataset["id"], "record_type": record_type}},
        timeout=CLIENT_TIMEOUT,
    )
    assert uploads_response.status_code == 201, uploads_response.text
    upload_id = uploads_response.json()["id"]
    upload_url = uploads_response.json()["url"]
    with open(local_file, "rb") as f:
        response = requests.put(upload_url, data=f.read(), timeout=CLIENT_TIMEOUT)
    assert response.status_code == 200, response.text

    assert _stored_object(stack, upload_url)["Body"].read() == content
    finished = client.wait_for(upload_id, timeout=JOB_TIMEOUT, poll=0.2)
    assert finished["status"] == "Completed" and finished["filename"] == destination_filename
    assert line_counts(finished["stats"]) == {"total": RECORDS, "loaded": RECORDS, "rejected": 0}
    assert client.get_dataset(dataset["id"])["record_counts"] == {record_type: RECORDS}


# --- 2. Any PUT is stored byte for byte -------------------------------------------------------------------
# Each client sends a body its own way; `content_type` is the Content-Type on the wire (None: no header).
# A client sends its default without being told to; any other value is set as a header.

def _curl(url: str, path: Path, content_type: str | None, upload_flag: str, default: str | None) -> int:
    # "Content-Type:" drops it
    headers = [] if content_type == default else ["-H", f"Content-Type: {content_type or ''}"]
    body = ["--upload-file", str(path)] if upload_flag == "--upload-file" else ["--data-binary", f"@{path}"]
    result = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", str(CLIENT_TIMEOUT),
                             "-XPUT", url, *body, *headers],
                            check=False, capture_output=True, text=True, timeout=CLIENT_TIMEOUT + 5)
    assert result.returncode == 0, result.stderr  # 28: curl's own timeout fired
    return int(result.stdout)


def curl_upload_file(url, path, content_type):
    return _curl(url, path, content_type, "--upload-file", default=None)


def curl_data_binary(url, path, content_type):
    return _curl(url, path, content_type, "--data-binary", default=FORM)


def _headers(content_type: str | None) -> dict:
    return {} if content_type is None else {"Content-Type": content_type}


def requests_text(url, path, content_type):
    # The seed's Python example: `requests.put(url, data=open(file_path, "r").read())`, a str body.
    with open(path) as text:
        return requests.put(url, data=text.read(), headers=_headers(content_type), timeout=CLIENT_TIMEOUT).status_code


def requests_file(url, path, content_type):
    with open(path, "rb") as body:
        return requests.put(url, data=body, headers=_headers(content_type), timeout=CLIENT_TIMEOUT).status_code


def urllib_bytes(url, path, content_type):
    # urllib names application/x-www-form-urlencoded itself for any body without a Content-Type.
    request = urllib.request.Request(url, data=path.read_bytes(), method="PUT", headers=_headers(content_type))
    with urllib.request.urlopen(request, timeout=CLIENT_TIMEOUT) as response:
        return response.status


# With a boundary, werkzeug's multipart parser reads the whole body looking for parts; without one it gives up.
CONTENT_TYPES = [None, "application/octet-stream", FORM, "multipart/form-data", "multipart/form-data; boundary=x1",
                 "text/plain"]
CLIENTS = {
    "curl --upload-file": (curl_upload_file, CONTENT_TYPES),
    "curl --data-binary": (curl_data_binary, CONTENT_TYPES),
    "requests str": (requests_text, CONTENT_TYPES),
    "requests file": (requests_file, CONTENT_TYPES),
    "urllib bytes": (urllib_bytes, CONTENT_TYPES[1:]),  # urllib always sends a Content-Type with a body
}


def _cases():
    """Every Content-Type each client can send, once; plain and gzipped bodies alternate, and the
    urlencoded type (the one that used to hang on gzip) gets both from every client. A str body
    cannot hold gzip, so `requests str` sends plain text only."""
    for client_index, (client_name, (_, content_types)) in enumerate(CLIENTS.items()):
        for index, content_type in enumerate(content_types, start=client_index):
            if client_name == "requests str":
                kinds = ["plain"]
            elif content_type == FORM:
                kinds = ["plain", "gzip"]
            else:
                kinds = [("plain", "gzip")[index % 2]]
            for kind in kinds:
                yield pytest.param(client_name, content_type, kind, id=f"{client_name}-{content_type or 'none'}-{kind}")


@pytest.mark.parametrize("client_name, content_type, kind", _cases())
def test_any_put_is_stored_byte_for_byte_and_loads(stack, account, client, dataset, tmp_path,
                                                   client_name, content_type, kind):
    content = _customer_records(tag=f"{client_name.replace(' ', '')}-{kind}")
    if kind == "gzip":
        content = gzip.compress(content)
    filename = "customer_record-put.ndjson" + (".gz" if kind == "gzip" else "")
    path = tmp_path / filename
    path.write_bytes(content)
    upload = _request_upload(stack, account, dataset["id"], filename)

    put, _ = CLIENTS[client_name]
    assert put(upload["url"], path, content_type) == 200

    stored = _stored_object(stack, upload["url"])
    assert stored["Body"].read() == content
    assert stored["ContentType"] == (content_type or S3_DEFAULT_CONTENT_TYPE)
    finished = client.wait_for(upload["id"], timeout=JOB_TIMEOUT, poll=0.2)
    assert finished["status"] == "Completed", finished.get("failure_reason")
    assert line_counts(finished["stats"]) == EXPECTED_STATS
