"""Fault injection end to end: crashes, retries, throttling, duplicated and concurrent events.

Faults come from tests/support/faults.py (test support; it goes through the seams of the local stack and
the composition root, and nothing in infra/, lambdas/ or local_stack/ imports it). Every job
these tests run is checked with assert_job_invariants: total = loaded + rejected, the dataset holds
exactly the distinct keys of the valid lines (as its record_counts say), and every rejected line is
in the error log with its line number.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter

import boto3
import orjson
import pytest
import requests

from cli.client import put_file
from ingest import record_types
from ingest.adapters.record_store import NEW_DATASET_SHARDS, RecordStore, partition
from ingest.handlers import wiring
from ingest.logic.load.record_limits import check_line
from ingest.logic.load.steps import LoadSteps
from local_stack import lambda_runtime
from tests.support import faults
from tests.support.stats import line_counts

RETRIES = 2  # infra/workflow.py: max_attempts=2 on every task, so 3 attempts in all


# -- files ---------------------------------------------------------------------------------------------
def _customer(customer_id: str, **fields) -> str:
    return json.dumps({"link": {"customer_id": customer_id}, **fields})


def _file(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode()


def _mixed_file(prefix: str, count: int = 240, source: str = "x") -> bytes:
    """`count` lines over several 4 KB chunks: duplicated keys (the last wins) and a few bad lines."""
    lines = []
    for i in range(count):
        if i % 37 == 5:
            lines.append("{not json")
        elif i % 41 == 7:
            lines.append(json.dumps({"first_name": "no link"}))
        else:
            lines.append(_customer(f"{prefix}{i % (count * 3 // 4)}", n=i, source=source))
    return _file(lines)


def _expected(content: bytes, record_type: str) -> tuple[int, dict[str, dict], list[int], int]:
    """(total, last valid record per key, rejected line numbers, valid lines) of a plain NDJSON file."""
    schema = record_types.get(record_type)
    total = valid_lines = 0
    latest: dict[str, dict] = {}
    rejected: list[int] = []
    for number, raw in enumerate(content.split(b"\n"), start=1):
        if not raw.strip():
            continue
        total += 1
        problem, key, stored = check_line(schema, raw)
        if problem:
            rejected.append(number)
        else:
            valid_lines += 1
            latest[key] = orjson.loads(stored)
    return total, latest, rejected, valid_lines


# -- what the local AWS holds --------------------------------------------------------------------------
def stored_records(stack, account_id: str, dataset_id: str, record_type: str) -> dict[str, dict]:
    """Every record of one type in a dataset, read straight from the records table (every shard a
    dataset can have: new datasets have NEW_DATASET_SHARDS, older ones fewer)."""
    ddb = stack.session().client("dynamodb")
    records: dict[str, dict] = {}
    for shard in range(NEW_DATASET_SHARDS):
        query = {
            "TableName": os.environ["RECORDS_TABLE"],
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": partition(account_id, dataset_id, record_type, shard)}},
        }
        while True:
            page = ddb.query(**query)
            for item in page["Items"]:
                assert item["sk"]["S"] not in records, f"record {item['sk']['S']} stored twice"
                records[item["sk"]["S"]] = json.loads(item["data"]["S"])
            if "LastEvaluatedKey" not in page:
                break
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return records


def _dataset(stack, account, dataset_id: str) -> dict:
    response = requests.get(f"{stack.info.api_url}/v1/datasets/{dataset_id}",
                            headers={"Auth-Api-Token": account["token"]}, timeout=30)
    response.raise_for_status()
    return response.json()


def _error_log(upload: dict) -> list[dict]:
    if not upload.get("error_log_url"):
        return []
    response = requests.get(upload["error_log_url"], timeout=30)
    response.raise_for_status()
    return [json.loads(line) for line in response.text.splitlines()]


def assert_job_invariants(stack, account, upload: dict, content: bytes, *, others: tuple[bytes, ...] = ()) -> None:
    """The accounting every finished job must satisfy, whatever faults it met.

    content is the uploaded file; others are files loaded into the same dataset before or alongside it
    (their keys may be stored too). Record values are checked by the callers that know who won.
    """
    assert upload["status"] in ("Completed", "Failed"), f"job left in {upload['status']}"
    record_type = upload["destination"]["record_type"]
    dataset_id = upload["destination"]["dataset_id"]
    total, latest, rejected_lines, valid_lines = _expected(content, record_type)
    other_keys = set().union(*(_expected(other, record_type)[1] for other in others))
    stats = upload["stats"]
    stored = stored_records(stack, account["name"], dataset_id, record_type)

    # The dataset's count is the store's truth (Finalize and MarkFailed both recount).
    assert _dataset(stack, account, dataset_id)["record_counts"].get(record_type, 0) == len(stored)

    if upload["status"] == "Completed":
        assert line_counts(stats) == {"total": total, "loaded": valid_lines, "rejected": len(rejected_lines)}
        assert set(stored) == set(latest) | other_keys, "the dataset holds exactly the loaded distinct keys"
    else:
        assert set(stored) <= set(latest) | other_keys, "a failed job stored a key no valid line has"
        if stats["loaded"]:
            assert set(latest) <= set(stored), f"stats claim {stats['loaded']} loaded, not all are stored"
    # The job's own accounting.
    # A failed job counts its valid lines as not_loaded: nothing of it counts as loaded.
    assert stats["total"] == stats["loaded"] + stats["rejected"] + stats.get("not_loaded", 0), (
        f"{upload['status']} job's stats do not add up: {stats}"
    )
    logged = _error_log(upload)
    logged_lines = [entry["line"] for entry in logged]
    if upload["status"] == "Completed":
        assert logged_lines == rejected_lines, "the error log must list every rejected line, in order"
    else:
        assert logged_lines == sorted(logged_lines) and set(logged_lines) <= set(rejected_lines)
    assert len(logged) == stats["rejected"], f"{stats['rejected']} rejected but the error log has {len(logged)} lines"
    lines = content.split(b"\n")
    for entry in logged:
        assert entry["raw"].encode() == lines[entry["line"] - 1]


# -- helpers -----------------------------------------------------------------------------------------------
def _trigger_name(stack) -> str:
    return next(f["name"] for f in stack.deployment.functions.values() if f["handler"] == faults.TRIGGER)


def _invoke_trigger(stack, events: list[dict]) -> list[dict]:
    """Invoke the S3 trigger with each event, all at once (one thread each), via the Lambda Invoke API."""
    name = _trigger_name(stack)
    results: list[dict | BaseException] = [None] * len(events)  # type: ignore[list-item]

    def deliver(index: int) -> None:
        try:
            response = boto3.client("lambda").invoke(FunctionName=name, Payload=json.dumps(events[index]))
            assert "FunctionError" not in response, response["Payload"].read()
            results[index] = json.loads(response["Payload"].read())
        except BaseException as exc:  # noqa: BLE001 (anything, assertions too, is re-raised in the main thread)
            results[index] = exc

    threads = [threading.Thread(target=deliver, args=(i,)) for i in range(len(events))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results  # type: ignore[return-value]


def _put_without_event(client, dataset, tmp_path, name: str, content: bytes) -> tuple[dict, dict]:
    """Upload a file while its S3 event is held back; returns (upload, the S3 event that was dropped)."""
    path = tmp_path / name
    path.write_bytes(content)
    upload = client.request_upload(name, dataset["id"], "customer_record")
    with faults.inject(faults.Drop("UploadTrigger")) as dropped:
        put_file(upload["url"], str(path))
    assert len(dropped.events) == 1
    assert client.get_upload(upload["id"])["status"] == "Pending"
    return upload, dropped.events[0]


def _executions_named(stack, name: str) -> int:
    sfn = boto3.client("stepfunctions")
    pages = sfn.get_paginator("list_executions").paginate(stateMachineArn=stack.info.state_machine_arn)
    return sum(1 for page in pages for e in page["executions"] if e["name"] == name)


def _settled(client, upload: dict, timeout: float = 60.0) -> dict:
    """The upload once its workflow execution has ended: a job can read Completed while a retry is still due."""
    upload = client.wait_for(upload["id"], timeout=timeout, poll=0.2)
    sfn = boto3.client("stepfunctions")
    deadline = time.monotonic() + timeout
    while sfn.describe_execution(executionArn=upload["execution_arn"])["status"] == "RUNNING":
        assert time.monotonic() < deadline, f"execution of {upload['id']} still running"
        time.sleep(0.2)
    return client.get_upload(upload["id"])


@pytest.fixture
def load(client, load_file):
    """load_file, then wait until the execution itself has ended (faults stay injected until then)."""
    return lambda content, **kwargs: _settled(client, load_file(content, **kwargs))


@pytest.fixture(autouse=True)
def no_fault_outlives_a_test():
    yield
    assert lambda_runtime.invoke_hooks == [], "a fault hook was left installed"


# -- 1. a step crashes once; the state machine's Retry recovers --------------------------------------------
@pytest.mark.parametrize(
    "make_fault",
    [
        pytest.param(lambda acct: faults.FailAfterWrites(step="Load", times=1, account=acct),
                     id="load-fails-after-half-its-chunk"),
        pytest.param(lambda acct: faults.FailAfterWrites(step="Load", after_items=1, times=3, account=acct),
                     id="three-loads-fail-after-one-record"),
        pytest.param(lambda acct: faults.Crash("Load", after=True, times=1, account=acct),
                     id="load-crashes-after-finishing"),
        pytest.param(lambda acct: faults.Crash("Split", after=True, times=1, account=acct),
                     id="split-crashes-after-finishing"),
        pytest.param(lambda acct: faults.Crash("Inspect", times=1, account=acct), id="inspect-crashes-once"),
    ],
)
def test_a_step_that_crashes_once_is_retried_and_loads_each_record_exactly_once(stack, account,
                                                                                client, dataset, load, make_fault):
    content = _mixed_file("r")
    with faults.inject(make_fault(account["name"]), faults.Invocations()) as (fault, seen):
        upload = load(content)
    assert fault.fired == (fault.times or 1), "the fault did not fire"
    if isinstance(fault, faults.FailAfterWrites):
        assert all(written > 0 for written in fault.written), "a failed attempt must have written something first"
    assert upload["status"] == "Completed", upload.get("failure_reason")
    chunks = len(seen.of("Load", upload["id"])) - (fault.fired if fault_step(fault) == "Load" else 0)
    assert chunks > 1, "the file should span several chunks"
    if fault_step(fault) == "Split":  # a Map: one range's iteration failed once and was retried
        attempts = Counter(event["task"]["index"] for event in seen.of("Split", upload["id"]))
        assert sorted(attempts.values())[-2:] == [1, 2], attempts
    elif fault_step(fault) != "Load":
        assert len(seen.of(fault_step(fault), upload["id"])) == 2  # one failed attempt, one retry

    total, latest, rejected, valid = _expected(content, "customer_record")
    assert line_counts(upload["stats"]) == {"total": total, "loaded": valid, "rejected": len(rejected)}
    assert stored_records(stack, account["name"], dataset["id"], "customer_record") == latest
    assert_job_invariants(stack, account, upload, content)


def fault_step(fault) -> str:
    return getattr(fault, "step", "Load")


def test_a_finalize_retried_after_it_finished_keeps_the_error_log(stack, account, client, dataset, load):
    """Finalize does its work (error log merged, work files deleted) and then its Lambda fails: the retry
    must leave the same result, including the error log the first attempt published."""
    content = _mixed_file("f")
    with faults.inject(faults.Crash("Finalize", after=True, times=1, account=account["name"]),
                       faults.Invocations()) as (fault, seen):
        upload = load(content)
    assert fault.fired == 1 and len(seen.of("Finalize", upload["id"])) == 2
    assert upload["status"] == "Completed", upload.get("failure_reason")
    assert_job_invariants(stack, account, upload, content)


# -- 2. DynamoDB throttling ------------------------------------------------------------------------------
@pytest.mark.parametrize("throttled_calls", [6, 12])
def test_throttled_writes_slow_the_load_down_and_nothing_is_lost(stack, account,
                                                                 client, dataset, load, throttled_calls):
    content = _mixed_file("t", count=300)
    with faults.inject(faults.Throttle(times=throttled_calls, account=account["name"])) as throttle:
        upload = load(content)
    assert throttle.fired == throttled_calls
    assert throttle.calls > throttled_calls, "every throttled write is tried again"
    assert upload["status"] == "Completed", upload.get("failure_reason")
    assert (stored_records(stack, account["name"], dataset["id"], "customer_record")
            == _expected(content, "customer_record")[1])
    assert_job_invariants(stack, account, upload, content)


# -- 3. a step that crashes on every attempt ----------------------------------------------------------------
def test_split_crashing_on_every_attempt_fails_the_job_naming_the_step(stack, account, client, dataset, load):
    content = _mixed_file("s", count=120)
    with faults.inject(faults.Crash("Split", account=account["name"]), faults.Invocations()) as (crash, seen):
        upload = load(content)
    assert upload["status"] == "Failed"
    # Every range's Split failed on every attempt. On AWS the Map then fails (a reason naming ranges or
    # partitions); locally the Map goes on and PlanLoad finds no range's result, and names the step.
    assert upload["failure_reason"].startswith("the Split step failed on "), upload["failure_reason"]
    attempts = Counter(event["task"]["index"] for event in seen.of("Split", upload["id"]))
    assert len(attempts) > 1 and set(attempts.values()) == {1 + RETRIES}, attempts
    assert crash.fired == sum(attempts.values())
    assert len(seen.of("MarkFailed", upload["id"])) == 1 and not seen.of("Load", upload["id"])
    assert line_counts(upload["stats"]) == {"total": 0, "loaded": 0, "rejected": 0}
    assert stored_records(stack, account["name"], dataset["id"], "customer_record") == {}
    assert_job_invariants(stack, account, upload, content)


def test_load_failing_on_every_attempt_fails_the_job_and_counts_only_what_is_stored(stack, account,
                                                                                    client, dataset, load):
    """Every Load attempt writes half its chunk and crashes: the job ends Failed (not Processing), the dataset's
    count is what the store holds, the job's stats claim no loaded records, and the reason names Load."""
    before = _file([_customer(f"a{i}", n=-1) for i in range(30)])
    assert load(before)["status"] == "Completed"
    content = _mixed_file("a", count=200)
    with faults.inject(faults.FailAfterWrites(step="Load", times=None, account=account["name"]),
                       faults.Invocations()) as (fault, seen):
        upload = load(content)
    assert upload["status"] == "Failed"
    assert len(seen.of("MarkFailed", upload["id"])) == 1
    assert fault.fired >= 1 + RETRIES and all(written > 0 for written in fault.written)
    stored = stored_records(stack, account["name"], dataset["id"], "customer_record")
    assert len(stored) > 30, "the failed attempts' partial writes are in the store"
    assert _dataset(stack, account, dataset["id"])["record_counts"] == {"customer_record": len(stored)}
    assert upload["stats"]["loaded"] == 0, "a failed job's stats must not claim loaded records"

    # Failed items of the Distributed Map reach Finalize as null results locally (moto ignores the
    # Map's failure threshold); Finalize names the Load step instead of crashing on them.
    assert upload["failure_reason"].startswith("the Load step failed on "), upload["failure_reason"]
    assert_job_invariants(stack, account, upload, content, others=(before,))


