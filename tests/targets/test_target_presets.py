"""The target table: presets, --cpu/--features overrides, aotc.compile, `aotc targets`, the
recorded target, and the machine code each CPU target embeds (ELF e_machine)."""

import subprocess

import numpy as np
import pytest

import aotc
import aotc.numpy as anp
import aotc_runtime
from aotc.tools import compile as compile_mod
from aotc.tools.bundle import embedded_machines
from aotc.tools.cli import main
from aotc.tools.targets import (
    DATA_TILING,
    ELF_MACHINE,
    TARGETS,
    flags,
    get_target,
    host_arch,
    runs_here,
)

SPEC = aotc.ShapeSpec((None, 3))


def tanh2(x):
    return anp.tanh(x) * 2.0


def test_the_table_has_every_target_with_its_driver_and_architecture():
    assert list(TARGETS) == ["cpu", "x86_64", "aarch64", "riscv64", "vmvx", "vulkan", "cuda"]
    drivers = {name: t.driver for name, t in TARGETS.items()}
    assert drivers == {"cpu": "local-task", "x86_64": "local-task", "aarch64": "local-task",
                       "riscv64": "local-task", "vmvx": "local-task", "vulkan": "vulkan",
                       "cuda": "cuda"}
    assert [t.arch for t in TARGETS.values()] == [host_arch(), "x86_64", "aarch64", "riscv64",
                                                  None, None, None]
    assert "--iree-llvmcpu-target-cpu=host" in flags("cpu")
    assert "--iree-llvmcpu-target-cpu=x86-64-v3" in flags("x86_64")
    assert "--iree-cuda-target=sm_80" in flags("cuda")
    assert "--iree-hal-target-device=vulkan" in flags("vulkan")
    assert "--iree-hal-local-target-device-backends=vmvx" in flags("vmvx")


def test_cpu_and_features_replace_the_presets_values():
    out = flags("aarch64", cpu="cortex-a72", features="+neon,+crc")
    assert "--iree-llvmcpu-target-cpu=cortex-a72" in out
    assert "--iree-llvmcpu-target-cpu=generic" not in out
    assert "--iree-llvmcpu-target-cpu-features=+neon,+crc" in out
    riscv = flags("riscv64", features="+m,+a,+f,+d,+c,+v")
    assert [f for f in riscv if "features" in f] == ["--iree-llvmcpu-target-cpu-features="
                                                     "+m,+a,+f,+d,+c,+v"]
    assert flags("aarch64") == list(TARGETS["aarch64"].flags)  # presets are not modified
    with pytest.raises(aotc.CompileError, match=r"apply to CPU targets .* not to 'vulkan'"):
        flags("vulkan", cpu="x")
    with pytest.raises(aotc.CompileError, match="bad value"):
        flags("x86_64", features="+avx2, +fma")


def test_unknown_target_lists_the_valid_ones(tmp_path, capsys):
    valid = "cpu, x86_64, aarch64, riscv64, vmvx, vulkan, cuda"
    with pytest.raises(aotc.CompileError, match=f"unknown target 'tpu'; valid targets: {valid}"):
        get_target("tpu")
    with pytest.raises(aotc.CompileError, match=f"valid targets: {valid}"):
        aotc.compile(tanh2, SPEC, target="tpu")
    model = tmp_path / "m.py"
    model.write_text("import aotc\n@aotc.export(x=aotc.ShapeSpec((2,)))\ndef f(x):\n"
                     "    return x\n")
    assert main(["compile", str(model), "--target", "tpu"]) == 2
    assert "invalid choice: 'tpu' (choose from 'cpu', 'x86_64', 'aarch64'" in \
        capsys.readouterr().err
    assert main(["bundle", str(model), "--target", "arm", "-o", str(tmp_path / "d")]) == 2
    assert not (tmp_path / "d").exists()


def test_cli_passes_cpu_and_features_to_iree(tmp_path, monkeypatch, capsys):
    seen = []

    def fake_compile(text, input_type, extra_args):
        seen.append(extra_args)
        raise compile_mod.CompilerToolError(
            subprocess.CompletedProcess(["iree-compile"], 1, b"", b"error: stop"))

    monkeypatch.setattr(compile_mod, "compile_str", fake_compile)
    model = tmp_path / "m.py"
    model.write_text("import aotc\n@aotc.export(x=aotc.ShapeSpec((2,)))\ndef f(x):\n"
                     "    return x\n")
    main(["compile", str(model), "--target", "aarch64", "--cpu", "cortex-a76",
          "--features", "+dotprod"])
    assert "--iree-llvmcpu-target-cpu=cortex-a76" in seen[0]
    assert "--iree-llvmcpu-target-cpu-features=+dotprod" in seen[0]
    assert "--iree-llvmcpu-target-triple=aarch64-linux-gnu" in seen[0]
    assert main(["compile", str(model), "--target", "cuda", "--cpu", "sm_90"]) == 1
    assert "apply to CPU targets" in capsys.readouterr().err


