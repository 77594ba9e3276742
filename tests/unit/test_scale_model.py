"""The arithmetic of `make bench-scale`'s DynamoDB model (benchmarks/scale/dynamodb.py) and its template
reading: what the capacity figures in docs/capacity.md stand on."""

from __future__ import annotations

import pytest

from benchmarks.scale.dynamodb import (
    ModelledDynamoDB,
    WriteLimits,
    WriteTally,
    item_bytes,
    modelled_client,
    modelled_wire,
    read_units,
    write_units,
)
from benchmarks.scale.limits import functions_of


@pytest.mark.parametrize(("size", "units"), [(1, 1), (500, 1), (1024, 1), (1025, 2), (2048, 2), (2049, 3),
                                             (400 * 1024, 400)])
def test_a_write_costs_one_unit_per_kib_rounded_up(size, units):
    assert write_units(size) == units


def test_item_size_counts_attribute_names_and_values():
    item = {"pk": {"S": "acct#ds#t#07"}, "sk": {"S": "crm-1"}, "line": {"N": "12345"}, "ok": {"BOOL": True},
            "tags": {"L": [{"S": "ab"}, {"S": "c"}]}, "m": {"M": {"k": {"S": "vv"}}}}
    expected = ((2 + 12) + (2 + 5) + (4 + 4)  # "12345": 5 significant digits -> 3 bytes + 1
                + (2 + 1) + (4 + 3 + (1 + 2) + (1 + 1)) + (1 + 3 + (1 + 1 + 2)))
    assert item_bytes(item) == expected


def test_update_item_is_billed_on_the_key_and_every_attribute_it_sets():
    model = ModelledDynamoDB()
    data = "x" * 1000
    model.update_item(TableName="records", Key={"pk": {"S": "p0"}, "sk": {"S": "k"}},
                      UpdateExpression="SET #d = :d, #j = :j, #c = if_not_exists(#c, :j)",
                      ExpressionAttributeNames={"#d": "data", "#j": "job_id", "#c": "created_by"},
                      ExpressionAttributeValues={":d": {"S": data}, ":j": {"S": "job-1"}}, ReturnValues="ALL_OLD")
    size = (2 + 2) + (2 + 1) + (4 + 1000) + (6 + 5) + (10 + 5)
    assert model.tally.item_bytes == size
    assert model.tally.units == 2  # 1,037 bytes: just over one KiB
    assert model.tally.units_by_partition == {"p0": 2}


def test_one_partition_key_is_capped_at_1000_units_a_second_whatever_the_rate():
    tally = WriteTally()
    for _ in range(5000):
        tally.add("one-key", 500)
    bounds = tally.bounds(WriteLimits(rate_per_s=40_000, threads=10_000, latency_s=0.0))
    assert bounds["hottest partition key"] == pytest.approx(5.0)
    assert tally.time_for(WriteLimits(rate_per_s=40_000, threads=10_000, latency_s=0.0)) == pytest.approx(5.0)


def test_the_table_caps_a_rate_set_above_its_40000_units():
    tally = WriteTally()
    for index in range(80_000):
        tally.add(f"pk-{index % 100}", 700)
    limits = WriteLimits(rate_per_s=100_000, threads=10_000, latency_s=0.0)
    assert tally.bounds(limits)["paced rate"] == pytest.approx(0.8)
    assert tally.time_for(limits) == pytest.approx(2.0)  # 80,000 units at the table's 40,000/s


def test_spread_writes_take_the_paced_rate_and_large_items_count_their_units():
    tally = WriteTally()
    for index in range(40_000):
        tally.add(f"pk-{index % 64}", 1500)  # 2 units each
    assert tally.units == 80_000
    assert tally.time_for(WriteLimits(rate_per_s=20_000, threads=10_000, latency_s=0.0)) == pytest.approx(4.0)


def test_call_latency_is_spread_over_the_writers_threads():
    tally = WriteTally(calls=1000)
    assert tally.bounds(WriteLimits(rate_per_s=1e9, threads=16, latency_s=0.008))["call latency"] == pytest.approx(0.5)


