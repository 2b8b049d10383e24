"""Elementwise ops: unary math, binary arithmetic (same shapes), compare, select, clamp, convert.

Families (JAX's `unop`/`naryop`): one factory per shape of op; only odd rules are written by hand.
StableHLO elementwise ops need operands of one shape; `aotc.numpy` broadcasts before calling.
"""

import math

import numpy as np

from aotc.frontend.core.emit import emit1, enum, same_shape_type, with_element
from aotc.frontend.core.errors import TracingError
from aotc.frontend.core.ir import ir, shape_of
from aotc.frontend.core.registry import defop, deftrait, defzero, register
from aotc.frontend.ops import shape as shape_ops
from aotc.frontend.ops import tensors as values

# ---- unary -------------------------------------------------------------------------------------


_UNARY_OPS: list[str] = []
_BINARY_OPS: list[str] = []


def _unary_family(op_name: str, reference, *, result_element=None):
    _UNARY_OPS.append(op_name)
    def type_rule(operand_types, attrs):
        if result_element is None:
            return [operand_types[0]]
        return [with_element(operand_types[0], result_element())]

    defop(op_name, type_rule, lambda ctx, x: reference(x))

    def build(x: ir.Value) -> ir.Value:
        return emit1(op_name, [x])

    build.__name__ = op_name.split(".")[-1]
    build.__doc__ = f"`{op_name}`"
    return build


def _logistic(x):
    return 1.0 / (1.0 + np.exp(-x))


def _round_afz(x):
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def _not(x):
    return np.logical_not(x) if x.dtype == np.bool_ else np.invert(x)


def _i1():
    return ir.IntegerType.get_signless(1)


abs = _unary_family("stablehlo.abs", np.abs)
cbrt = _unary_family("stablehlo.cbrt", np.cbrt)
ceil = _unary_family("stablehlo.ceil", np.ceil)
cosine = _unary_family("stablehlo.cosine", np.cos)
exponential = _unary_family("stablehlo.exponential", np.exp)
exponential_minus_one = _unary_family("stablehlo.exponential_minus_one", np.expm1)
floor = _unary_family("stablehlo.floor", np.floor)
is_finite = _unary_family("stablehlo.is_finite", np.isfinite, result_element=_i1)
log = _unary_family("stablehlo.log", np.log)
log_plus_one = _unary_family("stablehlo.log_plus_one", np.log1p)
logistic = _unary_family("stablehlo.logistic", _logistic)
negate = _unary_family("stablehlo.negate", np.negative)
not_ = _unary_family("stablehlo.not", _not)
round_nearest_afz = _unary_family("stablehlo.round_nearest_afz", _round_afz)
round_nearest_even = _unary_family("stablehlo.round_nearest_even", np.round)
rsqrt = _unary_family("stablehlo.rsqrt", lambda x: 1.0 / np.sqrt(x))
sign = _unary_family("stablehlo.sign", np.sign)
sine = _unary_family("stablehlo.sine", np.sin)
sqrt = _unary_family("stablehlo.sqrt", np.sqrt)
tan = _unary_family("stablehlo.tan", np.tan)
tanh = _unary_family("stablehlo.tanh", np.tanh)
# CHLO: decomposed by IREE into StableHLO with care for precision.
asin = _unary_family("chlo.asin", np.arcsin)
acos = _unary_family("chlo.acos", np.arccos)
atan = _unary_family("chlo.atan", np.arctan)
sinh = _unary_family("chlo.sinh", np.sinh)
cosh = _unary_family("chlo.cosh", np.cosh)
asinh = _unary_family("chlo.asinh", np.arcsinh)
acosh = _unary_family("chlo.acosh", np.arccosh)
atanh = _unary_family("chlo.atanh", np.arctanh)
erf = _unary_family("chlo.erf", lambda x: _erf(x))
erfc = _unary_family("chlo.erfc", lambda x: _erfc(x))  # JAX exports these two (gelu, var)
square = _unary_family("chlo.square", np.square)


def _erf(x):
    return np.vectorize(math.erf, otypes=[np.float64])(x).astype(x.dtype)


def _erfc(x):
    return np.vectorize(math.erfc, otypes=[np.float64])(x).astype(x.dtype)


# ---- binary (operands of one shape) ------------------------------------------------------------


def _binary_family(op_name: str, reference):
    _BINARY_OPS.append(op_name)
    defop(op_name, same_shape_type, lambda ctx, x, y: reference(x, y))

    def build(x: ir.Value, y: ir.Value) -> ir.Value:
        return emit1(op_name, [x, y])

    build.__name__ = op_name.split(".")[-1]
    build.__doc__ = f"`{op_name}`"
    return build


