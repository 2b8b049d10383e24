"""Compile StableHLO modules with IREE: target presets -> flags, diagnostics -> CompileError."""

import re

from iree.compiler import CompilerToolError, compile_str

from aotc.frontend.errors import CompileError

# Flags measured on the dev CPU (see benchmarks/): host features, data tiling for matmuls.
CPU_FLAGS = [
    "--iree-hal-target-device=local",
    "--iree-hal-local-target-device-backends=llvm-cpu",
    "--iree-llvmcpu-target-cpu=host",
    "--iree-opt-data-tiling",
]

TARGET_FLAGS = {"cpu": CPU_FLAGS}


def compile_stablehlo(text: str, target: str = "cpu", extra_flags=()) -> bytes:
    """IREE-compile StableHLO text into .vmfb bytes; IREE errors become CompileError."""
    if target not in TARGET_FLAGS:
        raise CompileError(f"unknown target '{target}'; valid targets: "
                           f"{', '.join(sorted(TARGET_FLAGS))}")
    try:
        return compile_str(text, input_type="stablehlo",
                           extra_args=[*TARGET_FLAGS[target], *extra_flags])
    except CompilerToolError as exc:
        raise CompileError(_summarize(str(exc))) from None


def _summarize(diagnostics: str) -> str:
    """Keep IREE's error lines (they carry the user's file:line locations) and drop the noise."""
    lines = [ln for ln in diagnostics.splitlines() if re.search(r"error:|note:", ln)]
    head = "\n".join(lines[:20]) if lines else diagnostics[-4000:]
    return f"IREE failed to compile the traced program:\n{head}"
