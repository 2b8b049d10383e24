"""Rewrites and a compile retry that work around IREE 3.13 bugs (see docs/iree_workarounds.md).

tools.compile.compile_stablehlo hands every program to IREE through `rewrite` and
`compile_str` here:

- `stablehlo.power` with a float exponent: IREE returns NaN for every negative base, even when
  the exponent is an integer (`(-2.0) ** 2.0` gives NaN, not 4). JAX's series special functions
  (expn, exp1, expi) take `(-x) ** (n - 1)`, so they were NaN for x < 1. The power is computed
  on |x| and the sign and the NaN of a non-integer exponent are put back with selects (C `pow`
  semantics, as XLA:CPU computes it).
- float32 -> bfloat16 -> float32 round trips: IREE folds `convert(convert(x : f32 -> bf16) ->
  f32)` to x when a multiply consumes it (the bf16 rounding of a bf16 matmul's gradient
  vanished). The round trip becomes an explicit round-to-nearest-even through integer bit ops,
  which nothing folds.
- "circular dependency: input operation uses partition output" (IREE's stream partitioning of
  blocks holding several `while` loops, JAX's series loops): compiled again with
  dispatch-region fusion of multi-use producers off, which IREE then partitions correctly.
  Only programs that fail that way pay for it.

Example:
    vmfb = iree_workarounds.compile_str(iree_workarounds.rewrite(text), flags)
"""

from iree.compiler import CompilerToolError
from iree.compiler import compile_str as iree_compile_str

from aotc.frontend.core.ir import ir, new_context

__all__ = ["CIRCULAR_DEPENDENCY", "NO_MULTI_USE_FUSION", "compile_str", "rewrite"]

CIRCULAR_DEPENDENCY = "circular dependency: input operation uses partition output"
NO_MULTI_USE_FUSION = "--iree-dispatch-creation-fuse-multi-use=false"

_POWER = "stablehlo.power"
_CONVERT = "stablehlo.convert"
_BF16_ROUNDING_BIAS = 0x7FFF
_BF16_MASK = -0x10000  # 0xFFFF0000 as a signed 32-bit integer


def compile_str(text: str, flags: list, compile=iree_compile_str) -> bytes:
    """compile(text, StableHLO, flags) (iree.compiler.compile_str or a stand-in with its
    signature); a program that fails with IREE's stream partitioning cycle is compiled again
    without multi-use fusion. Any other failure, or a retry that fails too, raises the first
    CompilerToolError."""
    try:
        return compile(text, input_type="stablehlo", extra_args=flags)
    except CompilerToolError as exc:
        if CIRCULAR_DEPENDENCY not in str(exc) or NO_MULTI_USE_FUSION in flags:
            raise
        first = exc
    try:
        return compile(text, input_type="stablehlo", extra_args=[*flags, NO_MULTI_USE_FUSION])
    except CompilerToolError:
        raise first from None


def rewrite(text: str) -> str:
    """text with the float powers and the bf16 round trips rewritten (see the module
    docstring); text without either comes back unparsed."""
    if _POWER not in text and "bf16" not in text:
        return text
    with new_context():
        module = ir.Module.parse(text)
        changed = _rewrite_powers(module) + _round_bf16_round_trips(module)
        return module.operation.get_asm(enable_debug_info=True) if changed else text


def _collect(module: ir.Module, keep) -> list:
    """The ops of module (nested ones included) for which keep(op) holds."""
    found = []

    def visit(op):
        if keep(op):
            found.append(op)
        return ir.WalkResult.ADVANCE

    module.operation.walk(visit)
    return found


def _element(value: ir.Value) -> ir.Type:
    return ir.RankedTensorType(value.type).element_type


def _like(value: ir.Value, element: ir.Type) -> ir.RankedTensorType:
    """value's tensor type with another element type."""
    t = ir.RankedTensorType(value.type)
    return ir.RankedTensorType.get(t.shape, element)


def _emit(name: str, operands: list, result: ir.Type, **attributes) -> ir.Value:
    return ir.Operation.create(name, results=[result], operands=operands,
                               attributes=attributes).result


def _splat(like: ir.Value, number) -> ir.Value:
    """A constant of like's type with every entry `number`."""
    t = ir.RankedTensorType(like.type)
    element = t.element_type
    attr = (ir.FloatAttr.get(element, number) if isinstance(element, ir.FloatType)
            else ir.IntegerAttr.get(element, number))
    return _emit("stablehlo.constant", [], t,
                 value=ir.DenseElementsAttr.get_splat(t, attr))


def _compare(a: ir.Value, b: ir.Value, direction: str) -> ir.Value:
    return _emit("stablehlo.compare", [a, b], _like(a, ir.IntegerType.get_signless(1)),
                 comparison_direction=ir.Attribute.parse(
                     f"#stablehlo<comparison_direction {direction}>"))


def _same(name: str, *operands: ir.Value) -> ir.Value:
    """An elementwise op whose result has its last operand's type."""
    return _emit(name, list(operands), operands[-1].type)


