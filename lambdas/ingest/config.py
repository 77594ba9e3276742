"""Each function's environment as a typed model: the one contract between the template and the handlers.

A settings class names what one handler module needs. Each field is one environment variable, its
name the field's in upper case (`uploads_bucket` -> `UPLOADS_BUCKET`), and that rule is used both ways:
- the handlers read their class once, at cold start: `WorkflowSettings.from_env()`, which fails naming
  every missing or malformed variable;
- the CDK constructs (infra/) build the same class from their resources and set exactly
  `WorkflowSettings(uploads_bucket=bucket.bucket_name, ...).environment()` on the function, so a
  variable cannot be spelt two ways, nor set on a function whose handler does not read it.
tests/infra/test_settings.py holds every function's environment to its handler's class.

Logic and adapters never read os.environ: handlers build these and pass values down. This module
imports only the standard library, so synthesis (which imports it) stays free of boto3 and Powertools.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import MISSING, asdict, dataclass, fields
from typing import TYPE_CHECKING, Any, ClassVar, Self, get_type_hints


class ConfigError(RuntimeError):
    pass


class Settings:
    """Shared behaviour of the frozen dataclasses below: field <-> environment variable, both ways."""

    if TYPE_CHECKING:  # every subclass is a dataclass (fields() and asdict() below rely on it)
        __dataclass_fields__: ClassVar[dict[str, Any]]

    @staticmethod
    def variable_name(field_name: str) -> str:
        return field_name.upper()

    @classmethod
    def variable_names(cls) -> dict[str, str]:
        """Field name -> environment variable name, for every field of the class."""
        return {field.name: cls.variable_name(field.name) for field in fields(cls)}

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        """The settings in `environ` (default: os.environ); a field with a default may be absent."""
        environ = os.environ if environ is None else environ
        types = get_type_hints(cls)
        values: dict[str, int | str] = {}
        missing: list[str] = []
        malformed: list[str] = []
        for field in fields(cls):
            name = cls.variable_name(field.name)
            raw = environ.get(name)
            if raw is None:
                if field.default is MISSING:
                    missing.append(name)
                continue
            if types[field.name] is int:
                try:
                    values[field.name] = int(raw)
                except ValueError:
                    malformed.append(f"{name}={raw!r} is not an integer")
            else:
                values[field.name] = raw
        problems = ([f"missing environment variables {', '.join(missing)}"] if missing else []) + malformed
        if problems:
            raise ConfigError(f"{cls.__name__}: {'; '.join(problems)}")
        return cls(**values)

    def environment(self) -> dict[str, str]:
        """Every field as the environment variable its handler reads (values may be CDK tokens)."""
        return {self.variable_name(name): str(value) for name, value in asdict(self).items()}


@dataclass(frozen=True)
class AuthSettings(Settings):
    """The token authorizer (handlers/authorizer.py)."""

    tokens_table: str
    accounts_table: str


@dataclass(frozen=True)
class ImportAuthSettings(Settings):
    """The Basic-auth authorizer of the Localytics-compatible routes (handlers/import_authorizer.py)."""

    imports_table: str
    accounts_table: str


@dataclass(frozen=True)
class ApiSettings(Settings):
    """The API function: every route, ours and the compatible ones (handlers/api.py, compat_api.py)."""

    uploads_bucket: str
    jobs_table: str
    datasets_table: str
    records_table: str
    clear_state_machine_arn: str
    revert_state_machine_arn: str
    tokens_table: str
    accounts_table: str
    usage_plan_name: str  # the per-token usage plan, found by name (infra/api.py says why not by id)
    # Per-token throttling (CDK context, infra/config.py), shown by GET /v1/account.
    rate_limit_per_second: int
    rate_limit_burst: int
    # Import keys and target datasets of the compatible APIs, and the per-key quota counters (infra/imports.py).
    imports_table: str
    quotas_table: str
    # Per-key quotas of the Localytics Profile and Audience Imports routes (CDK context, infra/config.py).
    profile_uploads_per_hour: int
    profile_status_requests_per_minute: int
    audience_uploads_per_hour: int
    audience_status_requests_per_minute: int
    audiences_table: str  # audience lists and their per-account counter (infra/audiences.py)
    idempotency_table: str  # Idempotency-Key records, 24 h (handlers/idempotency.py; infra/api.py)
    # Webhooks (infra/webhooks.py): their table, and the KMS key their secrets are sealed with (encrypt only).
    webhooks_table: str
    webhook_key_id: str
    max_upload_bytes: int  # the largest multipart upload (CDK context, infra/config.py)
    # How long a presigned upload or error-log URL is valid. Not deploy-time context: the compatible
    # APIs document one hour, and URLs signed with the function's role credentials cannot outlive them.
    upload_url_ttl_seconds: int = 3600
    # Records-table shards of a dataset created from now on (the load workflow's new_dataset_shards).
    new_dataset_shards: int = 64


@dataclass(frozen=True)
class TriggerSettings(Settings):
    """The S3 -> workflow trigger (handlers/upload_trigger.py)."""

    jobs_table: str
    state_machine_arn: str


@dataclass(frozen=True)
class WorkflowSettings(Settings):
    """Every step of the load workflow: they share one handler module (handlers/workflow.py)."""

    uploads_bucket: str
    jobs_table: str
    datasets_table: str
    records_table: str
    audiences_table: str
    # The plan's sizes: CDK context (infra/config.py), read into logic/load/context.py LoadSettings.
    range_bytes: int
    max_ranges: int
    load_partitions: int
    load_max_concurrency: int
    load_write_rate_per_second: int
    decompress_budget_seconds: int
    inflate_group_bytes: int
    max_upload_bytes: int  # the largest multipart upload Inspect accepts (CDK context, infra/config.py)
    # Days what a load replaced is kept for a revert (CDK context revert_retention_days): Finalize
    # shows the upload's revertible_until from it; the bucket's lifecycle rule expires the journal.
    revert_retention_days: int = 7


@dataclass(frozen=True)
class ClearSettings(Settings):
    """Every step of the Clear Data workflow (handlers/clear.py)."""

    jobs_table: str
    datasets_table: str
    records_table: str


@dataclass(frozen=True)
class WebhookDeliverySettings(Settings):
    """The webhook delivery function (handlers/webhooks.py): fans job events out and makes attempts."""

    webhooks_table: str
    webhook_key_id: str  # decrypt only: it opens the secrets the API sealed
    webhook_queue_url: str  # where it puts each next attempt
    # The backoff (CDK context, infra/config.py): first retry after this many seconds, doubling up to the max.
    webhook_retry_first_seconds: int
    webhook_retry_max_seconds: int


@dataclass(frozen=True)
class RevertSettings(Settings):
    """Every step of the Revert workflow (handlers/revert.py)."""

    uploads_bucket: str
    jobs_table: str
    datasets_table: str
    records_table: str


@dataclass(frozen=True)
class SweeperSettings(Settings):
    """The multipart lifecycle sweeper (handlers/multipart_sweeper.py)."""

    uploads_bucket: str
    jobs_table: str
    # Days after which the bucket's lifecycle rule aborts an incomplete multipart upload (CDK context).
    multipart_abort_days: int
    sweep_interval_seconds: int  # how often the schedule runs it (infra/multipart.py)


@dataclass(frozen=True)
class ConsoleSettings(Settings):
    """The console's page and files (handlers/console.py): it names the bucket only to know the origin
    presigned URLs point at, which the page's Content-Security-Policy lets it upload to."""

    uploads_bucket: str
