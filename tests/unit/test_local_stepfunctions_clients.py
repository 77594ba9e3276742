"""local_stack/stepfunctions.py: moto's Step Functions interpreter reuses one client per region,
service and server for the tasks it runs, instead of making one (and a connection) per task, and
parses each JSONPath text once, with the same answers."""

from __future__ import annotations

import jsonpath_ng
import jsonpath_ng.ext
import pytest
from moto.stepfunctions.parser.asl.component.common.path import result_path
from moto.stepfunctions.parser.asl.component.state.exec.state_map.item_reader.eval import resource_eval_s3
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
from moto.stepfunctions.parser.asl.utils import json_path

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


def test_each_json_path_is_parsed_once_and_applied_as_moto_applies_it(monkeypatch):
    # moto's own parsers to start with (put back as they were afterwards: a local stack may share the worker).
    monkeypatch.setattr(json_path, "parse", jsonpath_ng.ext.parse)
    monkeypatch.setattr(result_path, "parse", jsonpath_ng.parse)
    state = {"Payload": {"windows": [{"n": 1}, {"n": 2}], "one": [7], "job": {"id": "j-1"}}}
    paths = ["$", "$.Payload", "$.Payload.windows", "$.Payload.windows[*].n", "$.Payload.one[0]", "$.Payload.job.id"]

    def answers() -> list:
        found = [json_path.extract_json(path, state) for path in paths]
        with pytest.raises(json_path.NoSuchJsonPathError):
            json_path.extract_json("$.Payload.missing", state)
        with pytest.raises(Exception, match="Parse error"):  # not a path: refused every time
            json_path.extract_json("$.Payload.[", state)
        found.append(result_path.parse("$.Result.loaded").update_or_create({"keep": 1}, 5))
        return found

    expected = answers()
    stepfunctions.install()
    assert answers() == expected == answers()
    assert expected[3:6] == [[1, 2], 7, "j-1"] and expected[-1] == {"keep": 1, "Result": {"loaded": 5}}
    assert json_path.parse("$.Payload.windows") is json_path.parse("$.Payload.windows")  # parsed once
    assert result_path.parse("$.Result.loaded") is result_path.parse("$.Result.loaded")


def test_a_states_heap_key_is_the_same_in_every_map_iteration_that_asks_for_it_at_once(monkeypatch):
    """moto keeps a state's retry count under its heap_key; two iterations of a Map failing at once
    must count in the same place, or one of them is retried past MaxAttempts. The first thread asking
    is held while it makes its key, so the second makes one too and stores it first."""
    import threading

    from moto.stepfunctions.parser.asl.component import eval_component

    class State(eval_component.EvalComponent):
        def _eval_body(self, env) -> None:
            pass

    stepfunctions.install()
    first_asking, second_stored = threading.Event(), threading.Event()
    uids = iter(["key-of-the-first", "key-of-the-second"])

    def slow_first_uid() -> str:
        uid = next(uids)
        if uid == "key-of-the-first":
            first_asking.set()
            second_stored.wait(timeout=30)
        return uid

    monkeypatch.setattr(eval_component, "long_uid", slow_first_uid)
    component = State()
    keys: list[str] = []
    first = threading.Thread(target=lambda: keys.append(component.heap_key))
    first.start()
    assert first_asking.wait(timeout=30)
    keys.append(component.heap_key)  # the second thread: makes its key while the first is held
    second_stored.set()
    first.join(timeout=30)
    assert keys == ["key-of-the-second", "key-of-the-second"]
    assert component.heap_key == "key-of-the-second"
