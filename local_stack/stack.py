"""Start and stop the whole local stack: moto on 127.0.0.1, the template deployed, the API served."""

from __future__ import annotations

import inspect
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import boto3
import botocore.endpoint
from moto.core.config import default_user_config

from ingest.adapters.dynamodb_wire import DynamoDBWire
from local_stack import (
    access_guard,
    dynamodb,
    dynamodb_expressions,
    lambda_runtime,
    priority,
    s3,
    s3_multipart,
    stepfunctions,
)
from local_stack.api_gateway import LocalApiGateway
from local_stack.deployer import Deployer, Deployment
from local_stack.iam import TemplatePolicies
from local_stack.iam_requests import TableKeys
from local_stack.moto_server import MotoServer
from local_stack.sqs_event_sources import SqsEventSource
from local_stack.template import Template

HOST = "127.0.0.1"
# Invocations in flight at once, but the API's functions' (lambda_runtime.limit_concurrency); the
# environment's LOCAL_LAMBDA_CONCURRENCY overrides it. docs/local_stack.md has the measurements.
LAMBDA_CONCURRENCY = 8
# Connections each boto3 client keeps (botocore's default is 10). On AWS each sandbox has its own
# clients; here every invocation shares the handlers' cached ones, so a Load's 16 writer threads, times
# the Loads in flight, would open and throw away a connection per call beyond the pool's 10. The same
# holds for the Load's DynamoDBWire, cached per process with a pool sized for one Load's threads.
CLIENT_CONNECTIONS = 256
ACCOUNT_ID = "123456789012"  # moto's default account
REGION = "us-east-1"
log = logging.getLogger("local_stack")


class EnvironmentConflictError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


@dataclass
class StackInfo:
    api_url: str
    aws_endpoint: str
    tokens_table: str
    uploads_bucket: str
    state_machine_arn: str


def _setting(given: float | None, variable: str, default: float) -> float:
    return given or float(os.environ.get(variable) or default)


