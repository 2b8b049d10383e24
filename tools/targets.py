"""The one table of compile targets: IREE flags, the runtime driver, and where each one runs.

    aotc compile model.py --target aarch64 --cpu cortex-a72
    aotc targets                      # the table, with whether each target runs on this machine

`flags("aarch64", cpu="cortex-a72")` gives the iree-compile flags of a preset with the CPU
overrides applied; `get_target(name)` raises CompileError listing the valid names.
"""

import os
import platform
import shutil
from dataclasses import dataclass

import iree.runtime as rt

from aotc.frontend.core.errors import CompileError
from aotc_runtime.devices import failure_reason

_LLVM_CPU = ("--iree-hal-target-device=local", "--iree-hal-local-target-device-backends=llvm-cpu")
_CPU_FLAG = "--iree-llvmcpu-target-cpu="
_FEATURES_FLAG = "--iree-llvmcpu-target-cpu-features="

_NO_MULTI_REDUCTION_FUSION = "--iree-dispatch-creation-element-wise-fuse-multi-reduction=false"
# IREE 3.13's mmt4d ukernels under global-opt data tiling read the wrong elements when a dot
# operand is a direct slice leaving a size-1 dimension (`u.T @ b[:, :1]` gave 1408 for 22; also
# `a @ b[:, 39:]`, `b[:, :1].T @ a.T`, `b[:, 0] @ a.T`: docs/iree_workarounds.md); data tiling
# without ukernels is correct and, on matmuls and the MLP, as fast within noise.
_NO_UKERNELS = "--iree-llvmcpu-enable-ukernels=none"
# A speed choice: tools.compile retries without it where IREE fails to compile a program with it.
DATA_TILING = "--iree-global-opt-data-tiling"
_CPU_TUNING = (DATA_TILING, _NO_UKERNELS, _NO_MULTI_REDUCTION_FUSION)

# ELF e_machine of the code each CPU architecture embeds in a .vmfb.
ELF_MACHINE = {"x86_64": 62, "aarch64": 183, "riscv64": 243}


def host_arch() -> str:
    """This machine's CPU architecture, spelled like the target names ('x86_64', 'aarch64')."""
    machine = platform.machine().lower()
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)


@dataclass(frozen=True)
class Target:
    """A compile preset: IREE flags, the runtime driver that runs it, and where it runs.

    arch is the CPU architecture of the embedded code for llvm-cpu targets (None for GPUs and
    the portable vmvx bytecode; `cpu` is this machine's).
    """

    name: str
    backend: str  # llvm-cpu, vmvx, vulkan or cuda
    flags: tuple
    driver: str
    arch: str | None
    description: str
    runs_on: str

    @property
    def is_cpu(self) -> bool:
        return self.backend == "llvm-cpu"


def _llvm_cpu(name: str, triple: str | None, cpu: str, *extra: str, **text) -> Target:
    flags = (*_LLVM_CPU, *([f"--iree-llvmcpu-target-triple={triple}"] if triple else []),
             f"{_CPU_FLAG}{cpu}", *extra)
    arch = triple.split("-")[0] if triple else host_arch()
    return Target(name, "llvm-cpu", flags, "local-task", arch, **text)


TARGETS: dict[str, Target] = {t.name: t for t in (
    # Measured on the dev CPU (benchmarks/jit_flags.py): global-opt data tiling is as fast as
    # --iree-opt-data-tiling on matmuls and compiles what that flag rejects (Adam updates), and
    # IREE 3.13 miscompiles fused multi-reductions (vector.contract errors in gradients).
    _llvm_cpu("cpu", None, "host", *_CPU_TUNING,
              description="this machine's CPU, all of its features",
              runs_on="this machine (not portable)"),
    _llvm_cpu("x86_64", "x86_64-linux-gnu", "x86-64-v3", *_CPU_TUNING,
              description="portable x86-64-v3 (AVX2)",
              runs_on="x86-64 Linux, Haswell/Zen and newer"),
    _llvm_cpu("aarch64", "aarch64-linux-gnu", "generic", _NO_MULTI_REDUCTION_FUSION,
              description="64-bit Arm Linux",
              runs_on="Raspberry Pi 4/5, Jetson, Graviton; x86 hosts via qemu-aarch64"),
    _llvm_cpu("riscv64", "riscv64-linux-gnu", "generic-rv64", _NO_MULTI_REDUCTION_FUSION,
              "--iree-llvmcpu-target-abi=lp64d",
              f"{_FEATURES_FLAG}+m,+a,+f,+d,+c",
              description="64-bit RISC-V Linux (rv64gc)",
              runs_on="rv64gc Linux boards (IREE has no riscv64 runtime wheel)"),
    Target("vmvx", "vmvx", ("--iree-hal-target-device=local",
                            "--iree-hal-local-target-device-backends=vmvx"), "local-task", None,
           "IREE's portable bytecode interpreter (slow)", "any CPU with the runtime"),
    Target("vulkan", "vulkan", ("--iree-hal-target-device=vulkan",), "vulkan", None,
           "Vulkan SPIR-V", "GPUs with a Vulkan driver; CPUs via Mesa lavapipe"),
    Target("cuda", "cuda", ("--iree-hal-target-device=cuda", "--iree-cuda-target=sm_80"), "cuda",
           None, "NVIDIA CUDA, sm_80 PTX", "NVIDIA Ampere (sm_80) and newer GPUs"),
)}


