"""`aotc.lax`: structured control flow, convolutions, windowed reductions and lower-level ops.

Semantics follow `jax.lax`. Control-flow bodies are Python functions traced once into the
regions of `stablehlo.if` / `case` / `while`; operands and carries are pytrees, and bodies may
use traced values of the enclosing function (regions see values defined above them).

    import aotc.lax as lax
    lax.fori_loop(0, 10, lambda i, x: x * 2.0 + i, x)
    lax.cond(x.sum() > 0, lambda v: v * 2, lambda v: -v, x)
    lax.scan(lambda c, x: (c + x, c * x), 0.0, xs)
"""

import builtins

import numpy as np

from aotc.frontend import numpy as anp
from aotc.frontend.core import dtypes, tree
from aotc.frontend.core.errors import TracingError
from aotc.frontend.core.ir import ir
from aotc.frontend.core.missing import missing_attribute
from aotc.frontend.core.source import caller_site
from aotc.frontend.lax.control import (
    cond,
    flatten_traced,
    fori_loop,
    map,
    scalar_operand,
    scan,
    switch,
    while_loop,
    with_weak,
)
from aotc.frontend.numpy import math as np_math
from aotc.frontend.numpy.core import astype, normalize_axes, normalize_axis, promote, shape_text
from aotc.frontend.ops import conv as conv_ops
from aotc.frontend.ops import conv_taps, linalg, reduction
from aotc.frontend.ops import elementwise as ew
from aotc.frontend.ops import shape as shape_ops
from aotc.frontend.trace.staging import stop_gradient as staged_stop_gradient
from aotc.frontend.trace.tracer import Tracer, to_tracer

__all__ = [
    "abs", "add", "avg_pool", "broadcast_in_dim", "ceil", "clamp", "concatenate", "cond", "conv",
    "conv_general_dilated", "convert_element_type", "cos", "div", "dot", "dot_general",
    "dynamic_slice", "dynamic_update_slice", "eq", "erf", "exp", "expand_dims", "floor",
    "fori_loop", "ge", "gt", "iota", "le", "log", "logistic", "lt", "map", "max", "max_pool", "min",
    "mul", "ne", "neg", "pad", "padtype_to_pads", "pow", "reduce", "reduce_window", "rem",
    "reshape", "rsqrt", "scan", "select", "sign", "sin", "slice", "sqrt", "square", "squeeze",
    "stop_gradient", "sub", "switch", "tanh", "transpose", "while_loop",
]

# ---- convolution -------------------------------------------------------------------------------


