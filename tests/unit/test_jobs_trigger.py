"""logic/jobs_trigger.py: an uploaded object starts its workflow once, however often S3 reports it."""

from __future__ import annotations

from ingest.adapters.workflow import ExecutionAlreadyStartedError
from ingest.logic.jobs_trigger import start_upload_job

KEY = "uploads/acct-1/up-1/customers.ndjson"
ARN = "arn:aws:states:us-east-1:123456789012:execution:Load:up-1"


class Jobs:
    def __init__(self, **job):
        self.job = {"object_key": KEY, **job}
        self.updates: list[dict] = []

    def get(self, account_id: str, upload_id: str):
        return self.job if (account_id, upload_id) == ("acct-1", "up-1") else None

    def update(self, account_id: str, upload_id: str, **changes):
        self.updates.append(changes)
        self.job.update(changes)


class Starter:
    """Step Functions as StartExecution answers: a new execution, the running one for the same name and
    input (idempotent), or ExecutionAlreadyExists once that one has ended."""

    def __init__(self, answer):
        self.answer, self.starts = answer, 0

    def start(self, name: str, payload: dict) -> str:
        self.starts += 1
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def test_the_first_event_starts_the_workflow_and_the_job_names_its_execution():
    jobs = Jobs()
    outcome = start_upload_job(jobs, Starter(ARN), KEY)
    assert (outcome.outcome, outcome.execution_arn) == ("started", ARN)
    assert jobs.job["execution_arn"] == ARN


def test_the_same_event_while_the_execution_runs_is_a_duplicate_not_a_second_start():
    jobs = Jobs(execution_arn=ARN)
    outcome = start_upload_job(jobs, Starter(ARN), KEY)  # Step Functions hands back the running execution
    assert outcome.outcome == "duplicate: already running"
    assert jobs.updates == []


def test_the_same_event_after_the_execution_ended_is_a_duplicate():
    jobs = Jobs(execution_arn=ARN)
    outcome = start_upload_job(jobs, Starter(ExecutionAlreadyStartedError("up-1")), KEY)
    assert outcome.outcome == "duplicate: already started"
    assert jobs.updates == []


def test_an_object_no_upload_expects_starts_nothing():
    starter = Starter(ARN)
    assert start_upload_job(Jobs(), starter, "uploads/acct-1/up-2/other.ndjson").outcome.startswith("ignored")
    assert start_upload_job(Jobs(), starter, "exports/acct-1/up-1/customers.ndjson").outcome.startswith("ignored")
    assert starter.starts == 0