# -- 4. duplicated and simultaneous S3 events -------------------------------------------------------------------
def test_the_same_s3_event_delivered_twice_at_once_starts_one_execution(stack, account, client, dataset, tmp_path):
    content = _mixed_file("d", count=80)
    upload, event = _put_without_event(client, dataset, tmp_path, "customer_record-dup.ndjson", content)
    with faults.inject(faults.Rendezvous("UploadTrigger", parties=2), faults.Invocations()) as (together, seen):
        results = _invoke_trigger(stack, [event, event])
        finished = _settled(client, upload)
    assert together.met, "the two deliveries did not overlap"
    outcomes = sorted(result["outcomes"][0]["outcome"] for result in results)
    # Step Functions answers a second StartExecution with the same name and input, while the first runs,
    # with the same execution (idempotent: a duplicate once the job names it, "started" if both
    # deliveries read the job before either start was recorded) - or ExecutionAlreadyExists once it ended.
    assert outcomes[0] in ("duplicate: already running", "duplicate: already started", "started")
    assert "started" in outcomes
    assert _executions_named(stack, upload["id"]) == 1
    assert len(seen.of("Inspect", upload["id"])) == 1, "the workflow ran more than once for one upload"
    assert finished["status"] == "Completed"
    assert_job_invariants(stack, account, finished, content)


