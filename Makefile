# The two commands of the quick start: `make dev` and `make test`. Both bootstrap themselves.
VENV ?= .venv
PY := $(VENV)/bin/python
TEST_WORKERS ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: dev test bootstrap bench package deploy superuser lint lock
bootstrap:
	@VENV=$(VENV) scripts/bootstrap

dev: bootstrap
	$(PY) -m chalicelib.local

# In-process tests on every core (pytest-xdist; a test file stays on one worker, so module
# fixtures are built once), then the end-to-end tests, which share one local stack, serially.
test: bootstrap lint
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile --ignore=tests/e2e
	$(PY) -m pytest tests/e2e

lint: bootstrap
	$(VENV)/bin/ruff check .

# Regenerate the pinned lock files from pyproject.toml's ranges: scripts/lock.py runs
#   uv pip compile pyproject.toml --extra dev --python-version 3.11 --python-platform linux  -> requirements-dev.txt
# then the `api` and `runner` extras alone, constrained to that: -> requirements.txt, runner_image/requirements.txt.
# Current pins are kept where the ranges allow; `make lock UPGRADE=1` takes the newest allowed versions.
lock: bootstrap
	$(PY) scripts/lock.py $(if $(UPGRADE),--upgrade)

bench: bootstrap
	$(PY) bench/api.py

# Deploy to AWS (README "Deploy to AWS"). `package` needs no account; `deploy` and `superuser` do.
# `chalice package` vendors the API Lambda's lock, requirements.txt, into the deployment package.
package: bootstrap
	$(PY) -m infra.build build

deploy: package
	PY=$(PY) scripts/deploy

superuser: bootstrap
	$(PY) scripts/create_superuser.py $(if $(USERNAME),--username $(USERNAME))
