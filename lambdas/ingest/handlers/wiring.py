"""The composition root: every function's adapters, built once per cold start, in one place.

Each Lambda function has its own environment (config.py) and so its own set: `build_*` makes one
from settings and a source of boto3 clients (the constructor seam: tests and test support build
them with their own clients, or wrap what these return), and the cached accessor below each builds
the deployed set on first use and hands the same one to every route module after that. Nothing
else in lambdas/ constructs an adapter.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Protocol

from ingest.adapters import aws
from ingest.adapters.audience_store import AudienceMembers, AudienceStore
from ingest.adapters.control_tables import AccountsTable, DatasetsTable, JobsTable, TokensTable
from ingest.adapters.import_keys_table import ImportKeysTable
from ingest.adapters.object_store import ObjectStore
from ingest.adapters.quota_counters import QuotaCounters
from ingest.adapters.record_store import RecordStore
from ingest.adapters.usage_plans import UsagePlanKeys
from ingest.adapters.workflow import WorkflowStarter
from ingest.config import (
    ApiSettings,
    AuthSettings,
    ClearSettings,
    ImportAuthSettings,
    TriggerSettings,
    WorkflowSettings,
)
from ingest.logic import accounts, localytics, localytics_audiences, quotas
from ingest.logic.accounts import RateLimit
from ingest.logic.pipeline import Pipeline


class Clients(Protocol):
    """Where adapters get their boto3 objects: adapters/aws.py in Lambda."""

    def table(self, name: str) -> Any: ...

    def client(self, service: str) -> Any: ...


# -- the API function (handlers/api.py and handlers/compat_api.py) -----------------------------------
@dataclass(frozen=True)
class ApiAdapters:
    jobs: JobsTable
    datasets: DatasetsTable
    objects: ObjectStore
    records: RecordStore
    clear_starter: WorkflowStarter
    tokens: TokensTable
    token_keys: UsagePlanKeys
    accounts: AccountsTable
    audiences: AudienceStore
    audience_members: AudienceMembers
    imports: ImportKeysTable  # import keys, and the target datasets of the compatible APIs
    quota_counters: QuotaCounters
    # Settings the logic takes as values.
    url_ttl_seconds: int
    rate_limit: RateLimit
    profile_quotas: localytics.ImportQuotas
    audience_uploads_quota: quotas.Quota
    audience_status_quota: quotas.Quota


def build_api(settings: ApiSettings, clients: Clients = aws) -> ApiAdapters:
    return ApiAdapters(
        jobs=JobsTable(clients.table(settings.jobs_table)),
        datasets=DatasetsTable(clients.table(settings.datasets_table)),
        objects=ObjectStore(clients.client("s3"), settings.uploads_bucket),
        records=RecordStore(clients.client("dynamodb"), settings.records_table),
        clear_starter=WorkflowStarter(clients.client("stepfunctions"), settings.clear_state_machine_arn),
        tokens=TokensTable(clients.table(settings.tokens_table)),
        token_keys=UsagePlanKeys(clients.client("apigateway"), settings.usage_plan_name),
        accounts=AccountsTable(clients.table(settings.accounts_table)),
        audiences=AudienceStore(clients.table(settings.audiences_table)),
        audience_members=AudienceMembers(clients.client("dynamodb"), settings.records_table),
        imports=ImportKeysTable(clients.table(settings.imports_table)),
        quota_counters=QuotaCounters(clients.table(settings.quotas_table)),
        url_ttl_seconds=settings.upload_url_ttl_seconds,
        rate_limit=accounts.RateLimit(settings.rate_limit_per_second, settings.rate_limit_burst),
        profile_quotas=localytics.import_quotas(settings.profile_uploads_per_hour,
                                                settings.profile_status_requests_per_minute),
        audience_uploads_quota=localytics_audiences.uploads_quota(settings.audience_uploads_per_hour),
        audience_status_quota=localytics_audiences.status_requests_quota(settings.audience_status_requests_per_minute),
    )


@functools.cache
def api() -> ApiAdapters:
    return build_api(ApiSettings.from_env())


# -- the authorizers ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class AuthAdapters:
    tokens: TokensTable
    accounts: AccountsTable


def build_authorizer(settings: AuthSettings, clients: Clients = aws) -> AuthAdapters:
    return AuthAdapters(tokens=TokensTable(clients.table(settings.tokens_table)),
                        accounts=AccountsTable(clients.table(settings.accounts_table)))


@functools.cache
def authorizer() -> AuthAdapters:
    return build_authorizer(AuthSettings.from_env())


@dataclass(frozen=True)
class ImportAuthAdapters:
    keys: ImportKeysTable
    accounts: AccountsTable


def build_import_authorizer(settings: ImportAuthSettings, clients: Clients = aws) -> ImportAuthAdapters:
    return ImportAuthAdapters(keys=ImportKeysTable(clients.table(settings.imports_table)),
                              accounts=AccountsTable(clients.table(settings.accounts_table)))


@functools.cache
def import_authorizer() -> ImportAuthAdapters:
    return build_import_authorizer(ImportAuthSettings.from_env())


# -- the upload trigger and the workflows ------------------------------------------------------------
@dataclass(frozen=True)
class TriggerAdapters:
    jobs: JobsTable
    starter: WorkflowStarter


def build_trigger(settings: TriggerSettings, clients: Clients = aws) -> TriggerAdapters:
    return TriggerAdapters(jobs=JobsTable(clients.table(settings.jobs_table)),
                           starter=WorkflowStarter(clients.client("stepfunctions"), settings.state_machine_arn))


@functools.cache
def trigger() -> TriggerAdapters:
    return build_trigger(TriggerSettings.from_env())


def build_pipeline(settings: WorkflowSettings, clients: Clients = aws) -> Pipeline:
    return Pipeline(
        objects=ObjectStore(clients.client("s3"), settings.uploads_bucket),
        jobs=JobsTable(clients.table(settings.jobs_table)),
        datasets=DatasetsTable(clients.table(settings.datasets_table)),
        records=RecordStore(clients.client("dynamodb"), settings.records_table),
        chunk_target_bytes=settings.chunk_target_bytes,
        max_chunks=settings.max_chunks,
        audiences=AudienceStore(clients.table(settings.audiences_table)),
    )


@functools.cache
def pipeline() -> Pipeline:
    return build_pipeline(WorkflowSettings.from_env())


@dataclass(frozen=True)
class ClearAdapters:
    jobs: JobsTable
    datasets: DatasetsTable
    records: RecordStore


def build_clear(settings: ClearSettings, clients: Clients = aws) -> ClearAdapters:
    return ClearAdapters(jobs=JobsTable(clients.table(settings.jobs_table)),
                         datasets=DatasetsTable(clients.table(settings.datasets_table)),
                         records=RecordStore(clients.client("dynamodb"), settings.records_table))


@functools.cache
def clear() -> ClearAdapters:
    return build_clear(ClearSettings.from_env())
