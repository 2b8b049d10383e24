"""Compile StableHLO modules with IREE: target presets (aotc.tools.targets) -> flags,
diagnostics -> CompileError, files written atomically.
"""

import os
import re

from iree.compiler import CompilerToolError, compile_str

from aotc.frontend.core import shardy
from aotc.frontend.core.errors import CompileError
from aotc.frontend.core.ir import ir, new_context
from aotc.frontend.ops.complex import legalize_for_backend
from aotc.frontend.ops.complex_pairs import split_complex
from aotc.frontend.ops.exact_fma import EXACT_FMA_BACKENDS, emulate_fmas
from aotc.frontend.ops.fft import lower_ffts
from aotc.frontend.ops.sort import lower_large_sorts
from aotc.frontend.ops.vmvx import NEEDS_VMVX_LEGALIZATION, legalize_for_vmvx
from aotc.passes.bounds import legalize_bounds_text
from aotc.tools import (
    cache,
    flags_policy,
    iree_workarounds,
    loop_matvec,
    product_sums,
    vulkan_devices,
)
from aotc.tools.constant_folding import fold_constants
from aotc.tools.targets import DATA_TILING, TARGETS, Target, get_target, mesh_device_flags
from aotc.tools.targets import flags as target_flags
from aotc_runtime import artifact
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
    For CPU targets (without replace=True) the flags are chosen per program and the program's
    cost is recorded for the runtime's device choice (aotc.tools.flags_policy). Results are
    kept in the persistent compilation cache (aotc.tools.cache; AOTC_CACHE=0 or
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
    user_flags = flags
    if not replace:
        flags = [*target_flags(target, cpu, features), *flags]
    text = shardy.importable(text, CompileError, "the StableHLO text")
    text, devices = _lower_devices_text(text, target)
    if not replace and get_target(target).is_cpu:
        text, flags = _apply_program_policy(text, flags, user_flags, devices)
    flags = mesh_device_flags(flags, devices)
    threads = thread_flags()  # not in the cache key: the bytes do not depend on them
    if not replace and get_target(target).backend == "vulkan":
        text, flags = vulkan_devices.declare(text, flags)  # 8- and 16-bit storage
    entry = (cache.key(text, flags, bounds, "" if replace else target)
             if use_cache and cache.enabled() else None)
    if entry is not None and (hit := cache.get(entry)) is not None:
        return hit
    if bounds:
        text = legalize_bounds_text(text)
    text = _lower_large_sorts_text(text)
    text = _lower_ffts_text(text)
    text = iree_workarounds.rewrite(text)  # IREE 3.13 bugs: docs/iree_workarounds.md
    if not replace:
        text = _legalize_complex_text(text, target)
        flags = _exact_fma_flags(text, target, flags)
        text = _exact_fmas_text(text, target)
    text = _rewritten(text, fold_constants)  # what IREE would hoist and evaluate at compile time
    iree_flags = [*flags, *threads]
    try:
        vmfb = iree_workarounds.compile_str(text, iree_flags, compile_str)
    except CompilerToolError as exc:
        optional = [] if replace else [f for f in flags
                                       if f in SPEED_FLAGS and f not in user_flags]
        if not optional:
            raise CompileError(_summarize(str(exc), text) + _target_hint(text, target)) from None
        vmfb = _compile_without(text, iree_flags, optional, exc)
    if entry is not None:
        cache.put(entry, vmfb)
    return vmfb


def thread_flags() -> list[str]:
    """IREE flags for AOTC_COMPILE_THREADS: "1" compiles on one thread (for builds that run
    several compiles at once, one per core: a test suite under pytest-xdist, make -j; 8-15%
    less time there than compiles whose thread pools compete). The compiled bytes are the same,
    so the flag stays out of the cache key."""
    value = os.environ.get("AOTC_COMPILE_THREADS", "").strip()
    if value in ("", "0"):
        return []
    if value != "1":
        raise CompileError(f"AOTC_COMPILE_THREADS={value!r}: use 1 (one thread per compile), or 0 "
                           "or leave it unset (IREE's thread pool)")
    return ["--mlir-disable-threading"]


def _apply_program_policy(text: str, flags: list, user_flags: list,
                          devices: int) -> tuple[str, list]:
    """(text, flags) with the per-program choices of aotc.tools.flags_policy: flags chosen from
    the program's features (the user's flags decide what they mention), and for a program on
    one device its loop matrix-vector products laid out for x86-64 (aotc.tools.loop_matvec)
    and its estimated cost recorded for aotc_runtime's device choice. Runs before the cache
    key is computed, so the key holds the chosen flags and the rewritten text."""
    with new_context():
        module = ir.Module.parse(text)
        if devices == 1 and loop_matvec.applies(flags):
            loop_matvec.rewrite(module)
        if devices == 1:
            product_sums.rewrite(module)
        feats = flags_policy.features(module)
        if devices == 1:
            flags_policy.stamp_cost(module, feats)
            text = module.operation.get_asm(enable_debug_info=True)
    return text, flags_policy.choose_flags(feats, flags, user_flags)


# ---- programs on several devices (aotc.sharding; see aotc.passes.spmd) ----
TRANSFER_TARGET = "aotc.transfer"
DEVICE_ATTR = "aotc.device"
AFFINITY_ATTR = "iree.abi.affinity"


def _lower_devices_text(text: str, target: str) -> tuple[str, int]:
    """(text for IREE, N): a program on N > 1 devices in IREE's multi-device form.

    aotc's traced form marks where values live with two things only: transfers
    `stablehlo.custom_call @aotc.transfer(%x) {backend_config = "<from>-><to>"}` and
    `aotc.device = <p> : i64` on function arguments and results (none: device 0). N is 1 +
    the largest device index. For N > 1 every transfer becomes `flow.tensor.transfer %x : T to
    #hal.device.promise<@d<to>>`, every aotc.device an `iree.abi.affinity` (public functions'
    unmarked arguments and results: @d0), and each public function's iree.reflection records N
    under 'aotc.devices' (read by aotc_runtime to create the devices). compile_stablehlo then
    names N devices in the flags (aotc.tools.targets.mesh_device_flags). Programs that mention
    neither come back unchanged, without a parse; N = 1 drops the markers.
    """
    if TRANSFER_TARGET not in text and DEVICE_ATTR not in text:
        return text, 1
    with new_context():
        module = ir.Module.parse(text)
        transfers = _transfers(module)
        functions = [op.operation for op in module.body.operations
                     if op.operation.name == "func.func"]
        marked = [int(ir.IntegerAttr(attrs[DEVICE_ATTR]).value)
                  for fn in functions for attrs in _value_attrs(fn) if DEVICE_ATTR in attrs]
        devices = 1 + max([*marked, *(dst for _, _, dst in transfers),
                           *(src for _, src, _ in transfers)], default=0)
        if devices > 1:
            _check_static(transfers, functions, devices, target)
        for op, _, dst in transfers:
            _replace_transfer(op, dst, devices)
        for fn in functions:
            _place_values(fn, devices)
        return module.operation.get_asm(enable_debug_info=True), devices


def _transfers(module: ir.Module) -> list[tuple[ir.Operation, int, int]]:
    """(op, from, to) of every @aotc.transfer custom_call; CompileError for a malformed one."""
    ops = []

    def visit(op):
        if (op.name == "stablehlo.custom_call"
                and ir.StringAttr(op.attributes["call_target_name"]).value == TRANSFER_TARGET):
            ops.append(op)
        return ir.WalkResult.ADVANCE

    module.operation.walk(visit)  # (an exception inside the walk would become a RuntimeError)
    found = []
    for op in ops:
        config = (ir.StringAttr(op.attributes["backend_config"]).value
                  if "backend_config" in op.attributes else "")
        ends = re.fullmatch(r"(\d+)->(\d+)", config)
        if ends is None or len(op.operands) != 1 or len(op.results) != 1:
            raise CompileError(f"{_site(op)}: malformed aotc.transfer (backend_config "
                               f"{config!r}, {len(op.operands)} operand(s)); expected one "
                               "operand and backend_config = \"<from>-><to>\"")
        found.append((op, int(ends.group(1)), int(ends.group(2))))
    return found


def _value_attrs(fn: ir.Operation) -> list[ir.DictAttr]:
    """The arg_attrs and res_attrs dictionaries of a func.func (missing ones left out)."""
    return [ir.DictAttr(d) for key in ("arg_attrs", "res_attrs") if key in fn.attributes
            for d in ir.ArrayAttr(fn.attributes[key])]


def _check_static(transfers: list, functions: list, devices: int, target: str) -> None:
    """CompileError for a dynamic shape in a multi-device program (transfers and placed
    arguments need sizes: aotc partitions into static per-device blocks)."""
    for op, src, dst in transfers:
        if not ir.RankedTensorType(op.operands[0].type).has_static_shape:
            raise CompileError(f"{_site(op)}: a transfer from device {src} to {dst} moves "
                               f"{op.operands[0].type}, which has a dynamic shape; programs on "
                               f"several devices ({devices} here, target '{target}') need "
                               "static shapes: give every dimension a size")
    for fn in functions:
        fn_type = ir.FunctionType(ir.TypeAttr(fn.attributes["function_type"]).value)
        for kind, types in (("argument", fn_type.inputs), ("result", fn_type.results)):
            for i, t in enumerate(types):
                if (t.typeid == ir.RankedTensorType.static_typeid
                        and not ir.RankedTensorType(t).has_static_shape):
                    name = ir.StringAttr(fn.attributes["sym_name"]).value
                    raise CompileError(
                        f"{_site(fn)}: {kind} {i} of @{name} is {t}, a dynamic shape; programs "
                        f"on several devices ({devices} here) need static shapes: export it "
                        "with sizes for every dimension")


def _promise(device: int) -> ir.Attribute:
    return ir.Attribute.parse(f"#hal.device.promise<@d{device}>")


def _replace_transfer(op: ir.Operation, dst: int, devices: int) -> None:
    """op's result from a flow.tensor.transfer to device dst (on one device: its operand)."""
    value = op.operands[0]
    if devices > 1:
        with ir.InsertionPoint(op), op.location:
            value = ir.Operation.create("flow.tensor.transfer", results=[value.type],
                                        operands=[value],
                                        attributes={"target": _promise(dst)}).result
    op.results[0].replace_all_uses_with(value)
    op.erase()


def _place_values(fn: ir.Operation, devices: int) -> None:
    """aotc.device markers of fn's arguments and results as IREE affinities (public functions:
    unmarked ones on device 0), and the device count in a public fn's iree.reflection."""
    public = "sym_visibility" not in fn.attributes or ir.StringAttr(
        fn.attributes["sym_visibility"]).value == "public"
    fn_type = ir.FunctionType(ir.TypeAttr(fn.attributes["function_type"]).value)
    for key, count in (("arg_attrs", len(fn_type.inputs)), ("res_attrs", len(fn_type.results))):
        old = (list(ir.ArrayAttr(fn.attributes[key])) if key in fn.attributes
               else [ir.DictAttr.get({})] * count)
        new = []
        for attrs in map(ir.DictAttr, old):
            entries = {a.name: a.attr for a in attrs if a.name != DEVICE_ATTR}
            if devices > 1 and (public or DEVICE_ATTR in attrs):
                device = ir.IntegerAttr(attrs[DEVICE_ATTR]).value if DEVICE_ATTR in attrs else 0
                entries[AFFINITY_ATTR] = _promise(device)
            new.append(ir.DictAttr.get(entries))
        if count:
            fn.attributes[key] = ir.ArrayAttr.get(new)
    if devices > 1 and public:
        reflection = ({a.name: a.attr for a in ir.DictAttr(fn.attributes["iree.reflection"])}
                      if "iree.reflection" in fn.attributes else {})
        reflection[artifact.KEY_DEVICES] = ir.StringAttr.get(str(devices))
        fn.attributes["iree.reflection"] = ir.DictAttr.get(reflection)


def _site(op: ir.Operation) -> str:
    """'file:line' of op's location, or its location as MLIR prints it."""
    text = str(op.location)
    found = re.search(r'"([^"]+)":(\d+)', text)
    return f"{found.group(1)}:{found.group(2)}" if found else text


# Flags that the CPU presets and flags_policy choose for speed, and with which IREE 3.13 fails
# on some programs: data tiling (the gradient of a Cholesky beyond one 8x8 block: "expected 4
# offset values, got 2"), inner tiling (batched matmuls), transfer gathers (gathers and
# reverses that flags_policy's checks miss). A program that fails with the ones the user did
# not give compiles again without them.
SPEED_FLAGS = frozenset({DATA_TILING, flags_policy.INNER_TILED_FLAG,
                         flags_policy.TRANSFER_GATHER_FLAG})


def _compile_without(text: str, flags: list, optional: list, first: CompilerToolError) -> bytes:
    """text compiled with flags less the optional ones (SPEED_FLAGS); a program that fails both
    ways reports the first failure."""
    try:
        return iree_workarounds.compile_str(text, [f for f in flags if f not in optional],
                                            compile_str)
    except CompilerToolError:
        raise CompileError(_summarize(str(first), text)) from None


def _lower_large_sorts_text(text: str) -> str:
    """Long sorts become sorting networks (IREE's CPU sort is quadratic and fails to compile
    past 65,535 entries): see aotc.frontend.ops.sort.lower_large_sorts."""
    return _rewritten(text, lower_large_sorts) if "stablehlo.sort" in text else text


def _lower_ffts_text(text: str) -> str:
    """FFTs become dot_generals, reshapes and complex elementwise ops on every target (IREE 3.13
    lowers few, and fails on some of those): see aotc.frontend.ops.fft.lower_ffts."""
    return _rewritten(text, lower_ffts) if "stablehlo.fft" in text else text


def _legalize_complex_text(text: str, target: str) -> str:
    """Complex values on backends that compile only some complex ops (vulkan: see
    aotc.frontend.ops.complex.legalize_for_backend); vmvx compiles none: see
    _legalize_vmvx_text."""
    backend = get_target(target).backend
    if backend == "vmvx":
        return _legalize_vmvx_text(text, target)
    if "complex<" not in text or backend not in ("vulkan", "vulkan-spirv"):
        return text
    return _rewritten(text, lambda module: legalize_for_backend(module, backend, target))


def _legalize_vmvx_text(text: str, target: str) -> str:
    """Every vmvx program: complex values become pairs of float values (see
    aotc.frontend.ops.complex_pairs.split_complex), then the float ops vmvx gets wrong (NaN in
    compares, is_finite) or cannot compile (atan2, sign) are rewritten (see
    aotc.frontend.ops.vmvx.legalize_for_vmvx). Text without complex values or those ops is
    returned unparsed."""
    has_complex = "complex<" in text
    if not has_complex and not any(name in text for name in NEEDS_VMVX_LEGALIZATION):
        return text

    def rewrite(module: ir.Module) -> None:
        if has_complex:
            split_complex(module, target)
        legalize_for_vmvx(module)

    return _rewritten(text, rewrite)


def _exact_fmas_text(text: str, target: str) -> str:
    """On backends that never fuse a multiply-add (vmvx, Vulkan), float32 fmas written as float64
    multiply-adds (aotc.random's) become exact fmas from float32 ops: see
    aotc.frontend.ops.exact_fma. Other targets' text, and text without float64, is unchanged."""
    if get_target(target).backend not in EXACT_FMA_BACKENDS or "f64>" not in text:
        return text
    return _rewritten(text, emulate_fmas)


# IREE's load-time evaluation of constant expressions, off for programs with emulated fmas
NO_CONST_EVAL = "--iree-opt-const-eval=false"


def _exact_fma_flags(text: str, target: str, flags: list) -> list:
    """flags, with IREE's const-eval off where _exact_fmas_text rewrites (the user's flags
    decide when they mention it). Why: each emulated fma is ~75 float32 ops, and IREE hoists
    those fed only by constants into hundreds of small global initializers, which const-eval
    JIT-compiles one by one for the host: measured on aotc.random.gamma(key, 3.0, (64,)) for
    vmvx, 70 s of iree-compile CPU with const-eval, 22 s without. The initializers then run
    once when the module loads, on the target, with the same exact ops. (Turning hoisting off
    instead, 8 s there, makes IREE 3.13 fail on larger gamma programs: "'stream.async.dispatch'
    op : streamable op expected to be in an execution region".)"""
    if get_target(target).backend not in EXACT_FMA_BACKENDS or "f64>" not in text \
            or any(f.startswith(NO_CONST_EVAL.split("=")[0]) for f in flags):
        return flags
    return [*flags, NO_CONST_EVAL]



def _rewritten(text: str, rewrite) -> str:
    """text parsed into a fresh context, rewritten in place by rewrite(module), printed back."""
    with new_context():
        module = ir.Module.parse(text)
        rewrite(module)
        return module.operation.get_asm(enable_debug_info=True)


def _summarize(diagnostics: str, text: str) -> str:
    """Keep IREE's error lines (they carry the user's file:line locations) and drop the noise;
    add what to do about a known IREE bug that the diagnostics and the program text show."""
    lines = [ln for ln in diagnostics.splitlines() if re.search(r"error:|note:", ln)]
    head = "\n".join(lines[:20]) if lines else diagnostics[-4000:]
    unsigned = "xui" in text or "<ui" in text
    hint = (UNSIGNED_SCALAR_HINT if unsigned and re.search(_UNSIGNED_SCALAR_ERRORS, diagnostics)
            else "")
    return f"IREE failed to compile the traced program:\n{head}{hint}"


# IREE 3.13 runs 0-d integer arithmetic that depends only on a loop's counter on the host, and
# its host code takes no unsigned types (docs/iree_workarounds.md, last section).
_UNSIGNED_SCALAR_ERRORS = (r"must be signless[-\w]*,? but got 'ui\d+'|integer return type must be "
                           r"signless|'tensor.from_elements' op failed to verify that operand "
                           r"types match result element type")
UNSIGNED_SCALAR_HINT = (
    "\nIREE 3.13 cannot compile unsigned integer arithmetic on small values it computes on the "
    "host, such as a loop counter converted to uint32 inside fori_loop, while_loop or scan: "
    "keep that arithmetic and the loop's carry in int32 (or int64), and convert to the "
    "unsigned type after the loop")


def _target_hint(text: str, target: str) -> str:
    """What to do about a failed compile that the target, not the program, explains: IREE 3.13's
    vmvx lowers no float16/bfloat16 arithmetic ("'vm.add.f32' op operand #0 must be 32-bit
    float") and no float16 conversion ("failed to legalize operation 'arith.extf'"); bfloat16
    converts to and from float32."""
    if get_target(target).backend == "vmvx" and re.search(r"[x<]b?f16>", text):
        return ("\nvmvx (IREE 3.13) has no 16-bit float arithmetic and no float16 conversions, "
                "and this program has 16-bit floats: give it float32 arrays (convert them on "
                "the host with numpy's astype), or compile for a CPU target (cpu, x86_64, "
                "aarch64)")
    return ""


def _debug_print_site(text: str) -> str:
    """'file:line' of the first aotc.debug.print in MLIR text printed with locations."""
    line = next((ln for ln in text.splitlines() if "@aotc.debug_print" in ln), "")
    found = re.search(r'loc\((#loc\d*|"[^"]*":\d+)', line)
    if found and found.group(1).startswith("#"):
        found = re.search(rf'^{found.group(1)} = loc\(("[^"]*":\d+)', text, re.MULTILINE)
    return found.group(1).replace('"', "") if found else "<unknown>"
