# Two commands on a fresh machine (Python >= 3.11 with venv, make):
#   make demo   create .venv, install the runtime and the compiler, compile models/mlp.py, run it
#   make test   install the test extras too, fetch the aarch64 IREE runtime, run the whole suite
# CI runs `make system-deps` first: the apt packages for the Vulkan (Mesa lavapipe) and aarch64
# (qemu-user) tests, which skip with the reason when those are missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
IREE_VERSION := 3.13.0
APT_PACKAGES := libvulkan1 mesa-vulkan-drivers qemu-user libc6-arm64-cross libstdc++6-arm64-cross
# IREE's native tools for 64-bit Arm, from the aarch64 iree-base-runtime wheel (run under qemu).
EDGE := build/runtime-aarch64
EDGE_TOOLS := $(EDGE)/iree/_runtime_libs/iree-run-module

.PHONY: demo test install clean system-deps edge-runtime lint-imports

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
	@$(MAKE) --no-print-directory edge-runtime || echo "warning: could not fetch the aarch64" \
		"IREE runtime; the qemu-aarch64 tests will be skipped"
	@$(MAKE) --no-print-directory lint-imports
	$(BIN)/python -m pytest -q tests

# The layer contract in pyproject.toml. aotc's folders map into one namespace through setuptools
# package-dir, which import-linter cannot follow, so it reads a copy laid out as the namespace.
LAYERS := build/layers
lint-imports: $(VENV)/.installed-test
	rm -rf $(LAYERS) && mkdir -p $(LAYERS)/aotc
	cp aotc/*.py $(LAYERS)/aotc/ && cp -r frontend passes tools $(LAYERS)/aotc/
	cp -r runtime/aotc_runtime $(LAYERS)/
	cd $(LAYERS) && PYTHONPATH=. ../../$(BIN)/lint-imports --no-cache ../../pyproject.toml

edge-runtime: $(EDGE_TOOLS)

$(EDGE_TOOLS): | $(BIN)/python
	rm -rf $(EDGE) && mkdir -p $(EDGE)
	$(BIN)/python -m pip download -q --no-deps --only-binary=:all: -d $(EDGE) \
		--platform manylinux_2_28_aarch64 --python-version 3.11 iree-base-runtime==$(IREE_VERSION)
	$(BIN)/python -c "import glob, zipfile; \
		w = zipfile.ZipFile(glob.glob('$(EDGE)/*.whl')[0]); \
		[w.extract(n, '$(EDGE)') for n in w.namelist() \
		 if n.split('/')[-1] in ('iree-run-module', 'iree-benchmark-module')]"
	chmod +x $(EDGE)/iree/_runtime_libs/iree-*

# Needs root or sudo; installs only what is missing.
system-deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -z "$$missing" ]; then echo "system packages present: $(APT_PACKAGES)"; \
	elif ! command -v apt-get >/dev/null 2>&1; then \
		echo "no apt-get: install" $$missing "by hand, or their tests will be skipped"; \
	else \
		sudo=; [ "$$(id -u)" = 0 ] || sudo=sudo; \
		$$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install \
			-y -qq --no-install-recommends $$missing; \
	fi

clean:
	rm -rf build
