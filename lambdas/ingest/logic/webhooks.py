"""Webhooks: registration (at most 5 per account, a secret shown once), and the delivery of job events.

How an event reaches an endpoint (docs/webhooks.md has the picture):
1. Every job state change is on the default EventBridge bus (logic/job_events.py); a rule on
   `source: bulk-ingest` puts it on the delivery queue (infra/webhooks.py).
2. `fan_out`: for each webhook of the event's account that wants its type, one delivery item (its id
   derived from the event's and the webhook's, so the same event handed over twice makes one) and one
   message for its first attempt.
3. `attempt`: claims the attempt (a conditional update: a duplicate message claims nothing), checks
   the URL's resolved address again, signs and POSTs. A non-2xx, timeout or connection error puts the
   next attempt on the queue after `Backoff.delay`, until the next attempt would fall more than 24 h
   after the delivery was created: then the delivery is `failed`.
Every attempt is appended to the delivery's log (GET /v1/webhooks/{id}/deliveries), and what `handle`
returns is logged by the handler (ids, attempt, response code; never the secret, the body or the URL).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ingest import clock
from ingest.errors import BadRequestError, ConflictError, NotFoundError
from ingest.ids import new_id
from ingest.logic import job_events, webhook_signatures
from ingest.logic.counted import counted_write
from ingest.logic.webhook_targets import Resolver, UnsafeTargetError, check_url, resolve_target, system_resolver
from ingest.models.common import JOB_STATUSES
from ingest.models.webhooks import (
    AttemptView,
    DeliveryList,
    DeliveryView,
    NewWebhook,
    NewWebhookView,
    WebhookList,
    WebhookView,
)

MAX_WEBHOOKS = 5
WEBHOOK_LIMIT_MESSAGE = f"an account may have at most {MAX_WEBHOOKS} webhooks; delete one first"
ALL_EVENTS = "*"
RETRY_WINDOW = timedelta(hours=24)
DELIVERIES_LISTED = 100
DELIVERY_KEPT = timedelta(days=30)  # DynamoDB's TTL removes a delivery's item after this
DETAIL_TYPE_SUFFIX = " Job State Change"
USER_AGENT = "bulk-ingest-webhooks/1"


# -- event types: derived from the job events, never listed per feature --------------------------------
def status_name(status: str) -> str:
    return "created" if status == "Pending" else status.lower()


def job_type_of(detail_type: str) -> str:
    """"Upload Job State Change" -> "upload"."""
    return detail_type.removesuffix(DETAIL_TYPE_SUFFIX).lower()


def event_type(detail_type: str, status: str) -> str:
    return f"{job_type_of(detail_type)}.{status_name(status)}"


def known_event_types() -> list[str]:
    return [event_type(detail, status) for detail in job_events.DETAIL_TYPES.values() for status in JOB_STATUSES]


def checked_event_types(names: list[str]) -> list[str]:
    known = known_event_types()
    for name in names:
        if name != ALL_EVENTS and name not in known:
            raise BadRequestError(f"event_types: {name!r} is not an event type; use * or one of: {', '.join(known)}")
    return names


def wants(webhook: dict[str, Any], name: str) -> bool:
    return ALL_EVENTS in webhook["event_types"] or name in webhook["event_types"]


# -- registration ---------------------------------------------------------------------------------------
def webhook_view(item: dict[str, Any]) -> WebhookView:
    return WebhookView(id=item["webhook_id"], url=item["url"], event_types=item["event_types"],
                       created_at=item["created_at"])


def create_webhook(table, secrets, account_id: str, body: NewWebhook,
                   resolve: Resolver = system_resolver) -> NewWebhookView:
    event_types = checked_event_types(body.event_types)
    url = check_url(body.url, resolve)
    webhook_id = "wh_" + new_id()
    secret = webhook_signatures.new_secret()
    item = {"account_id": account_id, "webhook_id": webhook_id, "url": url, "event_types": event_types,
            "created_at": clock.iso_now(), "sealed_secret": secrets.seal(secret, account_id, webhook_id)}
    added = counted_write(lambda: table.add_within_limit(item, MAX_WEBHOOKS),
                          lambda: table.start_count(account_id, len(table.list_webhooks(account_id))))
    if not added:
        raise ConflictError(WEBHOOK_LIMIT_MESSAGE)
    return NewWebhookView(**dict(webhook_view(item)), secret=secret)


def list_webhooks(table, account_id: str) -> WebhookList:
    return WebhookList(webhooks=[webhook_view(item) for item in table.list_webhooks(account_id)])


def _not_found(webhook_id: str) -> NotFoundError:
    return NotFoundError(f"webhook {webhook_id} not found")


def delete_webhook(table, account_id: str, webhook_id: str) -> None:
    if not table.remove(account_id, webhook_id):
        raise _not_found(webhook_id)


def delivery_view(item: dict[str, Any]) -> DeliveryView:
    return DeliveryView(
        id=item["delivery_id"], event_id=item["event_id"], event_type=item["event_type"], job_id=item["job_id"],
        status=item["delivery_status"], attempts=item.get("attempts", 0),
        last_response_code=item.get("last_response_code"), last_error=item.get("last_error"),
        created_at=item["created_at"], last_attempt_at=item.get("last_attempt_at"),
        next_attempt_at=item.get("next_attempt_at"),
        attempt_log=[AttemptView(attempt=entry["attempt"], at=entry["at"], response_code=entry["response_code"],
                                 error=entry["error"]) for entry in item.get("attempt_log", [])])


def list_deliveries(table, account_id: str, webhook_id: str) -> DeliveryList:
    if table.get_webhook(account_id, webhook_id) is None:
        raise _not_found(webhook_id)
    return DeliveryList(deliveries=[delivery_view(item) for item in
                                    table.list_deliveries(account_id, webhook_id, DELIVERIES_LISTED)])


# -- delivery -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Backoff:
    """Seconds before attempt n+1 after attempt n failed: first * 2^(n-1), at most max_seconds; attempts
    stop once the next would come later than `window` after the delivery was created."""

    first_seconds: int = 30
    max_seconds: int = 3600
    window: timedelta = RETRY_WINDOW

    def delay(self, failed_attempt: int) -> int:
        return min(self.max_seconds, self.first_seconds * 2 ** min(failed_attempt - 1, 32))

    def schedule(self) -> list[int]:
        """Each attempt's offset in seconds from the first, when every attempt fails."""
        offsets, attempt = [0], 1
        while offsets[-1] + self.delay(attempt) <= self.window.total_seconds():
            offsets.append(offsets[-1] + self.delay(attempt))
            attempt += 1
        return offsets


