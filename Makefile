# Two commands a new user needs: `make demo` and `make test`. Each creates its own
# virtualenv in .venv (with the default python3, >= 3.11) so nothing is installed by hand.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUNS ?= 200
SEED ?= 20260401

.PHONY: demo test lint bench backtest clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

demo: $(VENV)/.installed
	$(BIN)/opengap run scenarios/baseline.toml --runs $(RUNS) --seed $(SEED) --out results/baseline

test: $(VENV)/.installed
	$(BIN)/ruff check sim tests experiments seeds
	$(BIN)/python -m pytest

bench: $(VENV)/.installed
	$(BIN)/python experiments/bench_engine.py --profile

backtest: $(VENV)/.installed
	$(BIN)/python experiments/backtest/run_backtest.py

clean:
	rm -rf $(VENV) results .pytest_cache .hypothesis