class LocalStack:
    def __init__(self, template_path: Path, aws_port: int = 4566, api_port: int = 3000,
                 lambda_concurrency: int | None = None, lambda_time_scale: float | None = None,
                 background_dynamodb_requests: int | None = None):
        self.template_path = Path(template_path)
        # The local stack's own knobs: an argument, else the environment, else the default.
        self.lambda_concurrency = int(_setting(lambda_concurrency, "LOCAL_LAMBDA_CONCURRENCY", LAMBDA_CONCURRENCY))
        # Wall time that counts as one second of a function's timeout (lambda_runtime.scale_time).
        self.lambda_time_scale = _setting(lambda_time_scale, "LOCAL_LAMBDA_TIME_SCALE", 1)
        self.background_dynamodb_requests = int(_setting(background_dynamodb_requests,
                                                         "LOCAL_DYNAMODB_BACKGROUND_REQUESTS",
                                                         priority.BACKGROUND_DYNAMODB_REQUESTS))
        self.aws_port = aws_port
        self.api_port = api_port
        self.aws_endpoint = f"http://{HOST}:{aws_port}"
        self._moto: MotoServer | None = None
        self._api: LocalApiGateway | None = None
        self.deployment: Deployment | None = None
        self._event_sources: list[SqsEventSource] = []
        self._restore_webhook_targets: Callable[[], None] | None = None

    def start(self) -> StackInfo:
        self._configure_process()
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request is noise here
        lambda_runtime.install()
        dynamodb.install()  # per-item atomicity, as DynamoDB guarantees
        dynamodb_expressions.install()  # moto's update expressions without their per-node CPU
        s3.install()  # a prefix listing costs what the prefix holds, as in S3
        stepfunctions.install()
        s3_multipart.install()  # uploads' creation times in ListMultipartUploads, as S3 answers them
        default_user_config["stepfunctions"] = {"execute_state_machine": True}
        self._moto = MotoServer(HOST, self.aws_port)
        self._moto.start()
        session = self.session()
        self.deployment = Deployer(session, ACCOUNT_ID, REGION).deploy(Template.load(self.template_path))
        self._apply_function_environment(self.deployment)
        # From here on, every AWS call a handler makes is checked against its role in the template.
        deployment = self.deployment
        access_guard.install(access_guard.AccessGuard(
            TemplatePolicies.from_template(deployment.template, deployment.resolver),
            TableKeys.from_template(deployment.template, deployment.resolver), REGION, ACCOUNT_ID,
            {function["handler"]: function["role_arn"] for function in deployment.functions.values()}))
        # The local stack's one webhook exception: plain http to loopback, so its tests can receive
        # deliveries. Set here, in this process; no template or environment variable can set it.
        from ingest.logic import webhook_targets

        self._restore_webhook_targets = webhook_targets.allow_plain_http_loopback()
        self._event_sources = [SqsEventSource(session, mapping, REGION) for mapping in deployment.event_sources]
        for source in self._event_sources:
            source.start()
        self._api = LocalApiGateway(self.deployment, session.client("lambda"), HOST, self.api_port)
        api_functions = {arn.rsplit(":function:", 1)[-1].split(":")[0] for arn in self._api.definition.function_arns()}
        lambda_runtime.limit_concurrency(self.lambda_concurrency, uncapped=api_functions)
        lambda_runtime.scale_time(self.lambda_time_scale)
        # The API's DynamoDB requests go first.
        priority.install(self.aws_port, interactive_functions=api_functions,
                         background_requests=self.background_dynamodb_requests)
        self._api.start()
        return self.info

    def _running(self) -> tuple[Deployment, LocalApiGateway]:
        if self.deployment is None or self._api is None:
            raise RuntimeError("the local stack has not been started")
        return self.deployment, self._api

    @property
    def info(self) -> StackInfo:
        deployment, api = self._running()
        outputs = deployment.outputs
        return StackInfo(
            api_url=api.url,
            aws_endpoint=self.aws_endpoint,
            tokens_table=outputs["TokensTableName"],
            uploads_bucket=outputs["UploadsBucketName"],
            state_machine_arn=outputs["StateMachineArn"],
        )

    def state(self, token: str | None = None) -> dict:
        """What `make run` writes to .local/stack.json: where the API and the embedded AWS answer, the
        dev token, and the stack's table outputs (as a deployed stack's outputs name its tables), so the
        admin CLI finds the local tables the way it finds a deployed stack's."""
        deployment, api = self._running()
        tables = {name: value for name, value in deployment.outputs.items() if name.endswith("TableName")}
        state = {"api_url": api.url, "aws_endpoint": self.aws_endpoint, "tables": tables}
        if token is not None:
            state["token"] = token
        return state

    def stop(self) -> None:
        for source in self._event_sources:
            source.stop()
        if self._restore_webhook_targets:
            self._restore_webhook_targets()
        if self._api:
            self._api.stop()
        if self._moto:
            self._moto.stop()
            priority.uninstall(self.aws_port)

    def session(self) -> boto3.Session:
        return boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing",  # noqa: S106 (moto's dummy keys)
                             region_name=REGION)

    def _configure_process(self) -> None:
        # Every boto3 client in this process - handlers included - talks to the embedded AWS.
        os.environ.update(
            {
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": REGION,
                "AWS_REGION": REGION,
                "AWS_ENDPOINT_URL": self.aws_endpoint,
                "MOTO_PORT": str(self.aws_port),  # moto's Step Functions interpreter calls back here
                "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon locally
            }
        )
        os.environ.pop("AWS_PROFILE", None)
        _keep_client_connections(CLIENT_CONNECTIONS)

    @staticmethod
    def _apply_function_environment(deployment: Deployment) -> None:
        """All handlers share this process, so their environments must agree; they are one service."""
        merged: dict[str, str] = {}
        for function in deployment.functions.values():
            for name, value in function["environment"].items():
                if merged.setdefault(name, str(value)) != str(value):
                    raise EnvironmentConflictError(
                        f"{name} differs between functions ({merged[name]!r} vs {value!r}); "
                        "in-process handlers need one value per variable"
                    )
        os.environ.update(merged)


def _keep_client_connections(connections: int) -> None:
    """Every boto3 client made in this process from now on keeps at least `connections` connections
    (idempotent); see CLIENT_CONNECTIONS."""
    creator = botocore.endpoint.EndpointCreator
    if getattr(creator.create_endpoint, "_local_stack", False):
        return
    create_endpoint = creator.create_endpoint

    def create_endpoint_keeping(self, *args, **kwargs):
        kwargs["max_pool_connections"] = max(kwargs.get("max_pool_connections") or 0, connections)
        return create_endpoint(self, *args, **kwargs)

    create_endpoint_keeping._local_stack = True  # type: ignore[attr-defined]
    creator.create_endpoint = create_endpoint_keeping  # botocore's seam

    wire_init = DynamoDBWire.__init__
    wire_signature = inspect.signature(wire_init)

    def wire_init_keeping(self, *args, **kwargs):
        bound = wire_signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        bound.arguments["max_connections"] = max(bound.arguments["max_connections"], connections)
        wire_init(*bound.args, **bound.kwargs)

    DynamoDBWire.__init__ = wire_init_keeping  # type: ignore[method-assign]
