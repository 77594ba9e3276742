"""`python -m cli validate` against the service itself: the same file validated locally by the CLI and
uploaded over real HTTP to the local stack must give the same error log, line for line, and the same
counts. The CLI runs as a user runs it, in a subprocess with no INGEST_* settings and no state file."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from ingest import record_types
from tests.support.stats import line_counts

ROOT = Path(__file__).resolve().parents[2]

NDJSON_CUSTOMERS = b"".join([
    b'{"link": {"customer_id": "c1"}, "first_name": "Ada"}\n',
    b'{"link": {"customer_id": "c2"\n',  # malformed JSON
    b'{"first_name": "no link"}\n',  # the required key is missing
    b'{"link": {}}\n',  # link present, but no identifier in it
    b'[{"link": {"customer_id": "c3"}}]\n',  # an array, not an object
    b"\n",  # blank: not counted, but it still numbers
    b'{"link": {"customer_id": "c4"}}\r\n',  # CRLF, valid
    b'{"link": {"customer_id": "c5"}, "email": "nope"}\r\n',  # CRLF, invalid: raw has no \r
    b'  \t \n',  # whitespace only: blank
    b'{"link": {"email": "e@example.com"}, "date_of_birth": "1990-13-1"}\n',  # no month 13
    b'{"link": {"customer_id": "c6"}}',  # last line without a newline
])

CSV_PURCHASES = "\r\n".join([
    "purchase_id,link.customer_id,action_at,type,currency,products",
    'p1,c1,2024-05-03T10:00:00Z,ecommerce,AUD,"[{""price_paid"": 10.5, ""quantity"": 2}]"',
    "p2,c2,2024-05-03T10:00:00Z,online,AUD,[]",  # type is physical or ecommerce
    "p3,c3,ten,ecommerce,AUD,[]",  # not a date-time
    'p4,"c4, with a comma",1714745000,physical,AUD,[]',  # quoted comma: valid
    'p5,"c5 spans',  # quoted newline: one record from here...
    'two lines",2024-05-03 10:00,physical,AUD,[]',  # ...to here, valid
    'p6,c6,2024-05-03T10:00:00Z,ecommerce,EUR,"[{""price_paid"": ""multi',  # an invalid record over two lines
    'line""}]"',
    "",  # blank row
    "p7,c7,2024-05-03T10:00:00Z,ecommerce,AUD,[],surplus",  # too many fields
    "p8,c8,1.5e9,ecommerce,USD,[]",
    'p9,"c9, again\non two lines",2024-05-03T10:00:00Z,ecommerce,XYZ1,"[{""price_paid"": -3, ""quantity"": 1}]"',
    "p10,,2024-05-03T10:00:00Z,ecommerce,AUD,[]",  # empty customer_id: no link
    "p11,c11,2024-05-03T10:00:00Z,ecommerce,AUD",  # too few fields
]).encode() + b"\r\n"


def _env(tmp_path: Path) -> dict[str, str]:
    """No INGEST_* settings and a state file that does not exist: validate needs neither."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INGEST_")}
    env["INGEST_STACK_FILE"] = str(tmp_path / "no-such-stack.json")
    return env


@pytest.fixture
def validate(tmp_path):
    """validate(path, *args) -> the finished `python -m cli validate` process."""

    def run(path: Path, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "cli", "validate", str(path), *args], cwd=ROOT,
                              env=_env(tmp_path), check=False, capture_output=True, text=True, timeout=120)

    return run


def _summary(text: str) -> dict[str, int]:
    return {name: int(value) for name, _, value in (line.partition(": ") for line in text.splitlines())
            if name in ("total", "valid", "invalid")}


def _compare(load_file, validate, tmp_path: Path, content: bytes, record_type: str, filename: str) -> list[dict]:
    """Upload content and validate it locally; assert both agree; return the error log."""
    upload = load_file(content, record_type=record_type, filename=filename)
    assert upload["status"] == "Completed", upload
    server_log = requests.get(upload["error_log_url"], timeout=30).text
    path = tmp_path / f"local-{filename}"
    path.write_bytes(content)

    as_json = validate(path, "--record-type", record_type, "--json")
    assert as_json.returncode == 1, as_json.stderr
    # Line for line, byte for byte: the same NDJSON the server's error log holds.
    assert as_json.stdout.splitlines() == server_log.splitlines()
    stats = upload["stats"]
    assert _summary(as_json.stderr) == {"total": stats["total"], "valid": stats["loaded"],
                                        "invalid": stats["rejected"]}

    plain = validate(path, "--record-type", record_type)
    assert plain.returncode == 1, plain.stderr
    errors = [json.loads(line) for line in server_log.splitlines()]
    lines = plain.stdout.splitlines()
    assert _summary("\n".join(lines[:3])) == _summary(as_json.stderr)
    assert lines[3:] == [f"line {e['line']}: {e['error']}" for e in errors[:20]]
    return errors