@pytest.fixture(scope="module")
def cpu_builds():
    """aotc.compile of one small function for every CPU-code target (4 compiles)."""
    return {t: aotc.compile(tanh2, SPEC, target=t) for t in ("x86_64", "aarch64", "riscv64")} | {
        "aarch64-a72": aotc.compile(tanh2, SPEC, target="aarch64", cpu="cortex-a72",
                                    features="+neon")}


@pytest.mark.parametrize("target", ["x86_64", "aarch64", "riscv64", "aarch64-a72"])
def test_the_embedded_code_is_for_the_targets_cpu(cpu_builds, target):
    arch = target.split("-")[0]
    assert embedded_machines(cpu_builds[target]) == [ELF_MACHINE[arch]]


def test_riscv64_embeds_risc_v_code(cpu_builds):
    assert embedded_machines(cpu_builds["riscv64"]) == [243]  # EM_RISCV


def test_artifacts_record_target_driver_and_arch(cpu_builds, tmp_path):
    for target, vmfb in cpu_builds.items():
        path = tmp_path / f"{target}.vmfb"
        path.write_bytes(vmfb)
        info = aotc_runtime.inspect(path)
        assert (info.target, info.driver, info.arch) == (target.split("-")[0], "local-task",
                                                         target.split("-")[0])
        assert info.functions == ["tanh2"]


def test_aotc_compile_returns_a_loadable_artifact_and_writes_path(tmp_path):
    x = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)
    vmfb = aotc.compile(tanh2, SPEC)
    m = aotc_runtime.load_bytes(vmfb, require_aotc=True)
    np.testing.assert_allclose(m.tanh2(x), np.tanh(x) * 2, rtol=1e-6)
    assert (m.target, m.driver) == ("cpu", "local-sync")  # small: aotc_runtime.policy
    path = tmp_path / "t.vmfb"
    named = aotc.compile(lambda x: x + 1, aotc.ShapeSpec((3,), "int32"), target="vmvx",
                         path=str(path), name="inc")
    m = aotc_runtime.load(path)
    assert path.read_bytes() == named and m.functions == ["inc"] and m.target == "vmvx"
    np.testing.assert_array_equal(m.inc(np.arange(3, dtype=np.int32)), [1, 2, 3])


def test_aotc_targets_lists_where_each_runs(capsys):
    assert main(["targets"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line.split()[1:3] for line in lines[1:]}
    assert list(rows) == list(TARGETS)
    for name, (driver, here) in rows.items():
        assert driver == TARGETS[name].driver
        assert here == runs_here(TARGETS[name])[0]
    assert rows["cpu"][1] == rows["vmvx"][1] == "yes"
    assert rows["riscv64"][1] == "no"
    assert "Raspberry Pi" in lines[1 + list(TARGETS).index("aarch64")]


@pytest.mark.parametrize("target", ["cpu", "x86_64"])
def test_matmuls_of_slices_with_a_size_1_dim_are_right_on_the_data_tiling_presets(target):
    # IREE 3.13's mmt4d ukernels under --iree-global-opt-data-tiling read the wrong elements of
    # these sliced operands (1408 for 22 in the first); the presets turn ukernels off
    # (docs/iree_workarounds.md). One program: each form is an output.
    u = np.arange(1, 13, dtype=np.float32).reshape(4, 3)
    b = np.tile(np.array([1, 100], np.float32), (4, 1))
    a = np.random.default_rng(3).normal(size=(5, 4)).astype(np.float32)
    w = np.random.default_rng(4).normal(size=(4, 40)).astype(np.float32)

    def forms(xp, u, b, a, w):
        return [xp.matmul(u.T, b[:, :1]), xp.matmul(a, w[:, 39:]),
                xp.matmul(w[:, :1].T, a.T), xp.matmul(w[:, 0], a.T)]

    # with data tiling asked for: aotc leaves it out of programs of products this small
    got = aotc.jit(lambda *args: forms(anp, *args), target=target,
                   flags=[DATA_TILING])(u, b, a, w)
    for g, want in zip(got, forms(np, u, b, a, w), strict=True):
        np.testing.assert_allclose(g, want, rtol=1e-5, atol=1e-6)
