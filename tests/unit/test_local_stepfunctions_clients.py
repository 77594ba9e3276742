"""local_stack/stepfunctions.py: moto's Step Functions interpreter reuses one client per region,
service and server for the tasks it runs, instead of making one (and a connection) per task."""

from __future__ import annotations

from moto.stepfunctions.parser.asl.component.state.exec.state_map.item_reader.eval import resource_eval_s3
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

from local_stack import stepfunctions


def test_the_interpreter_reuses_its_clients(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    stepfunctions.install()
    invoking = lambda_eval_utils.boto_client_for("us-east-1", "lambda")
    assert lambda_eval_utils.boto_client_for("us-east-1", "lambda", state_credentials=object()) is invoking
    assert resource_eval_s3.boto_client_for("us-east-1", "s3") is not invoking
    assert resource_eval_s3.boto_client_for("us-east-1", "s3").meta.service_model.service_name == "s3"
    assert lambda_eval_utils.boto_client_for("eu-west-1", "lambda").meta.region_name == "eu-west-1"
    # moto's server on another port (another stack in the process) gets a client of its own.
    monkeypatch.setenv("MOTO_PORT", "1")
    assert lambda_eval_utils.boto_client_for("us-east-1", "lambda") is not invoking
