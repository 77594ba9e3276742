"""The client CLI (`python -m cli`) and the admin CLI (`python -m cli.admin`), run as a user runs them:
in a subprocess, over real HTTP to the local stack on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
import requests

from cli.client import IngestClient
from local_stack.stack import REGION
from tests.support.stats import line_counts

ROOT = Path(__file__).resolve().parents[2]
FILENAME_RULE = "filename may contain only letters, digits, '-' and '_'"


def _customer(customer_id: str, **fields) -> str:
    return json.dumps({"link": {"customer_id": customer_id}, **fields})


def _base_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The test process's environment without any INGEST_* settings, and no usable state file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INGEST_")}
    env["INGEST_STACK_FILE"] = str(tmp_path / "no-such-stack.json")
    env.update(extra)
    return env


def _run(module: str, *args: str, env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, env=env, check=False, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture
def cli(stack, account, tmp_path):
    """cli(*args) -> the finished `python -m cli` process, pointed at the local stack by INGEST_* variables."""
    env = _base_env(tmp_path, INGEST_API_URL=stack.info.api_url, INGEST_TOKEN=account["token"])
    return lambda *args, **kwargs: _run("cli", *args, env={**env, **kwargs.pop("env", {})}, **kwargs)


def _fields(stdout: str) -> dict[str, str]:
    """The `key: value` lines `upload` prints at the end."""
    return dict(line.split(": ", 1) for line in stdout.splitlines() if ": " in line)


@pytest.fixture
def finished_upload(cli, dataset, tmp_path):
    """An upload made with the CLI of 3 good lines and 1 malformed one, and the CLI's process."""
    path = tmp_path / "customer_record-cli-1.ndjson"
    path.write_text("\n".join([_customer("c1", first_name="Ada"), _customer("c2"), "{not json",
                               _customer("c3")]) + "\n")
    result = cli("upload", str(path), "--dataset", dataset["id"], "--record-type", "customer_record")
    return result, _fields(result.stdout), path


def test_upload_follows_the_job_and_prints_its_stats(finished_upload, client, account):
    result, fields, path = finished_upload
    assert result.returncode == 0, result.stderr
    assert fields["status"] == "Completed"
    assert (fields["total"], fields["loaded"], fields["rejected"]) == ("4", "3", "1")
    # What the CLI printed is what the API holds for that upload.
    upload = client.get_upload(fields["id"])
    assert upload["filename"] == path.name and line_counts(upload["stats"]) == {"total": 4, "loaded": 3, "rejected": 1}
    # The error log URL it printed works and names the malformed line.
    errors = [json.loads(line) for line in requests.get(fields["error_log_url"], timeout=30).text.splitlines()]
    assert [(e["line"], e["raw"]) for e in errors] == [(3, "{not json")]
    # Progress and the warning go to stderr; the token is never printed.
    assert "warning: 1 of 4 lines rejected" in result.stderr and "warning" not in result.stdout
    assert f"{path.name}: 100%" in result.stderr  # the progress bar, finished
    assert f"upload {fields['id']}: Completed" in result.stderr
    assert account["token"] not in result.stdout + result.stderr


def test_status_shows_the_same_upload(finished_upload, cli):
    _, fields, path = finished_upload
    shown = cli("status", fields["id"])
    assert shown.returncode == 0, shown.stderr
    upload = json.loads(shown.stdout)
    assert upload["id"] == fields["id"] and upload["status"] == "Completed"
    assert upload["filename"] == path.name and line_counts(upload["stats"]) == {"total": 4, "loaded": 3, "rejected": 1}
    assert "\n  " in shown.stdout  # pretty by default
    raw = cli("status", fields["id"], "--json")
    assert raw.returncode == 0 and len(raw.stdout.strip().splitlines()) == 1
    assert json.loads(raw.stdout)["id"] == fields["id"]


def test_list_shows_the_upload_as_a_table(finished_upload, cli):
    _, fields, path = finished_upload
    listed = cli("list")
    assert listed.returncode == 0, listed.stderr
    header, *rows = listed.stdout.splitlines()
    assert header.split() == ["ID", "STATUS", "FILENAME", "TOTAL", "LOADED", "REJECTED", "CREATED_AT"]
    assert [row.split()[:6] for row in rows] == [[fields["id"], "Completed", path.name, "4", "3", "1"]]
    # Filters reach the API: no Failed upload, none in another dataset.
    none_failed = cli("list", "--status", "failed")
    assert none_failed.returncode == 0 and none_failed.stdout == "" and "no uploads" in none_failed.stderr
    assert fields["id"] in cli("list", "--status", "Completed").stdout
    assert "no uploads" in cli("list", "--dataset", "01NOSUCHDATASET").stderr


