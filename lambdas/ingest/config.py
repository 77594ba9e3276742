"""Each function's environment as a typed model, read once and checked at cold start.

Logic and adapters never read os.environ: handlers build these and pass values down.
The CDK constructs set exactly these variable names (infra/names.py mirrors them).
"""

import os
from dataclasses import MISSING, dataclass, fields


class ConfigError(RuntimeError):
    pass


def _load(cls):
    values = {}
    missing = []
    for field in fields(cls):
        raw = os.environ.get(field.name.upper())
        if raw is None:
            if field.default is not MISSING:
                continue
            missing.append(field.name.upper())
            continue
        values[field.name] = field.type(raw) if field.type in (int, float) else raw
    if missing:
        raise ConfigError(f"{cls.__name__}: missing environment variables {', '.join(missing)}")
    return cls(**values)


@dataclass(frozen=True)
class AuthSettings:
    tokens_table: str
    accounts_table: str

    @classmethod
    def from_env(cls) -> "AuthSettings":
        return _load(cls)


@dataclass(frozen=True)
class ImportAuthSettings:
    """The Basic-auth authorizer of the Localytics-compatible routes."""

    imports_table: str
    accounts_table: str

    @classmethod
    def from_env(cls) -> "ImportAuthSettings":
        return _load(cls)


@dataclass(frozen=True)
class ApiSettings:
    uploads_bucket: str
    jobs_table: str
    datasets_table: str
    records_table: str
    clear_state_machine_arn: str
    tokens_table: str
    accounts_table: str
    usage_plan_name: str  # the per-token usage plan, found by name (infra/api.py says why not by id)
    rate_limit_per_second: int
    rate_limit_burst: int
    # Import keys and target datasets of the compatible APIs, and the per-key quota counters (infra/imports.py).
    imports_table: str
    quotas_table: str
    profile_uploads_per_hour: int
    profile_status_requests_per_minute: int
    audiences_table: str  # audience lists and their per-account counter (infra/audiences.py)
    # Per-key quotas of the Localytics Audience Imports routes (infra/api.py, CDK context).
    audience_uploads_per_hour: int
    audience_status_requests_per_minute: int
    upload_url_ttl_seconds: int = 3600

    @classmethod
    def from_env(cls) -> "ApiSettings":
        return _load(cls)


@dataclass(frozen=True)
class TriggerSettings:
    jobs_table: str
    state_machine_arn: str

    @classmethod
    def from_env(cls) -> "TriggerSettings":
        return _load(cls)


@dataclass(frozen=True)
class WorkflowSettings:
    uploads_bucket: str
    jobs_table: str
    datasets_table: str
    records_table: str
    audiences_table: str
    chunk_target_bytes: int = 32 * 1024 * 1024
    max_chunks: int = 256

    @classmethod
    def from_env(cls) -> "WorkflowSettings":
        return _load(cls)


@dataclass(frozen=True)
class ClearSettings:
    jobs_table: str
    datasets_table: str
    records_table: str

    @classmethod
    def from_env(cls) -> "ClearSettings":
        return _load(cls)
