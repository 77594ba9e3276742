"""Multipart uploads end to end on the local stack: the API over HTTP, parts PUT with `requests` to the
presigned part URLs (moto's S3 enforces S3's 5 MiB minimum part size, so the files here are ~11 MB of
~5 KB lines), the lifecycle sweep with a moved clock, and the CLI as a user runs it."""

from __future__ import annotations

import json
import os
import random
import signal
import string
import subprocess
import sys
import threading
import zlib
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs

import boto3
import pytest
import requests

from cli.client import ApiError, IngestClient
from ingest.logic.multipart_sweep import lifecycle_reason
from local_stack import moto_server
from local_stack.stack import REGION
from tests.support.clock import moved_clock
from tests.support.stats import line_counts

ROOT = Path(__file__).resolve().parents[2]
MIB = 1024 * 1024
PART = 5 * MIB  # S3's (and moto's) minimum for every part but the last
SWEEPER = "ingest.handlers.multipart_sweeper.handler"
BAD_LINES = (7, 150)  # line numbers of the two malformed lines: one in the first part, one in the second
# Lines of ~50 KB: a file spans several 5 MiB parts in a few hundred records. What these tests check is the
# upload; each record costs the local stack a write (2,200 lines of 5 KB made a test take ~35 s, 220 take ~9).
LINE_PADDING = 50_000


def _lines(count: int, padding: int = LINE_PADDING, incompressible: bool = False) -> list[bytes]:
    noise = random.Random(14)
    lines = []
    for number in range(1, count + 1):
        if number in BAD_LINES:
            lines.append(b"{not json")
            continue
        pad = ("".join(noise.choices(string.ascii_letters, k=padding)) if incompressible else "x" * padding)
        lines.append(json.dumps({"link": {"customer_id": f"c{number}"}, "notes": pad}).encode())
    return lines


def _file(count: int = 220, **kwargs) -> bytes:
    return b"\n".join(_lines(count, **kwargs)) + b"\n"


def _create(client: IngestClient, dataset: dict, size: int, part_size: int | None = PART) -> dict:
    body = {"filename": "customer_record-big.ndjson", "multipart": True, "size": size,
            "destination": {"destination_type": "dataset_load", "dataset_id": dataset["id"],
                            "record_type": "customer_record"}}
    if part_size:
        body["part_size"] = part_size
    return client._call("POST", "/v1/uploads", json=body)


def _put_parts(client: IngestClient, upload_id: str, data: bytes, numbers: list[int]) -> dict[int, str]:
    """PUT parts `numbers` of `data` (PART bytes each) to their signed URLs; their ETags by number."""
    signed = client.sign_parts(upload_id, numbers)["parts"]
    etags = {}
    for part in signed:
        number = part["part_number"]
        response = requests.put(part["url"], data=data[(number - 1) * PART:number * PART], timeout=60)
        assert response.status_code == 200, response.text
        etags[number] = response.headers["ETag"]
    return etags


def _status(call) -> int:
    with pytest.raises(ApiError) as refused:
        call()
    return refused.value.status


def test_a_multipart_upload_completes_and_loads_every_line_with_its_number(client, dataset):
    data = _file()
    created = _create(client, dataset, len(data))
    assert "url" not in created and created["status"] == "Pending"
    multipart = created["multipart"]
    assert multipart["part_size"] == PART and multipart["part_count"] == 3 and len(data) > 2 * PART
    signed = client.sign_parts(created["id"], [1])["parts"][0]
    assert parse_qs(signed["url"].split("?", 1)[1])["X-Amz-Expires"] == ["3600"]  # valid one hour
    etags = _put_parts(client, created["id"], data, [1, 2, 3])
    assert client.get_upload(created["id"])["multipart"] == multipart
    completed = client.complete_upload(created["id"], sorted(etags.items()))
    assert completed["id"] == created["id"]
    final = client.wait_for(created["id"], timeout=120, poll=0.2)
    assert final["status"] == "Completed", final
    assert line_counts(final["stats"]) == {"total": 220, "loaded": 218, "rejected": 2}
    errors = [json.loads(line) for line in requests.get(final["error_log_url"], timeout=30).text.splitlines()]
    assert [error["line"] for error in errors] == list(BAD_LINES)


