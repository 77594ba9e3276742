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

    @classmethod
    def from_env(cls) -> "AuthSettings":
        return _load(cls)


@dataclass(frozen=True)
class ApiSettings:
    uploads_bucket: str
    jobs_table: str
    datasets_table: str
    records_table: str
    clear_state_machine_arn: str
    tokens_table: str
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