def test_ndjson_errors_match_the_servers_error_log(load_file, validate, tmp_path):
    errors = _compare(load_file, validate, tmp_path, NDJSON_CUSTOMERS, "customer_record",
                      "customer_record-validate.ndjson")
    assert [e["line"] for e in errors] == [2, 3, 4, 5, 8, 10]
    assert errors[4]["error"] == "email: must be an email address"
    assert errors[5]["error"] == "date_of_birth: must be a date, e.g. 2023-03-06 (or unix seconds)"
    assert errors[0]["raw"] == '{"link": {"customer_id": "c2"'
    assert errors[0]["error"].startswith("invalid JSON: ")
    assert errors[3]["error"] == "expected a JSON object, got an array"
    assert errors[4]["raw"] == '{"link": {"customer_id": "c5"}, "email": "nope"}'  # no \r


def test_csv_errors_match_the_servers_error_log(load_file, validate, tmp_path):
    errors = _compare(load_file, validate, tmp_path, CSV_PURCHASES, "purchase", "purchase-validate.csv")
    _check_csv_errors(errors)


def test_gzipped_csv_errors_match_the_servers_error_log(load_file, validate, tmp_path):
    errors = _compare(load_file, validate, tmp_path, gzip.compress(CSV_PURCHASES), "purchase",
                      "purchase-validate.csv.gz")
    _check_csv_errors(errors)


def _check_csv_errors(errors: list[dict]) -> None:
    by_line = {e["line"]: e for e in errors}
    assert sorted(by_line) == [3, 4, 8, 11, 13, 15, 16]
    assert by_line[3]["error"] == 'type: must be one of "physical", "ecommerce"'
    assert by_line[4]["error"] == "action_at: must be a date-time, e.g. 2023-03-06T12:26:47Z (or unix seconds)"
    assert by_line[4]["raw"] == "p3,c3,ten,ecommerce,AUD,[]"
    # A record over two lines is numbered by its first line and keeps both lines, LF-joined, in raw.
    assert by_line[8]["raw"] == 'p6,c6,2024-05-03T10:00:00Z,ecommerce,EUR,"[{""price_paid"": ""multi\nline""}]"'
    assert by_line[8]["error"] == "products: must be an array"  # a raw newline inside a JSON string: not JSON
    assert by_line[11]["error"] == "row has 7 fields; the header has 6"
    assert by_line[13]["raw"] == (
        'p9,"c9, again\non two lines",2024-05-03T10:00:00Z,ecommerce,XYZ1,"[{""price_paid"": -3, ""quantity"": 1}]"')
    assert by_line[13]["error"] == "products[0].price_paid: must be ≥ 0"
    assert by_line[15]["error"] == "link: is required"
    assert by_line[16]["error"] == "row has 5 fields; the header has 6"


def test_errors_from_many_chunks_merge_as_the_server_merges_them(load_file, validate, tmp_path):
    # Over 4 KB (the test stack's chunk size): Split's rejections and several chunks' Load rejections
    # are merged by the server; validate lists them in the same order.
    rows = [f"p{i},c{i},1714745000,physical,[],extra" if i % 5 == 0
            else f"p{i},c{i},1714745000,{'online' if i % 7 == 0 else 'physical'},[]" for i in range(400)]
    content = ("purchase_id,link.customer_id,action_at,type,products\n" + "\n".join(rows) + "\n").encode()
    errors = _compare(load_file, validate, tmp_path, content, "purchase", "purchase-chunks.csv")
    assert len(errors) == 80 + 46 and [e["line"] for e in errors] == sorted(e["line"] for e in errors)


# Edge cases where the server once disagreed: both keep what the file holds, in line order.


def test_a_line_ending_in_two_carriage_returns(load_file, validate, tmp_path):
    _compare(load_file, validate, tmp_path, b'{"link": {}}\r\r\n{"bad"\r\r\n', "customer_record",
             "customer_record-crcr.ndjson")


def test_a_bad_line_inside_a_malformed_csv_record(load_file, validate, tmp_path):
    content = (b'purchase_id,link.customer_id,action_at,type,products\np1,"c1\n\xff\xfe bad\nend"x,1,physical,[]\n'
               b"p2,c2,1,physical,[]\n")
    errors = _compare(load_file, validate, tmp_path, content, "purchase_event", "purchase_event-badline.csv")
    assert errors[0]["line"] == 2 and errors[0]["error"].startswith("line 3 of this record: line is not valid UTF-8")


