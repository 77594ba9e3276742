"""Template assertions for webhooks (infra/webhooks.py): who may seal and open secrets, write the
webhooks table and feed the delivery queue; how job events reach the queue and the queue the function."""

from __future__ import annotations

import pytest

import tests.infra.test_template as base  # a module, so pytest does not collect its tests twice here

TABLE_ACTIONS = ("GetItem", "Query", "PutItem", "UpdateItem", "DeleteItem", "Scan", "BatchWriteItem")
GRANTED = {  # function -> the webhooks table's actions it may use
    "api": {"GetItem", "Query", "PutItem", "UpdateItem", "DeleteItem"},  # create/delete are transactions
    "webhook_delivery": {"GetItem", "Query", "PutItem", "UpdateItem"},  # never deletes
}


@pytest.fixture(scope="module")
def functions(template) -> dict[str, str]:
    by_handler = base.project_functions(template)
    return {name: by_handler[handler] for name, handler in base.HANDLERS.items()}


@pytest.fixture(scope="module")
def resources(template, functions) -> dict[str, str]:
    variables = base.props(template, functions["webhook_delivery"])["Environment"]["Variables"]
    found = {"table": base.ref_target(variables["WEBHOOKS_TABLE"]), "key": base.ref_target(variables["WEBHOOK_KEY_ID"]),
             "queue": base.ref_target(variables["WEBHOOK_QUEUE_URL"])}
    api_variables = base.props(template, functions["api"])["Environment"]["Variables"]
    assert base.ref_target(api_variables["WEBHOOKS_TABLE"]) == found["table"]
    assert base.ref_target(api_variables["WEBHOOK_KEY_ID"]) == found["key"]
    assert [template["Resources"][found[name]]["Type"] for name in ("table", "key", "queue")] == [
        "AWS::DynamoDB::Table", "AWS::KMS::Key", "AWS::SQS::Queue"]
    return found


@pytest.mark.parametrize("name", sorted(base.HANDLERS))
def test_only_the_api_seals_secrets_and_only_the_delivery_function_opens_them(template, functions, resources, name):
    statements = base.function_statements(template, functions[name])
    key = f"arn:aws:kms:region:account:key/{resources['key']}"
    assert base.allows(template, statements, "kms:Encrypt", key) == (name == "api")
    assert base.allows(template, statements, "kms:Decrypt", key) == (name == "webhook_delivery")
    for action in ("kms:ReEncryptFrom", "kms:GenerateDataKey", "kms:CreateGrant", "kms:PutKeyPolicy"):
        assert not base.allows(template, statements, action, key), action


@pytest.mark.parametrize("name", sorted(base.HANDLERS))
def test_the_webhooks_table_is_used_by_the_api_and_the_delivery_function_only(template, functions, resources, name):
    statements = base.function_statements(template, functions[name])
    arn = base.table_arn(resources["table"])
    for action in TABLE_ACTIONS:
        wanted = action in GRANTED.get(name, set())
        assert base.allows(template, statements, f"dynamodb:{action}", arn) == wanted, action


@pytest.mark.parametrize("name", sorted(base.HANDLERS))
def test_only_the_delivery_function_sends_to_the_queue(template, functions, resources, name):
    statements = base.function_statements(template, functions[name])
    queue = f"arn:aws:sqs:region:account:{resources['queue']}"
    assert base.allows(template, statements, "sqs:SendMessage", queue) == (name == "webhook_delivery")
    assert not base.allows(template, statements, "sqs:PurgeQueue", queue)
    assert not base.allows(template, statements, "sqs:SetQueueAttributes", queue)


def test_every_job_event_of_the_default_bus_goes_to_the_queue(template, resources):
    rules = [rule["Properties"] for rule in base.resources(template, "AWS::Events::Rule").values()
             if any(base.ref_target(target["Arn"]) == resources["queue"] for target in rule["Properties"]["Targets"])]
    assert len(rules) == 1
    rule = rules[0]
    assert rule["EventPattern"] == {"source": ["bulk-ingest"]} and "EventBusName" not in rule  # the default bus
    assert rule["State"] == "ENABLED"


def test_the_queue_feeds_the_delivery_function_with_partial_batch_failures_and_a_dead_letter_queue(
        template, functions, resources):
    mapping, = [m["Properties"] for m in base.resources(template, "AWS::Lambda::EventSourceMapping").values()
                if base.ref_target(m["Properties"]["EventSourceArn"]) == resources["queue"]]
    assert base.ref_target(mapping["FunctionName"]) == functions["webhook_delivery"]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    queue = base.props(template, resources["queue"])
    assert base.props(template, functions["webhook_delivery"])["Timeout"] * 6 == queue["VisibilityTimeout"]
    assert queue["RedrivePolicy"]["maxReceiveCount"] == 5
    assert template["Resources"][base.ref_target(queue["RedrivePolicy"]["deadLetterTargetArn"])]["Type"] == \
        "AWS::SQS::Queue"


def test_the_key_rotates_and_deliveries_expire(template, resources):
    assert base.props(template, resources["key"])["EnableKeyRotation"] is True
    table = base.props(template, resources["table"])
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert [key["AttributeName"] for key in table["KeySchema"]] == ["account_id", "item_key"]


def test_no_setting_of_the_template_reaches_the_loopback_exception(template):
    # The local stack's plain-http-to-loopback exception is switched on in its process only
    # (logic/webhook_targets.py); no function's environment names anything like it.
    for lid, function in base.service_functions(template).items():
        names = " ".join((function.get("Environment") or {}).get("Variables", {})).lower()
        assert "loopback" not in names and "allow_http" not in names, lid
