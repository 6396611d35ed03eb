# The two Quick start commands (see README.md): `make demo` and `make test`.
# Both set up a virtualenv in .venv from pyproject.toml on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export EKJON_HOME ?= $(CURDIR)/.ekjon

.PHONY: setup demo test lint clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

demo: setup
	$(BIN)/ekjon demo

test: setup
	bash scripts/test.sh

lint: setup
	$(BIN)/ruff check ekjon engine synth graph models api tests
	$(BIN)/ruff format --check ekjon engine synth graph models api tests

clean:
	rm -rf $(VENV) .ekjon
