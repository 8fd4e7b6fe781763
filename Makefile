# The README's commands. Each sets up its own environment from scratch.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export XLMR_DATA_DIR ?= $(abspath ../shared/data)

.PHONY: demo test lint setup clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test,beam,dask,demo,tpu]"
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(VENV)/bin/xlmr demo --out demo_run

test: setup lint
	$(PY) -m pytest -q -ra

lint: setup
	$(VENV)/bin/ruff check xlmr_jax tasks tests benchmarks
	$(VENV)/bin/ruff format --check xlmr_jax tasks tests benchmarks

clean:
	rm -rf $(VENV) demo_run
