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


def _fake_runs(stderrs: list, calls: list):
    """A subprocess.run for _run_module: each call returns the next stderr (exit 1), and once
    they are used up writes the --output files and exits 0."""
    import subprocess

    import numpy as np

    def run(argv, **kwargs):
        calls.append(argv)
        if len(calls) <= len(stderrs):
            return subprocess.CompletedProcess(argv, 1, "", stderrs[len(calls) - 1])
        for arg in argv:
            if arg.startswith("--output=@"):
                np.save(arg[len("--output=@"):], np.full(2, len(calls), np.float32))
        return subprocess.CompletedProcess(argv, 0, "", "")

    return run


def test_a_lost_vulkan_device_is_run_again_and_other_failures_say_why(gpu_check, monkeypatch,
                                                                     tmp_path):
    lost = "queue.c:2867: DATA_LOSS; [vkSignalSemaphore] VK_ERROR_DEVICE_LOST; while invoking"
    calls = []
    monkeypatch.setattr(gpu_check.subprocess, "run", _fake_runs([lost, lost], calls))
    got = gpu_check._run_module(b"vmfb", "vulkan", 2, [], str(tmp_path))
    assert len(calls) == 3 and [g.tolist() for g in got] == [[3.0, 3.0]] * 3

    calls = []
    monkeypatch.setattr(gpu_check.subprocess, "run", _fake_runs([lost] * 3, calls))
    with pytest.raises(RuntimeError, match=r"exited with 1: .*VK_ERROR_DEVICE_LOST"):
        gpu_check._run_module(b"vmfb", "vulkan", 2, [], str(tmp_path))
    assert len(calls) == 3

    calls = []
    monkeypatch.setattr(gpu_check.subprocess, "run", _fake_runs(["bad --device"], calls))
    with pytest.raises(RuntimeError, match="2 vulkan devices exited with 1: bad --device"):
        gpu_check._run_module(b"vmfb", "vulkan", 2, [], str(tmp_path))
    assert len(calls) == 1