@dataclass(frozen=True)
class Delivering:
    """What `attempt` works with (handlers/webhooks.py builds it from wiring)."""

    table: Any
    secrets: Any
    sender: Any
    queue: Any
    backoff: Backoff
    resolve: Resolver = system_resolver


def _delivery_id(event: dict[str, Any], webhook_id: str) -> str:
    # Sorts by the event's time (the list is newest first); the same event and webhook always give the
    # same id, however late a repeat of the event arrives.
    digest = hashlib.sha256(f"{event['id']}:{webhook_id}".encode()).hexdigest()[:20]
    return f"{datetime.fromisoformat(event['time']).strftime('%Y%m%dT%H%M%S')}-{digest}"


def payload(event: dict[str, Any], name: str) -> bytes:
    """What the endpoint receives: the event's id, type and time and the job's public view."""
    data = {key: value for key, value in event["detail"].items() if key != "account_id"}
    return json.dumps({"id": event["id"], "type": name, "created_at": event["time"], "data": data},
                      separators=(",", ":"), sort_keys=True).encode("utf-8")


def _attempt_message(delivery: dict[str, Any], attempt: int, due: datetime) -> dict[str, Any]:
    return {"delivery": {"account_id": delivery["account_id"], "webhook_id": delivery["webhook_id"],
                         "delivery_id": delivery["delivery_id"], "attempt": attempt, "due_at": clock.iso(due)}}