def test_a_client_that_failed_midway_resumes_from_the_parts_s3_holds(client, dataset):
    data = _file()
    created = _create(client, dataset, len(data))
    sent = _put_parts(client, created["id"], data, [1, 3])  # part 2's connection dropped
    # The client restarts knowing only the upload id: it asks which parts S3 holds.
    held = client.list_parts(created["id"])["parts"]
    assert held == [{"part_number": 1, "size": PART, "etag": sent[1]},
                    {"part_number": 3, "size": len(data) - 2 * PART, "etag": sent[3]}]
    missing = sorted(set(range(1, 4)) - {part["part_number"] for part in held})
    assert missing == [2]
    sent.update(_put_parts(client, created["id"], data, missing))
    client.complete_upload(created["id"], sorted(sent.items()))
    final = client.wait_for(created["id"], timeout=120, poll=0.2)
    assert line_counts(final["stats"]) == {"total": 220, "loaded": 218, "rejected": 2}


def test_a_retry_sent_as_a_multipart_upload_completes_and_its_parent_lists_it(client, dataset, load_file):
    parent = load_file(b'{"link": {"customer_id": "p1"}}\n{not json\n')
    assert line_counts(parent["stats"]) == {"total": 2, "loaded": 1, "rejected": 1}
    data = _file(120)  # ~6 MB: two parts of PART; line 7 is malformed
    retry = client.retry_multipart_upload(parent["id"], len(data), PART)
    assert "url" not in retry and "expires_at" not in retry and retry["status"] == "Pending"
    assert retry["parent_id"] == parent["id"] and retry["filename"] == parent["filename"]
    assert retry["destination"] == parent["destination"]
    assert retry["multipart"]["part_size"] == PART and retry["multipart"]["part_count"] == 2
    etags = _put_parts(client, retry["id"], data, [1, 2])
    assert [part["part_number"] for part in client.list_parts(retry["id"])["parts"]] == [1, 2]
    client.complete_upload(retry["id"], sorted(etags.items()))
    final = client.wait_for(retry["id"], timeout=120, poll=0.2)
    assert final["status"] == "Completed", final
    assert line_counts(final["stats"]) == {"total": 120, "loaded": 119, "rejected": 1}
    assert client.get_upload(parent["id"])["retries"] == [retry["id"]]
    # The rows the service copies itself take no file fields; a declared size over one PUT's needs multipart.
    for body, message in (({"rows": "unprocessed", "multipart": True, "size": 10}, "rows: unprocessed takes no"),
                          ({"size": 5 * 1024**3 + 1}, 'send "multipart": true')):
        with pytest.raises(ApiError) as refused:
            client._call("POST", f"/v1/uploads/{parent['id']}/retry", json=body)
        assert refused.value.status == 400 and message in refused.value.message
    assert client.get_upload(parent["id"])["retries"] == [retry["id"]]


def test_abort_deletes_the_parts_and_fails_the_job(client, dataset, stack):
    data = _file(120)
    created = _create(client, dataset, len(data))
    _put_parts(client, created["id"], data, [1])
    response = requests.delete(f"{client.api_url}/v1/uploads/{created['id']}",
                               headers={"Auth-Api-Token": client._session.headers["Auth-Api-Token"]}, timeout=30)
    assert response.status_code == 204 and response.content == b""
    upload = client.get_upload(created["id"])
    assert upload["status"] == "Failed" and upload["failure_reason"] == "aborted by the client"
    s3 = boto3.client("s3", endpoint_url=stack.aws_endpoint, region_name=REGION)
    with pytest.raises(s3.exceptions.NoSuchUpload):
        s3.list_parts(Bucket=stack.info.uploads_bucket, Key=created["multipart"]["key"],
                      UploadId=created["multipart"]["upload_id"])
    assert _status(lambda: client.sign_parts(created["id"], [2])) == 409
    assert _status(lambda: client.abort_upload(created["id"])) == 409


