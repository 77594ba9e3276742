"""Run Lexer's own validator and ours over the same records and show where the verdicts differ.

    .venv/bin/python tools/compare_with_lexer.py --lexer-schemas ../lexer-schemas
    .venv/bin/python tools/compare_with_lexer.py --lexer-schemas ../lexer-schemas \\
        --lexer-python ../venv-pydantic1/bin/python

Lexer's models are imported from the checkout given (nothing of it is copied into this project) and
run with `parse_raw` on each line's text, as Lexer's upload example does. Without --lexer-python they
run in this interpreter on pydantic 1.10 (pydantic.v1 when pydantic 2 is installed: the project pins
pydantic 2 for other tools); with it, in that interpreter (e.g. one with Lexer's pinned 1.10.19).

Records: tests/fixtures/lexer/<type>.ndjson (every line should be accepted), the cases in
tests/fixtures/lexer/cases/<type>.ndjson ({"record", "verdict", "message", "deliberate"?}), and
Lexer's examples/data/*.ndjson from the checkout. Exit status 1 when a verdict differs where no
deliberate difference is declared.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import orjson

from ingest import record_types

ROOT = Path(__file__).resolve().parent.parent

# Runs where Lexer's models live: reads [[type, text], ...] as JSON on stdin, prints one verdict per
# line ("ok" or the first line of pydantic's error).
LEXER_SIDE = r'''
import json, sys
sys.path.insert(0, sys.argv[1])
import pydantic
if pydantic.VERSION.startswith("2"):
    import importlib
    for name in ("", ".fields", ".networks", ".main", ".types", ".class_validators"):
        sys.modules["pydantic" + name] = importlib.import_module("pydantic.v1" + name)
    pydantic = sys.modules["pydantic"]
from lexer_schemas.all import all_api_names
print(json.dumps({"pydantic": pydantic.VERSION}))
for record_type, text in json.load(sys.stdin):
    try:
        all_api_names[record_type].parse_raw(text)
        print(json.dumps("ok"))
    except Exception as exc:  # pydantic's ValidationError, or TypeError for keys that are not strings
        print(json.dumps(f"{type(exc).__name__}: " + " | ".join(str(exc).splitlines()[1:3])))
'''


def collect(fixtures: Path, lexer_schemas: Path) -> list[dict]:
    """Every record to judge: {type, text, source, expected (accept/reject or None), deliberate}."""
    items = []
    for path in sorted(fixtures.glob("*.ndjson")):
        for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            items.append({"type": path.stem, "text": text, "source": f"{path.name}:{number}",
                          "expected": "accept", "deliberate": ""})
    for path in sorted((fixtures / "cases").glob("*.ndjson")):
        for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            case = json.loads(text)
            items.append({"type": path.stem, "text": json.dumps(case["record"]),
                          "source": f"cases/{path.name}:{number}", "expected": case["verdict"],
                          "deliberate": case.get("deliberate", "")})
    for path in sorted((lexer_schemas / "examples" / "data").glob("batch_*.ndjson")):
        record_type = path.stem.split("_", 2)[2]  # batch_<area>_<type>
        for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if text.strip():
                items.append({"type": record_type, "text": text, "source": f"lexer examples/{path.name}:{number}",
                              "expected": "accept", "deliberate": ""})
    return items


def lexer_verdicts(items: list[dict], lexer_schemas: Path, python: str) -> tuple[str, list[str]]:
    result = subprocess.run([python, "-c", LEXER_SIDE, str(lexer_schemas)], check=True, capture_output=True,  # noqa: S603 (our own argv)
                            input=json.dumps([[item["type"], item["text"]] for item in items]), text=True)
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    return lines[0]["pydantic"], lines[1:]


def our_verdict(record_type: str, text: str) -> str:
    try:
        record = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        return f"invalid JSON: {exc}"
    problem = record_types.get(record_type).problem_with(record)
    return "ok" if problem is None else problem


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lexer-schemas", type=Path, required=True, help="a checkout of lexerdev/lexer-schemas")
    parser.add_argument("--lexer-python", default=sys.executable,
                        help="the interpreter to run Lexer's models in (default: this one)")
    parser.add_argument("--fixtures", type=Path, default=ROOT / "tests" / "fixtures" / "lexer")
    args = parser.parse_args(argv)

    items = collect(args.fixtures, args.lexer_schemas)
    version, theirs = lexer_verdicts(items, args.lexer_schemas.resolve(), args.lexer_python)
    print(f"Lexer's models from {args.lexer_schemas} on pydantic {version}; {len(items)} records")
    by_type: dict[str, list[int]] = {}
    unexpected = deliberate = 0
    for item, lexer in zip(items, theirs, strict=True):  # one verdict per record sent
        ours = our_verdict(item["type"], item["text"])
        counts = by_type.setdefault(item["type"], [0, 0, 0])
        counts[0] += 1
        same = (ours == "ok") == (lexer == "ok")
        if same:
            counts[1] += 1
            continue
        if item["deliberate"]:
            deliberate += 1
            counts[2] += 1
            print(f"  deliberate  {item['source']}: Lexer {'accepts' if lexer == 'ok' else 'rejects'}, "
                  f"we {'accept' if ours == 'ok' else 'reject'} ({item['deliberate']})")
            continue
        unexpected += 1
        print(f"  DIFFERENT   {item['source']} [{item['type']}]\n      Lexer: {lexer}\n      ours:  {ours}")
    print(f"\n{'type':18} {'records':>7} {'agree':>6} {'deliberate':>10}")
    for record_type in sorted(by_type):
        total, agree, chosen = by_type[record_type]
        print(f"{record_type:18} {total:>7} {agree:>6} {chosen:>10}")
    print(f"\n{len(items) - unexpected - deliberate} agree, {deliberate} differ on purpose, "
          f"{unexpected} differ unexpectedly")
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
