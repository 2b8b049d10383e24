# Two commands on a fresh machine (Python >= 3.11 with venv, make):
#   make demo   create .venv, install the runtime and the compiler, compile models/mlp.py, run it
#   make test   install the test extras too, run the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(BIN)/python pyproject.toml runtime/pyproject.toml
	$(BIN)/python -m pip install -e runtime -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/python -m pip install -e runtime -e ".[test]"
	touch $@

install: $(VENV)/.installed

demo: $(VENV)/.installed
	mkdir -p build
	$(BIN)/aotc compile models/mlp.py -o build/mlp.vmfb
	$(BIN)/aotc inspect build/mlp.vmfb
	$(BIN)/python models/mlp.py build/mlp.vmfb

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q tests

clean:
	rm -rf build
