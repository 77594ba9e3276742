"""Load may read the records table only as profile changes need (BatchGetItem), and write records only
one at a time (UpdateItem, which returns the old item its counts need): nothing broader."""

from __future__ import annotations

from tests.infra.test_template import allows, function_statements, functions, named, targets  # noqa: F401  (fixtures)


def test_load_may_batch_get_records_for_profile_changes_and_nothing_broader(template, functions, named):  # noqa: F811
    statements = function_statements(template, functions["load"])
    records = targets(named)["records"]
    assert allows(template, statements, "dynamodb:BatchGetItem", records)
    assert allows(template, statements, "dynamodb:UpdateItem", records)
    for broader in ("dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan", "dynamodb:PutItem", "dynamodb:DeleteItem"):
        assert not allows(template, statements, broader, records), broader
    for table in ("jobs", "datasets", "tokens"):
        assert not allows(template, statements, "dynamodb:BatchGetItem", targets(named)[table]), table
