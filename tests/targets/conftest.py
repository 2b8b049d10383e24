"""Shared fixtures for the target tests: model artifacts compiled once per session and the
runners this machine has (Vulkan, qemu-aarch64 with the aarch64 iree-run-module, CUDA)."""

import importlib.util
import os
import subprocess

import pytest

from aotc.tools.targets import TARGETS, qemu_command, runs_here

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MODELS = os.path.join(REPO, "models")


def import_model(name: str):
    spec = importlib.util.spec_from_file_location(f"target_model_{name}",
                                                  os.path.join(MODELS, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def model():
    """name -> the imported models/NAME.py (for its weights and NumPy reference)."""
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = import_model(name)
        return cache[name]

    return get


@pytest.fixture(scope="session")
def artifact(tmp_path_factory):
    """(model name, target) -> path of models/NAME.py compiled for target (once per session)."""
    from aotc.tools.export import ExportOutput

    cache = {}

    def get(name, target="cpu"):
        if (name, target) not in cache:
            folder = tmp_path_factory.mktemp(f"{name}-{target}")
            exported = ExportOutput.from_file(os.path.join(MODELS, f"{name}.py"))
            cache[name, target] = exported.write(str(folder / f"{name}.vmfb"), target)[0]
        return cache[name, target]

    return get


def _skip_unless(target: str) -> None:
    status, detail = runs_here(TARGETS[target])
    if status != "yes":
        pytest.skip(f"no {target} device here: {detail}")


@pytest.fixture(scope="session")
def vulkan():
    """Skips unless a Vulkan device (Mesa lavapipe in CI) is available."""
    _skip_unless("vulkan")


@pytest.fixture(scope="session")
def cuda():
    """Skips unless a CUDA device is available (never in CI)."""
    _skip_unless("cuda")


@pytest.fixture(scope="session")
def qemu():
    """argv prefix running the aarch64 iree-run-module under qemu-aarch64, or skip."""
    command = qemu_command()
    if command is None:
        pytest.skip("needs qemu-aarch64 with /usr/aarch64-linux-gnu (`make system-deps`) and "
                    "the aarch64 iree-run-module (`make edge-runtime`)")
    return command



@pytest.fixture
def run():
    """Run argv as a subprocess; returns the CompletedProcess (text output, not checked)."""

    def call(argv, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run([str(a) for a in argv], capture_output=True, text=True,
                              timeout=300, **kwargs)

    return call