def test_a_bad_line_inside_a_quoted_csv_record_rejects_the_whole_record(load_file, validate, tmp_path, client, dataset):
    content = (b'purchase_id,link.customer_id,action_at,type,products\np1,"c1\n\xff\xfe bad\nend",1,physical,[]\n'
               b"p2,c2,1,physical,[]\n")
    errors = _compare(load_file, validate, tmp_path, content, "purchase", "purchase-badquoted.csv")
    # The record is rejected at its first line; the rest of its text after the bad line cannot be
    # told apart from a new row, so it is rejected on its own line too. p2 still loads.
    assert [e["line"] for e in errors] == [2, 4]
    assert errors[0]["error"].startswith("line 3 of this record: line is not valid UTF-8")
    assert client.get_dataset(dataset["id"])["record_counts"] == {"purchase": 1}  # p2 only, p1 not half-loaded


def test_a_clean_file_exits_0_with_counts(load_file, validate, tmp_path):
    content = b"".join(b'{"link": {"customer_id": "c%d"}}\n' % i for i in range(25))
    upload = load_file(content, filename="customer_record-clean.jsonl")
    assert line_counts(upload["stats"]) == {"total": 25, "loaded": 25, "rejected": 0}
    path = tmp_path / "customer_record-clean.jsonl"
    path.write_bytes(content)
    result = validate(path, "--record-type", "customer_record")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "total: 25\nvalid: 25\ninvalid: 0\n"
    as_json = validate(path, "--record-type", "customer_record", "--json")
    assert as_json.returncode == 0 and as_json.stdout == ""
    assert _summary(as_json.stderr) == {"total": 25, "valid": 25, "invalid": 0}


def test_max_errors_limits_the_listing_not_the_counts(validate, tmp_path):
    path = tmp_path / "customer_record-bad.ndjson"
    path.write_bytes(b"{}\n" * 30)
    result = validate(path, "--record-type", "customer_record", "--max-errors", "3")
    assert result.returncode == 1
    assert result.stdout.splitlines() == ["total: 30", "valid: 0", "invalid: 30"] + [
        f"line {n}: link: is required" for n in (1, 2, 3)]
    assert "27 more errors not shown" in result.stderr


def test_a_csv_header_with_an_unknown_column_is_rejected_as_the_server_rejects_it(load_file, validate, tmp_path):
    content = b"purchase_id,link.customer_id,link.colour\np1,c1,red\n"
    upload = load_file(content, record_type="purchase_event", filename="purchase_event-badheader.csv")
    assert upload["status"] == "Failed"
    assert "unknown columns: link.colour" in upload["failure_reason"]
    path = tmp_path / "purchase_event-badheader.csv"
    path.write_bytes(content)
    result = validate(path, "--record-type", "purchase_event")
    assert result.returncode == 1
    assert result.stderr == f"error: {upload['failure_reason']}\n"
    assert result.stdout == ""


@pytest.mark.parametrize("filename, content, reason", [
    # JSON.stringify of an export
    ("customer_record-export.json", b'[{"link": {"customer_id": "c1"}}, {"link": {"customer_id": "c2"}}]',
     "the file holds one JSON array"),
    # Lines ended by CR alone (classic Mac OS)
    ("customer_record-mac.csv", b"link.customer_id,first_name\rc1,Ann\rc2,Bo\r",
     "lines end in a carriage return alone"),
], ids=["json-array-on-one-line", "cr-line-endings"])
def test_a_file_that_is_not_lines_of_records_is_refused_as_the_server_refuses_it(load_file, validate, tmp_path,
                                                                                   filename, content, reason):
    upload = load_file(content, filename=filename)
    assert upload["status"] == "Failed" and reason in upload["failure_reason"]
    path = tmp_path / filename
    path.write_bytes(content)
    result = validate(path, "--record-type", "customer_record")
    assert result.returncode == 1
    assert result.stderr == f"error: {upload['failure_reason']}\n"
    assert result.stdout == ""


def test_format_option_overrides_the_filename(validate, tmp_path):
    path = tmp_path / "purchases.txt"
    path.write_bytes(b"link.customer_id,first_name\nc1,Ada\n")
    as_named = validate(path, "--record-type", "customer_record")  # NDJSON by its name: refused
    assert as_named.returncode == 1 and "looks like CSV" in as_named.stderr
    as_csv = validate(path, "--record-type", "customer_record", "--format", "csv")
    assert as_csv.returncode == 0, as_csv.stderr
    assert as_csv.stdout == "total: 1\nvalid: 1\ninvalid: 0\n"


