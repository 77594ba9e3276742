"""No function records a handler's response or error in X-Ray (docs/security.md, "Nothing in traces").

Held two ways: every function's environment turns Powertools' capture off, and every traced entry point
goes through ingest.handlers.observability.traced, which turns it off in the decorator too.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "lambdas" / "ingest"
OBSERVABILITY = PACKAGE / "handlers" / "observability.py"
CAPTURING_DECORATORS = {"capture_lambda_handler", "capture_method"}
NO_CAPTURE = {"POWERTOOLS_TRACER_CAPTURE_RESPONSE": "false", "POWERTOOLS_TRACER_CAPTURE_ERROR": "false"}


def test_every_function_turns_response_and_error_capture_off(template):
    functions = {lid: resource["Properties"] for lid, resource in template["Resources"].items()
                 if resource["Type"] == "AWS::Lambda::Function"
                 and resource["Properties"].get("Handler", "").startswith("ingest.")}
    assert len(functions) >= 14
    for lid, function in functions.items():
        variables = function["Environment"]["Variables"]
        assert {name: variables.get(name) for name in NO_CAPTURE} == NO_CAPTURE, lid


def capture_uses(path: Path) -> list[ast.AST]:
    """Every reference to one of Powertools' capturing decorators in the module."""
    tree = ast.parse(path.read_text(), filename=str(path))
    return [node for node in ast.walk(tree)
            if (isinstance(node, ast.Attribute) and node.attr in CAPTURING_DECORATORS)
            or (isinstance(node, ast.Name) and node.id in CAPTURING_DECORATORS)]


def test_only_observability_uses_the_capturing_decorators():
    elsewhere = {str(path.relative_to(ROOT)): len(capture_uses(path)) for path in PACKAGE.rglob("*.py")
                 if path != OBSERVABILITY and capture_uses(path)}
    assert not elsewhere, f"trace through ingest.handlers.observability.traced instead: {elsewhere}"


def test_traced_passes_capture_response_and_error_false():
    tree = ast.parse(OBSERVABILITY.read_text())
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)
             and isinstance(node.func, ast.Attribute) and node.func.attr in CAPTURING_DECORATORS]
    assert calls, "observability.py no longer traces entry points"
    for call in calls:
        keywords = {keyword.arg: keyword.value for keyword in call.keywords}
        for name in ("capture_response", "capture_error"):
            value = keywords.get(name)
            assert isinstance(value, ast.Constant) and value.value is False, f"{name} must be False: line {call.lineno}"


def test_every_traced_handler_module_uses_traced():
    """A handler module that imports the tracer itself could decorate without `traced`; none does."""
    for path in (PACKAGE / "handlers").glob("*.py"):
        if path == OBSERVABILITY:
            continue
        tree = ast.parse(path.read_text())
        imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                    and node.module == "ingest.handlers.observability" for alias in node.names}
        assert "tracer" not in imported, f"{path.name} imports the tracer; use `traced`"
