"""The multipart lifecycle in the template: the bucket's abort rule and the sweeper agree on the days,
and a schedule runs the sweeper (the local stack has no scheduler: tests/e2e invoke it)."""

from __future__ import annotations

from infra.config import CONTEXT_KEYS
from tests.conftest import TEST_CONTEXT
from tests.infra.test_template import functions, named, project_functions, props, resources  # noqa: F401 (fixtures)

SWEEPER = "ingest.handlers.multipart_sweeper.handler"


def test_the_abort_rule_and_the_sweeper_use_the_configured_days(template, named):  # noqa: F811
    days = TEST_CONTEXT.get("multipart_abort_days", CONTEXT_KEYS["multipart_abort_days"].default)
    rules = props(template, named["bucket"])["LifecycleConfiguration"]["Rules"]
    abort = [rule for rule in rules if "AbortIncompleteMultipartUpload" in rule]
    assert [rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] for rule in abort] == [days]
    sweeper = props(template, project_functions(template)[SWEEPER])
    assert sweeper["Environment"]["Variables"]["MULTIPART_ABORT_DAYS"] == str(days)
    assert sweeper["Environment"]["Variables"]["SWEEP_INTERVAL_SECONDS"] == "3600"


def test_an_hourly_schedule_invokes_the_sweeper(template):
    sweeper = project_functions(template)[SWEEPER]
    schedules = [rule for rule in resources(template, "AWS::Events::Rule").values()
                 if rule["Properties"].get("ScheduleExpression")]
    targets = [(rule["Properties"]["ScheduleExpression"], target["Arn"]) for rule in schedules
               for target in rule["Properties"]["Targets"]]
    assert ("rate(1 hour)", {"Fn::GetAtt": [sweeper, "Arn"]}) in targets
