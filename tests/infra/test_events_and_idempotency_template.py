"""Template assertions for job events (infra/events.py) and Idempotency-Key records (infra/api.py):
exactly the functions that write a job's status may publish, to the default bus only; only the API
function may use the idempotency table, item by item; its records expire by TTL."""

from __future__ import annotations

import pytest

import tests.infra.test_template as base  # a module, so pytest does not collect its tests twice here

DEFAULT_BUS = "arn:aws:events:region:account:event-bus/default"
OTHER_BUS = "arn:aws:events:region:account:event-bus/someone-elses"
# The functions whose jobs table announces status changes (handlers/wiring.py _announcing_jobs).
STATUS_WRITERS = {"api", "inspect", "plan_load", "finalize", "mark_failed", "clear_plan", "clear_finish",
                  "clear_failed", "sweeper", "revert_plan", "revert_finish", "revert_failed"}
IDEMPOTENCY_ITEM_ACTIONS = ("PutItem", "GetItem", "UpdateItem", "DeleteItem")


@pytest.fixture(scope="module")
def functions(template) -> dict[str, str]:
    by_handler = base.project_functions(template)
    return {name: by_handler[handler] for name, handler in base.HANDLERS.items()}


@pytest.fixture(scope="module")
def idempotency_table(template, functions) -> str:
    lid = base.ref_target(base.props(template, functions["api"])["Environment"]["Variables"]["IDEMPOTENCY_TABLE"])
    assert template["Resources"][lid]["Type"] == "AWS::DynamoDB::Table"
    return lid


@pytest.mark.parametrize("name", sorted(base.HANDLERS))
def test_exactly_the_functions_that_write_job_status_may_publish_to_the_default_bus_only(template, functions, name):
    statements = base.function_statements(template, functions[name])
    assert base.allows(template, statements, "events:PutEvents", DEFAULT_BUS) == (name in STATUS_WRITERS)
    assert not base.allows(template, statements, "events:PutEvents", OTHER_BUS)
    assert not base.allows(template, statements, "events:PutRule", DEFAULT_BUS)


@pytest.mark.parametrize("name", sorted(base.HANDLERS))
def test_only_the_api_may_use_the_idempotency_table_and_only_item_by_item(template, functions, idempotency_table,
                                                                            name):
    statements = base.function_statements(template, functions[name])
    arn = base.table_arn(idempotency_table)
    for action in IDEMPOTENCY_ITEM_ACTIONS:
        assert base.allows(template, statements, f"dynamodb:{action}", arn) == (name == "api"), action
    for action in ("Scan", "Query", "BatchWriteItem", "DeleteTable"):
        assert not base.allows(template, statements, f"dynamodb:{action}", arn), action


def test_idempotency_records_expire_by_ttl_and_are_keyed_as_powertools_writes_them(template, idempotency_table):
    table = base.props(template, idempotency_table)
    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    assert table["BillingMode"] == "PAY_PER_REQUEST" and table["SSESpecification"]["SSEEnabled"] is True
