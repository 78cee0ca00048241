# FCU-Net companion. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SCALE ?= default
export TF_CPP_MIN_LOG_LEVEL ?= 2
export PYTHONHASHSEED ?= 0

.DEFAULT_GOAL := help
.PHONY: help env reproduce test unit sync envfiles lab benchmarks clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-11s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

env: $(STAMP) ## create .venv and install the project with its test tools

reproduce: $(STAMP) ## run every notebook with papermill at SCALE (default: default) and refresh figures/
	$(PY) -m fcunet_lib.cli reproduce --scale $(SCALE)

test: $(STAMP) ## unit tests, every notebook at smoke scale under nbval, smoke-result regression checks
	rm -rf build/nbval build/smoke/figures
	$(PY) -m fcunet_lib.cli reproduce --scale smoke --prepare-only --output build/nbval --quiet
	FCUNET_REQUIRE_SMOKE=1 TQDM_DISABLE=1 FCUNET_PROGRESS=0 \
	  $(PY) -m pytest tests build/nbval --nbval-lax --nbval-current-env -p no:cacheprovider

unit: $(STAMP) ## unit tests only (fast)
	TQDM_DISABLE=1 FCUNET_PROGRESS=0 $(PY) -m pytest tests -m "not slow"

sync: $(STAMP) ## pair notebooks (.py -> .ipynb) and regenerate environment.yml and binder/
	$(VENV)/bin/jupytext --sync notebooks/[0-9][0-9]_*.py
	$(PY) tools/sync_envfiles.py

envfiles: $(STAMP) ## regenerate environment.yml and binder/ from pyproject.toml
	$(PY) tools/sync_envfiles.py

lab: $(STAMP) ## open JupyterLab with .py notebooks opening as notebooks
	$(VENV)/bin/jupytext-config set-default-viewer python
	$(VENV)/bin/jupyter lab notebooks/

benchmarks: $(STAMP) ## run the speed/memory benchmarks (writes benchmarks/results/*.json)
	@for script in benchmarks/[a-z]*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

clean: ## remove build outputs (keeps .venv, data/ and figures/)
	rm -rf build .pytest_cache
