"""The runtime picks the artifact's driver; an artifact whose driver or CPU is missing here
fails at load with an ArtifactError naming the target and what it needs. CUDA artifacts
compile everywhere (sm_80 PTX) and run only where a CUDA device is present."""

import subprocess
import sys
import zipfile

import numpy as np
import pytest

import aotc
import aotc.numpy as anp
import aotc_runtime
from aotc.tools.targets import host_arch

CUDA_MODELS = ["mlp", "cnn", "attention"]


def ptx_of(path: str) -> bytes:
    with zipfile.ZipFile(path) as archive:
        return b"".join(archive.read(n) for n in archive.namelist() if "cuda" in n)


@pytest.mark.slow
def test_cuda_artifacts_compile_to_sm80_ptx(artifact):
    for name in CUDA_MODELS:
        path = artifact(name, "cuda")
        ptx = ptx_of(path)
        assert b".target sm_80" in ptx and b".entry " in ptx, name
        info = aotc_runtime.inspect(path)
        assert (info.target, info.driver, info.arch) == ("cuda", "cuda", None)


def test_cuda_artifact_without_a_cuda_device_names_what_it_needs(artifact):
    try:
        aotc_runtime.load(artifact("attention", "cuda")).close()
    except aotc_runtime.ArtifactError as exc:
        message = str(exc)
        assert "compiled for target 'cuda'" in message and "'cuda' driver" in message
        assert "NVIDIA GPU (sm_80 or newer)" in message and "libcuda.so" in message
        assert "aotc compile --target cpu" in message
    else:
        pytest.skip("a CUDA device is present here: the artifact loads")


@pytest.mark.parametrize("name", CUDA_MODELS)
def test_cuda_matches_cpu(artifact, model, cuda, name):
    cpu, gpu = (aotc_runtime.load(artifact(name, t)) for t in ("cpu", "cuda"))
    assert gpu.driver == "cuda"
    module = model(name)
    if name == "mlp":
        args = (module.init_params(3), module.example_batch(5))
        fn = "predict"
    elif name == "cnn":
        args, fn = (module.init_params(3), module.example_images(2)), "predict"
    else:
        args, fn = (module.init_params(3), module.example_input(1)), "block"
    np.testing.assert_allclose(gpu[fn](*args), cpu[fn](*args), rtol=1e-4, atol=1e-5)


VULKAN_LOAD = """
import sys, aotc_runtime
try:
    aotc_runtime.load(sys.argv[1])
except aotc_runtime.ArtifactError as exc:
    print(exc)
    sys.exit(3)
"""


def test_vulkan_artifact_without_a_vulkan_driver_says_what_to_install(tmp_path):
    path = tmp_path / "double.vmfb"
    aotc.compile(lambda x: x * 2, aotc.ShapeSpec((4,)), target="vulkan", path=str(path),
                 name="double")
    done = subprocess.run([sys.executable, "-c", VULKAN_LOAD, str(path)], capture_output=True,
                          text=True, timeout=120,
                          env={"VK_ICD_FILENAMES": str(tmp_path / "no-driver.json"),
                               "VK_DRIVER_FILES": str(tmp_path / "no-driver.json"),
                               "PATH": "/usr/bin:/bin"})
    assert done.returncode == 3, done.stderr
    assert "compiled for target 'vulkan'" in done.stdout
    assert "apt-get install libvulkan1 mesa-vulkan-drivers" in done.stdout


@pytest.mark.skipif(host_arch() == "aarch64", reason="this machine runs aarch64 code")
def test_aarch64_artifact_on_another_cpu_is_refused_at_load():
    vmfb = aotc.compile(anp.tanh, aotc.ShapeSpec((3,)), target="aarch64", name="tanh")
    with pytest.raises(aotc_runtime.ArtifactError,
                       match=rf"compiled for target 'aarch64' \(aarch64 CPUs\), but this "
                             rf"machine is {host_arch()}.*aotc bundle"):
        aotc_runtime.load_bytes(vmfb, require_aotc=True)


def test_device_override_and_unknown_drivers(artifact):
    m = aotc_runtime.load(artifact("mlp", "vmvx"), device="local-sync")
    assert (m.target, m.driver) == ("vmvx", "local-sync")
    with pytest.raises(aotc_runtime.ArtifactError,
                       match=r"IREE driver .metal. is not in this aotc_runtime .available: cuda"):
        aotc_runtime.load(artifact("mlp", "vmvx"), device="metal")