def test_two_uploads_events_each_delivered_twice_at_once_start_one_execution_each(stack, account,
                                                                                  client, dataset, tmp_path):
    first, second = _mixed_file("p", count=60), _mixed_file("q", count=60)
    upload_a, event_a = _put_without_event(client, dataset, tmp_path, "customer_record-a.ndjson", first)
    upload_b, event_b = _put_without_event(client, dataset, tmp_path, "customer_record-b.ndjson", second)
    with faults.inject(faults.Rendezvous("UploadTrigger", parties=4), faults.Invocations()) as (together, seen):
        _invoke_trigger(stack, [event_a, event_b, event_a, event_b])
        finished = [_settled(client, u) for u in (upload_a, upload_b)]
    assert together.met
    for upload, content, other in ((finished[0], first, second), (finished[1], second, first)):
        assert _executions_named(stack, upload["id"]) == 1
        # Inspect may run more than once (one upload waits for the other's hold on the dataset);
        # the work after it runs once per upload.
        assert len(seen.of("Split", upload["id"])) == 1, f"upload {upload['id']} ran more than once"
        assert len(seen.of("Finalize", upload["id"])) == 1
        assert upload["status"] == "Completed"
        assert_job_invariants(stack, account, upload, content, others=(other,))


# -- 5. concurrent uploads into one dataset with overlapping keys -------------------------------------------
def test_concurrent_uploads_with_overlapping_keys_end_as_some_serial_order(stack, account, client, dataset, tmp_path):
    """Both workflows reach Inspect at the same moment; the second waits (queued_behind the first) and loads
    after it, so every key holds the value of the same file: the one that loaded last."""
    first = _mixed_file("o", count=240, source="first")
    second = _mixed_file("o", count=240, source="second")
    upload_a, event_a = _put_without_event(client, dataset, tmp_path, "customer_record-one.ndjson", first)
    upload_b, event_b = _put_without_event(client, dataset, tmp_path, "customer_record-two.ndjson", second)
    seen_waiting: dict[str, str] = {}
    with faults.inject(faults.Rendezvous("Inspect", parties=2), faults.Invocations()) as (together, seen):
        _invoke_trigger(stack, [event_a, event_b])
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            views = [client.get_upload(u["id"]) for u in (upload_a, upload_b)]
            for view in views:
                if view["status"] == "Pending" and view.get("queued_behind"):
                    seen_waiting[view["id"]] = view["queued_behind"]
            if all(view["status"] in ("Completed", "Failed") for view in views):
                break
            time.sleep(0.1)
        finished = {u["id"]: _settled(client, u) for u in (upload_a, upload_b)}
    assert together.met, "the two Inspects did not run at the same moment"
    assert all(view["status"] == "Completed" for view in finished.values())

    # One waited for the other, and said so while it waited.
    assert len(seen_waiting) == 1, seen_waiting
    (waiter, holder), = seen_waiting.items()
    assert {waiter, holder} == {upload_a["id"], upload_b["id"]}
    assert len(seen.of("Inspect", waiter)) > 1, "the waiting upload's Inspect was retried"

    # The result is the serial order holder-then-waiter, key by key.
    content_of = {upload_a["id"]: first, upload_b["id"]: second}
    expected = {**_expected(content_of[holder], "customer_record")[1],
                **_expected(content_of[waiter], "customer_record")[1]}
    assert stored_records(stack, account["name"], dataset["id"], "customer_record") == expected
    for upload_id, content in content_of.items():
        other = content_of[waiter if upload_id == holder else holder]
        assert_job_invariants(stack, account, finished[upload_id], content, others=(other,))
    assert "loading_job" not in json.dumps(_dataset(stack, account, dataset["id"])), "the hold was released"


