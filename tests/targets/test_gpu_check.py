"""tools/gpu_check.py, the script to run on a GPU machine: it refuses a missing device with
the reason, and on Vulkan (lavapipe here) runs all three models against the cpu artifacts."""

import importlib.util
import os

import pytest

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "..", "tools", "gpu_check.py")


@pytest.fixture(scope="module")
def gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_missing_device_exits_2_with_the_reason(gpu_check, capsys):
    from aotc.tools.targets import TARGETS, runs_here

    if runs_here(TARGETS["cuda"])[0] == "yes":
        pytest.skip("a CUDA device is present here")
    assert gpu_check.main(["--target", "cuda"]) == 2
    assert "gpu_check: no cuda device here: " in capsys.readouterr().err


@pytest.mark.slow
def test_vulkan_run_checks_every_model(gpu_check, vulkan, capsys):
    assert gpu_check.main(["--target", "vulkan", "--batch", "16", "--calls", "2"]) == 0
    rows = capsys.readouterr().out.splitlines()[2:]
    assert [r.split()[0] for r in rows] == ["mlp", "cnn", "attention"]
    assert all(r.endswith("  ok") for r in rows)