def _divide(x, y):
    if x.dtype.kind in "iu":  # integer division truncates toward zero
        q = np.abs(x) // np.where(y == 0, 1, np.abs(y))
        return np.where((x < 0) != (y < 0), -q, q).astype(x.dtype)
    return x / y


def _remainder(x, y):
    if x.dtype.kind in "iu":
        return np.fmod(x, np.where(y == 0, 1, y))
    return np.fmod(x, y)


def _power(x, y):
    if x.dtype.kind in "iu":
        return np.power(x, np.maximum(y, 0))
    return np.power(x, y)


def _shift_right_logical(x, y):
    unsigned = x.view(np.dtype(f"u{x.dtype.itemsize}"))
    return (unsigned >> y.astype(unsigned.dtype)).view(x.dtype)


def _i1_wraps(ufunc):
    """add/subtract on i1 wrap modulo 2 (xor) in StableHLO; numpy's bool add is `or`."""
    return lambda x, y: np.logical_xor(x, y) if x.dtype == np.bool_ else ufunc(x, y)


add = _binary_family("stablehlo.add", _i1_wraps(np.add))
subtract = _binary_family("stablehlo.subtract", _i1_wraps(np.subtract))
multiply = _binary_family("stablehlo.multiply", np.multiply)
divide = _binary_family("stablehlo.divide", _divide)
remainder = _binary_family("stablehlo.remainder", _remainder)
power = _binary_family("stablehlo.power", _power)
maximum = _binary_family("stablehlo.maximum", np.maximum)
minimum = _binary_family("stablehlo.minimum", np.minimum)
atan2 = _binary_family("stablehlo.atan2", np.arctan2)
and_ = _binary_family("stablehlo.and", np.bitwise_and)
or_ = _binary_family("stablehlo.or", np.bitwise_or)
xor = _binary_family("stablehlo.xor", np.bitwise_xor)
shift_left = _binary_family("stablehlo.shift_left", np.left_shift)
shift_right_arithmetic = _binary_family("stablehlo.shift_right_arithmetic", np.right_shift)
shift_right_logical = _binary_family("stablehlo.shift_right_logical", _shift_right_logical)

# ---- compare, select, clamp, convert -----------------------------------------------------------

_COMPARE = {"EQ": np.equal, "NE": np.not_equal, "LT": np.less, "LE": np.less_equal,
            "GT": np.greater, "GE": np.greater_equal}


def _compare_type(operand_types, attrs):
    return [with_element(operand_types[0], _i1())]


defop("stablehlo.compare", _compare_type,
      lambda ctx, x, y: _COMPARE[ctx.attrs.enum("comparison_direction")](x, y))


def compare(direction: str, x: ir.Value, y: ir.Value) -> ir.Value:
    """`stablehlo.compare` with direction EQ, NE, LT, LE, GT or GE."""
    element = shape_and_element(x)[1]
    kind = "FLOAT" if isinstance(element, (ir.F32Type, ir.F16Type, ir.BF16Type, ir.F64Type)) else (
        "UNSIGNED" if str(element).startswith("ui") or str(element) == "i1" else "SIGNED")
    return emit1("stablehlo.compare", [x, y], {
        "comparison_direction": enum("comparison_direction", direction),
        "compare_type": enum("comparison_type", kind),
    })


defop("stablehlo.select", lambda types, attrs: [types[1]],
      lambda ctx, pred, on_true, on_false: np.where(pred, on_true, on_false))


def select(pred: ir.Value, on_true: ir.Value, on_false: ir.Value) -> ir.Value:
    return emit1("stablehlo.select", [pred, on_true, on_false])


defop("stablehlo.clamp", lambda types, attrs: [types[1]],
      lambda ctx, lo, x, hi: np.minimum(np.maximum(x, lo), hi))


def clamp(lo: ir.Value, x: ir.Value, hi: ir.Value) -> ir.Value:
    """`stablehlo.clamp`: lo and hi are scalars or of x's shape."""
    return emit1("stablehlo.clamp", [lo, x, hi])


def _convert_impl(ctx, x):
    target = ctx.result_dtype(0)
    if target == np.bool_:
        return x != 0
    if target.kind in "iu" and x.dtype.kind == "f":
        info = np.iinfo(target)
        x = np.clip(np.nan_to_num(np.trunc(x)), info.min, info.max)
    return x.astype(target)


def _explicit_type(types, attrs):
    raise TypeError("this op's result type must be given by its builder")


defop("stablehlo.convert", _explicit_type, _convert_impl)


