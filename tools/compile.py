"""Compile StableHLO modules with IREE: target presets (aotc.tools.targets) -> flags,
diagnostics -> CompileError, files written atomically.
"""

import re

from iree.compiler import CompilerToolError, compile_str

from aotc.frontend.core.errors import CompileError
from aotc.frontend.core.ir import ir, new_context
from aotc.frontend.ops.complex import legalize_for_backend
from aotc.frontend.ops.fft import lower_ffts
from aotc.frontend.ops.sort import lower_large_sorts
from aotc.passes.bounds import legalize_bounds_text
from aotc.tools import cache
from aotc.tools.targets import DATA_TILING, TARGETS, Target, get_target
from aotc.tools.targets import flags as target_flags
from aotc_runtime.files import write_atomic

__all__ = ["TARGETS", "Target", "compile_stablehlo", "get_target", "write_atomic"]


def compile_stablehlo(text: str, target: str = "cpu", flags=(), *, cpu: str | None = None,
                      features: str | None = None, replace: bool = False,
                      bounds: bool = True, use_cache: bool = True) -> bytes:
    """IREE-compile StableHLO text into .vmfb bytes; IREE errors become CompileError.

    target names a preset of aotc.tools.targets; cpu and features override the preset's LLVM
    CPU and feature string; flags are extra IREE flags after the preset's, or with
    replace=True the whole flag list (the preset's flags are then not used). bounds=False skips
    the bounds legalization pass (JAX's clamp/drop index semantics; for measuring it only).
    Results are kept in the persistent compilation cache (aotc.tools.cache; AOTC_CACHE=0 or
    use_cache=False compiles without it).

    Example:
        vmfb = compile_stablehlo(str(aotc.lower(fn, spec)), "x86_64", ["--iree-opt-level=O3"])
    """
    if not replace and "@aotc.debug_print" in text and get_target(target).driver != "local-task":
        raise CompileError(f"{_debug_print_site(text)}: aotc.debug.print prints only from CPU "
                           f"targets, not '{target}' (IREE's trace sink reads host memory); "
                           "compile for a CPU target to debug, or return the value and print it "
                           "on the host")
    flags = [flags] if isinstance(flags, str) else list(flags)
    if any(not isinstance(f, str) for f in flags):
        raise CompileError(f"IREE flags must be strings such as '--iree-opt-level=O3', got "
                           f"{flags!r}")
    if not replace:
        flags = [*target_flags(target, cpu, features), *flags]
    entry = (cache.key(text, flags, bounds, "" if replace else target)
             if use_cache and cache.enabled() else None)
    if entry is not None and (hit := cache.get(entry)) is not None:
        return hit
    if bounds:
        text = legalize_bounds_text(text)
    text = _lower_large_sorts_text(text)
    text = _lower_ffts_text(text)
    if not replace:
        text = _legalize_complex_text(text, target)
    try:
        vmfb = compile_str(text, input_type="stablehlo", extra_args=flags)
    except CompilerToolError as exc:
        if replace or DATA_TILING not in flags:
            raise CompileError(_summarize(str(exc))) from None
        vmfb = _compile_without_data_tiling(text, flags, exc)
    if entry is not None:
        cache.put(entry, vmfb)
    return vmfb


def _compile_without_data_tiling(text: str, flags: list, first: CompilerToolError) -> bytes:
    """The preset's data tiling is a speed choice: IREE 3.13 fails on some programs with it (the
    gradient of a Cholesky beyond one 8x8 block: "expected 4 offset values, got 2"), so those
    compile without it. A program that fails both ways reports the first failure."""
    try:
        return compile_str(text, input_type="stablehlo",
                           extra_args=[f for f in flags if f != DATA_TILING])
    except CompilerToolError:
        raise CompileError(_summarize(str(first))) from None


def _lower_large_sorts_text(text: str) -> str:
    """Long sorts become sorting networks (IREE's CPU sort is quadratic and fails to compile
    past 65,535 entries): see aotc.frontend.ops.sort.lower_large_sorts."""
    return _rewritten(text, lower_large_sorts) if "stablehlo.sort" in text else text


def _lower_ffts_text(text: str) -> str:
    """FFTs become dot_generals, reshapes and complex elementwise ops on every target (IREE 3.13
    lowers few, and fails on some of those): see aotc.frontend.ops.fft.lower_ffts."""
    return _rewritten(text, lower_ffts) if "stablehlo.fft" in text else text


def _legalize_complex_text(text: str, target: str) -> str:
    """Complex values on backends that compile only some complex ops (vulkan) or none (vmvx):
    see aotc.frontend.ops.complex.legalize_for_backend."""
    backend = get_target(target).backend
    if "complex<" not in text or backend not in ("vmvx", "vulkan", "vulkan-spirv"):
        return text
    return _rewritten(text, lambda module: legalize_for_backend(module, backend, target))


def _rewritten(text: str, rewrite) -> str:
    """text parsed into a fresh context, rewritten in place by rewrite(module), printed back."""
    with new_context():
        module = ir.Module.parse(text)
        rewrite(module)
        return module.operation.get_asm(enable_debug_info=True)


def _summarize(diagnostics: str) -> str:
    """Keep IREE's error lines (they carry the user's file:line locations) and drop the noise."""
    lines = [ln for ln in diagnostics.splitlines() if re.search(r"error:|note:", ln)]
    head = "\n".join(lines[:20]) if lines else diagnostics[-4000:]
    return f"IREE failed to compile the traced program:\n{head}"


def _debug_print_site(text: str) -> str:
    """'file:line' of the first aotc.debug.print in MLIR text printed with locations."""
    line = next((ln for ln in text.splitlines() if "@aotc.debug_print" in ln), "")
    found = re.search(r'loc\((#loc\d*|"[^"]*":\d+)', line)
    if found and found.group(1).startswith("#"):
        found = re.search(rf'^{found.group(1)} = loc\(("[^"]*":\d+)', text, re.MULTILINE)
    return found.group(1).replace('"', "") if found else "<unknown>"
