# Two commands do all set-up on a fresh clone: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test synth token import-key bench deploy lint clean

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

cdk.out/BulkIngest.template.json: $(STAMP) app.py cdk.json $(shell find infra lambdas -name '*.py' -o -name '*.json' -o -name requirements.txt)
	CDK_OUTDIR=cdk.out $(PY) app.py

## synth: synthesize the CloudFormation template and Lambda asset into cdk.out/ (no Docker, no AWS account)
synth: cdk.out/BulkIngest.template.json

## run: start the local stack (moto + local API Gateway), load the sample file, serve until Ctrl-C
run: synth
	$(PY) -m local_stack

## test: the whole suite (unit, infrastructure assertions, end-to-end over HTTP on the local stack)
# Two workers, one per core, each with its own synthesis and local stack; a file's tests stay together.
TEST_WORKERS ?= 2
test: $(STAMP)
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

## token: print a new API token for ACCOUNT on the running local stack (or on AWS with STACK=<name>)
token: $(STAMP)
	$(PY) -m cli.admin mint-token --account "$(ACCOUNT)" $(if $(STACK),--stack $(STACK),)

## import-key: print a new import key and secret (JSON) for ACCOUNT's Localytics-compatible endpoints; ORG=60 sets its org id (default: ACCOUNT), APPS="a b" adds apps
import-key: $(STAMP)
	$(PY) -m cli.admin mint-import-key --account "$(ACCOUNT)" $(if $(ORG),--org-id "$(ORG)",) $(foreach app,$(APPS),--app-id $(app)) $(if $(STACK),--stack $(STACK),)

## bench: hot-path and end-to-end throughput, with ratios against a baseline measured in the same run
bench: synth
	$(PY) -m benchmarks

## deploy: deploy to the AWS account in your credentials (needs the CDK bootstrap once)
deploy: $(STAMP)
	npx --yes aws-cdk@2 deploy BulkIngest

clean:
	rm -rf .build cdk.out .local .pytest_cache
