"""Create the template's resources in moto, as CloudFormation would, and report their physical ids.

Only the resource types the service uses are created; API Gateway resources are served by
api_gateway/ (read from the template by its definition.py), except usage plans, which are created in
moto because minting a token adds an API key to one (api_gateway/usage_plans.py reads the keys back
to throttle per key); IAM policies, bucket policies, permissions and log groups get a physical id
only (access_guard.py reads the policies from the template). An unknown resource type stops the
deployment, so the template and the local stack cannot silently drift apart.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from typing import Any

from local_stack.template import Resolver, Template

CREATED_TYPES = {
    "AWS::S3::Bucket",
    "AWS::DynamoDB::Table",
    "AWS::IAM::Role",
    "AWS::Lambda::Function",
    "AWS::StepFunctions::StateMachine",
    "Custom::S3BucketNotifications",
    # Webhooks (infra/webhooks.py): the key that seals their secrets, the delivery queue and its
    # dead-letter queue, the rule that puts job events on it (moto's events backend delivers rules to
    # SQS targets), and the queue -> function mapping, which sqs_event_sources.py polls as Lambda does.
    "AWS::KMS::Key",
    "AWS::SQS::Queue",
    "AWS::Events::Rule",
    "AWS::Lambda::EventSourceMapping",
}
# No resource in moto. IAM policies and bucket policies are read from the template by
# local_stack/access_guard.py, which checks the handlers' calls against them; the others only
# configure AWS-side features.
ID_ONLY_TYPES = {
    "AWS::IAM::Policy",
    "AWS::Lambda::Permission",
    "AWS::Logs::LogGroup",
    "AWS::S3::BucketPolicy",
    "AWS::SQS::QueuePolicy",  # who may send to a queue: EventBridge (for the rule), over TLS only
    "AWS::CDK::Metadata",
}
API_GATEWAY_PREFIX = "AWS::ApiGateway::"
# Created in moto (the rest of API Gateway is only read from the template by api_gateway/definition.py).
USAGE_PLAN_TYPE = "AWS::ApiGateway::UsagePlan"
STACK_NAME = "BulkIngest"


class UnsupportedResourceError(RuntimeError):
    pass


@dataclass
class Deployment:
    template: Template
    resolver: Resolver
    functions: dict[str, dict[str, Any]] = field(default_factory=dict)  # logical id -> name, arn, handler, env
    outputs: dict[str, Any] = field(default_factory=dict)
    # SQS event source mappings: function name, queue URL and ARN, batch size, partial batch responses.
    event_sources: list[dict[str, Any]] = field(default_factory=list)

    def function_by_arn(self, arn: str) -> dict[str, Any]:
        for function in self.functions.values():
            if function["arn"] == arn:
                return function
        raise KeyError(arn)

    def physical_id(self, logical_id: str) -> Any:
        return self.resolver.refs[logical_id]


def _placeholder_zip() -> bytes:
    # moto stores code but never runs it: lambda_runtime.py runs the handler from lambdas/.
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README.txt", "local stack: handlers run in-process from lambdas/\n")
    return buffer.getvalue()


class Deployer:
    def __init__(self, session, account_id: str, region: str, stack_name: str = STACK_NAME):
        self._session = session
        self._account = account_id
        self._region = region
        self._stack = stack_name
        self._zip = _placeholder_zip()

    def _client(self, service: str):
        return self._session.client(service, region_name=self._region)

    def _name(self, logical_id: str, limit: int = 63) -> str:
        return f"{self._stack}-{logical_id}"[:limit]

    def deploy(self, template: Template) -> Deployment:
        resolver = Resolver(self._account, self._region, self._stack)
        deployment = Deployment(template, resolver)
        for logical_id in template.creation_order():
            resource = template.resources[logical_id]
            kind = resource["Type"]
            if kind == USAGE_PLAN_TYPE:
                self._create_usage_plan(deployment, logical_id, resolver.resolve(resource.get("Properties", {})))
            elif kind.startswith(API_GATEWAY_PREFIX):
                self._api_gateway_ids(resolver, logical_id, kind, resource.get("Properties", {}))
            elif kind in ID_ONLY_TYPES:
                resolver.refs[logical_id] = logical_id
                resolver.attributes[logical_id] = {"Arn": f"arn:aws:local:::{logical_id}"}
            elif kind in CREATED_TYPES:
                properties = resolver.resolve(resource.get("Properties", {}))
                getattr(self, "_create_" + kind.split("::")[-1].lower())(deployment, logical_id, properties)
            else:
                raise UnsupportedResourceError(
                    f"{logical_id} has type {kind}, which the local stack does not deploy; "
                    "teach local_stack/deployer.py about it"
                )
        deployment.outputs = {
            name: resolver.resolve(output["Value"]) for name, output in template.document.get("Outputs", {}).items()
        }
        return deployment

    @staticmethod
    def _api_gateway_ids(resolver: Resolver, logical_id: str, kind: str, properties: dict) -> None:
        # As in CloudFormation, a stage's Ref is its name (a usage plan names its stage by it).
        resolver.refs[logical_id] = properties["StageName"] if kind == "AWS::ApiGateway::Stage" else logical_id
        attributes = {"Arn": f"arn:aws:apigateway:local::/{logical_id}"}
        if kind == "AWS::ApiGateway::RestApi":
            attributes["RootResourceId"] = "root"
        resolver.attributes[logical_id] = attributes

    def _create_usage_plan(self, deployment: Deployment, logical_id: str, properties: dict) -> None:
        throttle = properties.get("Throttle") or {}
        plan = self._client("apigateway").create_usage_plan(
            name=properties.get("UsagePlanName") or self._name(logical_id),
            apiStages=[{"apiId": stage["ApiId"], "stage": stage["Stage"]} for stage in properties.get("ApiStages", [])],
            throttle={"rateLimit": float(throttle["RateLimit"]), "burstLimit": int(throttle["BurstLimit"])}
            if throttle else {},
        )
        deployment.resolver.refs[logical_id] = plan["id"]
        deployment.resolver.attributes[logical_id] = {"Arn": f"arn:aws:apigateway:local::/usageplans/{plan['id']}"}

    def _create_bucket(self, deployment: Deployment, logical_id: str, properties: dict) -> None:
        name = properties.get("BucketName") or self._name(logical_id).lower()
        s3 = self._client("s3")
        s3.create_bucket(Bucket=name)
        if "PublicAccessBlockConfiguration" in properties:
            s3.put_public_access_block(
                Bucket=name, PublicAccessBlockConfiguration=properties["PublicAccessBlockConfiguration"]
            )
        if "CorsConfiguration" in properties:  # browser uploads (infra/console.py); served by local_stack/s3_cors.py
            s3.put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": [
                _cors_rule(rule) for rule in properties["CorsConfiguration"]["CorsRules"]]})
        deployment.resolver.refs[logical_id] = name
        deployment.resolver.attributes[logical_id] = {"Arn": f"arn:aws:s3:::{name}", "DomainName": f"{name}.s3.local"}

    def _create_table(self, deployment: Deployment, logical_id: str, properties: dict) -> None:
        name = properties.get("TableName") or self._name(logical_id, 255)
        arguments = {
            "TableName": name,
            "KeySchema": properties["KeySchema"],
            "AttributeDefinitions": properties["AttributeDefinitions"],
            "BillingMode": properties.get("BillingMode", "PAY_PER_REQUEST"),
        }
        if properties.get("GlobalSecondaryIndexes"):
            arguments["GlobalSecondaryIndexes"] = properties["GlobalSecondaryIndexes"]
        description = self._client("dynamodb").create_table(**arguments)["TableDescription"]
        deployment.resolver.refs[logical_id] = name
        deployment.resolver.attributes[logical_id] = {"Arn": description["TableArn"]}

    def _create_role(self, deployment: Deployment, logical_id: str, properties: dict) -> None:
        name = properties.get("RoleName") or self._name(logical_id, 64)
        role = self._client("iam").create_role(
            RoleName=name, AssumeRolePolicyDocument=json.dumps(properties["AssumeRolePolicyDocument"])
        )["Role"]
        deployment.resolver.refs[logical_id] = name
        deployment.resolver.attributes[logical_id] = {"Arn": role["Arn"], "RoleId": role["RoleId"]}

    def _create_function(self, deployment: Deployment, logical_id: str, properties: dict) -> None:
        name = properties.get("FunctionName") or self._name(logical_id, 64)
        environment = (properties.get("Environment") or {}).get("Variables", {})
        function = self._client("lambda").create_function(
            FunctionName=name,
            Runtime=properties.get("Runtime", "python3.12"),
            Role=properties["Role"],
            Handler=properties["Handler"],
            Code={"ZipFile": self._zip},
            # The local Lambda runtime enforces these two, as Lambda does (lambda_runtime.py).
            Timeout=int(properties.get("Timeout", 3)),
            EphemeralStorage={"Size": int((properties.get("EphemeralStorage") or {}).get("Size", 512))},
            MemorySize=int(properties.get("MemorySize", 128)),
            Architectures=properties.get("Architectures", ["x86_64"]),
            Environment={"Variables": environment},
        )
        deployment.resolver.refs[logical_id] = name
        deployment.resolver.attributes[logical_id] = {"Arn": function["FunctionArn"]}
        deployment.functions[logical_id] = {
            "name": name,
            "arn": function["FunctionArn"],
            "handler": properties["Handler"],
            "environment": environment,
            "role_arn": properties["Role"],
        }

    def _create_statemachine(self, deployment: Deployment, logical_id: str, properties: dict) -> None:
        name = properties.get("StateMachineName") or self._name(logical_id, 80)
        definition = properties.get("DefinitionString") or json.dumps(properties["Definition"])
        machine = self._client("stepfunctions").create_state_machine(
            name=name,
            definition=definition,
            roleArn=properties["RoleArn"],
            type=properties.get("StateMachineType", "STANDARD"),
        )
        deployment.resolver.refs[logical_id] = machine["stateMachineArn"]
        deployment.resolver.attributes[logical_id] = {"Arn": machine["stateMachineArn"], "Name": name}

    def _create_s3bucketnotifications(self, deployment: Deployment, logical_id: str, properties: dict) -> None:
        # CDK's custom resource applies this configuration in AWS; here we apply it directly.
        self._client("s3").put_bucket_notification_configuration(
            Bucket=properties["BucketName"], NotificationConfiguration=properties["NotificationConfiguration"]
        )
        deployment.resolver.refs[logical_id] = logical_id

    def _create_key(self, deployment: Deployment, logical_id: str, properties: dict) -> None:
        arguments = {"Description": properties.get("Description", logical_id)}
        if properties.get("KeyPolicy"):
            arguments["Policy"] = json.dumps(properties["KeyPolicy"])
        key = self._client("kms").create_key(**arguments)["KeyMetadata"]
        deployment.resolver.refs[logical_id] = key["KeyId"]
        deployment.resolver.attributes[logical_id] = {"Arn": key["Arn"], "KeyId": key["KeyId"]}

    def _create_queue(self, deployment: Deployment, logical_id: str, properties: dict) -> None:
        name = properties.get("QueueName") or self._name(logical_id, 80)
        attributes = {attribute: str(properties[attribute]) for attribute in
                      ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds") if attribute in properties}
        if properties.get("RedrivePolicy"):
            attributes["RedrivePolicy"] = json.dumps(properties["RedrivePolicy"])
        sqs = self._client("sqs")
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        deployment.resolver.refs[logical_id] = url
        deployment.resolver.attributes[logical_id] = {"Arn": arn, "QueueName": name, "QueueUrl": url}

    def _create_rule(self, deployment: Deployment, logical_id: str, properties: dict) -> None:
        if "ScheduleExpression" in properties:
            # A schedule (the multipart sweeper's hourly run): no clock fires it here; tests invoke the
            # function. Only an id, like the types above.
            deployment.resolver.refs[logical_id] = logical_id
            deployment.resolver.attributes[logical_id] = {"Arn": f"arn:aws:local:::{logical_id}"}
            return
        name = properties.get("Name") or self._name(logical_id, 64)
        arguments = {"Name": name, "State": properties.get("State", "ENABLED"),
                     "EventPattern": json.dumps(properties["EventPattern"])}
        if properties.get("EventBusName"):
            arguments["EventBusName"] = properties["EventBusName"]
        events = self._client("events")
        arn = events.put_rule(**arguments)["RuleArn"]
        targets = [{"Id": target["Id"], "Arn": target["Arn"]} for target in properties.get("Targets", [])]
        if targets:
            events.put_targets(Rule=name, Targets=targets, **(
                {"EventBusName": arguments["EventBusName"]} if "EventBusName" in arguments else {}))
        deployment.resolver.refs[logical_id] = name
        deployment.resolver.attributes[logical_id] = {"Arn": arn}

    def _create_eventsourcemapping(self, deployment: Deployment, logical_id: str, properties: dict) -> None:
        # Not created in moto: its own mapping invokes the function inside SendMessage, synchronously,
        # and never for a delayed message. local_stack/sqs_event_sources.py polls as Lambda does.
        source = properties["EventSourceArn"]
        if not source.startswith("arn:aws:sqs:"):
            raise UnsupportedResourceError(f"{logical_id}: only SQS event sources are emulated; got {source}")
        queue = next(attributes for attributes in deployment.resolver.attributes.values()
                     if attributes.get("Arn") == source)
        deployment.event_sources.append({
            "function_name": properties["FunctionName"], "queue_url": queue["QueueUrl"], "queue_arn": source,
            "batch_size": int(properties.get("BatchSize", 10)),
            "report_batch_item_failures": "ReportBatchItemFailures" in properties.get("FunctionResponseTypes", []),
        })
        deployment.resolver.refs[logical_id] = logical_id


def _cors_rule(rule: dict) -> dict:
    """A CloudFormation CorsRule as S3's PutBucketCors API spells it (MaxAge is MaxAgeSeconds there,
    ExposedHeaders is ExposeHeaders)."""
    renamed = {"MaxAge": "MaxAgeSeconds", "ExposedHeaders": "ExposeHeaders"}
    return {renamed.get(key, key): value for key, value in rule.items()}
