"""Every field Lexer's example records use, for every Lexer record type, loads with nothing rejected
over real HTTP on the local stack: as NDJSON (gzipped for half the types) and as CSV (dotted headers,
arrays and free-form objects as JSON cells), and reads back by its key."""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from ingest import record_types
from tests.support.stats import line_counts

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "lexer"
TYPES = sorted(path.stem for path in FIXTURES.glob("*.ndjson"))


def _records(name: str) -> list[dict]:
    return [json.loads(line) for line in (FIXTURES / f"{name}.ndjson").read_text(encoding="utf-8").splitlines()]


def _cells(record: dict, prefix: str = "") -> dict[str, str]:
    """A record as CSV cells: objects become dotted columns (link.email, store.location.name), arrays and
    free-form objects (custom_fields, options) one JSON cell."""
    cells: dict[str, str] = {}
    for field, value in record.items():
        column = prefix + field
        if isinstance(value, dict) and field not in ("custom_fields", "options"):
            cells.update(_cells(value, column + "."))
        elif isinstance(value, (dict, list)):
            cells[column] = json.dumps(value)
        elif isinstance(value, bool):
            cells[column] = str(value).lower()
        else:
            cells[column] = str(value)
    return cells


def _csv(records: list[dict]) -> bytes:
    rows = [_cells(record) for record in records]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=sorted({column for row in rows for column in row}), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


@pytest.mark.parametrize("name", TYPES)
def test_every_field_lexers_examples_use_loads_with_nothing_rejected(stack, account, client, dataset, load_file, name):
    records = _records(name)
    content = "".join(json.dumps(record) + "\n" for record in records).encode()
    gzipped = TYPES.index(name) % 2 == 1
    upload = load_file(gzip.compress(content) if gzipped else content, record_type=name,
                       filename=f"{name}-full.ndjson" + (".gz" if gzipped else ""))
    assert upload["status"] == "Completed", upload.get("failure_reason")
    assert line_counts(upload["stats"]) == {"total": len(records), "loaded": len(records), "rejected": 0}
    assert client.get_dataset(dataset["id"])["record_counts"] == {name: len(records)}
    record_type = record_types.get(name)
    for record in records:
        stored = requests.get(f"{stack.info.api_url}/v1/datasets/{dataset['id']}/records/{name}/"
                              f"{quote(record_type.key_of(record), safe='')}",
                              headers={"Auth-Api-Token": account["token"]})
        assert stored.status_code == 200, stored.text
        assert stored.json() == record  # as sent


@pytest.mark.parametrize("name", TYPES)
def test_the_same_records_load_from_csv(client, dataset, load_file, name):
    records = _records(name)
    upload = load_file(_csv(records), record_type=name, filename=f"{name}-full.csv")
    assert upload["status"] == "Completed", upload.get("failure_reason")
    assert line_counts(upload["stats"]) == {"total": len(records), "loaded": len(records), "rejected": 0}
    assert client.get_dataset(dataset["id"])["record_counts"] == {name: len(records)}