def test_list_pages_with_all(cli, client, dataset):
    ids = [client.request_upload(f"customer_record-{n}.json", dataset["id"], "customer_record")["id"]
           for n in range(3)]
    first_page = cli("list", "--limit", "2")
    assert len(first_page.stdout.splitlines()) == 1 + 2
    assert "--all" in first_page.stderr
    everything = cli("list", "--limit", "2", "--all")
    assert everything.returncode == 0, everything.stderr
    assert [row.split()[0] for row in everything.stdout.splitlines()[1:]] == ids[::-1]  # newest first
    assert [u["id"] for u in json.loads(cli("list", "--all", "--json", "--limit", "1").stdout)] == ids[::-1]


def test_a_filename_that_breaks_the_rule_is_refused_with_the_rule(cli, dataset, tmp_path):
    path = tmp_path / "customers 2024.json"
    path.write_text(_customer("c1") + "\n")
    result = cli("upload", str(path), "--dataset", dataset["id"], "--record-type", "customer_record")
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: HTTP 400: {FILENAME_RULE}")
    assert ".json, .ndjson, .jsonl or .csv, optionally followed by .gz" in result.stderr
    assert result.stdout == ""


def test_a_failed_job_exits_1_with_its_reason(cli, dataset, tmp_path):
    path = tmp_path / "customer_record-empty.json"
    path.write_bytes(b"")
    result = cli("upload", str(path), "--dataset", dataset["id"], "--record-type", "customer_record")
    assert result.returncode == 1, result.stderr
    fields = _fields(result.stdout)
    assert fields["status"] == "Failed" and "empty" in fields["failure_reason"]


def test_no_wait_returns_once_the_file_is_sent(cli, client, dataset, tmp_path):
    path = tmp_path / "customer_record-nowait.ndjson"
    path.write_text("\n".join(_customer(f"c{i}") for i in range(20)) + "\n")
    result = cli("upload", str(path), "--dataset", dataset["id"], "--record-type", "customer_record", "--no-wait")
    assert result.returncode == 0, result.stderr
    upload_id = _fields(result.stdout)["id"]
    assert "status" not in _fields(result.stdout)
    assert client.wait_for(upload_id, timeout=120, poll=0.2)["stats"]["loaded"] == 20


def test_api_errors_are_one_line_and_exit_1(cli, dataset, tmp_path):
    missing = cli("status", "01NOSUCHUPLOAD")
    assert missing.returncode == 1
    assert missing.stderr == "error: HTTP 404: upload 01NOSUCHUPLOAD not found\n"
    bad_token = cli("list", env={"INGEST_TOKEN": "ing_not-a-real-token"})
    assert bad_token.returncode == 1 and bad_token.stderr.startswith("error: HTTP 401: ")
    assert "ing_not-a-real-token" not in bad_token.stderr
    path = tmp_path / "widgets.json"
    path.write_text("{}\n")
    unknown_type = cli("upload", str(path), "--dataset", dataset["id"], "--record-type", "widget")
    assert unknown_type.returncode == 1
    assert unknown_type.stderr.startswith("error: HTTP 400: destination.record_type 'widget' is unknown")


def test_datasets_create_prints_the_id_and_show_reads_it(cli, client):
    created = cli("datasets", "create", "Customers", "--description", "CRM export")
    assert created.returncode == 0, created.stderr
    dataset_id = created.stdout.strip()
    assert client.get_dataset(dataset_id)["name"] == "Customers"
    shown = cli("datasets", "show", dataset_id)
    assert shown.returncode == 0
    assert json.loads(shown.stdout)["description"] == "CRM export"
    listed = cli("datasets", "list")
    assert dataset_id in listed.stdout