def get_target(name: str) -> Target:
    """The Target preset called name, or CompileError listing the valid ones.

    Example:
        >>> get_target("aarch64").driver
        'local-task'
    """
    if name not in TARGETS:
        raise CompileError(f"unknown target '{name}'; valid targets: {', '.join(TARGETS)}")
    return TARGETS[name]


def flags(name: str, cpu: str | None = None, features: str | None = None) -> list[str]:
    """The iree-compile flags of target name, with --cpu / --features overrides applied.

    cpu is an LLVM CPU name ('cortex-a72', 'znver4', 'sifive-u74'); features an LLVM feature
    string ('+neon,+dotprod'). Both apply to CPU (llvm-cpu) targets only.

    Example:
        >>> flags("aarch64", cpu="cortex-a72")[-1]
        '--iree-llvmcpu-target-cpu=cortex-a72'
    """
    target = get_target(name)
    if (cpu or features) and not target.is_cpu:
        cpu_targets = ", ".join(t.name for t in TARGETS.values() if t.is_cpu)
        raise CompileError(f"--cpu/--features apply to CPU targets ({cpu_targets}), not to "
                           f"'{name}'")
    out = list(target.flags)
    for prefix, value in ((_CPU_FLAG, cpu), (_FEATURES_FLAG, features)):
        if value:
            if not all(part.strip() for part in value.split(",")) or any(c.isspace()
                                                                         for c in value):
                raise CompileError(f"bad value '{value}' for --cpu/--features; give an LLVM "
                                   "name such as cortex-a72 or a list such as +neon,+dotprod")
            out = [f for f in out if not f.startswith(prefix)] + [prefix + value]
    return out


DEVICE_FLAG = "--iree-hal-target-device="


def mesh_device_flags(flag_list: list[str], n: int) -> list[str]:
    """flag_list with its one `--iree-hal-target-device=<device>` flag replaced by n named
    devices `d<p>=<device>[<p>]` (p = 0..n-1): the IREE devices `#hal.device.promise<@d<p>>`
    of a program on a mesh of n devices. n = 1 returns flag_list unchanged; so does a list
    that already names its devices (`d0=local[0]`).

    Example:
        >>> mesh_device_flags(["--iree-hal-target-device=vulkan"], 2)
        ['--iree-hal-target-device=d0=vulkan[0]', '--iree-hal-target-device=d1=vulkan[1]']
    """
    devices = [f for f in flag_list if f.startswith(DEVICE_FLAG)]
    if n == 1 or any("=" in f[len(DEVICE_FLAG):] for f in devices):
        return list(flag_list)
    if len(set(devices)) != 1:
        found = ", ".join(devices) or "none"
        raise CompileError(f"a program on a mesh of {n} devices needs exactly one "
                           f"{DEVICE_FLAG}<device> flag to replicate over the mesh (found "
                           f"{found}); compile it for a target preset, or name every device "
                           f"yourself ({DEVICE_FLAG}d0=local[0] ... d{n - 1}=local[{n - 1}])")
    device = devices[0][len(DEVICE_FLAG):]
    named = [f"{DEVICE_FLAG}d{p}={device}[{p}]" for p in range(n)]
    at = flag_list.index(devices[0])
    rest = [f for f in flag_list if f not in devices]
    return [*rest[:at], *named, *rest[at:]]


def runs_here(target: Target) -> tuple[str, str]:
    """('yes' | 'qemu' | 'no', detail): whether target's artifacts run on this machine."""
    if target.arch and target.arch != host_arch():
        if target.arch == "aarch64" and qemu_command():
            return "qemu", "under qemu-aarch64 with the aarch64 iree-run-module"
        article = "an" if target.arch[0] in "aeiou" else "a"
        hint = ", or qemu-aarch64 and `make edge-runtime`" if target.arch == "aarch64" else ""
        return "no", f"needs {article} {target.arch} CPU{hint}"
    try:
        devices = rt.get_driver(target.driver).query_available_devices()
    except (RuntimeError, ValueError) as exc:
        return "no", failure_reason(exc)
    if not devices:
        return "no", f"the {target.driver} driver finds no device"
    return "yes", devices[0]["name"].split(" (")[0] if target.driver == "vulkan" else ""


def edge_runtime(tool: str = "iree-run-module") -> str | None:
    """The aarch64 IREE tool fetched by `make edge-runtime` (or $AOTC_AARCH64_RUNTIME)."""
    root = os.environ.get("AOTC_AARCH64_RUNTIME") or os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "build", "runtime-aarch64")
    path = os.path.join(root, "iree", "_runtime_libs", tool)
    return path if os.path.isfile(path) else None


QEMU_SYSROOT = "/usr/aarch64-linux-gnu"


def qemu_command(tool: str = "iree-run-module") -> list[str] | None:
    """The argv prefix that runs an aarch64 IREE tool here under qemu, or None if unavailable."""
    qemu, binary = shutil.which("qemu-aarch64"), edge_runtime(tool)
    if not (qemu and binary and os.path.isdir(QEMU_SYSROOT)):
        return None
    return [qemu, "-L", QEMU_SYSROOT, binary]
