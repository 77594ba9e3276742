"""The suite runs on the Python the Lambda functions run on (the Makefile makes the venv with it)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from infra.lambda_bundle import PYTHON_VERSION


def test_the_template_runs_the_python_that_runs_the_suite(template):
    runtimes = {resource["Properties"]["Runtime"] for resource in template["Resources"].values()
                if resource["Type"] == "AWS::Lambda::Function"
                and resource["Properties"].get("Handler", "").startswith("ingest.")}
    suite = f"python{sys.version_info.major}.{sys.version_info.minor}"
    assert runtimes == {suite}, f"functions run on {runtimes}, the suite on {suite}: `make test` remakes the venv"
    assert f"python{PYTHON_VERSION}" == suite, "the Lambda asset's wheels are built for another Python"


def test_the_makefile_makes_the_venv_with_that_python():
    makefile = (Path(__file__).resolve().parents[2] / "Makefile").read_text()
    (version,) = re.findall(r"^PYTHON_VERSION := (\S+)$", makefile, re.MULTILINE)
    assert version == PYTHON_VERSION
