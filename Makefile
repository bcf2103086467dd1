# The two commands of the quick start: `make dev` and `make test`. Both bootstrap themselves.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: dev test bootstrap bench package lint
bootstrap:
	@VENV=$(VENV) scripts/bootstrap

dev: bootstrap
	$(PY) -m chalicelib.local

test: bootstrap
	$(PY) -m pytest

bench: bootstrap
	$(PY) bench/api.py
