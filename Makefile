# Two commands do all set-up on a fresh clone: `make run` and `make test`.
# The suite runs on the Python the Lambdas run on (infra/functions.py RUNTIME; a test holds them equal).
PYTHON_VERSION := 3.13
# The interpreter that makes the venv: `python3.13` on PATH if it runs (a pyenv shim for a version that
# is installed but not selected does not), else pyenv's own install of 3.13. `make PYTHON=...` overrides.
IS_PYTHON_VERSION = -c 'import sys; sys.exit("%d.%d" % sys.version_info[:2] != "$(PYTHON_VERSION)")'
ifndef PYTHON
PYTHON := $(shell for candidate in python$(PYTHON_VERSION) \
	$$(pyenv root 2>/dev/null)/versions/$(PYTHON_VERSION)*/bin/python$(PYTHON_VERSION); do \
	"$$candidate" $(IS_PYTHON_VERSION) >/dev/null 2>&1 && { command -v "$$candidate"; break; }; done)
endif
VENV := .venv
PY := $(VENV)/bin/python
# Named after the version, so a venv made with another Python (before the switch to 3.13) is remade.
STAMP := $(VENV)/.installed-$(PYTHON_VERSION)
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test synth token import-key bench bench-scale bench-local deploy lint clean browser screenshots uppy

# Uppy for the console's resumable upload page (/console/upload.html, docs/browser_upload.md): the `uppy`
# package's prebuilt bundle at an exact version, from the npm registry, checked against its SHA-256, with
# its MIT licence beside it. Fetched at set-up, never from a CDN at run time, and git-ignored (600 KB of
# minified third-party code kept out of the history). 5.2.4 is the last release whose @uppy/aws-s3 (5.1.0)
# takes createMultipartUpload/signPart/listParts/completeMultipartUpload/abortMultipartUpload; 6.x signs
# raw S3 requests instead (signRequest), which a presigned-URL API cannot serve.
UPPY_VERSION := 5.2.4
UPPY_SHA256 := efcde62cb5911f9ac5d38cb9ec8a5da47b3964219336eab805ec22306109d0fd
UPPY_DIR := lambdas/ingest/vendor
UPPY_JS := $(UPPY_DIR)/uppy.min.js

# requirements.txt pins every dependency; then the project's own packages (pyproject.toml: ingest from
# lambdas/, infra, local_stack, cli, benchmarks) are installed editable, so nothing edits sys.path.
# --no-compile: pip would byte-compile all 286 MB of the packages' sources (aws_cdk alone is most of it),
# 54 s of CPU on the critical path of a fresh clone; Python compiles the fifth that is ever imported on
# first import instead (docs/decision_log.md, 2026-11-30 "make test from a fresh clone, second pass").
$(STAMP): requirements.txt pyproject.toml
	@if ! $(PY) $(IS_PYTHON_VERSION) 2>/dev/null; then \
	  if [ -z "$(PYTHON)" ] || ! $(PYTHON) $(IS_PYTHON_VERSION) 2>/dev/null; then \
	    echo "make: Python $(PYTHON_VERSION) is needed (the Lambda runtime's version) and $(if $(PYTHON),$(PYTHON) is not it,none was found: no working python$(PYTHON_VERSION) on PATH nor under \$$(pyenv root)/versions/$(PYTHON_VERSION)*)." >&2; \
	    echo "  Install it - 'pyenv install $(PYTHON_VERSION)', 'apt-get install python$(PYTHON_VERSION)' (Debian 13, Ubuntu 25.04)," >&2; \
	    echo "  'brew install python@$(PYTHON_VERSION)' or python.org - or name one: make PYTHON=/path/to/python$(PYTHON_VERSION) ..." >&2; \
	    exit 1; \
	  fi; \
	  echo "$(PYTHON) -m venv $(VENV)"; rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); \
	fi
	$(PY) -m pip install --quiet --no-compile -r requirements.txt
	$(PY) -m pip install --quiet --no-deps --editable .
	touch $(STAMP)

cdk.out/BulkIngest.template.json: $(STAMP) $(UPPY_JS) app.py cdk.json $(shell find infra lambdas -name '*.py' -o -name '*.json' -o -name requirements.txt -o -path '*/ingest/console/*')
	CDK_OUTDIR=cdk.out $(PY) app.py

