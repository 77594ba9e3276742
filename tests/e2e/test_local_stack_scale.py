"""Many uploads at once on the local stack, over HTTP: every one completes with exact counts and the
status API keeps answering while they run. No timing is asserted (`make bench-local` measures it,
docs/local_stack.md "Staying fast as data grows")."""

from __future__ import annotations

import boto3
from moto.s3.models import s3_backends
from moto.s3.utils import _VersionedKeyStore

from benchmarks.local_stack import Bench, concurrent_uploads
from local_stack.stack import ACCOUNT_ID
from tests.conftest import TEST_CONTEXT

UPLOADS = 30
LINES = 40  # ~12 KB a file: 3 ranges of the session's 4 KiB, over its 4 partitions


def test_thirty_concurrent_uploads_complete_with_exact_counts_while_status_answers(stack, account):
    bench = Bench(stack, stack.info.api_url, account["name"], account["token"],
                  load_partitions=TEST_CONTEXT["load_partitions"], load_max_concurrency=TEST_CONTEXT["load_partitions"])
    outcome = concurrent_uploads(bench, uploads=UPLOADS, records=LINES, timeout=1800)

    assert len(outcome.uploads) == UPLOADS
    assert [upload["status"] for upload in outcome.uploads.values()] == ["Completed"] * UPLOADS
    assert len(outcome.dataset_ids) < UPLOADS  # some datasets took two uploads
    assert all(len(file.keys) < file.lines for file in outcome.files.values())  # every file repeats keys
    # Each upload: every line loaded, each distinct key of its file created or replaced once; each
    # dataset: its count is the distinct keys of all its files, created once.
    assert outcome.problems() == []
    for dataset_id in outcome.dataset_ids:
        assert outcome.dataset_counts[dataset_id] > 0
    assert outcome.get_statuses == {200: len(outcome.get_latencies)}
    assert len(outcome.get_latencies) >= UPLOADS  # each upload asked about at least once


def test_the_local_stack_benchmark_runs_in_quick_mode(template_path):
    """`make bench-local` keeps working: its quick mode, part a, on a stack of its own (a child process,
    so its moto is not this session's), prints its measurement. The figures are not judged here."""
    import subprocess
    import sys

    run = subprocess.run(
        [sys.executable, "-m", "benchmarks.local_stack", "--quick", "--parts", "a", "--preload", "2000",
         "--context", "test", "--template", str(template_path)],
        capture_output=True, text=True, timeout=900, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "a. preloaded 2,000 records into the records table" in run.stdout
    assert "and 1,000 kept uploads into the bucket" in run.stdout
    assert "a. 100-line job (median of 1): fresh" in run.stdout


def _listed(s3, bucket: str, **params) -> tuple[list[str], list[str]]:
    keys, prefixes = [], []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, **params):
        keys += [item["Key"] for item in page.get("Contents", [])]
        prefixes += [item["Prefix"] for item in page.get("CommonPrefixes", [])]
    return keys, prefixes


def test_an_s3_listing_reads_only_its_prefix_and_answers_as_s3_does(stack, monkeypatch):
    """local_stack/s3.py: a prefix listing answers from the bucket's sorted names, not by reading every
    key the bucket holds (which made each Load's listing slower as uploads piled up)."""
    s3, bucket = boto3.client("s3"), stack.info.uploads_bucket
    base = "work/scale-test/listing/"
    for index in range(300):
        s3.put_object(Bucket=bucket, Key=f"work/scale-test/other/{index:03d}", Body=b"x")
    for name in ("p/3", "p/1", "p/2", "p/sub/a", "p/sub/b", "p2/x", "q"):
        s3.put_object(Bucket=bucket, Key=base + name, Body=b"x")
    s3.put_object(Bucket=bucket, Key=base + "p/2", Body=b"again")  # a new version: listed once
    s3.delete_object(Bucket=bucket, Key=base + "p/3")
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": base + "p/sub/b"}]})
    store = s3_backends[ACCOUNT_ID]["aws"].buckets[bucket].keys
    whole_store_reads = []
    original_items = _VersionedKeyStore.items
    monkeypatch.setattr(_VersionedKeyStore, "items",
                        lambda self: (whole_store_reads.append(1) if self is store else None) or original_items(self))

    assert _listed(s3, bucket, Prefix=base + "p/") == ([base + "p/1", base + "p/2", base + "p/sub/a"], [])
    assert _listed(s3, bucket, Prefix=base + "p/", Delimiter="/") == ([base + "p/1", base + "p/2"], [base + "p/sub/"])
    assert _listed(s3, bucket, Prefix=base + "p/", PaginationConfig={"PageSize": 1})[0] == [
        base + "p/1", base + "p/2", base + "p/sub/a"]
    assert _listed(s3, bucket, Prefix=base + "p") == ([base + "p/1", base + "p/2", base + "p/sub/a", base + "p2/x"], [])
    assert _listed(s3, bucket, Prefix=base + "nothing/") == ([], [])
    assert whole_store_reads == []
    assert len(_listed(s3, bucket, Prefix="work/scale-test/other/")[0]) == 300
    assert whole_store_reads == []
    # Without a prefix, moto's own listing runs (and reads the whole bucket, as it must).
    assert base + "q" in _listed(s3, bucket)[0]
    assert whole_store_reads
