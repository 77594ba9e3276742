"""The deployment's settings (infra/config.py): every CDK context key read once, checked, documented once,
and landing where it should in the synthesized template."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import tests.infra.test_template as base  # a module, so pytest does not collect its tests twice here
from infra.config import CONTEXT_KEYS, ConfigError, DeploymentConfig, context_keys_table
from tests.conftest import TEST_CONTEXT

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW_STEPS = ("inspect", "scan", "plan_split", "decompress", "inflate_members", "join_members", "split",
                  "plan_load", "load", "finalize", "mark_failed")


# -- reading and checking -----------------------------------------------------------------------


def test_unset_keys_take_their_defaults():
    config = DeploymentConfig.from_mapping({})
    assert ({key: getattr(config, key) for key in CONTEXT_KEYS}
            == {key: spec.default for key, spec in CONTEXT_KEYS.items()})
    assert (config.upload_retention_days, config.range_bytes, config.load_partitions, config.rate_limit_per_second,
            config.rate_limit_burst) == (30, 128 * 1024 * 1024, 64, 25, 50)


def test_command_line_strings_and_json_numbers_are_both_read():
    # `-c upload_retention_days=90` arrives as a string; cdk.json and CDK_CONTEXT_JSON give numbers.
    config = DeploymentConfig.from_mapping({"upload_retention_days": "90", "rate_limit_burst": 80})
    assert (config.upload_retention_days, config.rate_limit_burst) == (90, 80)


@pytest.mark.parametrize("key, raw, message", [
    ("upload_retention_days", "ninety", "upload_retention_days='ninety' is not a whole number"),
    ("upload_retention_days", "1.5", "upload_retention_days='1.5' is not a whole number"),
    ("upload_retention_days", 1.5, "upload_retention_days=1.5 is not a whole number"),
    ("upload_retention_days", True, "upload_retention_days=True is not a whole number"),
    ("upload_retention_days", 0, "upload_retention_days=0 is out of range (≥ 1)"),
    ("range_bytes", 512, "range_bytes=512 is out of range (1 KiB – 1 GiB)"),  # noqa: RUF001 (the message's own dash)
    ("range_bytes", str(2 << 30), f"range_bytes={2 << 30} is out of range (1 KiB – 1 GiB)"),  # noqa: RUF001 (the message's own dash)
    ("load_partitions", 0, "load_partitions=0 is out of range (1 – 1,000)"),  # noqa: RUF001 (the message's own dash)
    ("rate_limit_per_second", "-5", "rate_limit_per_second=-5 is out of range (1 – 10,000)"),  # noqa: RUF001 (the message's own dash)
    ("audience_status_requests_per_minute", "", "audience_status_requests_per_minute='' is not a whole number"),
])
def test_a_bad_value_is_refused_naming_its_key(key, raw, message):
    with pytest.raises(ConfigError) as refused:
        DeploymentConfig.from_mapping({key: raw})
    assert str(refused.value) == f"CDK context: {message}"


def test_every_bad_key_is_named_at_once():
    with pytest.raises(ConfigError) as refused:
        DeploymentConfig.from_mapping({"rate_limit_burst": 0, "profile_uploads_per_hour": "ten"})
    assert str(refused.value) == ("CDK context: rate_limit_burst=0 is out of range (1 – 5,000); "  # noqa: RUF001 (the message's own dash)
                                  "profile_uploads_per_hour='ten' is not a whole number")


def test_browser_upload_origins_are_any_by_default_or_the_listed_ones():
    assert DeploymentConfig.from_mapping({}).browser_upload_origins == ("*",)
    listed = DeploymentConfig.from_mapping({"browser_upload_origins": "https://app.example.com, http://127.0.0.1:*"})
    assert listed.browser_upload_origins == ("https://app.example.com", "http://127.0.0.1:*")
    as_json = DeploymentConfig.from_mapping({"browser_upload_origins": ["https://*.example.com"]})
    assert as_json.browser_upload_origins == ("https://*.example.com",)


@pytest.mark.parametrize("raw", ["https://app.example.com/", "app.example.com", "https://*.*.example.com", "", 5,
                                 "https://app.example.com/upload"])
def test_an_origin_a_browser_would_never_send_is_refused(raw):
    # A path or a trailing slash never matches a browser's Origin header; S3 takes one wildcard per origin.
    with pytest.raises(ConfigError) as refused:
        DeploymentConfig.from_mapping({"browser_upload_origins": raw})
    assert str(refused.value).startswith(f"CDK context: browser_upload_origins={raw!r}")


def test_synthesis_stops_on_a_bad_value_and_writes_no_template(tmp_path):
    env = {**os.environ, "CDK_OUTDIR": str(tmp_path), "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
           "CDK_CONTEXT_JSON": json.dumps({"upload_retention_days": "30d"})}
    done = subprocess.run([sys.executable, "app.py"], cwd=ROOT, env=env,
                          check=False, capture_output=True, text=True, timeout=600)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "synthesis stopped: CDK context: upload_retention_days='30d' is not a whole number")
    assert not (tmp_path / "BulkIngest.template.json").exists()


def test_context_is_read_nowhere_else():
    readers = []
    for path in [*(ROOT / "infra").glob("*.py"), ROOT / "app.py"]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in ("try_get_context", "get_context"):
                readers.append(path.relative_to(ROOT).as_posix())
    assert readers == ["infra/config.py"]


def test_the_readme_lists_exactly_the_context_keys():
    assert context_keys_table() in (ROOT / "README.md").read_text(), (
        "README.md's deploy section must hold infra.config.context_keys_table() verbatim:\n" + context_keys_table())


# -- where each value lands (the session's synthesis, with tests/conftest.py TEST_CONTEXT) -------------


@pytest.fixture(scope="module")
def config() -> DeploymentConfig:
    return DeploymentConfig.from_mapping(TEST_CONTEXT)


@pytest.fixture(scope="module")
def variables(template):
    by_handler = base.project_functions(template)
    return lambda name: base.props(template, by_handler[base.HANDLERS[name]])["Environment"]["Variables"]


def test_test_context_sets_a_non_default_plan(config):
    # So the test below shows context values travelling, not defaults agreeing with themselves.
    assert config.range_bytes != CONTEXT_KEYS["range_bytes"].default
    assert config.load_partitions != CONTEXT_KEYS["load_partitions"].default


def test_the_plan_reaches_every_workflow_step(config, variables):
    plan = {"RANGE_BYTES": str(config.range_bytes), "LOAD_PARTITIONS": str(config.load_partitions),
            "LOAD_MAX_CONCURRENCY": str(config.load_max_concurrency),
            "LOAD_WRITE_RATE_PER_SECOND": str(config.load_write_rate_per_second)}
    assert ({step: {name: variables(step)[name] for name in plan} for step in WORKFLOW_STEPS}
            == dict.fromkeys(WORKFLOW_STEPS, plan))


def test_the_maps_run_as_many_iterations_at_once_as_configured(config, template):
    states = base.definition_of(template, base.output_target(template, "StateMachineArn"))["States"]
    assert {name: states[name]["MaxConcurrency"] for name in ("Scan", "Split", "Load")} == {
        "Scan": config.split_max_concurrency, "Split": config.split_max_concurrency,
        "Load": config.load_max_concurrency}


def test_upload_retention_days_expires_originals_and_error_logs(template, config):
    rules = base.props(template, base.output_target(template, "UploadsBucketName"))["LifecycleConfiguration"]["Rules"]
    expiry = {rule.get("Prefix"): rule.get("ExpirationInDays") for rule in rules}
    assert (expiry["uploads/"], expiry["results/"]) == (config.upload_retention_days,) * 2


def test_rate_limits_reach_the_usage_plan_and_the_api_function(template, config, variables):
    (plan,) = base.resources(template, "AWS::ApiGateway::UsagePlan").values()
    assert plan["Properties"]["Throttle"] == {"RateLimit": config.rate_limit_per_second,
                                              "BurstLimit": config.rate_limit_burst}
    api = variables("api")
    assert (api["RATE_LIMIT_PER_SECOND"], api["RATE_LIMIT_BURST"]) == (
        str(config.rate_limit_per_second), str(config.rate_limit_burst))


@pytest.mark.parametrize("key", ["profile_uploads_per_hour", "profile_status_requests_per_minute",
                                 "audience_uploads_per_hour", "audience_status_requests_per_minute"])
def test_import_quotas_reach_the_api_function(config, variables, key):
    assert variables("api")[key.upper()] == str(getattr(config, key))


def test_load_memory_comes_from_its_context_key_and_every_other_step_from_its_limits(template, config):
    """Load's memory is `load_memory_mb` (sized for its pace and its cost: docs/capacity.md); the other
    workflow steps keep infra/workflow.py STEP_LIMITS."""
    from infra.workflow import STEP_LIMITS

    by_handler = base.project_functions(template)
    memory = {step: base.props(template, by_handler[base.HANDLERS[step]])["MemorySize"] for step in WORKFLOW_STEPS}
    step_names = {"inspect": "Inspect", "scan": "Scan", "plan_split": "PlanSplit", "decompress": "Decompress",
                  "inflate_members": "InflateMembers", "join_members": "JoinMembers", "split": "Split",
                  "plan_load": "PlanLoad", "finalize": "Finalize", "mark_failed": "MarkFailed"}
    assert memory == {"load": config.load_memory_mb,
                      **{step: STEP_LIMITS[name].memory_mib for step, name in step_names.items()}}
    # Below one vCPU (1,769 MB) Lambda bills the same GB-s per CPU-second at any size: the default stays
    # below it, so a Load pays for its CPU rather than for idling on a vCPU while paced.
    assert config.load_memory_mb == CONTEXT_KEYS["load_memory_mb"].default < 1769


def test_load_memory_is_read_from_context_like_every_plan_size():
    assert DeploymentConfig.from_mapping({"load_memory_mb": "1536"}).load_plan.load_memory_mb == 1536
    with pytest.raises(ConfigError, match=r"load_memory_mb=64 is out of range \(128 – 10,240\)"):  # noqa: RUF001
        DeploymentConfig.from_mapping({"load_memory_mb": 64})