def convert(x: ir.Value, element: ir.Type) -> ir.Value:
    if element == shape_and_element(x)[1]:
        return x
    return emit1("stablehlo.convert", [x], result_types=[with_element(x.type, element)])


def shape_and_element(x: ir.Value):
    return shape_of(x), ir.RankedTensorType(x.type).element_type


# ---- decompositions into the core ops above: their JVP, transpose and batching rules follow ----


def logaddexp(x: ir.Value, y: ir.Value) -> ir.Value:
    """log(exp(x) + exp(y)) of float operands of one shape, without overflow (numpy.logaddexp).

    max(x, y) + log1p(exp(-|x - y|)); where x - y is NaN (a NaN operand, or infinities of one
    sign) the result is max(x, y), which is NaN or that infinity. The difference is zeroed there
    first, so the unused branch has finite derivatives and reverse mode gets no 0 * NaN. The
    derivatives are exp(x - out) and exp(y - out), 1/2 each at ties: -|d| is written min(d, -d),
    whose balanced JVP is 0 at d = 0 (abs's is not), beside maximum's 1/2. Known limit: at an
    exact tie the second derivative is 0 (piecewise-linear max/min), not the smooth 1/4.
    """
    larger = maximum(x, y)
    delta = subtract(x, y)
    undefined = compare("NE", delta, delta)
    delta = select(undefined, _c(0, delta), delta)
    correction = log_plus_one(exponential(minimum(delta, negate(delta))))
    return select(undefined, larger, add(larger, correction))


# ---- autodiff rules: JVP for every op, TRANSPOSE for the linear ones ---------------------------


defzero("stablehlo.ceil", "stablehlo.floor", "stablehlo.is_finite", "stablehlo.not",
        "stablehlo.round_nearest_afz", "stablehlo.round_nearest_even", "stablehlo.sign",
        "stablehlo.and", "stablehlo.or", "stablehlo.xor", "stablehlo.shift_left",
        "stablehlo.shift_right_arithmetic", "stablehlo.shift_right_logical",
        "stablehlo.compare")


def _c(value, like):
    return values.full_like(like, value)


def _unary_jvp(op_name: str, derivative):
    """JVP of y = f(x): t * f'(x), where derivative(x, y) builds f'(x)."""

    def jvp(ctx, primals, tangents):
        (x,), (t,) = primals, tangents
        return [multiply(t, derivative(x, ctx.results[0]))]

    register("jvp", op_name, jvp)


# JAX: d|x|/dx is 1 at 0 (select(x >= 0, 1, -1)), not sign(x)
_unary_jvp("stablehlo.abs", lambda x, y: select(compare("GE", x, _c(0, x)), _c(1, x), _c(-1, x)))
_unary_jvp("stablehlo.cbrt", lambda x, y: divide(_c(1 / 3, y), multiply(y, y)))
_unary_jvp("stablehlo.cosine", lambda x, y: negate(sine(x)))
_unary_jvp("stablehlo.exponential", lambda x, y: y)
_unary_jvp("stablehlo.exponential_minus_one", lambda x, y: add(y, _c(1, y)))
_unary_jvp("stablehlo.log", lambda x, y: divide(_c(1, x), x))
_unary_jvp("stablehlo.log_plus_one", lambda x, y: divide(_c(1, x), add(x, _c(1, x))))
_unary_jvp("stablehlo.logistic", lambda x, y: multiply(y, subtract(_c(1, y), y)))
_unary_jvp("stablehlo.rsqrt", lambda x, y: multiply(_c(-0.5, y), multiply(y, multiply(y, y))))
_unary_jvp("stablehlo.sine", lambda x, y: cosine(x))
_unary_jvp("stablehlo.sqrt", lambda x, y: divide(_c(0.5, y), y))
_unary_jvp("stablehlo.tan", lambda x, y: add(_c(1, y), multiply(y, y)))
_unary_jvp("stablehlo.tanh", lambda x, y: subtract(_c(1, y), multiply(y, y)))
_unary_jvp("chlo.asin", lambda x, y: rsqrt(subtract(_c(1, x), multiply(x, x))))
_unary_jvp("chlo.acos", lambda x, y: negate(rsqrt(subtract(_c(1, x), multiply(x, x)))))
_unary_jvp("chlo.atan", lambda x, y: divide(_c(1, x), add(_c(1, x), multiply(x, x))))
_unary_jvp("chlo.sinh", lambda x, y: cosh(x))
_unary_jvp("chlo.cosh", lambda x, y: sinh(x))
_unary_jvp("chlo.asinh", lambda x, y: rsqrt(add(multiply(x, x), _c(1, x))))
_unary_jvp("chlo.acosh", lambda x, y: rsqrt(subtract(multiply(x, x), _c(1, x))))
_unary_jvp("chlo.atanh", lambda x, y: divide(_c(1, x), subtract(_c(1, x), multiply(x, x))))
_unary_jvp("chlo.erf", lambda x, y: multiply(_c(2 / math.sqrt(math.pi), x),
                                             exponential(negate(multiply(x, x)))))
