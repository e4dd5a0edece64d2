# The course kit's entry points. Everything installs into .venv from pyproject.toml.
#   make run    execute every solution notebook (FULL mode), write build/, print a summary
#   make test   the whole test suite (notebooks included, FAST mode)
#   make lab    JupyterLab on the student notebooks
#   make release  regenerate notebooks/ from solutions/ with nbgrader
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# pytest workers: 2 by default (CI and laptops have at least 2 cores); `make test JOBS=0` runs in one process
JOBS   ?= 2

.PHONY: run test lab release check-release clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10))' || \
	  { echo "The course kit needs Python 3.10 or newer; '$(PYTHON)' is older. Run: make PYTHON=python3.11 ..."; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall when the project's dependencies change. torch and torchvision come in as a
# matched pair: torchvision pins the exact torch it was built against.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --editable '.[test]'
	@touch $@

run: $(VENV)/.installed
	$(BIN)/course run

test: $(VENV)/.installed
	$(BIN)/python -m pytest $(if $(filter-out 0,$(JOBS)),-n $(JOBS)) $(PYTEST_ARGS)

lab: $(VENV)/.installed
	$(BIN)/jupyter lab notebooks/

release: $(VENV)/.installed
	$(BIN)/course release

check-release: $(VENV)/.installed
	$(BIN)/course release --check

clean:
	rm -rf build .pytest_cache