def test_the_boto3_client_over_the_model_counts_each_call_and_sends_nothing():
    model = ModelledDynamoDB()
    client = modelled_client(model)
    answer = client.update_item(TableName="records", Key={"pk": {"S": "p1"}, "sk": {"S": "k1"}},
                                UpdateExpression="SET #d = :d", ExpressionAttributeNames={"#d": "data"},
                                ExpressionAttributeValues={":d": {"S": "{}"}}, ReturnValues="ALL_OLD")
    assert "Attributes" not in answer  # no old item: a new record
    client.batch_write_item(RequestItems={"records": [
        {"PutRequest": {"Item": {"pk": {"S": "p2"}, "sk": {"S": f"k{i}"}}}} for i in range(3)]})
    assert model.tally.calls == 2
    assert model.tally.items == 4
    assert dict(model.tally.units_by_partition) == {"p1": 1, "p2": 3}


def test_the_wire_sender_over_the_model_is_counted_and_priced_as_the_boto3_client_is():
    """The Load's writes as the functions send them (adapters/dynamodb_wire.py): the same calls, items
    and write units per partition key as the same requests through boto3, and nothing sent."""
    from ingest.adapters.record_store import RecordStore, RecordWrite

    records = [RecordWrite(f"k{index}", '{"name": "' + "x" * (300 * index) + '"}', index + 1) for index in range(8)]
    tallies = []
    for through_wire in (False, True):
        model = ModelledDynamoDB()
        store = RecordStore(modelled_client(model), "records",
                            load_writes=modelled_wire(model) if through_wire else None)
        with store.writer("acct", "ds", "customer_record", 64, "U1", "a1", 4, 1e9) as writer:
            assert writer.write(records) == [None] * 8  # new records: no old item
        tallies.append(model.tally.state())
    boto3_tally, wire_tally = tallies
    assert wire_tally == boto3_tally
    assert wire_tally["calls"] == 8 and wire_tally["units"] > 8  # the longer records take more than 1 unit


@pytest.mark.parametrize(("size", "consistent", "units"), [(None, True, 1), (None, False, 0.5), (700, True, 1),
                                                          (4096, True, 1), (4097, True, 2), (9000, False, 1.5)])
def test_a_read_costs_one_unit_per_4_kib_rounded_up_an_absent_item_too_and_half_when_eventual(size, consistent, units):
    assert read_units(size, consistent) == units


def test_the_boto3_client_over_the_model_counts_every_key_the_pre_read_asks_for():
    """The revert pre-read (RecordStore.get_many): strongly consistent BatchGetItem; each key is billed
    whether or not its item exists."""
    model = ModelledDynamoDB()
    client = modelled_client(model)
    keys = [{"pk": {"S": "p1"}, "sk": {"S": f"k{i}"}} for i in range(100)]
    answer = client.batch_get_item(RequestItems={"records": {"ConsistentRead": True, "Keys": keys}})
    client.batch_get_item(RequestItems={"records": {"Keys": keys[:10]}})  # eventually consistent
    assert answer.get("Responses", {}) == {} and answer.get("UnprocessedKeys", {}) == {}
    assert (model.reads.calls, model.reads.keys, model.reads.units) == (2, 110, 105.0)
    assert model.tally.calls == 0  # reads are not writes


def test_function_limits_come_from_the_templates_workflow_handlers():
    template = {"Resources": {
        "SplitFunction1": {"Type": "AWS::Lambda::Function", "Properties": {
            "Handler": "ingest.handlers.workflow.split_range", "MemorySize": 1769, "Timeout": 900,
            "EphemeralStorage": {"Size": 512}}},
        "ApiFunction": {"Type": "AWS::Lambda::Function", "Properties": {"Handler": "ingest.handlers.api.handler"}},
    }}
    functions = functions_of(template)
    assert list(functions) == ["split_range"]
    split = functions["split_range"]
    assert (split.function, split.memory_mb, split.timeout_s, split.ephemeral_mb) == ("SplitFunction1", 1769, 900, 512)
    assert split.vcpu == 1.0