def fan_out(delivering: Delivering, event: dict[str, Any], now: datetime) -> dict[str, Any]:
    """One delivery per webhook of the account that wants the event; says how many were queued."""
    if not event.get("detail-type", "").endswith(DETAIL_TYPE_SUFFIX):
        return {"outcome": "not a job event"}  # the rule takes the whole source: only job events are ours
    detail = event["detail"]
    name = event_type(event["detail-type"], detail["status"])
    body = payload(event, name).decode("utf-8")
    queued = 0
    for webhook in delivering.table.list_webhooks(detail["account_id"]):
        if not wants(webhook, name):
            continue
        delivery = {"account_id": detail["account_id"], "webhook_id": webhook["webhook_id"],
                    "delivery_id": _delivery_id(event, webhook["webhook_id"]), "event_id": event["id"],
                    "event_type": name, "job_id": detail["id"], "body": body, "delivery_status": "pending",
                    "attempts": 0, "created_at": clock.iso(now),
                    "expires_at": int((now + DELIVERY_KEPT).timestamp())}
        if not delivering.table.add_delivery(delivery):
            stored = delivering.table.get_delivery(delivery["account_id"], delivery["webhook_id"],
                                                   delivery["delivery_id"])
            if not stored or stored.get("attempts", 0) != 0:
                continue  # the event was handed over twice and its delivery is already under way
        delivering.queue.send(_attempt_message(delivery, 1, now))
        queued += 1
    return {"outcome": "fanned out", "event_type": name, "deliveries": queued}


def attempt(delivering: Delivering, message: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Make (or postpone) one attempt; says what happened (the handler logs it): outcome postponed,
    gone, duplicate, succeeded, retrying or failed, with the attempt's number, response code and error."""
    wanted = message["delivery"]
    account_id, webhook_id, delivery_id = wanted["account_id"], wanted["webhook_id"], wanted["delivery_id"]
    number = int(wanted["attempt"])
    report: dict[str, Any] = {"webhook_id": webhook_id, "delivery_id": delivery_id, "attempt": number}
    due = datetime.fromisoformat(wanted["due_at"])
    if due > now:  # a wait longer than one SQS delay (15 min) takes several hops
        delivering.queue.send(message, int((due - now).total_seconds()) + 1)
        return {**report, "outcome": "postponed"}
    webhook = delivering.table.get_webhook(account_id, webhook_id)
    if webhook is None:
        return {**report, "outcome": "gone"}  # deleted since: its deliveries stop
    delivery = delivering.table.claim_attempt(account_id, webhook_id, delivery_id, number, clock.iso(now))
    if delivery is None:
        return {**report, "outcome": "duplicate"}
    try:
        code, error = _send(delivering, webhook, delivery, now)
    except Exception as exc:  # noqa: BLE001 (our side failed, KMS say: a failed attempt, retried as one)
        # Not raised: the attempt is claimed, so the same message again would claim nothing and the
        # delivery would stay pending for good.
        code, error = None, f"not sent: {type(exc).__name__}"
    succeeded = code is not None and 200 <= code < 300
    next_at = now + timedelta(seconds=delivering.backoff.delay(number))
    created = datetime.fromisoformat(delivery["created_at"])
    if succeeded:
        status = "succeeded"
    elif next_at - created <= delivering.backoff.window:
        status = "retrying"
        # Queued before the outcome is written: if writing fails, this message comes again, claims
        # nothing (the attempt is already counted), and the next attempt is still on its way.
        delivering.queue.send(_attempt_message(delivery, number + 1, next_at), delivering.backoff.delay(number))
    else:
        status = "failed"
    delivering.table.record_attempt(
        account_id, webhook_id, delivery_id,
        {"attempt": number, "at": clock.iso(now), "response_code": code, "error": error},
        "pending" if status == "retrying" else status, clock.iso(next_at) if status == "retrying" else None)
    return {**report, "outcome": status, "event_type": delivery["event_type"], "response_code": code,
            "error": error}


def _send(delivering: Delivering, webhook: dict[str, Any], delivery: dict[str, Any],
          now: datetime) -> tuple[int | None, str | None]:
    try:
        target = resolve_target(webhook["url"], delivering.resolve)
    except UnsafeTargetError as exc:  # its name resolves elsewhere now: refused, and tried again later
        return None, str(exc)
    secret = delivering.secrets.open(webhook["sealed_secret"], webhook["account_id"], webhook["webhook_id"])
    body = delivery["body"].encode("utf-8")
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
               "Bulk-Ingest-Delivery": delivery["delivery_id"], "Bulk-Ingest-Event": delivery["event_type"],
               **webhook_signatures.headers(secret, int(now.timestamp()), body)}
    outcome = delivering.sender.post(target, body, headers)
    return outcome.response_code, outcome.error


def handle(delivering: Delivering, body: dict[str, Any]) -> dict[str, Any]:
    """One queue message: a job event (from the rule) or a delivery attempt (from `fan_out`/`attempt`)."""
    now = clock.now()  # looked up at each call: the local stack's tests move the functions' clock
    if "delivery" in body:
        return attempt(delivering, body, now)
    return fan_out(delivering, body, now)
