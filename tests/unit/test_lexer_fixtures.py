"""The fixtures written from Lexer's specification (tests/fixtures/lexer/): every field Lexer's
example records use, and per type the records its models accept or reject, each with our message.

Each case's verdict is what Lexer's validator decides (checked against its models by
tools/compare_with_lexer.py); a case marked `deliberate` is one where we differ on purpose
(docs/record_types.md says why) and `ours` is our verdict.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest import record_types

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "lexer"
LEXER_TYPES = sorted(path.stem for path in FIXTURES.glob("*.ndjson"))


def _cases():
    for path in sorted((FIXTURES / "cases").glob("*.ndjson")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            case = json.loads(line)
            yield pytest.param(path.stem, case, id=f"{path.stem}:{number}:{case['why']}")


def test_there_is_a_full_record_file_and_a_case_file_per_lexer_type():
    lexer_types = {name for name, record_type in record_types.catalogue().items() if record_type.source}
    assert set(LEXER_TYPES) == lexer_types and len(lexer_types) == 12
    assert {path.stem for path in (FIXTURES / "cases").glob("*.ndjson")} == lexer_types


@pytest.mark.parametrize("name", LEXER_TYPES)
def test_full_records_are_accepted_with_their_keys(name):
    record_type = record_types.get(name)
    keys = []
    for line in (FIXTURES / f"{name}.ndjson").read_text(encoding="utf-8").splitlines():
        problem, key = record_type.check(json.loads(line))
        assert problem is None
        keys.append(key)
    assert len(set(keys)) == len(keys)  # distinct records


@pytest.mark.parametrize(("name", "case"), list(_cases()))
def test_case_verdict_and_message(name, case):
    problem = record_types.get(name).problem_with(case["record"])
    expected = case.get("ours", case["verdict"])  # a deliberate difference: our verdict is the other one
    if "deliberate" in case:
        assert expected != case["verdict"]
    assert ("accept" if problem is None else "reject") == expected
    assert problem == case.get("message")


def test_cases_cover_accepts_and_rejects_for_every_type():
    by_type: dict[str, set[str]] = {}
    for param in _cases():
        name, case = param.values
        by_type.setdefault(name, set()).add(case["verdict"])
    assert all(verdicts == {"accept", "reject"} for verdicts in by_type.values())


@pytest.mark.parametrize("name", LEXER_TYPES)
def test_the_served_schema_describes_the_canonical_form(name):
    import jsonschema

    schema = record_types.get(name).describe()["schema"]
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    canonical = json.loads((FIXTURES / f"{name}.ndjson").read_text(encoding="utf-8").splitlines()[0])
    assert list(validator.iter_errors(canonical)) == []
    required = schema.get("required") or ["product_id"]  # product: the field its reference type names
    incomplete = {key: value for key, value in canonical.items() if key != required[0]}
    assert not validator.is_valid(incomplete)