def padtype_to_pads(in_shape, window_shape, window_strides, padding) -> list[tuple[int, int]]:
    """(low, high) pads per dim for 'SAME', 'SAME_LOWER' or 'VALID', as jax.lax.padtype_to_pads.

    Example:
        >>> lax.padtype_to_pads((5,), (3,), (2,), "SAME")
        [(1, 1)]
    """
    mode = padding.upper()
    if mode == "VALID":
        return [(0, 0)] * len(in_shape)
    if mode not in ("SAME", "SAME_LOWER"):
        raise TracingError(f"{caller_site()}: unknown padding {padding!r}; use 'SAME', "
                           "'SAME_LOWER', "
                           "'VALID' or a sequence of (low, high) pairs")
    pads = []
    for n, k, s in zip(in_shape, window_shape, window_strides):
        total = builtins.max((-(-n // s) - 1) * s + k - n, 0)
        small, big = total // 2, total - total // 2
        pads.append((small, big) if mode == "SAME" else (big, small))
    return pads


def _conv_specs(dimension_numbers, ndim):
    """JAX-style (lhs_spec, rhs_spec, out_spec) from None, three layout strings or int specs."""
    if dimension_numbers is None:
        default = tuple(range(ndim))
        return default, default, default
    lhs, rhs, out = dimension_numbers
    if not isinstance(lhs, str):
        return tuple(lhs), tuple(rhs), tuple(out)
    for spec, pair in ((lhs, "NC"), (rhs, "OI"), (out, "NC")):
        if len(spec) != ndim or any(spec.count(c) != 1 for c in pair) or len(set(spec)) != ndim:
            raise TracingError(f"{caller_site()}: conv dimension_numbers {dimension_numbers}: each "
                               f"layout needs {ndim} distinct letters including {pair[0]} and "
                               f"{pair[1]} once")
    if not set(lhs) - set("NC") == set(rhs) - set("OI") == set(out) - set("NC"):
        raise TracingError(f"{caller_site()}: conv dimension_numbers {dimension_numbers}: the "
                           "spatial letters differ between layouts")

    def perm(spec, pair):
        spatial = sorted((i for i, c in enumerate(spec) if c not in pair),
                         key=lambda i: rhs.index(spec[i]))
        return (spec.index(pair[0]), spec.index(pair[1]), *spatial)

    return perm(lhs, "NC"), perm(rhs, "OI"), perm(out, "NC")


def conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation=None,
                         rhs_dilation=None, dimension_numbers=None, feature_group_count=1,
                         batch_group_count=1, precision=None, preferred_element_type=None):
    """General n-d convolution with strides, padding, dilations and groups (as jax.lax).

    dimension_numbers is None (NCHW/OIHW/NCHW), three layout strings such as
    ("NHWC", "HWIO", "NHWC"), or JAX's (lhs_spec, rhs_spec, out_spec) integer tuples.
    padding is "SAME", "SAME_LOWER", "VALID" or (low, high) pairs per spatial dim.

    Example:
        >>> nhwc = ("NHWC", "HWIO", "NHWC")
        >>> lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=nhwc)
    """
    del precision
    lhs, rhs = promote("conv_general_dilated", lhs, rhs, broadcast=False)
    if lhs.ndim != rhs.ndim or lhs.ndim < 2:
        raise TracingError(f"{caller_site()}: conv_general_dilated: lhs {shape_text(lhs.shape)} "
                           "and "
                           f"rhs {shape_text(rhs.shape)} need the same rank (>= 2)")
    lhs_spec, rhs_spec, out_spec = _conv_specs(dimension_numbers, lhs.ndim)
    nspatial = lhs.ndim - 2
    strides = tuple(window_strides) if window_strides else (1,) * nspatial
    lhs_dil = tuple(lhs_dilation) if lhs_dilation else (1,) * nspatial
    rhs_dil = tuple(rhs_dilation) if rhs_dilation else (1,) * nspatial
    kernel = [rhs.shape[d] for d in rhs_spec[2:]]
    if isinstance(padding, str):
        if builtins.any(d != 1 for d in lhs_dil):
            raise TracingError(f"{caller_site()}: conv_general_dilated: string padding with "
                               "lhs_dilation is not defined; pass explicit (low, high) pairs")
        window = [(k - 1) * d + 1 for k, d in zip(kernel, rhs_dil)]
        padding = padtype_to_pads([lhs.shape[d] for d in lhs_spec[2:]], window, strides, padding)
    padding = [(int(lo), int(hi)) for lo, hi in padding]
    in_features, out_features = lhs.shape[lhs_spec[1]], rhs.shape[rhs_spec[0]]
    groups = feature_group_count * batch_group_count
    if (rhs.shape[rhs_spec[1]] * feature_group_count != in_features or out_features % groups
            or (lhs.shape[lhs_spec[0]] or 0) % batch_group_count):
        raise TracingError(
            f"{caller_site()}: conv_general_dilated: lhs {shape_text(lhs.shape)} and rhs "
            f"{shape_text(rhs.shape)} do not fit: lhs features ({in_features}) must equal rhs "
            f"input features x feature_group_count ({feature_group_count}), and rhs output "
            f"features ({out_features}) must divide by the group counts")
    lhs_value, rhs_value = lhs.value, rhs.value
    if in_features == 1 and groups == 1:
        lhs_value, rhs_value = conv_taps.widen_single_channel(lhs_value, rhs_value, lhs_spec,
                                                              rhs_spec)
    value = conv_ops.convolution(lhs_value, rhs_value, (lhs_spec, rhs_spec, out_spec), strides,
                                 padding, lhs_dil, rhs_dil, feature_group_count,
                                 batch_group_count)
    out = Tracer(value, lhs.weak_type)
    return astype(out, preferred_element_type) if preferred_element_type else out


def conv(lhs, rhs, window_strides, padding, precision=None, preferred_element_type=None):
    """conv_general_dilated in NCHW/OIHW layout without dilation or groups.

    Example:
        >>> lax.conv(x_nchw, w_oihw, (1, 1), "SAME")
    """
    return conv_general_dilated(lhs, rhs, window_strides, padding, precision=precision,
                                preferred_element_type=preferred_element_type)


# ---- reductions with a user computation --------------------------------------------------------


def _flat_operands(what, operands, init_values):
    xs, x_def = flatten_traced(operands)
    inits, init_def = flatten_traced(init_values)
    if x_def != init_def or not xs:
        raise TracingError(f"{caller_site()}: {what}: operands {x_def!r} and init_values "
                           f"{init_def!r} need the same (non-empty) structure")
    inits = [astype(scalar_operand(v, what, "each init value"), x.dtype) for v, x in zip(inits, xs)]
    return xs, inits, x_def


def _scalar_body(what, computation, xs, x_def):
    """A region body applying computation(accumulators, elements) on 0-d tracers."""

    def body(*args):
        n = len(xs)
        accs = tree.unflatten(x_def, [Tracer(a) for a in args[:n]])
        elems = tree.unflatten(x_def, [Tracer(a) for a in args[n:]])
        outs, out_def = flatten_traced(computation(accs, elems))
        if out_def != x_def:
            raise TracingError(f"{caller_site()}: {what}: computation returns {out_def!r}, "
                               "expected "
                               f"{x_def!r}")
        return [astype(o, x.dtype).value for o, x in zip(outs, xs)]

    return body


def reduce(operands, init_values, computation, dimensions):
    """Reduce over `dimensions` with a binary computation, e.g. lax.add or lax.max.

    Example:
        >>> lax.reduce(x, 0.0, lax.add, (0,))
    """
    xs, inits, x_def = _flat_operands("reduce", operands, init_values)
    dims = normalize_axes("reduce", dimensions, xs[0].ndim)
    values = reduction.reduce([x.value for x in xs], [i.value for i in inits], dims,
                              _scalar_body("reduce", computation, xs, x_def))
    return tree.unflatten(x_def, with_weak(values, xs))


def reduce_window(operand, init_value, computation, window_dimensions, window_strides=None,
                  padding="VALID", base_dilation=None, window_dilation=None):
    """Reduce each window of operand with computation (lax.add, lax.max, or any function).

    Example:
        >>> lax.reduce_window(x, -anp.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
    """
    xs, inits, x_def = _flat_operands("reduce_window", operand, init_value)
    rank = xs[0].ndim
    dims = tuple(int(d) for d in window_dimensions)
    if len(dims) != rank:
        raise TracingError(f"{caller_site()}: reduce_window: window_dimensions {dims} do not match "
                           f"the operand's rank {rank}")
    strides = tuple(window_strides) if window_strides else (1,) * rank
    base = tuple(base_dilation) if base_dilation else (1,) * rank
    dilation = tuple(window_dilation) if window_dilation else (1,) * rank
    if isinstance(padding, str):
        window = [(k - 1) * d + 1 for k, d in zip(dims, dilation)]
        padding = padtype_to_pads(xs[0].shape, window, strides, padding)
    values = conv_ops.reduce_window([x.value for x in xs], [i.value for i in inits], dims,
                                    strides, [tuple(p) for p in padding], base, dilation,
                                    _scalar_body("reduce_window", computation, xs, x_def))
    return tree.unflatten(x_def, with_weak(values, xs))


def _pool(x, window_shape, strides, padding):
    """Window dims and strides for a (batch, *spatial, features) or (*spatial, features) x."""
    window = tuple(window_shape)
    strides = tuple(strides) if strides else (1,) * len(window)
    lead = x.ndim - len(window) - 1
    if lead not in (0, 1):
        raise TracingError(f"{caller_site()}: pooling a {shape_text(x.shape)} array with window "
                           f"{window}: expected (batch, *spatial, features)")
    if not isinstance(padding, str):
        padding = [(0, 0)] * lead + [tuple(p) for p in padding] + [(0, 0)]
    return (1,) * lead + window + (1,), (1,) * lead + strides + (1,), padding


def max_pool(x, window_shape, strides=None, padding="VALID"):
    """Max over windows of an NHWC (channels-last) array, as flax.linen.max_pool.

    Example:
        >>> lax.max_pool(x, (2, 2), strides=(2, 2))
    """
    x = to_tracer(x)
    lowest = -np.inf if dtypes.is_float(x.dtype) else dtypes.finfo_or_iinfo(x.dtype).min
    return reduce_window(x, lowest, max, *_pool(x, window_shape, strides, padding))


def avg_pool(x, window_shape, strides=None, padding="VALID", count_include_pad=True):
    """Mean over windows of an NHWC array; padding counts unless count_include_pad=False.

    Example:
        >>> lax.avg_pool(x, (2, 2), strides=(2, 2), padding="SAME")
    """
    x = to_tracer(x)
    geometry = _pool(x, window_shape, strides, padding)
    total = reduce_window(x, 0, add, *geometry)
    if count_include_pad:
        return div(total, float(np.prod(window_shape)))
    return div(total, reduce_window(anp.ones_like(x), 0, add, *geometry))


# ---- contractions, gradients -------------------------------------------------------------------


def dot_general(lhs, rhs, dimension_numbers, precision=None, preferred_element_type=None):
    """Contract lhs and rhs: dimension_numbers = ((lhs_contract, rhs_contract), (lhs_batch,
    rhs_batch)); result dims are batch, lhs free, rhs free.

    Example:
        >>> lax.dot_general(a, b, (((2,), (1,)), ((0,), (0,))))    # batched matmul
    """
    del precision
    lhs, rhs = promote("dot_general", lhs, rhs, broadcast=False)
    if preferred_element_type is not None:
        lhs, rhs = astype(lhs, preferred_element_type), astype(rhs, preferred_element_type)
    (lc, rc), (lb, rb) = dimension_numbers
    lc, rc, lb, rb = ([normalize_axis("dot_general", d, t.ndim) for d in dims]
                      for dims, t in ((lc, lhs), (rc, rhs), (lb, lhs), (rb, rhs)))
    for a, b in zip(lc + lb, rc + rb):
        if lhs.shape[a] != rhs.shape[b]:
            raise TracingError(f"{caller_site()}: dot_general: lhs {shape_text(lhs.shape)} axis "
                               f"{a} "
                               f"and rhs {shape_text(rhs.shape)} axis {b} differ in size")
    value = linalg.dot_general(lhs.value, rhs.value, (lc, rc), (lb, rb))
    return Tracer(value, lhs.weak_type and rhs.weak_type)


def dot(lhs, rhs, precision=None, preferred_element_type=None):
    """Vector/matrix product of 1-D or 2-D operands (as jax.lax.dot)."""
    lhs, rhs = to_tracer(lhs), to_tracer(rhs)
    return dot_general(lhs, rhs, (((lhs.ndim - 1,), (0,)), ((), ())), precision,
                       preferred_element_type)


def stop_gradient(x):
    """x unchanged, but a constant for differentiation (same as aotc.stop_gradient).

    Example:
        >>> loss = (pred - lax.stop_gradient(target)) ** 2
    """
    return staged_stop_gradient(x)


# ---- thin wrappers over aotc.numpy and the op builders -----------------------------------------


def _exact_binary(builder, name):
    def fn(x, y):
        x, y = promote(name, x, y)
        return Tracer(builder(x.value, y.value), x.weak_type)

    fn.__name__ = name
    fn.__doc__ = f"lax.{name}: integer operands stay integers (C semantics, as jax.lax)."
    return fn


add, sub, mul = anp.add, anp.subtract, anp.multiply
div = _exact_binary(ew.divide, "div")
rem = _exact_binary(ew.remainder, "rem")
max, min, pow, neg = anp.maximum, anp.minimum, anp.power, anp.negative
exp, log, tanh, sin, cos, sqrt = anp.exp, anp.log, anp.tanh, anp.sin, anp.cos, anp.sqrt
abs, square, sign, floor, ceil = anp.abs, anp.square, anp.sign, anp.floor, anp.ceil


def _real_order(fn, name: str):
    """lax's order comparisons take real operands only (jnp's order complex values)."""

    def compare(x, y):
        x, y = promote(name, x, y, broadcast=False)
        if dtypes.is_complex(x.dtype):
            raise TracingError(f"{caller_site()}: lax.{name} does not accept complex operands "
                               "(complex numbers have no order); compare the real and imaginary "
                               "parts, or use aotc.numpy's lexicographic comparisons")
        return fn(x, y)

    compare.__name__ = compare.__qualname__ = name
    compare.__doc__ = f"lax.{name}: elementwise comparison of real operands, as jax.lax.{name}."
    return compare


eq, ne = anp.equal, anp.not_equal
lt, le, gt, ge = (_real_order(anp.less, "lt"), _real_order(anp.less_equal, "le"),
                  _real_order(anp.greater, "gt"), _real_order(anp.greater_equal, "ge"))
transpose, concatenate, squeeze, expand_dims = (anp.transpose, anp.concatenate, anp.squeeze,
                                                anp.expand_dims)
convert_element_type = astype
rsqrt = np_math.rsqrt


def erf(x):
    """The error function (chlo.erf)."""
    (x,) = promote("erf", x, inexact=True)
    return Tracer(ew.erf(x.value), x.weak_type)


def logistic(x):
    """1 / (1 + exp(-x))."""
    (x,) = promote("logistic", x, inexact=True)
    return Tracer(ew.logistic(x.value), x.weak_type)


def select(pred, on_true, on_false):
    """on_true where pred else on_false; pred is boolean, a scalar or of the operands' shape."""
    pred = to_tracer(pred)
    if not dtypes.is_bool(pred.dtype):
        raise TracingError(f"{caller_site()}: select: pred must be boolean, got {pred.dtype}")
    return anp.where(pred, on_true, on_false)


def clamp(lo, x, hi):
    """`lax.clamp(min, x, max)`: x limited to [min, max] elementwise; min and max are scalars or
    of x's shape. At the bounds the derivative is 0 (JAX's rule).

    Example:
        >>> aotc.lax.clamp(0.0, x, 6.0)   # relu6
    """
    x = to_tracer(x)
    lo, hi = (astype(to_tracer(b), x.dtype) for b in (lo, hi))
    for name, b in (("min", lo), ("max", hi)):
        if b.shape not in ((), x.shape):
            raise TracingError(f"{caller_site()}: clamp: {name} of shape {shape_text(b.shape)} "
                               f"must be a scalar or of x's shape {shape_text(x.shape)}")
    return Tracer(ew.clamp(lo.value, x.value, hi.value), x.weak_type)


def broadcast_in_dim(operand, shape, broadcast_dimensions):
    """Broadcast operand into `shape`, operand dim i going to result dim broadcast_dimensions[i]."""
    x = to_tracer(operand)
    shape, dims = tuple(int(d) for d in shape), tuple(int(d) for d in broadcast_dimensions)
    if len(dims) != x.ndim or builtins.any(
            x.shape[i] not in (1, shape[d]) for i, d in enumerate(dims)):
        raise TracingError(f"{caller_site()}: broadcast_in_dim: cannot put {shape_text(x.shape)} "
                           "into "
                           f"{shape_text(shape)} along dims {dims}")
    return Tracer(shape_ops.broadcast_in_dim(x.value, shape, dims), x.weak_type)


def reshape(operand, new_sizes, dimensions=None):
    """Reshape (after transposing by `dimensions` when given)."""
    x = to_tracer(operand)
    return anp.reshape(transpose(x, dimensions) if dimensions else x, tuple(new_sizes))


def slice(operand, start_indices, limit_indices, strides=None):
    """operand[start:limit:stride] per dim, with static indices."""
    x = to_tracer(operand)
    if builtins.any(not 0 <= lo <= hi <= n for lo, hi, n in
                    zip(start_indices, limit_indices, x.shape)):
        raise TracingError(f"{caller_site()}: slice: [{start_indices}, {limit_indices}) is out of "
                           f"bounds for {shape_text(x.shape)}")
    return Tracer(shape_ops.slice(x.value, start_indices, limit_indices, strides), x.weak_type)


def _start_values(what, x: Tracer, start_indices) -> list[ir.Value]:
    if len(start_indices) != x.ndim:
        raise TracingError(f"{caller_site()}: {what}: {len(start_indices)} start indices for "
                           f"{shape_text(x.shape)}")
    starts = []
    for s, dim in zip(start_indices, x.shape):
        start = astype(scalar_operand(s, what, "each start index"), dtypes.int32)
        if dim is not None:  # JAX wraps a negative start once (start + dim), then clamps
            start = anp.where(start < 0, start + dim, start)
        starts.append(start.value)
    return starts


def dynamic_slice(operand, start_indices, slice_sizes):
    """A slice of static `slice_sizes` at (traced) starts; a negative start counts from the end
    once, then starts are clamped to stay in bounds (JAX's semantics)."""
    x = to_tracer(operand)
    starts = _start_values("dynamic_slice", x, start_indices)
    return Tracer(shape_ops.dynamic_slice(x.value, starts, slice_sizes), x.weak_type)


def dynamic_update_slice(operand, update, start_indices):
    """operand with `update` written at (traced) starts; negative starts count from the end once,
    then starts are clamped so the update fits (JAX's semantics)."""
    x = to_tracer(operand)
    update = astype(update, x.dtype)
    starts = _start_values("dynamic_update_slice", x, start_indices)
    return Tracer(shape_ops.dynamic_update_slice(x.value, update.value, starts), x.weak_type)


def pad(operand, padding_value, padding_config):
    """Pad with (low, high, interior) per dim; negative low/high crop."""
    x = to_tracer(operand)
    value = astype(scalar_operand(padding_value, "pad", "padding_value"), x.dtype)
    lo, hi, interior = zip(*padding_config) if padding_config else ((), (), ())
    return Tracer(shape_ops.pad(x.value, value.value, lo, hi, interior), x.weak_type)


def iota(dtype, size: int):
    """[0, 1, ..., size - 1] of dtype."""
    return Tracer(shape_ops.iota((int(size),), 0, dtypes.to_mlir(dtype)))


from aotc.frontend.lax.more import *  # noqa: E402, F403 (more of jax.lax's names)
from aotc.frontend.lax.more import __all__ as _more_names  # noqa: E402

__all__ += _more_names


def __getattr__(name):
    """A missing name is an AttributeError (so hasattr works) that says what to use instead."""
    raise missing_attribute("aotc.lax", name, __all__, None)
