"""The Lambda code's layers: handlers -> logic -> adapters (around AWS clients) and models (typed
requests and views). A lower layer never imports a higher one, so an adapter can be replaced or faked
without the domain logic coming along, and the logic can be tested without a handler."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

INGEST = Path(__file__).resolve().parents[2] / "lambdas" / "ingest"
# What each layer may not import.
FORBIDDEN = {
    "models": ("ingest.handlers", "ingest.logic", "ingest.adapters"),
    "adapters": ("ingest.handlers", "ingest.logic"),
    "logic": ("ingest.handlers",),
}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
    return names


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_a_layer_imports_nothing_above_it(layer):
    modules = sorted((INGEST / layer).rglob("*.py"))
    assert modules, f"no modules under {layer}/"
    crossing = {
        f"{path.relative_to(INGEST)} imports {name}"
        for path in modules for name in _imports(path)
        if any(name == above or name.startswith(above + ".") for above in FORBIDDEN[layer])
    }
    assert not crossing, sorted(crossing)
