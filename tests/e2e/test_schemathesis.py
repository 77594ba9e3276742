"""schemathesis over real HTTP on the local stack: every answer is one docs/openapi.yaml documents.

Requests are generated from the OpenAPI document (its examples, then boundary values, then
fuzzing) with a fixed seed and a few examples per operation, so a run is repeatable and short.
Path parameters are half the time ids that exist in the test account (a dataset holding a
record, a finished upload, a token to revoke, an audience with a member, import keys, a profile
import, an analytics file upload), so the 200 answers are checked too, not only 404. Each operation
is called with the credentials its `security` names: the token, or an import key's Basic key:secret.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import schemathesis
import yaml
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import FailureGroup
from schemathesis.pytest.lazy import get_all_tests
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from cli.client import IngestClient, put_file
from local_stack.api_gateway import ApiDefinition
from tests.record_examples import VALID

OPENAPI_PATH = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]
SEED = 20261123
MAX_EXAMPLES = 25
# Throttled requests are documented (429 + Retry-After); wait and resend them, a few times at most,
# and only when the wait is short: a per-key quota (profile imports) may name the end of its hour.
MAX_THROTTLED_RETRIES = 3
MAX_RETRY_AFTER_SECONDS = 2
# Generated upload requests may create audiences (destination audience_list): far below the limit of 500.
MAX_AUDIENCES_CREATED = 150
IMPORT_APP = "app-schemathesis"
AUDIENCE_IMPORTS = "/v1/imports/audiences/"

@pytest.fixture(scope="module")
def known_ids(stack, mint, tmp_path_factory) -> Iterator[dict[str, str]]:
    """A fresh account with one of everything, so generated requests can name ids that exist.

    Afterwards the account's webhooks are deleted: the generated requests register some for
    http://127.0.0.1:9 and finish uploads, and each of those deliveries would otherwise be retried every
    2 s for 24 hours (the test template's backoff) in this worker's stack for the rest of the run.
    A deleted webhook's pending deliveries stop at their next attempt ("gone")."""
    account = "acct-schemathesis"
    token = mint(account)
    client = IngestClient(stack.info.api_url, token)
    dataset = client.create_dataset("schemathesis")
    record, key = VALID["customer_record"]
    path = tmp_path_factory.mktemp("schemathesis") / "customer_record-schemathesis.ndjson"
    path.write_bytes(json.dumps(record).encode() + b"\n" + b'{"not": "a customer"}\n')  # one rejected line
    upload = client.request_upload(path.name, dataset["id"], "customer_record")
    put_file(upload["url"], str(path))
    finished = client.wait_for(upload["id"], timeout=120, poll=0.2)
    assert finished["status"] == "Completed" and finished["stats"]["rejected"] == 1
    spare_token = requests.post(stack.info.api_url + "/v1/tokens", json={"label": "to revoke"},
                                headers={"Auth-Api-Token": token}, timeout=30).json()
    audience, member = _audience_with_a_member(stack, client, token, tmp_path_factory)
    import_key, spare_key = (_post(stack, token, "/v1/import-keys", {"app_ids": [IMPORT_APP], "label": label})
                             for label in ("schemathesis", "to revoke"))
    profile_import = requests.post(
        stack.info.api_url + "/v1/imports/profiles/upload", auth=(import_key["key"], import_key["secret"]),
        data={"app_id": IMPORT_APP, "format": "json"},
        files={"file": ("profiles.json", b'{"customer_id": "c-1", "changes": []}\n', "application/json")}, timeout=30)
    assert profile_import.status_code == 202, profile_import.text
    audience_import = _import_audience(stack, import_key, "schemathesis import")
    analytics_file = _post(stack, token, "/analytics/files/upload",
                           {"datasetType": "customers", "file": {"name": "customers-1.ndjson", "type": "ndjson"}}, 200)
    # Webhooks to the local stack's loopback (the one address it delivers to): one to read, one to delete.
    webhook, spare_webhook = (_post(stack, token, "/v1/webhooks", WEBHOOK) for _ in range(2))
    # Open multipart uploads: one whose parts are signed and listed, one to complete (its one part sent,
    # so a real part list completes it), one to abort.
    parts_upload, complete_upload, abort_upload = (_multipart(stack, token, dataset["id"], name) for name in (
        "parts", "complete", "abort"))
    part_url = _post(stack, token, f"/v1/uploads/{complete_upload['id']}/parts", {"part_numbers": [1]}, 200)
    sent = requests.put(part_url["parts"][0]["url"], data=json.dumps(record).encode() + b"\n", timeout=30)
    assert sent.status_code == 200, sent.text
    yield {
        "token": token,
        "dataset_id": dataset["id"],
        # Clears get their own dataset, so the record above stays readable whatever the order.
        "clear_dataset_id": client.create_dataset("schemathesis clears")["id"],
        "record_type": "customer_record",
        "key": key,
        "upload_id": upload["id"],
        "job_id": upload["id"],
        "token_id": spare_token["id"],
        "audience_id": audience["id"],
        "customer_id": member,
        # DELETE /v1/audiences/{audience_id} gets an audience of its own, so the one above stays.
        "delete_audience_id": _post(stack, token, "/v1/uploads", {
            "filename": "members-to-delete.ndjson",
            "destination": {"destination_type": "audience_list", "audience_name": "schemathesis to delete"},
        })["destination"]["audience_id"],
        "audiences_before": len(_get(stack, token, "/v1/audiences")["audiences"]),
        "import_key": import_key["key"],
        "import_secret": import_key["secret"],
        "app_id": IMPORT_APP,
        "org_id": account,
        "key_id": spare_key["key"],  # the one DELETE /v1/import-keys/{key_id} revokes
        "activity_id": profile_import.json()["activity_id"],
        # The Localytics audience routes: an app's audience list and its import, and one to delete.
        "audience_activity_id": audience_import["activity_id"],
        "audience_list_id": audience_import["audience_list_id"],
        "delete_audience_list_id": _import_audience(stack, import_key,
                                                    "schemathesis import to delete")["audience_list_id"],
        "file_id": analytics_file["id"],
        "webhook_id": webhook["id"],
        "delete_webhook_id": spare_webhook["id"],
        "parts_upload_id": parts_upload["id"],
        "complete_upload_id": complete_upload["id"],
        "complete_parts": [{"part_number": 1, "etag": sent.headers["ETag"]}],
        "abort_upload_id": abort_upload["id"],
    }
    for webhook in _get(stack, token, "/v1/webhooks")["webhooks"]:
        deleted = requests.delete(f"{stack.info.api_url}/v1/webhooks/{webhook['id']}",
                                  headers={"Auth-Api-Token": token},
                                  timeout=30)
        assert deleted.status_code in (204, 404), deleted.text  # 404: a generated request deleted it first


WEBHOOK = {"url": "http://127.0.0.1:9/schemathesis", "event_types": ["upload.completed"]}


def _multipart(stack, token: str, dataset_id: str, name: str) -> dict:
    return _post(stack, token, "/v1/uploads", {
        "filename": f"customer_record-{name}.ndjson", "multipart": True, "size": 1024,
        "destination": {"destination_type": "dataset_load",
                        "dataset_id": dataset_id, "record_type": "customer_record"}})


def _post(stack, token: str, path: str, body: dict, status: int = 201) -> dict:
    response = requests.post(stack.info.api_url + path, json=body, headers={"Auth-Api-Token": token}, timeout=30)
    assert response.status_code == status, (path, response.status_code, response.text)
    return response.json()


def _get(stack, token: str, path: str) -> dict:
    response = requests.get(stack.info.api_url + path, headers={"Auth-Api-Token": token}, timeout=30)
    assert response.status_code == 200, (path, response.status_code, response.text)
    return response.json()


def _import_audience(stack, import_key: dict, name: str) -> dict:
    response = requests.post(stack.info.api_url + "/v1/imports/audiences/list",
                             auth=(import_key["key"], import_key["secret"]),
                             data={"app_id": IMPORT_APP, "audience_name": name, "identifier_type": "customer_id"},
                             files={"file": ("audience.csv", b"customer_id\nmember-1\n", "text/csv")}, timeout=30)
    assert response.status_code == 202, response.text
    return response.json()


def _audience_with_a_member(stack, client, token, tmp_path_factory) -> tuple[dict, str]:
    """An audience list created through an upload, loaded with one member."""
    upload = _post(stack, token, "/v1/uploads", {
        "filename": "members-schemathesis.ndjson",
        "destination": {"destination_type": "audience_list", "audience_name": "schemathesis", "app_id": IMPORT_APP},
    })
    path = tmp_path_factory.mktemp("audience") / "members-schemathesis.ndjson"
    path.write_bytes(b'{"customer_id": "member-1"}\n')
    put_file(upload["url"], str(path))
    assert client.wait_for(upload["id"], timeout=120, poll=0.2)["status"] == "Completed"
    audience = _get(stack, token, f"/v1/audiences/{upload['destination']['audience_id']}")
    assert audience["version"] == 1 and audience["record_count"] == 1, audience
    return audience, "member-1"


def _deployed_document(stack) -> dict:
    """The OpenAPI document without the operations the stack does not deploy (the drift test in
    tests/infra/test_openapi.py reports those)."""
    definition = ApiDefinition(stack.deployment)
    deployed = {(route.resource_path, method.lower()) for route in definition.routes for method in route.methods}
    document = yaml.safe_load(OPENAPI_PATH.read_text())
    for path, item in list(document["paths"].items()):
        for method in [m for m in item if m != "parameters" and (path, m) not in deployed]:
            del item[method]
        if not set(item) - {"parameters"}:
            del document["paths"][path]
    return document


@pytest.fixture
def api_schema(stack, known_ids):
    """The deployed part of the OpenAPI document, aimed at the local stack as the test account."""
    document = _deployed_document(stack)
    config = SchemathesisConfig.from_dict({
        "seed": SEED,
        "base-url": stack.info.api_url,
        # Each operation gets the credentials its `security` names (the token, or an import key's Basic auth).
        "auth": {"openapi": {"apiToken": {"api_key": known_ids["token"]},
                             "basicAuth": {"username": known_ids["import_key"],
                                           "password": known_ids["import_secret"]}},
                 "auto-signup": False},
        "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
    })
    loaded = schemathesis.openapi.from_dict(document, config=config)

    @loaded.hook
    def flatmap_path_parameters(context, path_parameters):
        if not path_parameters:
            return st.just(path_parameters)
        path, method = context.operation.path, context.operation.method.lower()
        real = {name: known_ids[name] for name in path_parameters if name in known_ids}
        if path.endswith("/clear"):
            real["dataset_id"] = known_ids["clear_dataset_id"]
        if path.startswith(AUDIENCE_IMPORTS) and "activity_id" in real:
            real["activity_id"] = known_ids["audience_activity_id"]
        if method == "put" and path == "/v1/imports/audiences/list/{audience_list_id}":
            # An update is refused (404) for any list but the real one, and 404s are covered plenty
            # elsewhere: always the real list, so generated forms get a chance at the update itself.
            return st.just({**path_parameters, **real})
        if method == "delete":  # deletes get objects of their own, so the others stay readable
            for name in {"audience_id", "audience_list_id", "webhook_id"} & set(real):
                real[name] = known_ids[f"delete_{name}"]
        # A multipart route needs an open multipart upload (the known upload is a completed single PUT).
        if path.endswith("/parts"):
            real["upload_id"] = known_ids["parts_upload_id"]
        elif path.endswith("/complete"):
            real["upload_id"] = known_ids["complete_upload_id"]
        elif method == "delete" and path == "/v1/uploads/{upload_id}":
            real["upload_id"] = known_ids["abort_upload_id"]
        return st.sampled_from([path_parameters, {**path_parameters, **real}])

    @loaded.hook
    def flatmap_body(context, body):
        path = context.operation.path
        if not isinstance(body, dict):
            return st.just(body)
        if path == "/v1/imports/profiles/upload":
            # The key's own app or org, so some imports get past the 403 to the quota and the job.
            targets = [{"app_id": known_ids["app_id"]}, {"org_id": known_ids["org_id"]}]
            rest = {name: value for name, value in body.items() if name not in ("app_id", "org_id")}
            return st.sampled_from([body, *({**rest, **target} for target in targets)])
        if path.startswith(AUDIENCE_IMPORTS) and ("identifier_type" in body or "file" in body):
            real = {**body, "identifier_type": "customer_id",
                    **({"app_id": known_ids["app_id"]} if "app_id" in body else {})}
            if "audience_list_id" in body:  # an update's form names the list of its path (the real one, or a 400)
                real["audience_list_id"] = known_ids["audience_list_id"]
            return st.sampled_from([body, real])
        if path == "/v1/webhooks":
            return st.sampled_from([body, WEBHOOK])
        if path.endswith("/complete"):
            return st.sampled_from([body, {"parts": known_ids["complete_parts"]}])
        if path.endswith("/parts"):
            return st.sampled_from([body, {"part_numbers": [1, 2]}])
        if path == "/analytics/files/upload":
            real = {"datasetType": "customers", "file": {"name": "customers-2.csv", "type": "csv"}}
            return st.sampled_from([body, real])
        # Upload requests into the real dataset or audience get past the lookup to the later rules.
        if path != "/v1/uploads" or not isinstance(body.get("destination"), dict):
            return st.just(body)
        dataset = {**body["destination"], "destination_type": "dataset_load", "dataset_id": known_ids["dataset_id"],
                   "record_type": "customer_record"}
        audience = {"destination_type": "audience_list", "audience_id": known_ids["audience_id"]}
        return st.sampled_from([body, {**body, "destination": dataset}, {**body, "destination": audience}])

    return loaded


def _call_honouring_retry_after(case):
    response = case.call()
    for _ in range(MAX_THROTTLED_RETRIES):
        if response.status_code != 429 or float(response.headers.get("Retry-After", "1")) > MAX_RETRY_AFTER_SECONDS:
            break
        time.sleep(float(response.headers.get("Retry-After", "1")))
        response = case.call()
    return response


def test_every_answer_is_documented(stack, api_schema, known_ids):
    # schemathesis.pytest.from_fixture would run these as subtests, but it sets Function._nodeid,
    # which pytest 9 removed; get_all_tests builds the same per-operation tests (explicit
    # examples, coverage, fuzzing phases) and we run them one by one, collecting every failure.
    statuses: dict[str, set[int]] = {}

    def check_every_answer(case):
        response = _call_honouring_retry_after(case)
        statuses.setdefault(case.operation.label, set()).add(response.status_code)
        case.validate_response(response, checks=CHECKS)

    failures, operations = {}, []
    for built in get_all_tests(schema=api_schema, test_func=check_every_answer, settings=None, given_kwargs=None):
        operation, run = built.ok()
        operations.append(operation.label)
        try:
            run()
        except (FailureGroup, AssertionError) as exc:
            failures[operation.label] = str(exc)
    documented = {f"{method.upper()} {path}" for path, item in _deployed_document(stack)["paths"].items()
                  for method in item if method != "parameters"}
    assert len(documented) >= 15 and sorted(operations) == sorted(documented)
    assert failures == {}, "\n\n".join(f"{label}:\n{report}" for label, report in failures.items())
    # The real ids and bodies from known_ids took every operation past its 404s and 400s at least once.
    never_succeeded = {label: sorted(codes) for label, codes in statuses.items()
                       if not any(200 <= c < 300 for c in codes)}
    assert never_succeeded == {}
    # Side effects stay bounded: generated upload requests may create audiences, nowhere near the limit.
    audiences_now = len(_get(stack, known_ids["token"], "/v1/audiences")["audiences"])
    assert audiences_now <= known_ids["audiences_before"] + MAX_AUDIENCES_CREATED, audiences_now


# Regression tests for what the schemathesis run and probing around it found (each was a 502).

def _api(stack, account, method, path, headers=None, **kwargs):
    return requests.request(method, stack.info.api_url + path,
                            headers={"Auth-Api-Token": account["token"], **(headers or {})}, timeout=30, **kwargs)


def _upload_request(dataset_id, **options):
    return {"filename": "customer_record-1.ndjson", "options": options,
            "destination": {"destination_type": "dataset_load", "dataset_id": dataset_id,
                            "record_type": "customer_record"}}


def test_a_fractional_error_budget_is_answered_as_a_number(stack, account, dataset):
    created = _api(stack, account, "POST", "/v1/uploads",
                   json=_upload_request(dataset["id"], max_rejected_percent=12.5))
    assert created.status_code == 201 and created.json()["options"]["max_rejected_percent"] == 12.5
    shown = _api(stack, account, "GET", f"/v1/uploads/{created.json()['id']}").json()
    assert shown["options"] == {"dry_run": False, "max_rejected_percent": 12.5}


def test_an_error_budget_finer_than_dynamodb_numbers_is_rounded(stack, account, dataset):
    created = _api(stack, account, "POST", "/v1/uploads",
                   json=_upload_request(dataset["id"], max_rejected_percent=5e-324))
    assert created.status_code == 201 and created.json()["options"]["max_rejected_percent"] == 0


def test_a_lone_surrogate_in_a_body_is_a_400(stack, account):
    response = _api(stack, account, "POST", "/v1/datasets", data='{"name": "\\ud800"}',
                    headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and "lone surrogate" in response.json()["message"]


def test_a_next_token_with_a_foreign_key_shape_is_a_400(stack, account):
    for path, key in [("/v1/datasets", {"account_id": account["name"], "other": "x"}),
                      ("/v1/jobs", {"account_id": account["name"]}),
                      ("/v1/uploads", {"account_id": account["name"], "job_id": 7})]:
        token = base64.urlsafe_b64encode(json.dumps(key).encode()).decode()
        response = _api(stack, account, "GET", path, params={"next_token": token})
        assert response.status_code == 400, (path, response.text)
        assert response.json() == {"message": "next_token is not a token this API returned"}


def test_a_limit_in_non_ascii_digits_is_a_400_naming_the_rule(stack, account):
    for limit in ("²", "١"):  # noqa: RUF001 (non-ASCII digits on purpose)
        response = _api(stack, account, "GET", "/v1/datasets", params={"limit": limit})
        assert response.status_code == 400 and response.json()["message"] == "limit must be an integer from 1 to 100"


def test_renaming_the_audience_counter_item_is_a_404_and_leaves_the_count_alone(stack, account):
    # "#count" is the sort key of the account's audience counter: PATCH used to rename that item (502).
    created = _api(stack, account, "POST", "/v1/uploads", json={
        "filename": "members-1.ndjson", "destination": {"destination_type": "audience_list", "audience_name": "a"}})
    assert created.status_code == 201, created.text
    response = _api(stack, account, "PATCH", "/v1/audiences/%23count", json={"name": "renamed"})
    assert response.status_code == 404 and response.json() == {"message": "audience #count not found"}
    listed = _api(stack, account, "GET", "/v1/audiences").json()["audiences"]
    assert [audience["name"] for audience in listed] == ["a"]
    deleted = _api(stack, account, "DELETE", f"/v1/audiences/{created.json()['destination']['audience_id']}")
    assert deleted.status_code == 204 and _api(stack, account, "GET", "/v1/audiences").json() == {"audiences": []}


def test_a_lone_surrogate_in_an_import_key_label_is_a_400(stack, account):
    response = _api(stack, account, "POST", "/v1/import-keys", data='{"label": "\\ud800"}',
                    headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and "lone surrogate" in response.json()["message"]
    assert _api(stack, account, "GET", "/v1/import-keys").json() == {"import_keys": []}


def test_a_form_field_that_decodes_to_a_lone_surrogate_is_a_400(stack, account):
    key = _api(stack, account, "POST", "/v1/import-keys", json={"app_ids": ["app-1"]}).json()
    # A part's charset may be any codec Python knows; unicode_escape turns "\ud800" into a lone surrogate.
    body = b"".join(
        b'--b\r\nContent-Disposition: form-data; name="%s"\r\n%s\r\n%s\r\n' % (name, extra, value)
        for name, extra, value in [(b"app_id", b"", b"app-1"), (b"identifier_type", b"", b"customer_id"),
                                   (b"audience_name",
                                    b"Content-Type: text/plain; charset=unicode_escape\r\n", b"\\ud800")]
    ) + b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\nc-1\r\n--b--\r\n'
    response = requests.post(stack.info.api_url + "/v1/imports/audiences/list", data=body, timeout=30,
                             auth=(key["key"], key["secret"]),
                             headers={"Content-Type": "multipart/form-data; boundary=b"})
    assert response.status_code == 400, response.text
    assert response.json() == {"message": "form field 'audience_name' is not UTF-8 text"}
    assert _api(stack, account, "GET", "/v1/audiences").json() == {"audiences": []}