def test_a_completed_upload_refuses_parts_completion_and_abort(client, dataset):
    data = b"\n".join(_lines(20)) + b"\n"  # one part: the last may be under 5 MiB
    created = _create(client, dataset, len(data), part_size=None)
    etags = _put_parts(client, created["id"], data, [1])
    client.complete_upload(created["id"], sorted(etags.items()))
    for call in (lambda: client.sign_parts(created["id"], [2]), lambda: client.list_parts(created["id"]),
                 lambda: client.complete_upload(created["id"], sorted(etags.items())),
                 lambda: client.abort_upload(created["id"])):
        assert _status(call) == 409
    assert client.wait_for(created["id"], timeout=120, poll=0.2)["status"] == "Completed"


def test_another_accounts_upload_is_not_found_and_bad_requests_are_400(client, dataset, stack, mint):
    data = _file(120)
    created = _create(client, dataset, len(data))
    stranger = IngestClient(stack.info.api_url, mint("acct-stranger-multipart"))
    for call in (lambda: stranger.sign_parts(created["id"], [1]), lambda: stranger.list_parts(created["id"]),
                 lambda: stranger.complete_upload(created["id"], [(1, '"x"')]),
                 lambda: stranger.abort_upload(created["id"])):
        assert _status(call) == 404
    assert _status(lambda: client.sign_parts(created["id"], [0])) == 400
    assert _status(lambda: client.complete_upload(created["id"], [(2, '"a"'), (1, '"b"')])) == 400
    assert _status(lambda: _create(client, dataset, len(data), part_size=MIB)) == 400
    # A part list S3 refuses (part 1 under 5 MiB but not the last) is a 400, and the upload stays open.
    small = client.sign_parts(created["id"], [1, 2])["parts"]
    tags = [requests.put(part["url"], data=b"x" * 100, timeout=30).headers["ETag"] for part in small]
    assert _status(lambda: client.complete_upload(created["id"], [(1, tags[0]), (2, tags[1])])) == 400
    assert len(client.list_parts(created["id"])["parts"]) == 2


def test_the_lifecycle_sweep_fails_an_upload_left_open_past_its_days(client, dataset, stack):
    data = _file(120)
    created = _create(client, dataset, len(data))
    _put_parts(client, created["id"], data, [1])
    lam = boto3.client("lambda", endpoint_url=stack.aws_endpoint, region_name=REGION)
    name = next(fn["name"] for fn in stack.deployment.functions.values() if fn["handler"] == SWEEPER)
    days = int(next(fn for fn in stack.deployment.functions.values()
                    if fn["handler"] == SWEEPER)["environment"]["MULTIPART_ABORT_DAYS"])

    def sweep() -> dict:
        answer = lam.invoke(FunctionName=name, Payload=b"{}")
        assert "FunctionError" not in answer, answer["Payload"].read()
        return json.loads(answer["Payload"].read())

    sweep()
    assert client.get_upload(created["id"])["status"] == "Pending"  # today: nothing to do
    with moved_clock(timedelta(days=days)):
        assert sweep()["failed"] >= 1
    upload = client.get_upload(created["id"])
    assert upload["status"] == "Failed" and upload["failure_reason"] == lifecycle_reason(days)
    s3 = boto3.client("s3", endpoint_url=stack.aws_endpoint, region_name=REGION)
    open_ids = [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=stack.info.uploads_bucket).get("Uploads", [])]
    assert created["multipart"]["upload_id"] not in open_ids
    assert _status(lambda: client.list_parts(created["id"])) == 409


# -- the CLI --------------------------------------------------------------------------------------------
@pytest.fixture
def cli(stack, account, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("INGEST_")}
    env.update(INGEST_STACK_FILE=str(tmp_path / "no-stack.json"), INGEST_API_URL=stack.info.api_url,
               INGEST_TOKEN=account["token"], INGEST_UPLOAD_STATE_DIR=str(tmp_path / "state"))

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "cli", *args], cwd=ROOT, env=env, check=False, capture_output=True,
                              text=True, timeout=300)
    return run


