# Entry points for people and CI:
#   make demo  - a venv with ketenbus installed, then `ketenbus demo` (broker, services, Carnisse)
#   make test  - unit tests, then integration tests against a real embedded Kafka broker
#   make test-faults - the long fault runs (N correlator workers under SIGKILL, a 3-node
#                quorum losing a broker); CI runs it after `make test`
# The venv is reinstalled only when pyproject.toml changes (the install is editable).

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := test

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.ketenbus-installed

# Tests and the broker `make test` starts agree on one address.
KETENBUS_KAFKA_PORT ?= 9092
export KETENBUS_KAFKA_PORT
KETENBUS_BOOTSTRAP_SERVERS ?= 127.0.0.1:$(KETENBUS_KAFKA_PORT)
export KETENBUS_BOOTSTRAP_SERVERS

.PHONY: install tools demo test test-faults

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[test,dev]'
	touch $@

install: $(STAMP) tools

# Tools the tests run for real: promtool and prometheus (Debian's `prometheus` package).
# Installed only when missing; CI and the dev machines run as root (no sudo).
tools:
	@if ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus >/dev/null 2>&1; then \
	  echo "installing Debian's prometheus (promtool) for the alert-rule tests"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q prometheus; \
	fi

demo: install
	$(BIN)/ketenbus demo

# pytest's exit 5 ("no tests collected") counts as a failure: a suite that ran nothing
# proves nothing. A broker that was already running before `make test` is left running.
test: install
	@run_pytest() { \
	  local rc=0; $(BIN)/pytest "$$@" || rc=$$?; \
	  if [ "$$rc" -eq 5 ]; then echo "make test: no tests collected in $$*" >&2; fi; \
	  return "$$rc"; \
	}; \
	if $(BIN)/ketenbus kafka status >/dev/null 2>&1; then keep=1; else keep=0; fi; \
	if [ "$$keep" -eq 0 ]; then trap '$(BIN)/ketenbus kafka down' EXIT; fi; \
	$(BIN)/ketenbus schemas check >/dev/null; \
	$(BIN)/ketenbus kafka up; \
	unit=0; integration=0; \
	run_pytest tests/unit || unit=$$?; \
	run_pytest tests/integration -m "not faults" || integration=$$?; \
	echo "make test: unit exit $$unit, integration exit $$integration"; \
	[ "$$unit" -eq 0 ] && [ "$$integration" -eq 0 ]

# The fault runs start their own brokers (one each, or a 3-node quorum) and workers; exit 5
# ("no tests collected") fails as in `make test`.
test-faults: install
	$(BIN)/pytest tests/integration -m faults
