"""The deployment's settings: every CDK context value, read once, with its default, and checked.

`DeploymentConfig.from_context(node)` is the only reader of CDK context in infra/; the stack builds it
once and hands each construct the values it needs. Set a value with `-c key=value` on the cdk command
line (`npx aws-cdk@2 deploy -c upload_retention_days=90`), in cdk.json's "context", or in
CDK_CONTEXT_JSON (what the tests do). A value that is not a whole number, or is out of its range,
stops synthesis with a message naming the key.

CONTEXT_KEYS below is the table of keys: default, range and meaning. Every key is a whole number but
`browser_upload_origins`, a comma-separated list of web origins (OriginListKey). The README's deploy section shows
it (`context_keys_table()` renders it; tests/infra/test_config.py keeps the two equal).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Protocol


class ConfigError(ValueError):
    """A context value synthesis cannot use; the message names the key."""


@dataclass(frozen=True)
class ContextKey:
    default: int
    minimum: int
    maximum: int | None
    meaning: str
    unit: str = ""  # "bytes": shown in KiB/MiB/GiB

    def shown(self, value: int) -> str:
        if self.unit == "bytes":
            for name, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
                if value >= size and value % size == 0:
                    return f"{value // size} {name}"
        return f"{value:,}"

    def default_text(self) -> str:
        return self.shown(self.default)

    def range_text(self) -> str:
        low = self.shown(self.minimum)
        return f"≥ {low}" if self.maximum is None else f"{low} – {self.shown(self.maximum)}"  # noqa: RUF001 (a range's dash)

    def checked(self, key: str, raw: Any) -> int:
        if raw is None:
            return self.default
        # `-c key=value` arrives as a string, cdk.json and CDK_CONTEXT_JSON values as JSON numbers.
        if isinstance(raw, bool) or not isinstance(raw, (int, str)):
            raise ConfigError(f"{key}={raw!r} is not a whole number")
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{key}={raw!r} is not a whole number") from None
        if value < self.minimum or (self.maximum is not None and value > self.maximum):
            raise ConfigError(f"{key}={value} is out of range ({self.range_text()})")
        return value


# scheme://host[:port] with at most one `*` (S3's CORS wildcard: `https://*.example.com`, `http://127.0.0.1:*`),
# or `*` alone. No path, no trailing slash: a browser's Origin header never has one, so it would never match.
_ORIGIN = re.compile(r"^(\*|https?://[A-Za-z0-9.*-]+(:([0-9]+|\*))?)$")


@dataclass(frozen=True)
class OriginListKey:
    """A comma-separated list of web origins (`-c key=https://a.example.com,https://b.example.com`; a JSON
    list in cdk.json or CDK_CONTEXT_JSON works too)."""

    default: tuple[str, ...]
    meaning: str

    def shown(self, value: tuple[str, ...]) -> str:
        return ", ".join(f"`{origin}`" for origin in value)

    def default_text(self) -> str:
        return self.shown(self.default)

    def range_text(self) -> str:
        return "web origins, comma-separated"

    def checked(self, key: str, raw: Any) -> tuple[str, ...]:
        if raw is None:
            return self.default
        items = raw.split(",") if isinstance(raw, str) else raw
        if not isinstance(items, (list, tuple)) or not all(isinstance(item, str) for item in items):
            raise ConfigError(f"{key}={raw!r} is not a list of origins")
        origins = tuple(item.strip() for item in items if item.strip())
        bad = [origin for origin in origins if not _ORIGIN.match(origin) or origin.count("*") > 1]
        if not origins or bad:
            raise ConfigError(f"{key}={raw!r}: each origin is scheme://host[:port] with at most one *, "
                              f"or * alone ({', '.join(map(repr, bad)) or 'none given'})")
        return origins


MIB = 1024 * 1024
# The Load function's memory: the smallest that keeps one Load at its pace (docs/capacity.md, "Cost";
# infra/workflow.py uses it as Load's StepLimits).
LOAD_MEMORY_MB = 768

# Every context key, in the order the README lists them. The name is DeploymentConfig's field.
CONTEXT_KEYS: dict[str, ContextKey | OriginListKey] = {
    "upload_retention_days": ContextKey(
        30, 1, None,
        "Days uploaded originals and error logs are kept (so a job can be re-run), then expire."),
    "revert_retention_days": ContextKey(
        7, 1, None,
        "Days what each load replaced is kept so the load can be reverted (POST /v1/uploads/{id}/revert; "
        "the upload's `revertible_until`), then expire."),
    "range_bytes": ContextKey(
        128 * MIB, 1024, 1024 * MIB,
        "Bytes of the file one Scan or Split iteration reads (a gzip upload is first inflated into plain "
        "parts of this size). At 128 MiB a Split takes about a minute of its 15 (docs/capacity.md).",
        unit="bytes"),
    "max_ranges": ContextKey(
        10_000, 1, 10_000,
        "At most this many ranges per file: a larger plain file gets larger ranges, so its Scan and Split "
        "Maps stay bounded whatever `range_bytes` and the size."),
    "load_partitions": ContextKey(
        64, 1, 1000,
        "Partitions records are routed to by key hash: the Load map's iterations. Each Load reads its "
        "partition of every range, in file order, so the last line for a key wins."),
    "split_max_concurrency": ContextKey(
        64, 1, 1000,
        "Scan and Split iterations running at once (Distributed Map MaxConcurrency)."),
    "load_max_concurrency": ContextKey(
        64, 1, 1000,
        "Load iterations running at once (Distributed Map MaxConcurrency). As many as `load_partitions`, "
        "so a file of up to 8 GiB of lines loads in one wave, each Load at 1/64 of the write rate (625/s), "
        "a third of one vCPU with the wire sender's ~0.5 ms of CPU a write (docs/capacity.md)."),
    "load_write_rate_per_second": ContextKey(
        40_000, 1, None,
        "Record writes per second the Loads of one job aim for together, shared evenly by the Loads "
        "running at once (an on-demand table's default maximum is 40,000 write units per second)."),
    "load_memory_mb": ContextKey(
        LOAD_MEMORY_MB, 128, 10_240,
        "Memory of the Load function, in MB (its CPU share: one vCPU at 1,769 MB). 768 MB keeps one Load at "
        "its share of the write rate (625/s) with ~0.5 ms of CPU a record (the wire sender, HTTP included) "
        "and a third to spare; Lambda bills the same GB-s per CPU-second at any size below 1,769 MB, so more "
        "only pays for waiting on the pace. Raise it with the write rate per Load (docs/capacity.md)."),
    "decompress_budget_seconds": ContextKey(
        240, 0, 600,
        "Seconds one Decompress invocation inflates a gzip upload before it hands over to the next one "
        "at the end of its current plain part (a chain: any size of gzip within Lambda's 15 minutes). "
        "0: one part per invocation (tests)."),
    "inflate_group_bytes": ContextKey(
        64 * MIB, 1024, 1024 * MIB,
        "Compressed bytes per InflateMembers iteration: a gzip upload larger than this is tried in parallel "
        "by member (a multi-member file, as the CLI writes); one that is not a chain of members goes to "
        "Decompress.", unit="bytes"),
    "rate_limit_per_second": ContextKey(
        25, 1, 10_000,
        "Per-token API throttling: steady requests per second (API Gateway's default account limit is "
        "10,000). The stage's own limit for all callers, 50/s (infra/api.py), applies as well."),
    "rate_limit_burst": ContextKey(
        50, 1, 5_000,
        "Per-token API throttling: burst (API Gateway's default account burst is 5,000; the stage's "
        "own is 100)."),
    "profile_uploads_per_hour": ContextKey(
        10, 1, None,
        "Localytics Profile Imports: uploads per import key per hour (Localytics documents 10)."),
    "profile_status_requests_per_minute": ContextKey(
        60, 1, None,
        "Localytics Profile Imports: status requests per import key per minute (Localytics documents 60)."),
    "audience_uploads_per_hour": ContextKey(
        10, 1, None,
        "Localytics Audience Imports: uploads per import key per hour (as for profiles)."),
    "audience_status_requests_per_minute": ContextKey(
        60, 1, None,
        "Localytics Audience Imports: status requests per import key per minute (as for profiles)."),
    "webhook_retry_first_seconds": ContextKey(
        30, 1, 3600,
        "Webhooks: seconds before the first retry of a failed delivery; each next wait doubles, up to "
        "`webhook_retry_max_seconds`, for 24 hours (docs/webhooks.md)."),
    "webhook_retry_max_seconds": ContextKey(
        3600, 1, 86_400,
        "Webhooks: the longest wait between two attempts of one delivery."),
    "max_upload_bytes": ContextKey(
        100 * 1024 * MIB, 5 * 1024 * MIB, 1024 * 1024 * MIB,
        "The largest file a multipart upload may declare (and Inspect accepts): what the load workflow "
        "processes with every step under half its limits (README, Limits; docs/decision_log.md). A single "
        "PUT stays at 5 GiB.", unit="bytes"),
    "multipart_abort_days": ContextKey(
        7, 1, 30,
        "Days after which the uploads bucket's lifecycle rule aborts an incomplete multipart upload (its "
        "parts are deleted); a sweeper then fails its job with that reason."),
    "browser_upload_origins": OriginListKey(
        ("*",),
        "Web origins whose pages may PUT files and parts to the uploads bucket's presigned URLs and GET its "
        "error logs (the bucket's CORS rule; `docs/browser_upload.md`). `*` by default: a presigned URL is "
        "itself the credential. Name your app's origins (and the API's, for the console) to allow only them."),
}


@dataclass(frozen=True)
class LoadPlan:
    """The plan's sizes (CDK context, infra/config.py): what the steps and the Maps are sized by."""

    range_bytes: int
    max_ranges: int
    load_partitions: int
    split_max_concurrency: int
    load_max_concurrency: int
    load_write_rate_per_second: int
    load_memory_mb: int
    decompress_budget_seconds: int
    inflate_group_bytes: int
    max_upload_bytes: int


