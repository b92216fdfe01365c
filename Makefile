# Two commands on a fresh machine: `make demo` and `make test`.  Both depend on
# `install`, which does nothing when everything is already in place.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
IDP_DIR := deploy/dev-idp
DEBIAN_PACKAGES := nginx redis-server chromium
DEBIAN_COMMANDS := nginx redis-server chromium

.PHONY: install debian demo test lint bench clean

install: $(STAMP) $(IDP_DIR)/node_modules/.installed debian

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(IDP_DIR)/node_modules/.installed: $(IDP_DIR)/package.json $(IDP_DIR)/package-lock.json
	cd $(IDP_DIR) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Debian packages the tests and the demo need (nginx, redis-server, chromium).
debian:
	@missing=""; for c in $(DEBIAN_COMMANDS); do command -v $$c >/dev/null || PATH="$$PATH:/usr/sbin" command -v $$c >/dev/null || missing=1; done; \
	if [ -n "$$missing" ]; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(DEBIAN_PACKAGES); \
	fi

demo: install
	$(PY) -m devstack.demo

test: install
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

bench: install
	$(PY) bench/uis.py
	$(PY) bench/soak.py
	$(PY) bench/replicas.py
	$(PY) bench/overhead.py

clean:
	rm -rf $(VENV) $(IDP_DIR)/node_modules .pytest_cache .mypy_cache .ruff_cache
