"""The composition root: every function's adapters, built once per cold start, in one place.

Each Lambda function has its own environment (config.py) and so its own set: `build_*` makes one
from settings and a source of boto3 clients (the constructor seam: tests build them with their own
clients, or wrap what these return), and the cached accessor below each builds the deployed set on
first use and hands the same one to every route module after that. Nothing else in lambdas/
constructs an adapter: every adapter, and the load workflow's steps (LoadSteps), is made by `_make`,
which is the constructor itself unless the local stack's test support has wrapped that class with
`use` (the seam below).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

from ingest.adapters import aws
from ingest.adapters.audience_store import AudienceMembers, AudienceStore
from ingest.adapters.control_tables import AccountsTable, DatasetsTable, JobsTable, TokensTable
from ingest.adapters.delivery_queue import DeliveryQueue
from ingest.adapters.events import JobEvents
from ingest.adapters.import_keys_table import ImportKeysTable
from ingest.adapters.object_store import ObjectStore
from ingest.adapters.quota_counters import QuotaCounters
from ingest.adapters.record_store import RecordStore
from ingest.adapters.usage_plans import UsagePlanKeys
from ingest.adapters.webhook_secrets import WebhookSecrets
from ingest.adapters.webhook_sender import WebhookSender
from ingest.adapters.webhooks_table import WebhooksTable
from ingest.adapters.workflow import WorkflowStarter
from ingest.clock import SystemClock
from ingest.config import (
    ApiSettings,
    AuthSettings,
    ClearSettings,
    ConsoleSettings,
    ImportAuthSettings,
    RevertSettings,
    SweeperSettings,
    TriggerSettings,
    WebhookDeliverySettings,
    WorkflowSettings,
)
from ingest.logic import accounts, job_events, localytics, localytics_audiences, quotas, webhooks
from ingest.logic.accounts import RateLimit
from ingest.logic.load.context import LoadContext, LoadSettings

if TYPE_CHECKING:
    from ingest.logic.load.steps import LoadSteps


class Clients(Protocol):
    """Where adapters get their boto3 objects: adapters/aws.py in Lambda."""

    def table(self, name: str) -> Any: ...

    def client(self, service: str) -> Any: ...

    def dynamodb_wire(self, max_connections: int) -> Any: ...


# -- the seam for test support -----------------------------------------------------------------------
# In Lambda nothing is installed here. The local stack runs every function in one process, and its
# fault injection (tests/support/faults.py) changes what a class is made into for the length of a
# test: a record store that fails after some writes, one whose DynamoDB client throttles, load steps
# of which one crashes. It wraps the public constructor with the arguments chosen here, so it never
# reaches into an adapter's private parts, and the sets built before and after it are the plain ones.
Wrapper = Callable[..., Any]
"""wrapper(make, *args, **kwargs) -> what the functions get instead of make(*args, **kwargs)."""

_wrappers: dict[type, tuple[Wrapper, ...]] = {}
_generation = 0  # changes whenever _wrappers does: every cached set is then built again
_lock = threading.Lock()


def use(cls: type, wrapper: Wrapper) -> Callable[[], None]:
    """Make every `cls` through `wrapper` until the returned function is called.

    The cached sets are dropped on both sides, so each function's next use builds its set with the
    wrapper, and builds it plain again afterwards. Wrappers of one class nest, the latest outermost.
    """
    global _generation  # noqa: PLW0603 (the one counter every accessor compares against)
    with _lock:
        _wrappers[cls] = (*_wrappers.get(cls, ()), wrapper)
        _generation += 1

    def remove() -> None:
        global _generation  # noqa: PLW0603 (the one counter every accessor compares against)
        with _lock:
            remaining = tuple(w for w in _wrappers.get(cls, ()) if w is not wrapper)
            if remaining:
                _wrappers[cls] = remaining
            else:
                _wrappers.pop(cls, None)
            _generation += 1

    return remove


def _make[T](cls: type[T], *args: Any, **kwargs: Any) -> T:
    """cls(*args, **kwargs), through the wrappers installed for cls (none in Lambda)."""
    make: Callable[..., Any] = cls
    for wrapper in _wrappers.get(cls, ()):
        make = functools.partial(wrapper, make)
    return make(*args, **kwargs)


def _built_once[T](build: Callable[[], T]) -> Callable[[], T]:
    """The accessor of one function's set: built on first use, kept until `use` changes what sets are
    made of (a set whose build began before the change is not kept)."""
    held: tuple[int, Any] | None = None

    @functools.wraps(build)
    def accessor() -> T:
        nonlocal held
        generation, current = _generation, held
        if current is not None and current[0] == generation:
            return current[1]
        built = build()
        held = (generation, built)
        return built

    def cache_clear() -> None:
        nonlocal held
        held = None

    accessor.cache_clear = cache_clear  # type: ignore[attr-defined]  # as functools.cache's accessors
    return accessor


def _announcing_jobs(clients: Clients, table_name: str) -> JobsTable:
    """The jobs table of a function that changes job status: each change is published (job events).
    Such a function needs events:PutEvents on the default bus (infra/events.py grant_job_events)."""
    events = _make(JobEvents, clients.client("events"))
    return _make(JobsTable, clients.table(table_name), functools.partial(job_events.announce, events))


# -- the API function (handlers/api.py and handlers/compat_api.py) -----------------------------------
@dataclass(frozen=True)
class ApiAdapters:
    jobs: JobsTable
    datasets: DatasetsTable
    objects: ObjectStore
    records: RecordStore
    clear_starter: WorkflowStarter
    revert_starter: WorkflowStarter
    tokens: TokensTable
    token_keys: UsagePlanKeys
    accounts: AccountsTable
    audiences: AudienceStore
    audience_members: AudienceMembers
    imports: ImportKeysTable  # import keys, and the target datasets of the compatible APIs
    quota_counters: QuotaCounters
    idempotency: DynamoDBPersistenceLayer  # Idempotency-Key records (handlers/idempotency.py)
    webhooks: WebhooksTable
    webhook_secrets: WebhookSecrets  # seals new webhooks' secrets (encrypt only)
    # Settings the logic takes as values.
    url_ttl_seconds: int
    max_upload_bytes: int  # the largest file a multipart upload may declare (CDK context)
    rate_limit: RateLimit
    profile_quotas: localytics.ImportQuotas
    audience_uploads_quota: quotas.Quota
    audience_status_quota: quotas.Quota


def build_api(settings: ApiSettings, clients: Clients = aws) -> ApiAdapters:
    return ApiAdapters(
        jobs=_announcing_jobs(clients, settings.jobs_table),
        datasets=_make(DatasetsTable, clients.table(settings.datasets_table), settings.new_dataset_shards),
        objects=_make(ObjectStore, clients.client("s3"), settings.uploads_bucket),
        records=_make(RecordStore, clients.client("dynamodb"), settings.records_table),
        clear_starter=_make(WorkflowStarter, clients.client("stepfunctions"), settings.clear_state_machine_arn),
        revert_starter=_make(WorkflowStarter, clients.client("stepfunctions"), settings.revert_state_machine_arn),
        tokens=_make(TokensTable, clients.table(settings.tokens_table)),
        token_keys=_make(UsagePlanKeys, clients.client("apigateway"), settings.usage_plan_name),
        accounts=_make(AccountsTable, clients.table(settings.accounts_table)),
        audiences=_make(AudienceStore, clients.table(settings.audiences_table)),
        audience_members=_make(AudienceMembers, clients.client("dynamodb"), settings.records_table),
        imports=_make(ImportKeysTable, clients.table(settings.imports_table)),
        quota_counters=_make(QuotaCounters, clients.table(settings.quotas_table)),
        idempotency=_make(DynamoDBPersistenceLayer, table_name=settings.idempotency_table,
                          boto3_client=clients.client("dynamodb")),
        webhooks=_make(WebhooksTable, clients.table(settings.webhooks_table)),
        webhook_secrets=_make(WebhookSecrets, clients.client("kms"), settings.webhook_key_id),
        url_ttl_seconds=settings.upload_url_ttl_seconds,
        max_upload_bytes=settings.max_upload_bytes,
        rate_limit=accounts.RateLimit(settings.rate_limit_per_second, settings.rate_limit_burst),
        profile_quotas=localytics.import_quotas(settings.profile_uploads_per_hour,
                                                settings.profile_status_requests_per_minute),
        audience_uploads_quota=localytics_audiences.uploads_quota(settings.audience_uploads_per_hour),
        audience_status_quota=localytics_audiences.status_requests_quota(settings.audience_status_requests_per_minute),
    )


@_built_once
def api() -> ApiAdapters:
    return build_api(ApiSettings.from_env())


# -- the authorizers ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class AuthAdapters:
    tokens: TokensTable
    accounts: AccountsTable


def build_authorizer(settings: AuthSettings, clients: Clients = aws) -> AuthAdapters:
    return AuthAdapters(tokens=_make(TokensTable, clients.table(settings.tokens_table)),
                        accounts=_make(AccountsTable, clients.table(settings.accounts_table)))


@_built_once
def authorizer() -> AuthAdapters:
    return build_authorizer(AuthSettings.from_env())


@dataclass(frozen=True)
class ImportAuthAdapters:
    keys: ImportKeysTable
    accounts: AccountsTable


def build_import_authorizer(settings: ImportAuthSettings, clients: Clients = aws) -> ImportAuthAdapters:
    return ImportAuthAdapters(keys=_make(ImportKeysTable, clients.table(settings.imports_table)),
                              accounts=_make(AccountsTable, clients.table(settings.accounts_table)))


@_built_once
def import_authorizer() -> ImportAuthAdapters:
    return build_import_authorizer(ImportAuthSettings.from_env())


# -- the upload trigger and the workflows ------------------------------------------------------------
@dataclass(frozen=True)
class TriggerAdapters:
    jobs: JobsTable
    starter: WorkflowStarter


def build_trigger(settings: TriggerSettings, clients: Clients = aws) -> TriggerAdapters:
    return TriggerAdapters(jobs=_make(JobsTable, clients.table(settings.jobs_table)),
                           starter=_make(WorkflowStarter, clients.client("stepfunctions"), settings.state_machine_arn))


@_built_once
def trigger() -> TriggerAdapters:
    return build_trigger(TriggerSettings.from_env())


def build_load_steps(settings: WorkflowSettings, clients: Clients = aws) -> LoadSteps:
    load_settings = LoadSettings(
        range_bytes=settings.range_bytes,
        max_ranges=settings.max_ranges,
        partitions=settings.load_partitions,
        load_max_concurrency=settings.load_max_concurrency,
        load_write_rate_per_second=settings.load_write_rate_per_second,
        decompress_budget_seconds=settings.decompress_budget_seconds,
        inflate_group_bytes=settings.inflate_group_bytes,
        revert_retention_days=settings.revert_retention_days,
        max_upload_bytes=settings.max_upload_bytes,
    )
    context = LoadContext(
        objects=_make(ObjectStore, clients.client("s3"), settings.uploads_bucket),
        jobs=_announcing_jobs(clients, settings.jobs_table),
        datasets=_make(DatasetsTable, clients.table(settings.datasets_table)),
        # A Load's UpdateItem calls go through the wire sender (one connection per writer thread):
        # boto3's per-call CPU was most of a Load's (docs/capacity.md).
        records=_make(RecordStore, clients.client("dynamodb"), settings.records_table,
                      load_writes=clients.dynamodb_wire(load_settings.load_threads)),
        audiences=_make(AudienceStore, clients.table(settings.audiences_table)),
        settings=load_settings,
    )
    from ingest.logic.load.steps import LoadSteps

    return _make(LoadSteps, context)


@_built_once
def load_steps() -> LoadSteps:
    return build_load_steps(WorkflowSettings.from_env())


@dataclass(frozen=True)
class ClearAdapters:
    jobs: JobsTable
    datasets: DatasetsTable
    records: RecordStore


def build_clear(settings: ClearSettings, clients: Clients = aws) -> ClearAdapters:
    return ClearAdapters(jobs=_announcing_jobs(clients, settings.jobs_table),
                         datasets=_make(DatasetsTable, clients.table(settings.datasets_table)),
                         records=_make(RecordStore, clients.client("dynamodb"), settings.records_table))


@_built_once
def clear() -> ClearAdapters:
    return build_clear(ClearSettings.from_env())


def build_revert(settings: RevertSettings, clients: Clients = aws) -> LoadContext:
    """The Revert workflow's adapters, as a LoadContext: its first step takes the dataset's load hold
    with the load workflow's own code (logic/load/hold.py)."""
    return LoadContext(objects=_make(ObjectStore, clients.client("s3"), settings.uploads_bucket),
                       jobs=_announcing_jobs(clients, settings.jobs_table),
                       datasets=_make(DatasetsTable, clients.table(settings.datasets_table)),
                       records=_make(RecordStore, clients.client("dynamodb"), settings.records_table))


