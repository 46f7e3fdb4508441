# Two commands a new user needs: `make demo` and `make test`. Each creates its own
# virtualenv in .venv (with the default python3, >= 3.11) so nothing is installed by hand.
# Another interpreter: `make test PY=3.12` uses python3.12 and its own .venv-3.12
# (or name both: `make test PYTHON=/path/to/python3.13 VENV=.venv-3.13`).
# EXTRAS: the optional extras installed with the package (`test,ema` adds the EMA workbench
# connector's dependencies, Python >= 3.12).
PY ?=
PYTHON ?= $(if $(PY),python$(PY),python3)
VENV ?= $(if $(PY),.venv-$(PY),.venv)
EXTRAS ?= test
BIN := $(VENV)/bin
RUNS ?= 200
SEED ?= 20260401

.PHONY: demo test lint bench backtest clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Installing also compiles the engine's Numba loops into their on-disk cache (about 5 s),
# so that the first run loads them instead of compiling them (docs/performance.md).
$(VENV)/.installed-$(EXTRAS): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[$(EXTRAS)]'
	$(BIN)/python -m compileall -q sim
	$(BIN)/python -c "from sim.core.engine import compile_kernels; compile_kernels()"
	touch $@

demo: $(VENV)/.installed-$(EXTRAS)
	$(BIN)/opengap run scenarios/baseline.toml --runs $(RUNS) --seed $(SEED) --out results/baseline

test: $(VENV)/.installed-$(EXTRAS)
	$(BIN)/ruff check sim tests experiments seeds
	$(BIN)/python -m pytest

bench: $(VENV)/.installed-$(EXTRAS)
	$(BIN)/python experiments/bench_engine.py --profile

backtest: $(VENV)/.installed-$(EXTRAS)
	$(BIN)/python experiments/backtest/run_backtest.py

clean:
	rm -rf .venv .venv-3.* results .pytest_cache .hypothesis