def test_an_unknown_record_type_exits_2_listing_the_known_ones(validate, tmp_path):
    path = tmp_path / "widgets.json"
    path.write_bytes(b"{}\n")
    result = validate(path, "--record-type", "widget")
    assert result.returncode == 2
    assert result.stderr.startswith("error: unknown record type 'widget'; known record types: ")
    assert all(name in result.stderr for name in record_types.catalogue())
    missing_file = validate(tmp_path / "absent.json", "--record-type", "customer_record")
    assert missing_file.returncode == 2


def test_it_needs_no_api_settings(validate, tmp_path):
    # _env leaves out every INGEST_* variable and points INGEST_STACK_FILE at a file that is not there;
    # the client's other commands fail that way, validate does not.
    assert not (tmp_path / "no-such-stack.json").exists()
    path = tmp_path / "customer_record-offline.ndjson"
    path.write_bytes(b'{"link": {"customer_id": "c1"}}\n{"link": {}}\n')
    result = validate(path, "--record-type", "customer_record")
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines()[:3] == ["total: 2", "valid: 1", "invalid: 1"]
    needs_api = subprocess.run([sys.executable, "-m", "cli", "list"], cwd=ROOT, env=_env(tmp_path),
                               check=False, capture_output=True, text=True, timeout=60)
    assert needs_api.returncode == 1 and "no API to talk to" in needs_api.stderr


def test_it_loads_no_aws_sdk(validate, tmp_path):
    """validate is a local command: it runs the load steps' checks (logic/load/record_limits.py), not the
    steps, whose adapters import boto3 (about a second of start-up, paid on every run, for nothing)."""
    path = tmp_path / "customer_record-sdk.ndjson"
    path.write_bytes(b'{"link": {"customer_id": "c1"}}\n')
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "cli", "validate", str(path),
                             "--record-type", "customer_record"], cwd=ROOT, env=_env(tmp_path), check=False,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if "|" in line}
    assert "ingest.record_types" in imported  # the checks themselves were imported
    # (botocore.exceptions comes in through the error log's imports: a few milliseconds, not the SDK.)
    assert not {name for name in imported if name.split(".")[0] in ("boto3", "s3transfer", "pydantic")}


def test_a_large_file_shows_a_progress_bar(validate, tmp_path):
    line = b'{"link": {"customer_id": "c1"}, "custom_fields": {"pad": "' + b"x" * 1000 + b'"}}\n'
    path = tmp_path / "customer_record-large.ndjson.gz"
    path.write_bytes(gzip.compress(line * 11_000, compresslevel=1))
    small = validate(path, "--record-type", "customer_record")
    assert small.returncode == 0 and "%|" not in small.stderr  # gzip: 11 MB of text, but few bytes read
    plain = tmp_path / "customer_record-large.ndjson"
    plain.write_bytes(line * 11_000)
    large = validate(plain, "--record-type", "customer_record")
    assert large.returncode == 0, large.stderr
    assert large.stdout == "total: 11000\nvalid: 11000\ninvalid: 0\n"
    assert f"{plain.name}: 100%" in large.stderr


def test_validate_refuses_a_format_the_record_type_does_not_take_as_the_upload_request_does(tmp_path):
    path = tmp_path / "profile_changes-1.csv"
    path.write_text("customer_id,changes\nabc,[]\n")
    result = subprocess.run([sys.executable, "-m", "cli", "validate", str(path), "--record-type", "profile_changes"],
                            cwd=ROOT, check=False, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr == ("error: record type profile_changes takes NDJSON files only, not CSV; "
                             "name the file .ndjson, .jsonl or .json (optionally .gz)\n")
    # The format named by --format, not by the file's name: renaming the file would change nothing.
    named = tmp_path / "changes.txt"
    named.write_text('{"customer_id": "abc", "changes": []}\n')
    result = subprocess.run([sys.executable, "-m", "cli", "validate", str(named), "--record-type", "profile_changes",
                             "--format", "csv"], cwd=ROOT, check=False, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr == ("error: record type profile_changes takes NDJSON files only, not CSV; "
                             "validate it with --format ndjson\n")


# The fixtures written from Lexer's specification: every case, accepted or rejected, as one file per type.
FIXTURES = ROOT / "tests" / "fixtures" / "lexer"


@pytest.mark.parametrize("name", sorted(path.stem for path in (FIXTURES / "cases").glob("*.ndjson")))
def test_lexer_cases_get_the_same_verdicts_from_validate_and_the_server(load_file, validate, tmp_path, name):
    cases = [json.loads(line) for line in (FIXTURES / "cases" / f"{name}.ndjson").read_text().splitlines()]
    content = "".join(json.dumps(case["record"]) + "\n" for case in cases).encode()
    errors = _compare(load_file, validate, tmp_path, content, name, f"{name}-cases.ndjson")
    expected = {n: case["message"] for n, case in enumerate(cases, 1) if "message" in case}
    assert {e["line"]: e["error"] for e in errors} == expected