@dataclass(frozen=True)
class ApiLimits:
    """What the API construct needs of the configuration: the usage plan's throttle, and the per-key
    quotas the compatible routes count (the API function enforces both)."""

    rate_limit_per_second: int
    rate_limit_burst: int
    profile_uploads_per_hour: int
    profile_status_requests_per_minute: int
    audience_uploads_per_hour: int
    audience_status_requests_per_minute: int
    max_upload_bytes: int


@dataclass(frozen=True)
class WebhookBackoff:
    """The webhook delivery function's retry waits (lambdas/ingest/logic/webhooks.py Backoff)."""

    first_seconds: int
    max_seconds: int


class ContextReader(Protocol):
    def try_get_context(self, key: str) -> Any: ...


@dataclass(frozen=True)
class DeploymentConfig:
    """One field per context key (CONTEXT_KEYS), each a checked whole number."""

    upload_retention_days: int
    revert_retention_days: int
    range_bytes: int
    max_ranges: int
    load_partitions: int
    split_max_concurrency: int
    load_max_concurrency: int
    load_write_rate_per_second: int
    load_memory_mb: int
    decompress_budget_seconds: int
    inflate_group_bytes: int
    rate_limit_per_second: int
    rate_limit_burst: int
    profile_uploads_per_hour: int
    profile_status_requests_per_minute: int
    audience_uploads_per_hour: int
    audience_status_requests_per_minute: int
    webhook_retry_first_seconds: int
    webhook_retry_max_seconds: int
    max_upload_bytes: int
    multipart_abort_days: int
    browser_upload_origins: tuple[str, ...]

    @classmethod
    def from_context(cls, node: ContextReader) -> DeploymentConfig:
        """Read every key from a construct's node (app.py: the app's), defaults for those unset."""
        return cls.from_mapping({key: node.try_get_context(key) for key in CONTEXT_KEYS})

    @property
    def load_plan(self) -> LoadPlan:
        return LoadPlan(**{field.name: getattr(self, field.name) for field in fields(LoadPlan)})

    @property
    def api_limits(self) -> ApiLimits:
        return ApiLimits(**{field.name: getattr(self, field.name) for field in fields(ApiLimits)})

    @property
    def webhook_backoff(self) -> WebhookBackoff:
        return WebhookBackoff(self.webhook_retry_first_seconds, self.webhook_retry_max_seconds)

    @classmethod
    def from_mapping(cls, context: Mapping[str, Any]) -> DeploymentConfig:
        problems = []
        values: dict[str, Any] = {}
        for key, spec in CONTEXT_KEYS.items():
            try:
                values[key] = spec.checked(key, context.get(key))
            except ConfigError as exc:
                problems.append(str(exc))
        if problems:
            raise ConfigError("CDK context: " + "; ".join(problems))
        return cls(**values)


def context_keys_table() -> str:
    """CONTEXT_KEYS as the Markdown table the README's deploy section shows."""
    rows = [f"| `{key}` | {spec.default_text()} | {spec.range_text()} | {spec.meaning} |"
            for key, spec in CONTEXT_KEYS.items()]
    return "\n".join(["| Context key | Default | Range | Meaning |", "| --- | --- | --- | --- |", *rows])


assert [field.name for field in fields(DeploymentConfig)] == list(CONTEXT_KEYS), "one field per context key"
