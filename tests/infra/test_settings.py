"""Each function's environment is its handler's settings class (lambdas/ingest/config.py), both ways.

The constructs set `SomeSettings(...).environment()` on a function; the handler module reads
`SomeSettings.from_env()` when its adapters are first built (handlers/wiring.py). These tests hold the
synthesized template to that: every function's handler module, imported with exactly the environment
the template gives that function (and what Lambda itself sets), reads one settings class and succeeds,
and the function's variables are exactly that class's plus Powertools' own. A variable set under another
name, left out, or set on a function whose handler does not read it fails here, not at a cold start on
AWS.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

import tests.infra.test_template as base  # a module, so pytest does not collect its tests twice here
from infra.functions import POWERTOOLS_ENVIRONMENT, TRACER_NO_CAPTURE
from ingest import config as settings_module
from ingest.config import ConfigError, Settings

ROOT = Path(__file__).resolve().parents[2]
POWERTOOLS_VARIABLES = {*POWERTOOLS_ENVIRONMENT, *TRACER_NO_CAPTURE}
# What the Lambda runtime itself gives every function (a subset): region and the role's credentials.
LAMBDA_RUNTIME_ENVIRONMENT = {
    "AWS_REGION": "eu-west-1",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_ACCESS_KEY_ID": "ASIAEXAMPLEEXAMPLE00",
    "AWS_SECRET_ACCESS_KEY": "example-secret",
    "AWS_SESSION_TOKEN": "example-session-token",
}
SETTINGS_CLASSES = {cls.__name__: cls for cls in vars(settings_module).values()
                    if isinstance(cls, type) and issubclass(cls, Settings) and cls is not Settings}

# Runs in a fresh interpreter: for each handler module, the process environment becomes exactly the one
# given, every `ingest` module but config is forgotten, and the module is imported while
# Settings.from_env records which classes it reads.
IMPORT_WITH_ENVIRONMENT = r"""
import importlib, inspect, json, os, re, sys
from ingest import config
read = []
original = config.Settings.from_env.__func__
def recording(cls, environ=None):
    read.append(cls.__name__)
    return original(cls, environ)
config.Settings.from_env = classmethod(recording)
results = {}
for module, environment in json.loads(sys.stdin.read()).items():
    for name in [name for name in sys.modules if name.startswith("ingest.") and name != "ingest.config"]:
        del sys.modules[name]
    os.environ.clear()
    os.environ.update(environment)
    read.clear()
    try:
        imported = importlib.import_module(module)
        # Adapters are built on first use (handlers/wiring.py): build each set this module names, as its
        # first invocation would.
        from ingest.handlers import wiring
        for accessor in sorted(set(re.findall(r"wiring\.([a-z_]+)\(\)", inspect.getsource(imported)))):
            getattr(wiring, accessor).cache_clear()
            getattr(wiring, accessor)()
        error = None
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
    results[module] = {"read": sorted(set(read)), "error": error}
