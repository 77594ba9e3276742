"""Webhooks: an account's HTTPS endpoints for job events, and the log of what was delivered to them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field

from ingest.errors import BadRequestError
from ingest.models.base import REQUIRED, RequestModel, View
from ingest.models.common import Timestamp
from ingest.models.rules import required_text, rule

MAX_URL_LENGTH = 2048
MAX_EVENT_TYPES = 20
DeliveryStatus = Literal["pending", "succeeded", "failed"]


def event_type_list(value: Any) -> list[str]:
    """A non-empty list of strings; which names are event types is logic/webhooks.py's to say."""
    if not isinstance(value, list) or not value or not all(isinstance(item, str) for item in value):
        raise BadRequestError('event_types is required: a non-empty list such as ["upload.completed"] or ["*"]')
    if len(value) > MAX_EVENT_TYPES:
        raise BadRequestError(f"event_types may hold at most {MAX_EVENT_TYPES} entries")
    return list(dict.fromkeys(value))


class NewWebhook(RequestModel):
    """POST /v1/webhooks"""

    unknown_fields_message = "only url and event_types can be given; got {unknown}"

    url: Annotated[str, Field(max_length=MAX_URL_LENGTH, description=(
        "https URL with a public address (checked again, resolved, at every delivery)")), REQUIRED,
        rule(required_text, "url", MAX_URL_LENGTH)] = None
    event_types: Annotated[list[str], Field(min_length=1, max_length=MAX_EVENT_TYPES, description=(
        "`<job type>.<created|processing|completed|failed>` (e.g. upload.completed, clear.completed), "
        "or `*` for every event")), REQUIRED, rule(event_type_list)] = None


class WebhookView(View):
    id: str
    url: str
    event_types: list[str]
    created_at: Timestamp


class NewWebhookView(WebhookView):
    secret_fields: ClassVar[tuple[str, ...]] = ("secret",)

    secret: Annotated[Annotated[str, Field(pattern="^whsec_")] | None, Field(description=(
        "the signing secret: shown in this answer only (stored encrypted, readable only by the delivery "
        "function); null when the answer is an Idempotency-Key replay"))]


class WebhookList(View):
    webhooks: list[WebhookView]


class AttemptView(View):
    attempt: int
    at: Timestamp
    response_code: Annotated[int | None, Field(description="the endpoint's HTTP status; null when none came back")]
    error: Annotated[str | None, Field(description="why no 2xx: timeout, connection refused, refused address...")]


class DeliveryView(View):
    id: str
    event_id: Annotated[str, Field(description="the job event's id (EventBridge's); the same in every attempt")]
    event_type: str
    job_id: str
    status: DeliveryStatus
    attempts: int
    last_response_code: int | None
    last_error: str | None
    created_at: Timestamp
    last_attempt_at: Timestamp | None
    next_attempt_at: Annotated[Timestamp | None, Field(description="when a pending delivery is tried again")]
    attempt_log: list[AttemptView]


class DeliveryList(View):
    deliveries: Annotated[list[DeliveryView], Field(description="the latest 100, newest first")]


@dataclass(frozen=True)
class Target:
    """A checked webhook destination (logic/webhook_targets.py resolves and checks it; the sender,
    adapters/webhook_sender.py, uses it): connect to `address`, speak `scheme` to `host`."""

    scheme: str
    host: str  # the URL's host, for the Host header and TLS (SNI and certificate check)
    port: int
    path: str  # path and query, as sent
    address: str
