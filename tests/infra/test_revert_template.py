"""The Revert workflow in the template: its functions may do what their steps call (e2e runs check the
calls themselves against these policies) and nothing broader; the journal's prefix expires; the
Load may keep the journal and the API start a revert. Its retries and catches: tests/infra/test_retries.py."""

from __future__ import annotations

import pytest

from tests.infra.test_template import (  # noqa: F401  (fixtures)
    allows,
    function_statements,
    functions,
    named,
    object_arn,
    project_functions,
    request_context,
    table_arn,
    targets,
)

REVERT_HANDLERS = {
    "plan": "ingest.handlers.revert.plan",
    "partition": "ingest.handlers.revert.revert_partition",
    "finish": "ingest.handlers.revert.finish",
    "failed": "ingest.handlers.revert.mark_failed",
}
EVENTS = ("events:PutEvents", "bus")


@pytest.fixture(scope="module")
def revert_functions(template) -> dict[str, str]:
    by_handler = project_functions(template)
    return {name: by_handler[handler] for name, handler in REVERT_HANDLERS.items()}


@pytest.fixture(scope="module")
def where(template, named) -> dict[str, str]:  # noqa: F811 (the fixture imported above)
    bucket = named["bucket"]
    return {**targets(named), "revert/": object_arn(bucket, "revert/acct/upload-1/00003/000000-attempt.ndjson"),
            "bus": "arn:aws:events:us-east-1:123456789012:event-bus/default"}


# What each step calls (logic/revert.py through its adapters).
MUST_ALLOW = {
    # The dataset's hold (read the dataset and its holder's job, take it or note queued_behind), the job to
    # Processing, the journal's listing.
    "plan": [("dynamodb:GetItem", "jobs"), ("dynamodb:UpdateItem", "jobs"), ("dynamodb:GetItem", "datasets"),
             ("dynamodb:UpdateItem", "datasets"), ("s3:ListBucket", "bucket"), ("s3:GetObject", "revert/")],
    "partition": [("s3:ListBucket", "bucket"), ("s3:GetObject", "revert/"), ("dynamodb:PutItem", "records"),
                  ("dynamodb:DeleteItem", "records")],
    "finish": [("dynamodb:GetItem", "jobs"), ("dynamodb:UpdateItem", "jobs"), ("dynamodb:UpdateItem", "datasets")],
    "failed": [("dynamodb:UpdateItem", "jobs"), ("dynamodb:UpdateItem", "datasets")],
}
RECORD_ACTIONS = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "GetItem", "BatchGetItem", "Query", "Scan")
MUST_NOT_ALLOW = {
    "plan": [*(("dynamodb:" + a, "records") for a in RECORD_ACTIONS), ("s3:PutObject", "revert/"),
             ("s3:GetObject", "uploads/"), ("s3:GetObject", "work/")],
    "partition": [("dynamodb:UpdateItem", "records"), ("dynamodb:BatchWriteItem", "records"),
                  ("dynamodb:Query", "records"), ("dynamodb:Scan", "records"), ("dynamodb:UpdateItem", "jobs"),
                  ("dynamodb:UpdateItem", "datasets"), ("s3:PutObject", "revert/"), ("s3:DeleteObject", "revert/"),
                  ("s3:GetObject", "uploads/"), ("s3:GetObject", "results/"), ("s3:GetObject", "work/")],
    "finish": [*(("dynamodb:" + a, "records") for a in RECORD_ACTIONS), ("s3:GetObject", "revert/"),
               ("dynamodb:PutItem", "jobs"), ("dynamodb:DeleteItem", "datasets")],
    "failed": [*(("dynamodb:" + a, "records") for a in RECORD_ACTIONS), ("s3:GetObject", "revert/"),
               ("dynamodb:GetItem", "datasets")],
}


@pytest.mark.parametrize("name", sorted(MUST_ALLOW))
def test_each_revert_step_may_make_the_calls_it_makes(template, revert_functions, where, name):
    statements = function_statements(template, revert_functions[name])
    missing = [(a, r) for a, r in MUST_ALLOW[name] if not allows(template, statements, a, where[r], request_context(r))]
    assert not missing, f"{name} lacks {missing}"


@pytest.mark.parametrize("name", sorted(MUST_NOT_ALLOW))
def test_each_revert_step_may_do_nothing_broader(template, revert_functions, where, name):
    statements = function_statements(template, revert_functions[name])
    extra = [(a, r) for a, r in MUST_NOT_ALLOW[name] if allows(template, statements, a, where[r], request_context(r))]
    assert not extra, f"{name} may also {extra}"


def test_only_the_steps_that_change_a_jobs_status_publish_events(template, revert_functions):
    for name in ("plan", "finish", "failed"):
        statements = function_statements(template, revert_functions[name])
        assert any("events:PutEvents" in _actions(s) for s in statements), name
    assert not any("events:PutEvents" in _actions(s)
                   for s in function_statements(template, revert_functions["partition"]))


def _actions(statement: dict) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else actions


def test_the_load_may_keep_the_journal_and_the_api_may_start_a_revert(template, functions, named, where):  # noqa: F811
    load = function_statements(template, functions["load"])
    assert allows(template, load, "s3:PutObject", where["revert/"])
    assert not allows(template, load, "s3:GetObject", where["revert/"])
    assert not allows(template, load, "s3:DeleteObject", where["revert/"])
    api = function_statements(template, functions["api"])
    machine = template["Outputs"]["RevertStateMachineArn"]["Value"]["Ref"]
    assert allows(template, api, "states:StartExecution", f"arn:aws:states:region:account:stateMachine:{machine}")
    assert not allows(template, api, "s3:GetObject", where["revert/"])
    assert not allows(template, api, "s3:PutObject", where["revert/"])


def test_the_journal_expires_after_the_configured_days(template, named):  # noqa: F811
    rules = template["Resources"][named["bucket"]]["Properties"]["LifecycleConfiguration"]["Rules"]
    [rule] = [rule for rule in rules if rule.get("Prefix") == "revert/"]
    assert rule["Status"] == "Enabled" and rule["ExpirationInDays"] == 7  # the default (infra/config.py)

