"""The suite's parameters are the same on every collection.

pytest-xdist has each worker collect the suite and refuses to run when their test ids differ. A
parameter that changes with the clock or by chance (gzip's header holds the time it was written) gives
ids that differ whenever the two workers collect in different seconds: CI then fails before running a
test, as it once did here. This reads every test module's `parametrize` arguments for such calls.
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]

# Calls whose result changes from one collection to the next; gzip is fine with a fixed mtime.
CHANGING_CALLS = {
    ("time", "time"), ("datetime", "now"), ("datetime", "utcnow"), ("uuid", "uuid4"), ("uuid", "uuid1"),
    ("os", "urandom"), ("secrets", "token_bytes"), ("secrets", "token_hex"), ("random", "random"),
    ("random", "randbytes"), ("random", "randint"),
}


def _dotted(node: ast.expr) -> tuple[str, str] | None:
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return node.value.id, node.attr
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute):
        return node.value.attr, node.attr
    return None


def changing_calls(node: ast.AST) -> list[str]:
    found = []
    for call in ast.walk(node):
        if not isinstance(call, ast.Call):
            continue
        name = _dotted(call.func)
        if name == ("gzip", "compress") and not any(k.arg == "mtime" for k in call.keywords):
            found.append(f"gzip.compress without mtime (line {call.lineno})")
        elif name in CHANGING_CALLS:
            found.append(f"{'.'.join(name)} (line {call.lineno})")
    return found


def _parametrize_arguments(tree: ast.AST) -> list[ast.AST]:
    return [node for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "parametrize"]


def _module_constants(tree: ast.Module) -> list[ast.AST]:
    # Module-level assignments run at collection and often feed a parametrize list.
    return [node for node in tree.body if isinstance(node, (ast.Assign, ast.AnnAssign))]


def test_no_parametrize_argument_changes_between_collections():
    problems = []
    for path in sorted(TESTS.rglob("test_*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in _parametrize_arguments(tree) + _module_constants(tree):
            problems += [f"{path.relative_to(TESTS)}: {found}" for found in changing_calls(node)]
    assert problems == []


def test_the_check_finds_a_gzip_parameter_without_a_fixed_mtime():
    # The form that broke CI: bytes made at collection, with the collection's time in their header.
    source = '@pytest.mark.parametrize("data", [gzip.compress(b"x"), gzip.compress(b"y", mtime=0)])\ndef t(data): ...'
    found = [problem for node in _parametrize_arguments(ast.parse(source)) for problem in changing_calls(node)]
    assert found == ["gzip.compress without mtime (line 1)"]
