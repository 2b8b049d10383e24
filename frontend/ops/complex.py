"""Complex numbers: `stablehlo.complex`, `real`, `imag`, and the complex forms of elementwise
rules that differ from the real ones.

A complex64 value is built from two float32 values of one shape with `complex(re, im)` and read
back with `real(z)` and `imag(z)`; `conj(z)` is `complex(real(z), -imag(z))`, as JAX lowers it
(StableHLO has no conjugate op). The other elementwise ops (add ... tanh, power, sign, compare
EQ/NE, select, convert) take complex operands as they are, with the rules of
`frontend/ops/elementwise.py`: JAX's derivative rules are the same formulas in complex
arithmetic, and transposes are plain linear transposes (transposing a multiplication by c
multiplies by c, not by conj(c)), so `grad` of a real function of complex inputs gives JAX's
conjugate convention. Only `abs` (complex -> float) needs its own JVP, here.
"""

import numpy as np

from aotc.frontend.core import dtypes
from aotc.frontend.core.emit import emit1, with_element
from aotc.frontend.core.errors import TracingError
from aotc.frontend.core.ir import ir
from aotc.frontend.core.registry import defop, deftrait, register
from aotc.frontend.core.source import at_location
from aotc.frontend.ops import elementwise as ew
from aotc.frontend.ops import tensors as values
from aotc.frontend.ops.rules import defelementwise_shard, deflinear, defvectorized


def is_complex_type(v: ir.Value | ir.Type) -> bool:
    """Whether a value (or tensor type) has complex elements."""
    return isinstance(values.element(v), ir.ComplexType)


def part_element(element: ir.Type) -> ir.Type:
    """complex<f32> -> f32; a real element type is its own part."""
    return ir.ComplexType(element).element_type if isinstance(element, ir.ComplexType) else element


def complex_element(element: ir.Type) -> ir.Type:
    """f32 -> complex<f32> (f64 -> complex<f64>); a complex element type stays."""
    if isinstance(element, ir.ComplexType):
        return element
    if str(element) not in ("f32", "f64"):
        raise TracingError(f"complex numbers have float32 or float64 parts, not {element}")
    return ir.ComplexType.get(element)


def _parts_type(types, attrs):
    return [with_element(types[0], part_element(values.element(types[0])))]


def _complex_type(types, attrs):
    return [with_element(types[0], complex_element(values.element(types[0])))]


def _complex_impl(ctx, re, im):
    out = np.empty(np.broadcast_shapes(re.shape, im.shape), dtypes.complex_dtype(re.dtype))
    out.real, out.imag = re, im
    return out


defop("stablehlo.complex", _complex_type, _complex_impl)
defop("stablehlo.real", _parts_type, lambda ctx, z: np.real(z).copy())
defop("stablehlo.imag", _parts_type, lambda ctx, z: np.imag(z).copy())


def complex(re: ir.Value, im: ir.Value) -> ir.Value:
    """`stablehlo.complex`: re + i im of two float values of one shape."""
    return emit1("stablehlo.complex", [re, im])


def real(z: ir.Value) -> ir.Value:
    """`stablehlo.real`: the real part (a float value of z's shape)."""
    return emit1("stablehlo.real", [z])


def imag(z: ir.Value) -> ir.Value:
    """`stablehlo.imag`: the imaginary part (a float value of z's shape)."""
    return emit1("stablehlo.imag", [z])


def conj(z: ir.Value) -> ir.Value:
    """The complex conjugate, as JAX lowers it: complex(real(z), -imag(z))."""
    return complex(real(z), ew.negate(imag(z)))


def to_complex(x: ir.Value) -> ir.Value:
    """A float value converted to complex (imaginary part 0); a complex value as it is."""
    if is_complex_type(x):
        return x
    return ew.convert(x, complex_element(values.element(x)))


# ---- autodiff: JAX's transposes (deflinear2 of complex_p, real_p, imag_p) ----------------------


def _complex_transpose(ctx, cts, operands):
    ct = values.instantiate(cts[0], ctx.results[0])
    return [real(ct), imag(ew.negate(ct))]


def _real_transpose(ctx, cts, operands):
    ct = values.instantiate(cts[0], ctx.results[0])
    return [complex(ct, values.zeros_like(ct))]


def _imag_transpose(ctx, cts, operands):
    ct = values.instantiate(cts[0], ctx.results[0])
    return [complex(values.zeros_like(ct), ew.negate(ct))]