# ---- float powers ----

def _rewrite_powers(module: ir.Module) -> int:
    """Every float stablehlo.power as a power of |x| with the sign and NaN put back."""
    powers = _collect(module, lambda op: op.name == _POWER
                      and isinstance(_element(op.results[0]), ir.FloatType))
    for op in powers:
        with ir.InsertionPoint(op), op.location:
            result = _signed_power(op.operands[0], op.operands[1])
        op.results[0].replace_all_uses_with(result)
        op.erase()
    return len(powers)


def _signed_power(x: ir.Value, y: ir.Value) -> ir.Value:
    """x ** y as C's pow computes it, from IREE's power of |x| (correct for a non-negative
    base): a negative base (sign bit set, -0.0 and -inf included) gives the negated power for
    an odd integer y, and NaN for a finite non-zero base with a finite non-integer y; x ** 0,
    1 ** y and (-1) ** inf are 1."""
    magnitude = _same("stablehlo.abs", x)
    # IREE also gives NaN for x ** 0 with x in {0, inf, NaN} and for 1 ** inf, 1 ** NaN
    one = _same("stablehlo.or", _same("stablehlo.or", _compare(y, _splat(y, 0.0), "EQ"),
                                      _compare(x, _splat(x, 1.0), "EQ")),
                _same("stablehlo.and", _compare(magnitude, _splat(x, 1.0), "EQ"),
                      _compare(_same("stablehlo.abs", y), _splat(y, float("inf")), "EQ")))
    power = _emit("stablehlo.select", [one, _splat(x, 1.0), _same(_POWER, magnitude, y)],
                  x.type)
    width = ir.FloatType(_element(x)).width
    bits = _emit("stablehlo.bitcast_convert", [x], _like(x, ir.IntegerType.get_signless(width)))
    negative = _compare(bits, _splat(bits, 0), "LT")
    integer = _compare(_same("stablehlo.floor", y), y, "EQ")
    odd = _same("stablehlo.and", integer, _compare(
        _same("stablehlo.abs", _same("stablehlo.remainder", y, _splat(y, 2.0))),
        _splat(y, 1.0), "EQ"))
    signed = _emit("stablehlo.select", [_same("stablehlo.and", negative, odd),
                                        _same("stablehlo.negate", power), power], power.type)
    finite_base = _same("stablehlo.and", _emit("stablehlo.is_finite", [x], negative.type),
                        _compare(x, _splat(x, 0.0), "NE"))
    fraction = _same("stablehlo.and", _emit("stablehlo.is_finite", [y], negative.type),
                     _same("stablehlo.not", integer))
    undefined = _same("stablehlo.and", _same("stablehlo.and", negative, finite_base), fraction)
    return _emit("stablehlo.select", [undefined, _splat(x, float("nan")), signed], power.type)


# ---- bf16 round trips ----

def _is_f32_to_bf16(op) -> bool:
    return (op.name == _CONVERT and isinstance(_element(op.operands[0]), ir.F32Type)
            and isinstance(_element(op.results[0]), ir.BF16Type))


def _round_bf16_round_trips(module: ir.Module) -> int:
    """Each convert(convert(x : f32 -> bf16) -> f32) replaced by x rounded to bf16 in f32 bit
    ops; the bf16 convert stays for its other users (if any). Returns how many were replaced."""
    count = 0
    for down in _collect(module, _is_f32_to_bf16):
        users = [use.owner.operation for use in down.results[0].uses]
        backs = [op for op in users if op.name == _CONVERT
                 and isinstance(_element(op.results[0]), ir.F32Type)]
        if not backs:
            continue
        with ir.InsertionPoint(down), down.location:
            rounded = _round_to_bf16(down.operands[0])
        for back in backs:
            back.results[0].replace_all_uses_with(rounded)
            back.erase()
            count += 1
        if not list(down.results[0].uses):
            down.erase()
    return count


def _round_to_bf16(x: ir.Value) -> ir.Value:
    """float32 x rounded to the nearest bfloat16 (ties to even), as float32: add 0x7FFF plus
    the lowest kept bit to the bits and clear the low 16 (overflow carries into inf); NaN
    stays x."""
    bits = _emit("stablehlo.bitcast_convert", [x], _like(x, ir.IntegerType.get_signless(32)))
    lowest_kept = _same("stablehlo.and", _same("stablehlo.shift_right_logical", bits,
                                               _splat(bits, 16)), _splat(bits, 1))
    biased = _same("stablehlo.add", _same("stablehlo.add", bits, _splat(bits, _BF16_ROUNDING_BIAS)),
                   lowest_kept)
    rounded = _emit("stablehlo.bitcast_convert", [_same("stablehlo.and", biased,
                                                        _splat(bits, _BF16_MASK))], x.type)
    is_nan = _compare(x, x, "NE")
    return _emit("stablehlo.select", [is_nan, x, rounded], x.type)