# -- the switch itself --------------------------------------------------------------------------------------
def test_faults_are_off_by_default_restored_on_error_and_absent_from_the_template(stack, template, template_path):
    def plain() -> bool:
        """The composition root hands out the adapters and load steps it builds, unwrapped."""
        return type(wiring.load_steps()) is LoadSteps and type(wiring.api().records) is RecordStore

    assert plain() and lambda_runtime.invoke_hooks == []
    with pytest.raises(ZeroDivisionError):
        with faults.inject(faults.FailAfterWrites(), faults.Throttle(), faults.Crash("Split"), faults.Drop()):
            assert type(wiring.api().records) is not RecordStore
            assert type(wiring.load_steps()) is not LoadSteps
            assert len(lambda_runtime.invoke_hooks) == 1
            raise ZeroDivisionError("an error inside the block")
    assert plain()
    # Faults wrap what the composition root makes; no class is patched.
    assert LoadSteps.split_range.__qualname__ == "LoadSteps.split_range"
    assert RecordStore._write_batch.__qualname__ == "RecordStore._write_batch"
    assert lambda_runtime.invoke_hooks == []
    text = json.dumps(template)
    assert "local_stack" not in text and "faults" not in text and "invoke_hooks" not in text
    asset = next(template_path.parent.glob("asset.*/ingest/handlers/workflow.py")).parents[2]
    shipped = [path for path in asset.rglob("*.py") if "local_stack" in path.relative_to(asset).parts]
    assert shipped == [], "the Lambda asset must not contain the local stack"
    assert not (asset / "tests").exists(), "the Lambda asset must not contain test support"
    mentions = [path for path in asset.glob("ingest/**/*.py") if "tests.support" in path.read_text()]
    assert mentions == [], "nothing in the Lambda asset imports test support"