_unary_jvp("chlo.erfc", lambda x, y: multiply(_c(-2 / math.sqrt(math.pi), x),
                                              exponential(negate(multiply(x, x)))))
_unary_jvp("chlo.square", lambda x, y: multiply(_c(2, x), x))


def _linear_jvp(builder):
    """JVP of an op linear in all operands: the op itself on the tangents (zeros filled in)."""

    def jvp(ctx, primals, tangents):
        if all(t is None for t in tangents):
            return [None]
        return [builder(*[values.instantiate(t, p) for t, p in zip(tangents, primals)])]

    return jvp


register("jvp", "stablehlo.negate", _linear_jvp(negate))
register("jvp", "stablehlo.add", _linear_jvp(add))
register("jvp", "stablehlo.subtract", _linear_jvp(subtract))


def _multiply_jvp(ctx, primals, tangents):
    (x, y), (tx, ty) = primals, tangents
    return [values.add_any(tx and multiply(tx, y), ty and multiply(x, ty))]


def _divide_jvp(ctx, primals, tangents):
    (x, y), (tx, ty) = primals, tangents
    out = ctx.results[0]
    t = tx if ty is None else subtract(values.instantiate(tx, x), multiply(ty, out))
    return [divide(t, y)]


def _remainder_jvp(ctx, primals, tangents):
    (x, y), (tx, ty) = primals, tangents
    if ty is None:
        return [tx]
    quotient = divide(subtract(x, ctx.results[0]), y)  # x/y rounded toward zero
    return [values.add_any(tx, negate(multiply(ty, quotient)))]


def _power_jvp(ctx, primals, tangents):
    (x, y), (tx, ty) = primals, tangents
    out = ctx.results[0]
    total = None
    if tx is not None:  # y * x^(y-1), written to stay finite at x = 0
        total = multiply(tx, multiply(y, power(x, subtract(y, _c(1, y)))))
    if ty is not None:  # log(x) * x^y, with 0 where x == 0
        is_zero = compare("EQ", x, _c(0, x))
        safe_log = log(select(is_zero, _c(1, x), x))
        total = values.add_any(total, multiply(ty, multiply(out, safe_log)))
    return [total]


def _balanced_eq(a, out, b):
    """1 where a == out (0.5 when b ties too), else 0: JAX's choice for max/min at ties."""
    one, half, zero = _c(1, out), _c(0.5, out), _c(0, out)
    return select(compare("EQ", a, out), select(compare("EQ", b, out), half, one), zero)


def _minmax_jvp(ctx, primals, tangents):
    (x, y), (tx, ty) = primals, tangents
    out = ctx.results[0]
    return [values.add_any(tx and multiply(tx, _balanced_eq(x, out, y)),
                           ty and multiply(ty, _balanced_eq(y, out, x)))]


def _atan2_jvp(ctx, primals, tangents):
    (x, y), (tx, ty) = primals, tangents
    denom = add(multiply(x, x), multiply(y, y))
    return [values.add_any(tx and multiply(tx, divide(y, denom)),
                           ty and negate(multiply(ty, divide(x, denom))))]


def _select_jvp(ctx, primals, tangents):
    (pred, a, b), (_, ta, tb) = primals, tangents
    if ta is None and tb is None:
        return [None]
    return [select(pred, values.instantiate(ta, a), values.instantiate(tb, b))]


def _clamp_jvp(ctx, primals, tangents):
    # JAX's rule: each operand's tangent flows where it strictly decides the result; at the
    # bounds (x == lo or x == hi) nothing flows.
    (lo, x, hi), (tlo, tx, thi) = primals, tangents
    out = ctx.results[0]
    lo, x, hi = (_shaped_like(v, out) for v in (lo, x, hi))
    masks = (and_(compare("GT", lo, x), compare("LT", lo, hi)),
             and_(compare("GT", x, lo), compare("LT", x, hi)),
             compare("LT", hi, x))
    total = None
    for mask, t in zip(masks, (tlo, tx, thi)):
        if t is not None:
            total = values.add_any(total, select(mask, _shaped_like(t, out), _c(0, out)))
    return [total]


def _shaped_like(v, out):
    return v if shape_of(v) == shape_of(out) else values.broadcast_scalar(v, out)


