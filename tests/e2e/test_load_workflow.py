"""The load workflow where a file is cut up, over HTTP on the local stack.

The session's stack is synthesized with 4 KiB ranges and 4 partitions (tests/conftest.py), so a file
of a few dozen KB takes several Scan and Split iterations, records cross range boundaries, and every
Load reads its partition of several ranges: line numbers, the last line for a key, CSV records that
span lines, gzip, progress and counts are all decided across those seams.
"""

from __future__ import annotations

import gzip
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import requests

from cli.client import put_file
from tests.conftest import TEST_CONTEXT
from tests.support import faults

RANGE_BYTES = TEST_CONTEXT["range_bytes"]
ROOT = Path(__file__).resolve().parents[2]


def _customer(customer_id: str, **fields: str) -> bytes:
    return json.dumps({"link": {"customer_id": customer_id}, **fields}).encode()


def _ndjson_with_seams(lines: int = 400) -> tuple[bytes, list[int], dict[str, str]]:
    """A file over several ranges: (content, the 1-based numbers of the bad lines, last first_name per
    key). Key c-dup is written three times, far apart; some lines are blank (numbered, not counted)."""
    out, bad, latest = [], [], {}
    for number in range(1, lines + 1):
        if number in (1, lines // 2, lines - 1):
            name = {1: "first", lines // 2: "middle"}.get(number, "last")
            out.append(_customer("c-dup", first_name=name))
            latest["customer_id:c-dup"] = name
        elif number % 37 == 0:
            out.append(b'{"link": {}, "first_name": "no key"}')
            bad.append(number)
        elif number % 53 == 0:
            out.append(b"not json at all")
            bad.append(number)
        elif number % 61 == 0:
            out.append(b"")
        else:
            out.append(_customer(f"c{number}", first_name=f"name {number}"))
            latest[f"customer_id:c{number}"] = f"name {number}"
    return b"\n".join(out) + b"\n", bad, latest


def _record(stack, account, dataset_id: str, record_type: str, key: str) -> dict | None:
    """One record by key over HTTP; a throttled read (the token's burst spent by a fast loop of reads)
    waits the Retry-After the API names and asks again, as a client does."""
    for _ in range(30):
        answer = requests.get(f"{stack.info.api_url}/v1/datasets/{dataset_id}/records/{record_type}/{key}",
                              headers={"Auth-Api-Token": account["token"]}, timeout=30)
        if answer.status_code != 429:
            break
        time.sleep(float(answer.headers.get("Retry-After", "1")))
    assert answer.status_code in (200, 404), answer.text
    return None if answer.status_code == 404 else answer.json()


def _error_lines(upload: dict) -> list[dict]:
    return [json.loads(line) for line in requests.get(upload["error_log_url"], timeout=30).text.splitlines()]


def _multi_member_gzip(content: bytes) -> bytes:
    middle = content.index(b"\n", len(content) // 2) + 1
    return gzip.compress(content[:middle]) + gzip.compress(content[middle:])


def test_line_numbers_and_the_last_line_per_key_hold_across_ranges(stack, account, client, dataset, load_file):
    content, bad, latest = _ndjson_with_seams()
    assert len(content) > 5 * RANGE_BYTES
    blank = content.split(b"\n")[:-1].count(b"")
    for compressed, name in ((None, "seams.ndjson"), (gzip.compress, "seams.ndjson.gz"),
                             (_multi_member_gzip, "seams-members.ndjson.gz")):
        body = compressed(content) if compressed else content
        upload = load_file(body, filename=name)
        assert upload["status"] == "Completed", (name, upload.get("failure_reason"))
        total = 400 - blank
        assert upload["stats"]["total"] == total, name
        assert upload["stats"]["rejected"] == len(bad), name
        assert upload["stats"]["loaded"] == total - len(bad), name
        assert [error["line"] for error in _error_lines(upload)] == bad, name
        record = _record(stack, account, dataset["id"], "customer_record", "customer_id:c-dup")
        assert record is not None and record["first_name"] == "last", name
    # The first load created every key; the two after it replaced them all.
    first, *again = client.list_uploads(dataset=dataset["id"])["uploads"][::-1]
    assert (first["stats"]["created"], first["stats"]["replaced"]) == (len(latest), 0)
    assert all((u["stats"]["created"], u["stats"]["replaced"]) == (0, len(latest)) for u in again)
    assert client.get_dataset(dataset["id"])["record_counts"] == {"customer_record": len(latest)}


def test_csv_records_spanning_lines_keep_their_numbers_across_ranges(stack, account, dataset, load_file):
    rows = ["link.customer_id,first_name,last_name"]
    line, bad, spanning = 2, [], []
    for index in range(600):
        if index % 29 == 5:
            rows.append(",,nobody")  # no key: rejected, at its own line
            bad.append(line)
            line += 1
        elif index % 7 == 0:
            rows.append(f'c{index},"line one\nline two, with a ""quote""",row {index}')  # two physical lines
            spanning.append(index)
            line += 2
        else:
            rows.append(f"c{index},name {index},row {index}")
            line += 1
    content = ("\r\n".join(rows) + "\r\n").encode()
    assert len(content) > 3 * RANGE_BYTES
    upload = load_file(content, filename="customer_record-spanning.csv")
    assert upload["status"] == "Completed", upload.get("failure_reason")
    assert upload["stats"]["total"] == 600
    assert upload["stats"]["rejected"] == len(bad)
    assert [error["line"] for error in _error_lines(upload)] == bad
    for index in spanning:
        record = _record(stack, account, dataset["id"], "customer_record", f"customer_id:c{index}")
        assert record == {"link": {"customer_id": f"c{index}"}, "first_name": 'line one\nline two, with a "quote"',
                          "last_name": f"row {index}"}
    assert _record(stack, account, dataset["id"], "customer_record", "customer_id:c599")["last_name"] == "row 599"


def _send(client, dataset: dict, tmp_path: Path, content: bytes, name: str = "progress.ndjson") -> str:
    path = tmp_path / name
    path.write_bytes(content)
    upload = client.request_upload(name, dataset["id"], "customer_record")
    put_file(upload["url"], str(path))
    return upload["id"]


def test_a_running_job_shows_its_progress_phase_by_phase(stack, account, client, dataset, tmp_path):
    content, bad, _ = _ndjson_with_seams()
    lines = 400 - content.split(b"\n")[:-1].count(b"")
    ranges = math.ceil(len(content) / RANGE_BYTES)
    with faults.inject(faults.Pause("Split", account=account["name"])) as split_paused:
        upload_id = _send(client, dataset, tmp_path, content)
        assert split_paused.arrived.wait(120), "Split never started"
        splitting = client.get_upload(upload_id)
        with faults.inject(faults.Pause("Load", account=account["name"])) as load_paused:
            split_paused.release()
            assert load_paused.arrived.wait(120), "Load never started"
            loading = client.get_upload(upload_id)
    final = client.wait_for(upload_id, timeout=120, poll=0.2)

    assert splitting["status"] == "Processing"
    assert splitting["progress"] == {"phase": "Splitting", "bytes_total": len(content), "bytes_read": 0,
                                     "chunks_total": ranges, "chunks_done": 0, "lines_read": 0, "records_loaded": 0}
    assert loading["status"] == "Processing"
    progress = loading["progress"]
    assert progress["phase"] == "Loading"
    assert (progress["bytes_total"], progress["bytes_read"], progress["lines_read"]) == (len(content),) * 2 + (lines,)
    assert 1 <= progress["chunks_total"] <= TEST_CONTEXT["load_partitions"]
    assert (progress["chunks_done"], progress["records_loaded"]) == (0, 0)
    assert final["status"] == "Completed" and "progress" not in final
    assert final["stats"]["loaded"] == lines - len(bad)


def test_counts_stay_exact_when_a_load_is_retried_after_writing(stack, account, client, dataset, load_file):
    content, _, latest = _ndjson_with_seams()
    for attempt in ("first", "again"):
        with faults.inject(faults.Crash("Load", times=1, after=True, account=account["name"])) as crash:
            upload = load_file(content, filename=f"retried-{attempt}.ndjson")
        assert crash.fired == 1
        assert upload["status"] == "Completed", upload.get("failure_reason")
        expected = (len(latest), 0) if attempt == "first" else (0, len(latest))
        assert (upload["stats"]["created"], upload["stats"]["replaced"]) == expected, attempt
        assert client.get_dataset(dataset["id"])["record_counts"] == {"customer_record": len(latest)}


def test_cli_status_follow_draws_the_phases_and_ends_with_the_job(stack, account, client, dataset, tmp_path):
    content, _, _ = _ndjson_with_seams()
    env = {k: v for k, v in os.environ.items() if not k.startswith("INGEST_")}
    env.update(INGEST_API_URL=stack.info.api_url, INGEST_TOKEN=account["token"],
               INGEST_STACK_FILE=str(tmp_path / "no-such-stack.json"))
    with faults.inject(faults.Pause("Load", account=account["name"])) as paused:
        upload_id = _send(client, dataset, tmp_path, content)
        assert paused.arrived.wait(120), "Load never started"
        follower = subprocess.Popen([sys.executable, "-m", "cli", "status", upload_id, "--follow"], cwd=ROOT,
                                    env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        seen = b""
        deadline = time.monotonic() + 120
        while b"Loading" not in seen and time.monotonic() < deadline:  # the bar is drawn while paused
            chunk = os.read(follower.stderr.fileno(), 4096)
            if not chunk:
                break
            seen += chunk
        assert b"Loading" in seen, seen.decode(errors="replace")
    out, err = follower.communicate(timeout=120)
    assert follower.returncode == 0, (seen + err).decode(errors="replace")
    final = json.loads(out)
    assert final["id"] == upload_id and final["status"] == "Completed"
    drawn = (seen + err).decode(errors="replace")
    last_bar = drawn.rindex("Loading:")
    assert "Loading: 100%" in drawn[last_bar:], drawn[last_bar:]  # a Completed job's bar ends full
    assert "\n" in drawn[last_bar:drawn.index(f"upload {upload_id}: Completed")]  # and the status on its own line
