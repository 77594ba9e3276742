"""`make lint`, run by `make test` too: ruff and mypy find nothing in the code they check.

What they check and with which rules is configured once, in pyproject.toml ([tool.ruff], [tool.mypy]);
docs/decision_log.md (2026-11-30, "Packaging and static checks") says why. The other tests here make
sure a clean run means something: each directory is really linted (ruff: the whole tree, tests and
benchmarks too; mypy: the service's code), and mypy really reads the bodies of unannotated functions.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# What mypy checks: the service, its CDK app, the local stack and the CLI (ruff checks the tests, the
# benchmarks and tools/ too).
CHECKED = {"lambdas/ingest", "infra", "local_stack", "cli", "app.py"}


def _run(*command: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *command], cwd=ROOT, input=stdin,
                          check=False, capture_output=True, text=True)


def test_ruff_finds_nothing():
    done = _run("ruff", "check")
    assert done.returncode == 0, f"ruff check found problems (`.venv/bin/ruff check --fix` fixes some):\n{done.stdout}"


def test_mypy_finds_nothing():
    # The first run in a fresh clone reads the aws_cdk modules the app imports (~30 s); later runs use
    # .mypy_cache.
    done = _run("mypy")
    assert done.returncode == 0, f"mypy found problems:\n{done.stdout}{done.stderr}"


@pytest.mark.parametrize("path", [
    "lambdas/ingest/logic/canary.py",
    "lambdas/ingest/record_types/canary.py",
    "infra/canary.py",
    "local_stack/canary.py",
    "local_stack/api_gateway/canary.py",
    "cli/canary.py",
    "app.py",
    "tests/unit/canary.py",
    "tests/e2e/canary.py",
    "benchmarks/scale/canary.py",
    "tools/canary.py",
])
def test_ruff_lints_each_checked_directory(path):
    # An unused import (pyflakes) and a mutable default argument (bugbear), as if written at `path`.
    code = "import os\n\n\ndef collect(items=[]):\n    return items\n"
    done = _run("ruff", "check", "--force-exclude", "--stdin-filename", path, "-", stdin=code)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "F401" in done.stdout and "B006" in done.stdout, done.stdout


def test_mypy_checks_the_service_and_the_bodies_of_unannotated_functions(tmp_path):
    assert set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]["files"]) == CHECKED
    # With check_untyped_defs off, mypy would skip this function's body and say nothing.
    canary = tmp_path / "canary.py"
    canary.write_text("def handler(event, context):\n    count: int = 'one'\n")
    done = _run("mypy", "--no-incremental", str(canary))
    assert done.returncode == 1, done.stdout + done.stderr
    assert 'Incompatible types in assignment (expression has type "str", variable has type "int")' in done.stdout


def test_only_the_one_generated_type_module_is_left_untyped():
    # A package-wide exclusion would silently drop new files too: ruff excludes nothing (tests/ and
    # benchmarks/ switch off named rules only: per-file-ignores), and mypy skips only fast_path.py, which
    # builds its msgspec types at run time (pyproject.toml).
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]
    excluded = config["ruff"].get("exclude", []) + config["ruff"].get("extend-exclude", [])
    assert excluded == [], excluded
    ignored = {module for override in config["mypy"]["overrides"] if override.get("ignore_errors")
               for module in override["module"]}
    assert ignored == {"ingest.record_types.fast_path"}, ignored


def _imported_aws_cdk_modules() -> set[str]:
    modules = set()
    for name in CHECKED:
        path = ROOT / name
        for source in [path] if path.is_file() else path.rglob("*.py"):
            for node in ast.walk(ast.parse(source.read_text())):
                if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "aws_cdk":
                    modules.add(node.module)
                    modules.update(f"aws_cdk.{alias.name}" for alias in node.names if alias.name.startswith("aws_"))
                elif isinstance(node, ast.Import):
                    modules.update(alias.name for alias in node.names if alias.name.split(".")[0] == "aws_cdk")
    return modules


def test_mypy_reads_every_aws_cdk_module_the_checked_code_imports():
    # pyproject.toml skips aws_cdk.* except a list (reading all ~300 service modules cost ~115 s): a module
    # imported but not listed would be Any, and a call into it checked against nothing.
    overrides = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]["overrides"]
    read = {module for override in overrides if override.get("follow_imports") == "normal"
            for module in override["module"]}
    assert _imported_aws_cdk_modules() == read
