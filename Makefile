# Two entry points: `make demo` (the main job) and `make test`.
# `make test` also runs examples/ from its own folder, as a service author runs theirs.
# The suite runs on every core (pytest-xdist); the Ray tests share one worker (xdist_group).
# Both create or reuse .venv and reinstall only when pyproject.toml or this file changes.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test clean

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test,viz,geo,ray]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/twin demo

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -n auto --dist loadgroup
	cd examples && ../$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) demo.zarr demo.png