class PartPuts:
    """Counts part PUTs by number at moto's front door and fails the ones told to (a 503, as S3's SlowDown).
    A part in `hanging` is held, as on a stalled connection, until the test releases it; it then fails."""

    def __init__(self):
        self.counts: dict[int, int] = {}
        self.failing: dict[int, int | None] = {}  # part number -> failures left (None: every time)
        self.hanging: dict[int, tuple[threading.Event, threading.Event]] = {}  # number -> (arrived, release)

    def hang(self, number: int) -> tuple[threading.Event, threading.Event]:
        self.hanging[number] = (threading.Event(), threading.Event())
        return self.hanging[number]

    def __call__(self, environ: dict):
        query = parse_qs(environ.get("QUERY_STRING", ""))
        if environ.get("REQUEST_METHOD") != "PUT" or "partNumber" not in query:
            return None
        number = int(query["partNumber"][0])
        self.counts[number] = self.counts.get(number, 0) + 1
        if number in self.hanging:
            arrived, release = self.hanging.pop(number)
            arrived.set()
            release.wait(300)  # a bound for a test that never releases it, not a speed target
            self.failing.setdefault(number, 1)
        left = self.failing.get(number, 0)
        if left == 0:
            return None
        if left is not None:
            self.failing[number] = left - 1
        environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        return "503 Slow Down", [("Content-Type", "application/xml")], b"<Error><Code>SlowDown</Code></Error>"


@pytest.fixture
def part_puts():
    counter = PartPuts()
    moto_server.front_door_faults.append(counter)
    yield counter
    moto_server.front_door_faults.remove(counter)


def _fields(stdout: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in stdout.splitlines() if ": " in line)


def _members(data: bytes) -> list[bytes]:
    """The decompressed content of each gzip member of `data`, in order."""
    members = []
    while data:
        inflater = zlib.decompressobj(31)
        members.append(inflater.decompress(data) + inflater.flush())
        data = inflater.unused_data
    return members


def test_the_cli_gzips_each_part_into_a_member_of_whole_lines(cli, dataset, tmp_path, part_puts, client, stack):
    # CSV whose header no customer record can hold: the job fails at Inspect, right after reading the first
    # line through gunzip, so the ~11 MB of lines are not loaded here (a gzip upload is cut into plain parts of
    # range_bytes, 4 KiB in the test template: thousands of them). The upload itself is what is checked.
    noise = random.Random(14)
    rows = [b"colour,notes"] + [f"c{n},{''.join(noise.choices(string.ascii_letters, k=5000))}".encode()
                                for n in range(2200)]
    plain = b"\n".join(rows) + b"\n"  # ~11 MB; ~8.5 MB gzipped: two members of at least 5 MiB but the last
    path = tmp_path / "customer_record-cli-big.csv"
    path.write_bytes(plain)
    result = cli("upload", str(path), "--dataset", dataset["id"], "--record-type", "customer_record",
                 "--multipart-threshold", str(MIB), "--part-size", str(PART), "--parallel", "2", "--gzip")
    assert result.returncode == 1, result.stderr  # the job Failed (the header), the upload went through
    fields = _fields(result.stdout)
    upload = client.get_upload(fields["id"])
    assert upload["filename"] == "customer_record-cli-big.csv.gz"
    assert "missing required columns" in upload["failure_reason"]  # read through gunzip at Inspect
    assert sorted(part_puts.counts) == [1, 2]
    s3 = boto3.client("s3", endpoint_url=stack.aws_endpoint, region_name=REGION)
    stored = s3.get_object(Bucket=stack.info.uploads_bucket, Key=upload["multipart"]["key"])["Body"].read()
    members = _members(stored)
    assert len(members) == 2 and all(member.endswith(b"\n") for member in members)
    assert b"".join(members) == plain
    assert not list((tmp_path / "state").glob("*.json"))  # the state file goes once the upload completes