print(json.dumps(results))
"""


def as_text(value) -> str:
    """A template value as the string Lambda would hold: intrinsics (Ref, GetAtt, Join) become a stand-in."""
    return value if isinstance(value, str) else "resolved-at-deploy-" + json.dumps(value, sort_keys=True)


def handler_module(handler: str) -> str:
    return handler.rsplit(".", 1)[0]


@pytest.fixture(scope="module")
def environments(template) -> dict[str, dict[str, str]]:
    """Function logical id -> its environment variables as the template sets them."""
    return {lid: {name: as_text(value) for name, value in fn.get("Environment", {}).get("Variables", {}).items()}
            for lid, fn in base.service_functions(template).items()}


@pytest.fixture(scope="module")
def modules_read(template, environments) -> dict[str, dict]:
    """Handler module -> the settings classes it read (and any error) when imported with its environment."""
    by_module: dict[str, dict[str, str]] = {}
    for lid, fn in base.service_functions(template).items():
        module = handler_module(fn["Handler"])
        environment = {**environments[lid], **LAMBDA_RUNTIME_ENVIRONMENT}
        # One environment per module: its functions share the handler code, so they share settings.
        assert by_module.setdefault(module, environment) == environment, f"{module}: functions differ in environment"
    done = subprocess.run([sys.executable, "-c", IMPORT_WITH_ENVIRONMENT],
                          input=json.dumps(by_module), capture_output=True, text=True, check=True,
                          env={"PATH": "/usr/bin:/bin"}, timeout=300)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_every_service_function_is_covered(template):
    handlers = {fn["Handler"] for fn in base.service_functions(template).values()}
    assert handlers == set(base.HANDLERS.values())


@pytest.mark.parametrize("name", sorted(base.HANDLERS))
def test_handler_reads_one_settings_class_from_exactly_its_environment(template, environments, modules_read, name):
    by_handler = base.project_functions(template)
    lid = by_handler[base.HANDLERS[name]]
    module = handler_module(base.HANDLERS[name])
    outcome = modules_read[module]
    assert outcome["error"] is None, f"{module} fails at cold start with the template's environment: {outcome['error']}"
    assert len(outcome["read"]) == 1, f"{module} reads {outcome['read']}: one settings class per handler module"
    settings_class = SETTINGS_CLASSES[outcome["read"][0]]
    own = set(environments[lid]) - POWERTOOLS_VARIABLES
    declared = set(settings_class.variable_names().values())
    assert own == declared, (f"{name}: set but not read {sorted(own - declared)}, "
                             f"read but not set {sorted(declared - own)}")
    assert POWERTOOLS_VARIABLES <= set(environments[lid]), name


def test_a_missing_variable_is_a_cold_start_failure_the_check_sees(template, environments):
    """The check above can fail: without JOBS_TABLE the workflow module refuses to start, naming it."""
    lid = base.project_functions(template)[base.HANDLERS["inspect"]]
    environment = {**environments[lid], **LAMBDA_RUNTIME_ENVIRONMENT}
    del environment["JOBS_TABLE"]
    done = subprocess.run([sys.executable, "-c", IMPORT_WITH_ENVIRONMENT],
                          input=json.dumps({"ingest.handlers.workflow": environment}), capture_output=True,
                          text=True, check=True, env={"PATH": "/usr/bin:/bin"}, timeout=300)
    outcome = json.loads(done.stdout.strip().splitlines()[-1])["ingest.handlers.workflow"]
    assert outcome["error"] == "ConfigError: WorkflowSettings: missing environment variables JOBS_TABLE"


def test_the_upload_url_lifetime_is_one_setting(template):
    api = base.props(template, base.project_functions(template)[base.HANDLERS["api"]])
    (field,) = [f for f in fields(settings_module.ApiSettings) if f.name == "upload_url_ttl_seconds"]
    assert api["Environment"]["Variables"]["UPLOAD_URL_TTL_SECONDS"] == str(field.default) == "3600"
    # Nowhere else a number of its own: infra/ names no lifetime.
    assert not [path for path in (ROOT / "infra").glob("*.py") if "URL_TTL" in path.read_text().upper()]


# -- the settings classes themselves -------------------------------------------------------------


def example(cls: type[Settings]) -> Settings:
    values = {f.name: (7 if f.type in (int, "int") else f"value-of-{f.name}") for f in fields(cls)}
    return cls(**values)


@pytest.mark.parametrize("cls", sorted(SETTINGS_CLASSES.values(), key=lambda c: c.__name__), ids=lambda c: c.__name__)
def test_environment_and_from_env_are_one_mapping(cls):
    settings = example(cls)
    environment = settings.environment()
    assert set(environment) == set(cls.variable_names().values())
    assert all(isinstance(value, str) for value in environment.values())
    assert cls.from_env(environment) == settings


def test_from_env_names_every_missing_and_malformed_variable():
    environment = example(settings_module.WorkflowSettings).environment()
    del environment["UPLOADS_BUCKET"], environment["RECORDS_TABLE"]
    environment["RANGE_BYTES"] = "128MB"
    with pytest.raises(ConfigError) as refused:
        settings_module.WorkflowSettings.from_env(environment)
    assert str(refused.value) == ("WorkflowSettings: missing environment variables UPLOADS_BUCKET, RECORDS_TABLE; "
                                  "RANGE_BYTES='128MB' is not an integer")


def test_a_default_applies_only_when_its_variable_is_absent():
    environment = example(settings_module.ApiSettings).environment()
    del environment["NEW_DATASET_SHARDS"]
    assert settings_module.ApiSettings.from_env(environment).new_dataset_shards == 64


# -- what synthesis may import --------------------------------------------------------------------


def test_the_settings_module_needs_only_the_standard_library():
    """infra/ imports ingest.config; synthesis must not pull in boto3 or Powertools through it."""
    probe = ("import sys; before = set(sys.modules); import ingest.config; "
             "print(' '.join(sorted({name.split('.')[0] for name in set(sys.modules) - before})))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True)
    loaded = set(done.stdout.split()) - {"ingest"}
    assert loaded <= set(sys.stdlib_module_names), sorted(loaded - set(sys.stdlib_module_names))


def test_infra_imports_nothing_of_the_handlers_but_their_settings():
    imported = set()
    for path in [*(ROOT / "infra").glob("*.py"), ROOT / "app.py"]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "ingest":
                imported.add(node.module)
            elif isinstance(node, ast.Import):
                imported |= {alias.name for alias in node.names if alias.name.split(".")[0] == "ingest"}
    assert imported == {"ingest.config"}
