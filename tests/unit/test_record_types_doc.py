"""docs/record_types.md's table is the one the declarations give (tools/record_types_doc.py --write)."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_documented_table_matches_the_declarations():
    spec = importlib.util.spec_from_file_location("record_types_doc", ROOT / "tools" / "record_types_doc.py")
    doc = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(doc)
    text = (ROOT / "docs" / "record_types.md").read_text(encoding="utf-8")
    assert doc.replaced(text) == text, "run: .venv/bin/python tools/record_types_doc.py --write"
    assert "`purchase` (alias `purchase_event`) | `purchase_id`" in text
