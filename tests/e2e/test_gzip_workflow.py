"""Gzip uploads over HTTP on the local stack: in parallel by member, or through the Decompress chain.

The session's stack (tests/conftest.py) tries every gzip upload over 2 KiB in parallel by member
(inflate_group_bytes 2048) and gives each Decompress invocation a budget of 0 s (one 4 KiB part per
invocation): a multi-member upload is inflated by InflateMembers with no Decompress at all; a
single-member one goes through several chained Decompress invocations. Either way the counts, the
error log's line numbers and the records are the plain file's. Which way it went is read from the
execution's history, as an operator would.
"""

from __future__ import annotations

import gzip
import itertools
import json
import random
import time
from collections import Counter

import boto3
import requests

from tests.conftest import TEST_CONTEXT

RANGE_BYTES = TEST_CONTEXT["range_bytes"]
GROUP_BYTES = TEST_CONTEXT["inflate_group_bytes"]


def _content(lines: int = 500) -> tuple[bytes, list[int]]:
    """NDJSON over several ranges with bad lines at known numbers: (content, the bad lines' numbers)."""
    out, bad = [], []
    noise = random.Random(12)  # test data: lines that compress about as real ones do
    for number in range(1, lines + 1):
        if number % 41 == 0:
            out.append(b'{"link": {"customer_id": "c' + str(number).encode() + b'"')  # cut short: invalid JSON
            bad.append(number)
        else:
            out.append(json.dumps({"link": {"customer_id": f"c{number}"}, "first_name": f"n{number}",
                                   "last_name": f"{noise.getrandbits(64):x}"}).encode())
    return b"\n".join(out) + b"\n", bad


def _states_entered(upload: dict) -> Counter:
    """How many times each state of the upload's execution was entered (once the execution has ended)."""
    sfn = boto3.client("stepfunctions")
    deadline = time.monotonic() + 120  # a hang guard only: the execution ends by logic
    while sfn.describe_execution(executionArn=upload["execution_arn"])["status"] == "RUNNING":
        assert time.monotonic() < deadline, "execution still running"
        time.sleep(0.2)
    pages = sfn.get_paginator("get_execution_history").paginate(executionArn=upload["execution_arn"])
    return Counter(event["stateEnteredEventDetails"]["name"] for page in pages for event in page["events"]
                   if "stateEnteredEventDetails" in event)


def _error_lines(upload: dict) -> list[int]:
    return [json.loads(line)["line"] for line in requests.get(upload["error_log_url"], timeout=30).text.splitlines()]


def _record(stack, account, dataset_id: str, key: str) -> dict | None:
    answer = requests.get(f"{stack.info.api_url}/v1/datasets/{dataset_id}/records/customer_record/{key}",
                          headers={"Auth-Api-Token": account["token"]}, timeout=30)
    return None if answer.status_code == 404 else answer.json()


def test_a_multi_member_upload_is_inflated_by_member_with_exact_counts_and_line_numbers(
        stack, account, client, dataset, load_file):
    content, bad = _content()
    # One member per ~1.5 KB of lines, cut anywhere (inside lines), as the CLI cuts one per part.
    cuts = [0, *range(1499, len(content), 1499), len(content)]
    body = b"".join(gzip.compress(content[a:b], mtime=0) for a, b in itertools.pairwise(cuts))
    assert len(body) > 3 * GROUP_BYTES
    upload = load_file(body, filename="members.ndjson.gz")
    assert upload["status"] == "Completed", upload.get("failure_reason")
    assert upload["stats"]["total"] == 500 and upload["stats"]["rejected"] == len(bad)
    assert upload["stats"]["loaded"] == 500 - len(bad) == upload["stats"]["created"]
    assert _error_lines(upload) == bad
    states = _states_entered(upload)
    assert states["InflateMembers"] == 1 and states["JoinMembers"] == 1
    assert states["Decompress"] == 0  # the members chained: no sequential pass
    assert _record(stack, account, dataset["id"], "customer_id:c499")["first_name"] == "n499"
    assert client.get_dataset(dataset["id"])["record_counts"] == {"customer_record": 500 - len(bad)}


def test_a_single_member_upload_goes_through_several_chained_decompress_invocations(
        stack, account, client, dataset, load_file):
    content, bad = _content(700)
    body = gzip.compress(content, mtime=0)
    assert len(body) > GROUP_BYTES and len(content) > 5 * RANGE_BYTES
    upload = load_file(body, filename="single.ndjson.gz")
    assert upload["status"] == "Completed", upload.get("failure_reason")
    assert upload["stats"]["total"] == 700 and upload["stats"]["rejected"] == len(bad)
    assert upload["stats"]["loaded"] == 700 - len(bad)
    assert _error_lines(upload) == bad
    states = _states_entered(upload)
    # Tried by member first (one member: the groups do not chain), then one Decompress per 4 KiB part.
    assert states["InflateMembers"] == 1 and states["JoinMembers"] == 1
    assert states["Decompress"] == -(-len(content) // RANGE_BYTES) or states["Decompress"] > 5
    assert _record(stack, account, dataset["id"], "customer_id:c700")["first_name"] == "n700"


def test_a_truncated_gzip_upload_fails_in_the_chain_with_its_reason(client, load_file):
    content, _ = _content(300)
    upload = load_file(gzip.compress(content, mtime=0)[:-20], filename="cut.ndjson.gz")
    assert upload["status"] == "Failed"
    assert upload["failure_reason"].startswith("the gzip file is truncated"), upload["failure_reason"]
    states = _states_entered(upload)
    assert states["Decompress"] >= 1 and states["MarkFailed"] == 1  # tried by member, then refused by the chain