@_built_once
def revert() -> LoadContext:
    return build_revert(RevertSettings.from_env())


@dataclass(frozen=True)
class SweeperAdapters:
    jobs: JobsTable
    objects: ObjectStore
    clock: SystemClock
    abort_after_days: int
    sweep_interval: timedelta


def build_sweeper(settings: SweeperSettings, clients: Clients = aws) -> SweeperAdapters:
    return SweeperAdapters(jobs=_announcing_jobs(clients, settings.jobs_table),
                           objects=_make(ObjectStore, clients.client("s3"), settings.uploads_bucket),
                           clock=_make(SystemClock), abort_after_days=settings.multipart_abort_days,
                           sweep_interval=timedelta(seconds=settings.sweep_interval_seconds))


@_built_once
def sweeper() -> SweeperAdapters:
    return build_sweeper(SweeperSettings.from_env())


@dataclass(frozen=True)
class ConsoleAdapters:
    objects: ObjectStore  # only to presign: the console's CSP allows connections to where its URLs point


def build_console(settings: ConsoleSettings, clients: Clients = aws) -> ConsoleAdapters:
    return ConsoleAdapters(objects=_make(ObjectStore, clients.client("s3"), settings.uploads_bucket))


@_built_once
def console() -> ConsoleAdapters:
    return build_console(ConsoleSettings.from_env())


# -- webhook deliveries (handlers/webhooks.py) -------------------------------------------------------
def build_webhook_delivery(settings: WebhookDeliverySettings, clients: Clients = aws) -> webhooks.Delivering:
    return webhooks.Delivering(
        table=_make(WebhooksTable, clients.table(settings.webhooks_table)),
        secrets=_make(WebhookSecrets, clients.client("kms"), settings.webhook_key_id),
        sender=_make(WebhookSender),
        queue=_make(DeliveryQueue, clients.client("sqs"), settings.webhook_queue_url),
        backoff=webhooks.Backoff(settings.webhook_retry_first_seconds, settings.webhook_retry_max_seconds),
    )


@_built_once
def webhook_delivery() -> webhooks.Delivering:
    return build_webhook_delivery(WebhookDeliverySettings.from_env())
