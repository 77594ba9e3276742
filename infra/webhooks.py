"""Webhooks: their table, the key their secrets are sealed with, the delivery queue fed by a rule on the
job events, and the delivery function. Every webhook permission is granted here (the Api construct
calls grant_api for its function), so they can be read in one place:

- the API function: the table (create and delete are transactions of Put/Update/Delete on a webhook
  and its account's counter; list and deliveries are Queries and a GetItem) and kms:Encrypt only;
- the delivery function: the table (Query the account's webhooks, GetItem, PutItem a delivery,
  UpdateItem its attempts), kms:Decrypt only, sqs:SendMessage on the queue (each next attempt); the
  event source mapping adds what Lambda's poller needs to receive and delete the queue's messages.

Why a queue and not a Step Functions workflow per delivery, and what it costs: docs/decision_log.md
(2026-11-30, webhook deliveries) and docs/capacity.md ("Webhooks").
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra import nag
from infra.config import WebhookBackoff
from infra.functions import python_function
from infra.tables import table
from ingest.config import WebhookDeliverySettings

DELIVERY_TIMEOUT = Duration.seconds(60)  # a batch of BATCH_SIZE messages, each attempt at most 10 s
BATCH_SIZE = 5
MAX_RECEIVES = 5  # a message whose handling raised this often goes to the dead-letter queue
JOB_EVENTS_SOURCE = "bulk-ingest"  # lambdas/ingest/adapters/events.py SOURCE


class Webhooks(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, backoff: WebhookBackoff) -> None:
        super().__init__(scope, construct_id)
        # Deliveries expire (expires_at, 30 days) through DynamoDB's TTL.
        self.table = table(self, "WebhooksTable", "account_id", "item_key", time_to_live_attribute="expires_at")
        self.key = kms.Key(self, "WebhookSecretsKey", enable_key_rotation=True,
                           description="Webhook signing secrets: the API encrypts, the delivery function decrypts")
        dead_letters = sqs.Queue(self, "WebhookDeadLetters", retention_period=Duration.days(14),
                                 encryption=sqs.QueueEncryption.SQS_MANAGED, enforce_ssl=True)
        self.queue = sqs.Queue(
            self, "WebhookQueue",
            # Lambda's advice: at least 6 times the function's timeout, so a slow batch is not handed over twice.
            visibility_timeout=Duration.seconds(DELIVERY_TIMEOUT.to_seconds() * 6),
            retention_period=Duration.days(4),
            encryption=sqs.QueueEncryption.SQS_MANAGED, enforce_ssl=True,
            dead_letter_queue=sqs.DeadLetterQueue(queue=dead_letters, max_receive_count=MAX_RECEIVES),
        )
        nag.acknowledge(dead_letters, "AwsSolutions-SQS3", "This is the dead-letter queue of the webhook queue.")
        # Every job event of the default bus (logic/job_events.py) onto the queue.
        events.Rule(self, "JobEventsToWebhooks", event_pattern=events.EventPattern(source=[JOB_EVENTS_SOURCE]),
                    targets=[targets.SqsQueue(self.queue)],
                    description="Job state changes to the webhook delivery queue")
        self.function = python_function(
            self, "WebhookDeliveryFunction",
            handler="ingest.handlers.webhooks.handler",
            description="Webhooks: fans job events out and delivers them, signed, with retries",
            settings=WebhookDeliverySettings(
                webhooks_table=self.table.table_name, webhook_key_id=self.key.key_id,
                webhook_queue_url=self.queue.queue_url,
                webhook_retry_first_seconds=backoff.first_seconds,
                webhook_retry_max_seconds=backoff.max_seconds),
            timeout=DELIVERY_TIMEOUT, memory_size=256,
        )
        self.function.add_event_source(event_sources.SqsEventSource(
            self.queue, batch_size=BATCH_SIZE, report_batch_item_failures=True))
        self.table.grant(self.function, "dynamodb:Query", "dynamodb:GetItem", "dynamodb:PutItem",
                         "dynamodb:UpdateItem")
        self.function.add_to_role_policy(iam.PolicyStatement(actions=["kms:Decrypt"], resources=[self.key.key_arn]))
        self.function.add_to_role_policy(iam.PolicyStatement(actions=["sqs:SendMessage"],
                                                             resources=[self.queue.queue_arn]))

    def grant_api(self, function: lambda_.Function) -> None:
        self.table.grant(function, "dynamodb:Query", "dynamodb:GetItem", "dynamodb:PutItem",
                         "dynamodb:UpdateItem", "dynamodb:DeleteItem")
        function.add_to_role_policy(iam.PolicyStatement(actions=["kms:Encrypt"], resources=[self.key.key_arn]))
