# The two commands of the quick start: `make dev` and `make test`. Both bootstrap themselves.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: dev test bootstrap bench package deploy superuser lint
bootstrap:
	@VENV=$(VENV) scripts/bootstrap

dev: bootstrap
	$(PY) -m chalicelib.local

test: bootstrap lint
	$(PY) -m pytest

lint: bootstrap
	$(VENV)/bin/ruff check .

bench: bootstrap
	$(PY) bench/api.py

# Deploy to AWS (README "Deploy to AWS"). `package` needs no account; `deploy` and `superuser` do.
package: bootstrap
	$(PY) -m infra.build build

deploy: package
	PY=$(PY) scripts/deploy

superuser: bootstrap
	$(PY) scripts/create_superuser.py $(if $(USERNAME),--username $(USERNAME))
