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

.PHONY: demo test install clean system-deps edge-runtime lint-imports mutate

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
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder --durations=30 tests

# The layer contract in pyproject.toml. aotc's folders map into one namespace through setuptools
# package-dir, which import-linter cannot follow, so it reads a copy laid out as the namespace.
LAYERS := build/layers
lint-imports: $(VENV)/.installed-test
	rm -rf $(LAYERS) && mkdir -p $(LAYERS)/aotc
	cp -r aotc/. $(LAYERS)/aotc/ && cp -r frontend passes tools $(LAYERS)/aotc/
	cp -r runtime/aotc_runtime $(LAYERS)/
	cd $(LAYERS) && PYTHONPATH=. ../../$(BIN)/lint-imports --no-cache ../../pyproject.toml

# Mutation testing (cosmic-ray) of the op rules and passes against the fast interpreter-only tests
# (tests/mutation/cosmic-ray.toml). cosmic-ray mutates files in place, so it runs in a private git
# worktree of HEAD whose `aotc/` links to its own folders (tests/mutation/sitecustomize.py hides
# the editable install): nothing in this tree is ever mutated. A random sample of
# MUTATE_SAMPLE mutants (0 = all) of MUTATE_MODULES at MUTATE_REV, after a baseline run that must
# pass; `cr-report $(MUTATE)/session.sqlite` shows the results again.
MUTATE := build/mutate
MUTATE_REV ?= HEAD
MUTATE_MODULES ?= frontend/ops/elementwise.py
MUTATE_SAMPLE ?= 100
MUTATE_SEED ?= 0
mutate: $(VENV)/.installed-test
	git worktree remove --force $(MUTATE)/tree 2>/dev/null || true
	rm -rf $(MUTATE) && git worktree prune && mkdir -p $(MUTATE)
	git worktree add --detach $(MUTATE)/tree $(MUTATE_REV)
	cd $(MUTATE)/tree/aotc && ln -s ../frontend frontend && ln -s ../passes passes && ln -s ../tools tools
	sed 's|^module-path = .*|module-path = [$(foreach m,$(MUTATE_MODULES),"$(m)",)]|' \
		tests/mutation/cosmic-ray.toml > $(MUTATE)/config.toml
	cd $(MUTATE)/tree && export PATH="$(CURDIR)/$(BIN):$$PATH" PYTHONDONTWRITEBYTECODE=1 \
		PYTHONPATH="$(CURDIR)/tests/mutation:$(CURDIR)/$(MUTATE)/tree/runtime" && \
		cosmic-ray init ../config.toml ../session.sqlite && \
		{ cosmic-ray baseline ../config.toml || { echo "baseline tests fail at" \
			"$(MUTATE_REV): mutation scores would mean nothing"; exit 1; }; } && \
		{ [ "$(MUTATE_SAMPLE)" = 0 ] || python $(CURDIR)/tests/mutation/sample.py \
			../session.sqlite $(MUTATE_SAMPLE) $(MUTATE_SEED); } && \
		nice cosmic-ray exec ../config.toml ../session.sqlite
	$(BIN)/cr-report --show-pending $(MUTATE)/session.sqlite | tail -n 6
	git worktree remove --force $(MUTATE)/tree && git worktree prune

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

# Thousands of random mutations of an artifact and of a weights file, each in a forked child
# (tests/runtime/test_fuzz.py at 10x its CI counts).
.PHONY: fuzz
fuzz: $(VENV)/.installed-test
	AOTC_FUZZ_SCALE=10 $(BIN)/python -m pytest -q tests/runtime/test_fuzz.py tests/fuzz
