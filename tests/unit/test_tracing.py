"""Traced entry points keep their responses and errors out of X-Ray (docs/security.md).

X-Ray is replaced by a recording stand-in for Powertools' tracer provider: what the handler's
subsegment receives is what a trace would hold.
"""

from __future__ import annotations

import contextlib

import pytest

from ingest.errors import BadRequestError
from ingest.handlers import observability

TOKEN = "ing_d2VsbCBkb25lLCB5b3UgZm91bmQgaXQ"


class RecordingSubsegment:
    def __init__(self):
        self.metadata: dict[str, object] = {}
        self.annotations: dict[str, object] = {}

    def put_metadata(self, key, value, namespace="default"):
        self.metadata[key] = value

    def put_annotation(self, key, value):
        self.annotations[key] = value


class RecordingProvider:
    def __init__(self):
        self.subsegments: list[RecordingSubsegment] = []

    @contextlib.contextmanager
    def in_subsegment(self, name=None, **kwargs):
        subsegment = RecordingSubsegment()
        self.subsegments.append(subsegment)
        yield subsegment


@pytest.fixture
def provider(monkeypatch):
    # The environment asks for capture, as Powertools' default does: the handlers must not comply.
    monkeypatch.setenv("POWERTOOLS_TRACER_CAPTURE_RESPONSE", "true")
    monkeypatch.setenv("POWERTOOLS_TRACER_CAPTURE_ERROR", "true")
    recording = RecordingProvider()
    monkeypatch.setattr(observability.tracer, "provider", recording)
    return recording


def mint(event, context):
    return {"statusCode": 201, "body": '{"token": "%s"}' % TOKEN}  # noqa: UP031 (JSON: no doubled braces)


def refuse(event, context):
    raise BadRequestError(f"label {TOKEN} is too long")


def test_a_traced_handler_leaves_its_response_out_of_the_trace(provider):
    assert observability.traced(mint)({}, None)["statusCode"] == 201
    (subsegment,) = provider.subsegments
    assert subsegment.metadata == {}
    assert TOKEN not in repr(subsegment.annotations)


def test_a_traced_handler_leaves_its_error_out_of_the_trace_metadata(provider):
    with pytest.raises(BadRequestError):
        observability.traced(refuse)({}, None)
    (subsegment,) = provider.subsegments
    assert subsegment.metadata == {}


def test_the_stand_in_does_record_what_powertools_captures_by_default(provider):
    """Without `traced`, Powertools' default puts the response - the token - into the trace."""
    observability.tracer.capture_lambda_handler(mint)({}, None)
    (subsegment,) = provider.subsegments
    assert TOKEN in repr(subsegment.metadata)
