"""Many uploads at once on the local stack, over HTTP: every one completes with exact counts and the
status API keeps answering while they run. No timing is asserted (`make bench-local` measures it,
docs/local_stack.md "Staying fast as data grows")."""

from __future__ import annotations

from benchmarks.local_stack import Bench, concurrent_uploads
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
