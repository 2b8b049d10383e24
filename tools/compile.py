"""Compile StableHLO modules with IREE: target presets -> flags, diagnostics -> CompileError,
sealed artifacts written atomically.
"""

import os
import re
import tempfile
from dataclasses import dataclass

from iree.compiler import CompilerToolError, compile_str

from aotc.frontend.errors import CompileError

_LOCAL_LLVM = ["--iree-hal-target-device=local", "--iree-hal-local-target-device-backends=llvm-cpu"]


@dataclass(frozen=True)
class Target:
    """A compile preset: IREE flags, the runtime driver that runs it, and a description."""

    name: str
    flags: tuple
    driver: str
    description: str


TARGETS = {t.name: t for t in (
    # Flags measured on the dev CPU (see benchmarks/): host features, data tiling for matmuls.
    Target("cpu", (*_LOCAL_LLVM, "--iree-llvmcpu-target-cpu=host", "--iree-opt-data-tiling"),
           "local-task", "this machine's CPU, all of its features (not portable)"),
    Target("x86_64", (*_LOCAL_LLVM, "--iree-llvmcpu-target-triple=x86_64-linux-gnu",
                      "--iree-llvmcpu-target-cpu=x86-64-v3", "--iree-opt-data-tiling"),
           "local-task", "portable x86-64-v3 (AVX2) Linux"),
    Target("aarch64", (*_LOCAL_LLVM, "--iree-llvmcpu-target-triple=aarch64-linux-gnu",
                       "--iree-llvmcpu-target-cpu=generic"),
           "local-task", "64-bit Arm Linux (Raspberry Pi 4/5, Jetson CPU, Graviton)"),
    Target("riscv64", (*_LOCAL_LLVM, "--iree-llvmcpu-target-triple=riscv64-linux-gnu",
                       "--iree-llvmcpu-target-cpu=generic-rv64", "--iree-llvmcpu-target-abi=lp64d",
                       "--iree-llvmcpu-target-cpu-features=+m,+a,+f,+d,+c"),
           "local-task", "64-bit RISC-V Linux, rv64gc (compile only: no runtime wheel)"),
    Target("vmvx", ("--iree-hal-target-device=local",
                    "--iree-hal-local-target-device-backends=vmvx"),
           "local-task", "IREE's portable bytecode interpreter (slow, runs anywhere)"),
    Target("vulkan", ("--iree-hal-target-device=vulkan",), "vulkan", "Vulkan (SPIR-V) GPUs"),
    Target("cuda", ("--iree-hal-target-device=cuda", "--iree-cuda-target=sm_80"), "cuda",
           "NVIDIA GPUs, sm_80 PTX (runs on sm_80 and newer)"),
)}

# The flags compile_stablehlo uses, by target name (benchmarks add presets of their own here).
TARGET_FLAGS = {name: list(t.flags) for name, t in TARGETS.items()}
CPU_FLAGS = TARGET_FLAGS["cpu"]


def get_target(name: str) -> Target:
    """The Target preset called name, or CompileError listing the valid ones."""
    if name not in TARGETS:
        raise CompileError(f"unknown target '{name}'; valid targets: {', '.join(TARGETS)}")
    return TARGETS[name]


def compile_stablehlo(text: str, target: str = "cpu", extra_flags=()) -> bytes:
    """IREE-compile StableHLO text into .vmfb bytes; IREE errors become CompileError.

    Example:
        vmfb = compile_stablehlo(str(aotc.lower(fn, spec)), "x86_64")
    """
    if target not in TARGET_FLAGS:
        raise CompileError(f"unknown target '{target}'; valid targets: "
                           f"{', '.join(sorted(TARGET_FLAGS))}")
    flags = TARGET_FLAGS[target]
    try:
        return compile_str(text, input_type="stablehlo", extra_args=[*flags, *extra_flags])
    except CompilerToolError as exc:
        raise CompileError(_summarize(str(exc))) from None


def _summarize(diagnostics: str) -> str:
    """Keep IREE's error lines (they carry the user's file:line locations) and drop the noise."""
    lines = [ln for ln in diagnostics.splitlines() if re.search(r"error:|note:", ln)]
    head = "\n".join(lines[:20]) if lines else diagnostics[-4000:]
    return f"IREE failed to compile the traced program:\n{head}"


def write_atomic(path: str, data: bytes) -> None:
    """Write data to path via a temporary file in the same folder and a rename.

    Readers see the old file or the whole new one, never a partial write; on any failure the
    temporary file is removed and OSError propagates.
    """
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp",
                               dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
