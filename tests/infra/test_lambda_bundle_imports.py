"""Everything the Lambda code imports is in its asset or in the Lambda Python runtime.

The asset holds lambdas/ingest and the wheels of lambdas/requirements.txt, installed with --no-deps
(infra/lambda_bundle.py), so a package missing from that file imports fine here, where the venv has
it, and fails on AWS at the first cold start. The bundle's wheels are built for arm64, so they cannot
be imported here: these tests read the imports and the packages' declared dependencies instead.
"""

from __future__ import annotations

import ast
import importlib.metadata
import sys
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LAMBDA_CODE = ROOT / "lambdas" / "ingest"
REQUIREMENTS = ROOT / "lambdas" / "requirements.txt"
# The Lambda Python runtime ships boto3 with its dependencies; lambdas/requirements.txt says why they
# are not bundled. urllib3 is imported by our own code (adapters/dynamodb_wire.py) and is botocore's.
RUNTIME_PROVIDED = frozenset({"boto3", "botocore", "jmespath", "s3transfer", "urllib3", "python-dateutil", "six"})
# Lambda's environment, for the dependencies' markers (python_version, platform).
LAMBDA_MARKERS = {"python_version": "3.13", "python_full_version": "3.13.0", "sys_platform": "linux",
                  "platform_system": "Linux", "platform_machine": "aarch64", "implementation_name": "cpython",
                  "platform_python_implementation": "CPython", "os_name": "posix", "extra": ""}


def bundled() -> dict[str, Requirement]:
    requirements = {}
    for line in REQUIREMENTS.read_text().splitlines():
        text = line.split("#", 1)[0].strip()
        if text:
            requirement = Requirement(text)
            requirements[canonicalize_name(requirement.name)] = requirement
    return requirements


def imported_modules() -> dict[str, set[str]]:
    """Top-level modules imported anywhere in the Lambda code (absolute imports), with the files."""
    modules: dict[str, set[str]] = {}
    for path in LAMBDA_CODE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                modules.setdefault(name.split(".")[0], set()).add(str(path.relative_to(ROOT)))
    return modules


def test_every_third_party_import_of_the_lambda_code_is_bundled_or_in_the_runtime():
    distributions = importlib.metadata.packages_distributions()
    available = set(bundled()) | RUNTIME_PROVIDED
    missing = {}
    for module, files in imported_modules().items():
        if module in sys.stdlib_module_names or module == "ingest":
            continue
        names = {canonicalize_name(name) for name in distributions.get(module, [module])}
        if not names & available:
            missing[module] = sorted(files)
    assert not missing, f"imported by the Lambda code but neither bundled nor in the runtime: {missing}"


def test_every_dependency_of_a_bundled_package_is_bundled_or_in_the_runtime():
    requirements = bundled()
    available = set(requirements) | RUNTIME_PROVIDED
    missing = []
    for name in requirements:
        for declared in importlib.metadata.requires(name) or []:
            dependency = Requirement(declared)
            if dependency.marker is not None and not dependency.marker.evaluate(LAMBDA_MARKERS):
                continue
            if canonicalize_name(dependency.name) not in available:
                missing.append(f"{name} needs {dependency}")
    assert not missing, missing


def test_bundled_versions_are_the_ones_the_tests_run():
    """The asset's pins are the venv's: what the suite exercised is what Lambda runs."""
    differ = {name: (str(requirement.specifier), importlib.metadata.version(name))
              for name, requirement in bundled().items()
              if not requirement.specifier.contains(importlib.metadata.version(name))}
    assert not differ, differ