## synth: synthesize the CloudFormation template and Lambda asset into cdk.out/ (no Docker, no AWS account)
synth: cdk.out/BulkIngest.template.json

## run: start the local stack (moto + local API Gateway), load the sample file, serve until Ctrl-C
run: synth
	$(PY) -m local_stack

## test: the whole suite (lint, unit, infrastructure assertions, end-to-end over HTTP on the local stack)
# Two workers, one per core, sharing one synthesis, each with its own local stack; a file's tests stay
# together. Files go out in collection order (--no-loadscope-reorder), longest first (tests/conftest.py).
TEST_WORKERS ?= 2
test: $(STAMP) browser $(UPPY_JS)
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS)

## browser: Debian's Chromium and chromedriver for the console's browser tests, installed only when missing
browser:
	@if ! command -v chromedriver >/dev/null || ! { command -v chromium || command -v chromium-browser; } >/dev/null; then \
	  echo "apt-get update && apt-get install -y chromium chromium-driver"; \
	  $(if $(filter 0,$(shell id -u)),,sudo) apt-get update && $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y chromium chromium-driver; \
	fi

## uppy: Uppy's bundle (pinned version and SHA-256) from the npm registry into lambdas/ingest/vendor/, only when missing
uppy: $(UPPY_JS)

$(UPPY_JS):
	@mkdir -p $(UPPY_DIR)
	cd "$$(mktemp -d)" && npm pack --silent uppy@$(UPPY_VERSION) >/dev/null \
	  && tar xzf uppy-$(UPPY_VERSION).tgz package/dist/uppy.min.js package/LICENSE \
	  && echo "$(UPPY_SHA256)  package/dist/uppy.min.js" | sha256sum --check --quiet \
	  && cp package/LICENSE $(CURDIR)/$(UPPY_DIR)/uppy.LICENSE \
	  && cp package/dist/uppy.min.js $(CURDIR)/$(UPPY_JS)

## screenshots: one PNG per console page, at 1440 and 360 px wide, into .local/screenshots/ (runs the browser test that takes them)
screenshots: $(STAMP) browser
	CONSOLE_SCREENSHOTS=$(CURDIR)/.local/screenshots $(PY) -m pytest -q -p no:randomly tests/e2e/test_console_browser.py -k every_page_fits

## lint: ruff over the whole tree (tests/, benchmarks/, tools/ too) and mypy over lambdas/, infra/, local_stack/, cli/ and app.py (rules: pyproject.toml); make test runs both too (tests/test_lint.py)
lint: $(STAMP)
	$(PY) -m ruff check
	$(PY) -m mypy

## token: print a new API token for ACCOUNT on the running local stack (or on AWS with STACK=<name>)
token: $(STAMP)
	$(PY) -m cli.admin mint-token --account "$(ACCOUNT)" $(if $(STACK),--stack $(STACK),)

## import-key: print a new import key and secret (JSON) for ACCOUNT's Localytics-compatible endpoints; ORG=60 sets its org id (default: ACCOUNT), APPS="a b" adds apps
import-key: $(STAMP)
	$(PY) -m cli.admin mint-import-key --account "$(ACCOUNT)" $(if $(ORG),--org-id "$(ORG)",) $(foreach app,$(APPS),--app-id $(app)) $(if $(STACK),--stack $(STACK),)

## bench: hot-path and end-to-end throughput, with ratios against a baseline measured in the same run
bench: synth
	$(PY) -m benchmarks

## bench-scale: the load workflow's real steps on 1 GiB samples (plain and gzip), modelled at 5 GiB and 10 M records on Lambda and DynamoDB's limits (docs/capacity.md); BENCH_SCALE_ARGS="--quick" or "--size BYTES"
bench-scale: synth
	$(PY) -m benchmarks.scale $(BENCH_SCALE_ARGS)
## bench-local: the local stack as data grows (a small job before/after 1M records, 30 concurrent uploads with a status poller, a job vs direct writes); BENCH_ARGS="--quick", "--gzip-gb 1"
bench-local: synth
	$(PY) -m benchmarks.local_stack --template cdk.out/BulkIngest.template.json $(BENCH_ARGS)

## deploy: deploy to the AWS account in your credentials (needs the CDK bootstrap once)
deploy: $(STAMP)
	npx --yes aws-cdk@2 deploy BulkIngest

clean:
	rm -rf .build cdk.out .local .pytest_cache .mypy_cache .ruff_cache *.egg-info
