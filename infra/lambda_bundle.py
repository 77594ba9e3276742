"""Build the Lambda asset directory without Docker: our code plus wheels built for Lambda arm64.

pip downloads manylinux aarch64 wheels for CPython 3.13 (`--platform`; infra/functions.py RUNTIME
is the same version), never the build machine's own builds, so the asset runs on Lambda whatever
machine synthesizes it. The dependency layer is cached under .build/ by the hash of
lambdas/requirements.txt; our code is copied fresh each time.
"""

from __future__ import annotations

import atexit
import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAMBDA_SOURCE = ROOT / "lambdas"
BUILD_DIR = ROOT / ".build"
PYTHON_VERSION = "3.13"
PLATFORM = "manylinux2014_aarch64"


def _dependencies_dir() -> Path:
    requirements = LAMBDA_SOURCE / "requirements.txt"
    digest = hashlib.sha256(requirements.read_bytes() + PLATFORM.encode() + PYTHON_VERSION.encode()).hexdigest()[:16]
    target = BUILD_DIR / f"lambda-deps-{digest}"
    if target.exists():
        return target
    # Each process stages its own copy: two synths at once (the test workers, `make run` beside
    # `make test`) must not write into one directory. The first to finish publishes it.
    BUILD_DIR.mkdir(exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"lambda-deps-{digest}.partial-", dir=BUILD_DIR))
    subprocess.run(  # noqa: S603 (a fixed pip command; no input from outside)
        [
            sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            "--target", str(staging),
            "--platform", PLATFORM, "--implementation", "cp", "--python-version", PYTHON_VERSION,
            "--only-binary=:all:", "--no-deps",
            "-r", str(requirements),
        ],
        check=True,
    )
    try:
        staging.rename(target)
    except OSError:
        if not target.exists():
            raise
        shutil.rmtree(staging, ignore_errors=True)  # another process published the same wheels first
    return target


def build_lambda_bundle() -> Path:
    """Return a directory holding `ingest/` and its third-party packages, ready to zip.

    Each synthesis gets its own directory (CDK copies it into the output while synthesizing),
    so concurrent synths - `make run` beside `make test` - never see each other's half-copied tree.
    """
    dependencies = _dependencies_dir()
    BUILD_DIR.mkdir(exist_ok=True)
    bundle = Path(tempfile.mkdtemp(prefix="lambda-bundle-", dir=BUILD_DIR)) / "asset"
    atexit.register(shutil.rmtree, bundle.parent, True)
    shutil.copytree(dependencies, bundle, ignore=shutil.ignore_patterns("*.dist-info", "__pycache__", "bin"))
    shutil.copytree(LAMBDA_SOURCE / "ingest", bundle / "ingest", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return bundle