def test_the_cli_resumes_after_a_dropped_part_sending_only_what_s3_lacks(cli, dataset, tmp_path, part_puts):
    path = tmp_path / "customer_record-cli-resume.ndjson"
    path.write_bytes(_file())
    args = ("upload", str(path), "--dataset", dataset["id"], "--record-type", "customer_record",
            "--multipart-threshold", str(MIB), "--part-size", str(PART), "--parallel", "1", "--part-retries", "1")
    part_puts.failing[2] = None  # part 2 never gets through: the run gives up after its retry
    first = cli(*args)
    assert first.returncode == 1, first.stderr
    assert "run the same command again to resume" in first.stderr
    assert part_puts.counts == {1: 1, 2: 2}
    part_puts.failing = {3: 1}  # the connection is back; part 3 fails once and is retried
    second = cli(*args)
    assert second.returncode == 0, second.stderr
    assert "resuming" in second.stderr and "S3 holds 1 part(s)" in second.stderr
    assert part_puts.counts == {1: 1, 2: 3, 3: 2}  # part 1 was not sent again
    fields = _fields(second.stdout)
    assert (fields["status"], fields["total"], fields["loaded"], fields["rejected"]) == (
        "Completed", "220", "218", "2")


def test_the_cli_sends_a_retry_over_the_threshold_as_a_multipart_upload(cli, client, dataset, load_file, tmp_path,
                                                                        part_puts):
    parent = load_file(b'{"link": {"customer_id": "p1"}}\n{not json\n')
    fixed = tmp_path / "fixed.ndjson"
    fixed.write_bytes(b'{"link": {"customer_id": "p2"}}\n{"link": {"customer_id": "p3"}}\n')
    result = cli("retry", parent["id"], str(fixed), "--multipart-threshold", "1", "--follow")
    assert result.returncode == 0, result.stderr
    assert "in parts of" in result.stderr and "as the retry of upload" in result.stderr
    child = json.loads(result.stdout)
    assert child["status"] == "Completed" and child["parent_id"] == parent["id"]
    assert line_counts(child["stats"]) == {"total": 2, "loaded": 2, "rejected": 0}
    assert child["multipart"]["part_count"] == 1 and part_puts.counts == {1: 1}  # a part PUT, not one PUT
    assert client.get_upload(parent["id"])["retries"] == [child["id"]]
    assert not list((tmp_path / "state").glob("*.json"))  # the state file goes once the upload completes


def test_ctrl_c_stops_the_cli_at_once_and_the_same_command_resumes_from_what_s3_holds(stack, account, dataset,
                                                                                       tmp_path, part_puts):
    """A user's Ctrl-C while a part hangs on a stalled connection: the CLI stops at once (it does not
    wait for the stalled request), keeps the upload open, and the same command sends only the rest."""
    path = tmp_path / "customer_record-cli-interrupted.ndjson"
    path.write_bytes(_file())
    env = {k: v for k, v in os.environ.items() if not k.startswith("INGEST_")}
    env.update(INGEST_STACK_FILE=str(tmp_path / "no-stack.json"), INGEST_API_URL=stack.info.api_url,
               INGEST_TOKEN=account["token"], INGEST_UPLOAD_STATE_DIR=str(tmp_path / "state"))
    command = [sys.executable, "-m", "cli", "upload", str(path), "--dataset", dataset["id"], "--record-type",
               "customer_record", "--multipart-threshold", str(MIB), "--part-size", str(PART), "--parallel", "1"]
    arrived, release = part_puts.hang(2)
    first = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert arrived.wait(120), "part 2 was never sent"
        first.send_signal(signal.SIGINT)  # what Ctrl-C sends to the foreground process
        # Stopped while part 2 still hangs: it did not wait for the stalled request.
        _, stderr = first.communicate(timeout=60)
    finally:
        release.set()
        if first.poll() is None:
            first.kill()
    assert first.returncode == 130, stderr
    assert "interrupted: the parts sent so far are kept; run the same command again to resume" in stderr
    assert part_puts.counts == {1: 1, 2: 1}

    second = subprocess.run(command, cwd=ROOT, env=env, check=False, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr
    assert "resuming" in second.stderr and "S3 holds 1 part(s)" in second.stderr
    assert part_puts.counts == {1: 1, 2: 2, 3: 1}  # part 1 was not sent again
    fields = _fields(second.stdout)
    assert (fields["status"], fields["total"], fields["loaded"]) == ("Completed", "220", "218")