def _convert_jvp(ctx, primals, tangents):
    (t,) = tangents
    if not values.is_float(ctx.results[0]):
        return [None]
    return [convert(t, values.element(ctx.results[0]))]


register("jvp", "stablehlo.multiply", _multiply_jvp)
register("jvp", "stablehlo.divide", _divide_jvp)
register("jvp", "stablehlo.remainder", _remainder_jvp)
register("jvp", "stablehlo.power", _power_jvp)
register("jvp", "stablehlo.maximum", _minmax_jvp)
register("jvp", "stablehlo.minimum", _minmax_jvp)
register("jvp", "stablehlo.atan2", _atan2_jvp)
register("jvp", "stablehlo.select", _select_jvp)
register("jvp", "stablehlo.clamp", _clamp_jvp)
register("jvp", "stablehlo.convert", _convert_jvp)


# Ops whose result has the shape of each (non-predicate) operand, at run time too.
SAME_SHAPE = frozenset([*_UNARY_OPS, *_BINARY_OPS, "stablehlo.select", "stablehlo.convert"])
deftrait("same_shape", *SAME_SHAPE)


# Transposes: ctx.linear[i] says which operands are linear; cts holds one cotangent per result.

def _add_transpose(ctx, cts, operands):
    return [cts[0], cts[0]]


def _subtract_transpose(ctx, cts, operands):
    return [cts[0], negate(cts[0])]


def _negate_transpose(ctx, cts, operands):
    return [negate(cts[0])]


def _multiply_transpose(ctx, cts, operands):
    x, y = operands
    if ctx.linear[0] and ctx.linear[1]:
        raise TracingError("multiply of two tangents is not linear")
    return [multiply(cts[0], y), None] if ctx.linear[0] else [None, multiply(x, cts[0])]


def _divide_transpose(ctx, cts, operands):
    if ctx.linear[1]:
        raise TracingError("division by a tangent is not linear")
    return [divide(cts[0], operands[1]), None]


def _select_transpose(ctx, cts, operands):
    pred = operands[0]
    zeros = values.zeros_like(cts[0])
    return [None, (ctx.linear[1] and select(pred, cts[0], zeros)) or None,
            (ctx.linear[2] and select(pred, zeros, cts[0])) or None]


def _convert_transpose(ctx, cts, operands):
    return [convert(cts[0], values.element(ctx.operand_types[0]))]


register("transpose", "stablehlo.add", _add_transpose)
register("transpose", "stablehlo.subtract", _subtract_transpose)
register("transpose", "stablehlo.negate", _negate_transpose)
register("transpose", "stablehlo.multiply", _multiply_transpose)
register("transpose", "stablehlo.divide", _divide_transpose)
register("transpose", "stablehlo.select", _select_transpose)
register("transpose", "stablehlo.convert", _convert_transpose)


# ---- batching: every elementwise op maps lane by lane ------------------------------------------


def _elementwise_batch(ctx, operands, batched):
    size = ctx.size
    target = (size, *shape_of(ctx.op.results[0]))
    new = []
    for v, b in zip(operands, batched):
        shape = shape_of(v)
        if b and shape != target:  # a batched scalar bound of clamp
            v = shape_ops.broadcast_in_dim(v, target, [0])
        elif not b and (shape or not target[1:]):
            v = values.broadcast_batch(v, size)
        new.append(v)
    return [values.clone_with(ctx.op, new, ctx.batched_types()).result], [True]


for _name in [*_UNARY_OPS, *_BINARY_OPS, "stablehlo.compare", "stablehlo.select",
              "stablehlo.clamp", "stablehlo.convert"]:
    register("batch", _name, _elementwise_batch)



# ---- dims (aotc.passes.dims): elementwise operands share their dims ----


def _elementwise_dims(ctx):
    contents = [ctx.content(i) for i in range(ctx.num_operands)]
    content = None  # sizes held in small integer tensors: carried through shape arithmetic
    if ctx.op.name == "stablehlo.convert":
        content = contents[0]
    elif ctx.op.name in ("stablehlo.multiply", "stablehlo.divide") and None not in contents:
        combine = ctx.times if ctx.op.name == "stablehlo.multiply" else ctx.divide
        content = tuple(combine(a, b) for a, b in zip(*contents))
    return [ctx.info(ctx.same_shape(), content)]


for _name in [*_UNARY_OPS, *_BINARY_OPS, "stablehlo.compare", "stablehlo.select",
              "stablehlo.clamp", "stablehlo.convert"]:
    register("dims", _name, _elementwise_dims)

__all__ = [name for name, v in list(globals().items())
           if callable(v) and not name.startswith("_") and getattr(v, "__module__", "") == __name__]