def test_settings_come_from_the_local_stack_state_file(stack, account, tmp_path):
    state = tmp_path / "stack.json"
    state.write_text(json.dumps({"api_url": stack.info.api_url, "token": account["token"]}))
    from_file = _run("cli", "datasets", "create", "from the state file",
                     env=_base_env(tmp_path, INGEST_STACK_FILE=str(state)))
    assert from_file.returncode == 0, from_file.stderr
    # That dataset belongs to the state file's account.
    assert IngestClient(stack.info.api_url, account["token"]).get_dataset(from_file.stdout.strip())
    # Naming another API without a token: the local token is not sent there.
    elsewhere = _run("cli", "list", env=_base_env(tmp_path, INGEST_STACK_FILE=str(state),
                                                 INGEST_API_URL="http://127.0.0.1:9/"))
    assert elsewhere.returncode == 1 and "no token for http://127.0.0.1:9/" in elsewhere.stderr
    nothing = _run("cli", "list", env=_base_env(tmp_path))
    assert nothing.returncode == 1 and "make run" in nothing.stderr


# --- admin ------------------------------------------------------------------------------------


def _admin_env(tmp_path: Path, stack) -> dict[str, str]:
    state = tmp_path / "stack.json"
    state.write_text(json.dumps(stack.state()))  # what `make run` writes, less the dev token
    env = _base_env(tmp_path, INGEST_STACK_FILE=str(state))
    for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        env.pop(name, None)  # the local path must not need the caller's AWS settings
    return env


def test_admin_mints_a_token_on_the_local_stack_that_the_api_accepts(stack, account, dataset, tmp_path):
    result = _run("cli.admin", "mint-token", "--account", account["name"], "--label", "cli test",
                  env=_admin_env(tmp_path, stack))
    assert result.returncode == 0, result.stderr
    token = result.stdout.splitlines()[-1]
    assert result.stdout == token + "\n" and token.startswith("ing_")
    minted = IngestClient(stack.info.api_url, token)
    # It acts for the account it was minted for: that account's dataset is visible, and it can create more.
    assert minted.get_dataset(dataset["id"])["name"] == dataset["name"]
    assert minted.create_dataset("made with a minted token")["id"]


def test_admin_mint_token_refusals(stack, tmp_path):
    env = _admin_env(tmp_path, stack)
    empty = _run("cli.admin", "mint-token", "--account", "", env=env)
    assert empty.returncode != 0 and "make token ACCOUNT=<name>" in empty.stderr and empty.stdout == ""
    bad = _run("cli.admin", "mint-token", "--account", "Not Valid", env=env)
    assert bad.returncode == 1 and "lowercase letters, digits and '-'" in bad.stderr and bad.stdout == ""
    not_running = _run("cli.admin", "mint-token", "--account", "acme", env=_base_env(tmp_path))
    assert not_running.returncode == 1
    assert "the local stack is not running: start it with `make run`" in not_running.stderr
    # A state file written before the stack's tables were recorded in it says what to do.
    stale = tmp_path / "stale-stack.json"
    stale.write_text(json.dumps({"api_url": stack.info.api_url, "aws_endpoint": stack.info.aws_endpoint}))
    old = _run("cli.admin", "mint-token", "--account", "acme", env={**env, "INGEST_STACK_FILE": str(stale)})
    assert old.returncode == 1 and "restart the local stack with `make run`" in old.stderr and old.stdout == ""


def test_admin_mints_on_a_deployed_stack_by_its_tokens_table_output(stack, tmp_path):
    # A CloudFormation stack whose TokensTableName output names the local Tokens table stands in for a
    # deployed BulkIngest stack; the CLI reaches it with ordinary AWS settings (here: the local moto).
    cloudformation = boto3.client("cloudformation", endpoint_url=stack.info.aws_endpoint, region_name=REGION,
                                  aws_access_key_id="testing", aws_secret_access_key="testing")
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {"TokensTableName": {"Value": stack.info.tokens_table}},
    }
    cloudformation.create_stack(StackName="BulkIngestCliTest", TemplateBody=json.dumps(template))
    try:
        env = _base_env(tmp_path, AWS_ENDPOINT_URL=stack.info.aws_endpoint, AWS_ACCESS_KEY_ID="testing",
                        AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION=REGION)
        result = _run("cli.admin", "mint-token", "--account", "deployed-acct", "--stack", "BulkIngestCliTest", env=env)
        assert result.returncode == 0, result.stderr
        token = result.stdout.splitlines()[-1]
        assert IngestClient(stack.info.api_url, token).list_uploads() == {"uploads": [], "next_token": None}
        unknown = _run("cli.admin", "mint-token", "--account", "x", "--stack", "NoSuchStack", env=env)
        assert unknown.returncode == 1 and "NoSuchStack" in unknown.stderr and unknown.stdout == ""
    finally:
        cloudformation.delete_stack(StackName="BulkIngestCliTest")