deflinear("stablehlo.complex", _complex_transpose)
deflinear("stablehlo.real", _real_transpose)
deflinear("stablehlo.imag", _imag_transpose)
defvectorized("stablehlo.complex", "stablehlo.real", "stablehlo.imag")
deftrait("same_shape", "stablehlo.complex", "stablehlo.real", "stablehlo.imag")
defelementwise_shard("stablehlo.complex", "stablehlo.real", "stablehlo.imag")
for _name in ("stablehlo.complex", "stablehlo.real", "stablehlo.imag"):
    register("dims", _name, lambda ctx: [ctx.info(ctx.same_shape(), None)])


def abs_jvp(x: ir.Value, x_dot: ir.Value, out: ir.Value) -> ir.Value:
    """Tangent of |x| for complex x (JAX's rule): real(x_dot * conj(x) / |x|), with |x| = 0
    replaced by 1 so the tangent at 0 is 0."""
    at_zero = ew.compare("EQ", out, values.zeros_like(out))
    safe = to_complex(ew.select(at_zero, values.full_like(out, 1), out))
    return real(ew.multiply(x_dot, ew.divide(conj(x), safe)))


# ---- targets: what IREE 3.13 cannot compile on complex values ----------------------------------
#
# llvm-cpu compiles every op above. vulkan (SPIR-V) compiles them too, except that IREE's own
# lowering of a select on complex values (`arith.select` of complex<f32>) does not legalize; that
# select also sits inside IREE's expansions of complex `sign` and `power`. These three are
# rewritten here into selects of real and imaginary parts. vmvx cannot load or store complex
# elements at all ('util.buffer.load' of complex<f32>): there every complex value becomes a pair
# of float values (aotc.frontend.ops.complex_pairs.split_complex).


def _split_select(pred, on_true, on_false):
    return complex(ew.select(pred, real(on_true), real(on_false)),
                   ew.select(pred, imag(on_true), imag(on_false)))


def _sign_by_parts(z):
    # z / |z|, 0 at 0 (NaN stays NaN), with selects of real parts only
    magnitude = ew.abs(z)
    at_zero = ew.compare("EQ", magnitude, values.zeros_like(magnitude))
    safe = ew.select(at_zero, values.full_like(magnitude, 1), magnitude)
    zero = values.zeros_like(magnitude)
    return complex(ew.select(at_zero, zero, ew.divide(real(z), safe)),
                   ew.select(at_zero, zero, ew.divide(imag(z), safe)))


def _power_by_parts(z, w):
    # exp(w log z); at z = 0 as JAX on CPU: 1 for w = 0, 0 for a real w > 0, else NaN
    zero, w_re = values.zeros_like(z), real(w)
    z_zero = ew.compare("EQ", z, zero)
    safe = _split_select(z_zero, values.full_like(z, 1), z)
    general = ew.exponential(ew.multiply(w, ew.log(safe)))
    positive_real = ew.and_(ew.compare("GT", w_re, values.zeros_like(w_re)),
                            ew.compare("EQ", imag(w), values.zeros_like(w_re)))
    at_zero = _split_select(ew.compare("EQ", w, zero), values.full_like(z, 1), _split_select(
        positive_real, zero, values.full_like(z, complex_nan())))
    return _split_select(z_zero, at_zero, general)


def complex_nan():
    return np.complex64(np.nan + 1j * np.nan)


_BY_PARTS = {"stablehlo.select": _split_select, "stablehlo.sign": _sign_by_parts,
             "stablehlo.power": _power_by_parts}


def _complex_ops(module: ir.Module) -> list:
    found = []

    def collect(op):
        op = op.operation
        if any(isinstance(v.type, ir.RankedTensorType) and is_complex_type(v)
               for v in [*op.operands, *op.results]):
            found.append(op)
        return ir.WalkResult.ADVANCE

    module.operation.walk(collect)
    return found


def legalize_for_backend(module: ir.Module, backend: str, target: str) -> ir.Module:
    """Make complex values compile on vulkan-spirv, in place: complex select/sign/power become
    selects of real and imaginary parts. Other backends are left as they are (vmvx has its own
    rewrite, aotc.frontend.ops.complex_pairs.split_complex)."""
    if backend not in ("vulkan-spirv", "vulkan"):
        return module
    for op in _complex_ops(module):
        rewrite = _BY_PARTS.get(op.name)
        if rewrite is None or not is_complex_type(op.results[0]):
            continue
        with ir.InsertionPoint(op), op.location, at_location(op.location):
            new = rewrite(*op.operands)
        op.results[0].replace_all_uses_with(new)
        op.erase()
    return module
