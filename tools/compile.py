"""Compile StableHLO modules with IREE: target presets (aotc.tools.targets) -> flags,
diagnostics -> CompileError, files written atomically.
"""

import re

from iree.compiler import CompilerToolError, compile_str

from aotc.frontend.core.errors import CompileError
from aotc.tools.targets import TARGETS, Target, get_target
from aotc.tools.targets import flags as target_flags
from aotc_runtime.files import write_atomic

__all__ = ["CPU_FLAGS", "TARGETS", "TARGET_FLAGS", "Target", "compile_stablehlo", "get_target",
           "write_atomic"]

# The flags compile_stablehlo uses, by target name (benchmarks add presets of their own here).
TARGET_FLAGS = {name: list(t.flags) for name, t in TARGETS.items()}
CPU_FLAGS = TARGET_FLAGS["cpu"]


def compile_stablehlo(text: str, target: str = "cpu", extra_flags=(), *, cpu: str | None = None,
                      features: str | None = None) -> bytes:
    """IREE-compile StableHLO text into .vmfb bytes; IREE errors become CompileError.

    target names a preset of aotc.tools.targets (or a benchmark's entry in TARGET_FLAGS); cpu
    and features override the preset's LLVM CPU and feature string.

    Example:
        vmfb = compile_stablehlo(str(aotc.lower(fn, spec)), "x86_64")
    """
    if cpu or features or target not in TARGET_FLAGS:
        flags = target_flags(target, cpu, features)
    else:
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
