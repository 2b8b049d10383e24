"""aotc.lax's sorting, reductions and scans (via aotc.frontend.lax.more): multi-operand stable
sort, top_k, argmax/argmin, reduce_*, cumulative reductions, associative_scan, batch_matmul.
"""

import builtins

import numpy as np

from aotc.frontend import numpy as anp
from aotc.frontend.core import dtypes, tree
from aotc.frontend.core.errors import TracingError
from aotc.frontend.core.source import caller_site
from aotc.frontend.lax.more_elementwise import _require, _same_dtype
from aotc.frontend.lax.more_shapes import rev, slice_in_dim
from aotc.frontend.numpy.core import astype, normalize_axes, normalize_axis, shape_text
from aotc.frontend.ops import elementwise as ew
from aotc.frontend.ops import reduction
from aotc.frontend.ops import shape as shape_ops
from aotc.frontend.ops import sort as sort_ops
from aotc.frontend.trace.tracer import Tracer, to_tracer

__all__ = [
    "approx_max_k",
    "approx_min_k",
    "argmax",
    "argmin",
    "associative_scan",
    "batch_matmul",
    "cumlogsumexp",
    "cummax",
    "cummin",
    "cumprod",
    "cumsum",
    "reduce_and",
    "reduce_max",
    "reduce_min",
    "reduce_or",
    "reduce_prod",
    "reduce_sum",
    "reduce_xor",
    "sort",
    "sort_key_val",
    "top_k",
]


# ---- sorting -----------------------------------------------------------------------------------


def _lexicographic(num_keys: int):
    """A comparator over (lhs, rhs) pairs of num_keys keys, the payloads, then an index: keys
    in order with NaNs last, ties by the index (so the sort is stable on IREE)."""

    def comparator(*args):
        keys = [args[2 * k: 2 * k + 2] for k in range(num_keys)]
        lhs_index, rhs_index = args[-2:]
        less = ew.compare("LT", lhs_index, rhs_index)
        for lhs, rhs in reversed(keys):
            tie = ew.not_(sort_ops.less_nan_last(rhs, lhs))
            less = ew.or_(sort_ops.less_nan_last(lhs, rhs), ew.and_(tie, less))
        return less

    return comparator


def _sort_values(values: list[Tracer], dimension: int, num_keys: int) -> list[Tracer]:
    shape = values[0].shape
    index = shape_ops.iota(shape, dimension, dtypes.to_mlir(dtypes.int32))
    out = sort_ops.sort([v.value for v in values] + [index], dimension,
                        _lexicographic(num_keys))
    return [Tracer(o, v.weak_type) for o, v in zip(out, values)]


def sort(operand, dimension: int = -1, is_stable: bool = True, num_keys: int = 1):
    """operand sorted along dimension; a sequence of operands (of one shape) is sorted
    together by its first num_keys operands, lexicographically. NaNs sort last; the sort is
    always stable, and -0.0 and 0.0 are equal keys (JAX puts -0.0 first).

    Example:
        >>> keys, vals = lax.sort((keys, vals), num_keys=1)
    """
    single = not isinstance(operand, (tuple, list))
    values = [to_tracer(v) for v in ([operand] if single else operand)]
    if builtins.any(v.shape != values[0].shape for v in values):
        raise TracingError(f"{caller_site()}: lax.sort: operands of shapes "
                           f"{[shape_text(v.shape) for v in values]} must have one shape")
    if not 1 <= num_keys <= len(values):
        raise TracingError(f"{caller_site()}: lax.sort: num_keys={num_keys} for "
                           f"{len(values)} operands")
    dimension = normalize_axis("sort", dimension, values[0].ndim)
    out = _sort_values(values, dimension, num_keys)
    return out[0] if single else tuple(out)


def sort_key_val(keys, values, dimension: int = -1, is_stable: bool = True):
    """(keys sorted along dimension, values permuted the same way).

    Example:
        >>> k, v = lax.sort_key_val(anp.array([3, 1, 2]), anp.array([0.0, 1.0, 2.0]))
    """
    return sort((keys, values), dimension, is_stable, num_keys=1)


def _top(name: str, operand, k: int, axis: int, largest: bool) -> list[Tracer]:
    x = to_tracer(operand)
    axis = normalize_axis(name, axis, x.ndim)
    k = int(k)
    if not 0 <= k <= x.shape[axis]:
        raise TracingError(f"{caller_site()}: lax.{name}: k={k} for dim {axis} of "
                           f"{shape_text(x.shape)}")
    index = shape_ops.iota(x.shape, axis, dtypes.to_mlir(dtypes.int32))

    def before(a, b):
        return sort_ops.less_nan_last(b, a) if largest else sort_ops.less_nan_last(a, b)

    def comparator(lhs, rhs, lhs_index, rhs_index):
        earlier = ew.and_(ew.not_(before(rhs, lhs)), ew.compare("LT", lhs_index, rhs_index))
        return ew.or_(before(lhs, rhs), earlier)

    values, indices = sort_ops.sort([x.value, index], axis, comparator)
    values, indices = Tracer(values, x.weak_type), Tracer(indices)
    return [slice_in_dim(values, 0, k, 1, axis), slice_in_dim(indices, 0, k, 1, axis)]


def top_k(operand, k: int, *, axis: int = -1):
    """The k largest entries along axis (largest first, ties by lower index) and their int32
    indices.

    Example:
        >>> values, indices = lax.top_k(anp.array([1.0, 3.0, 2.0]), 2)   # [3, 2], [1, 2]
    """
    return _top("top_k", operand, k, axis, largest=True)


def approx_max_k(operand, k: int, reduction_dimension: int = -1, recall_target: float = 0.95,
                 reduction_input_size_override: int = -1, aggregate_to_topk: bool = True):
    """The k largest entries along reduction_dimension and their int32 indices; exact (as
    JAX on CPU), so the recall arguments are ignored; float operands only.

    Example:
        >>> values, indices = lax.approx_max_k(x, 2)
    """
    x = _require("approx_max_k", to_tracer(operand), "f")
    return _top("approx_max_k", x, k, reduction_dimension, largest=True)


def approx_min_k(operand, k: int, reduction_dimension: int = -1, recall_target: float = 0.95,
                 reduction_input_size_override: int = -1, aggregate_to_topk: bool = True):
    """The k smallest entries along reduction_dimension (smallest first) and their int32
    indices; exact (as JAX on CPU), so the recall arguments are ignored; floats only.

    Example:
        >>> values, indices = lax.approx_min_k(x, 2)
    """
    x = _require("approx_min_k", to_tracer(operand), "f")
    return _top("approx_min_k", x, k, reduction_dimension, largest=False)


def _arg_reduce(name: str, fn, operand, axis, index_dtype):
    x = to_tracer(operand)
    axis = normalize_axis(name, axis, x.ndim)
    return astype(fn(x, axis=axis), dtypes.canonicalize(index_dtype))


def argmax(operand, axis: int, index_dtype):
    """Index of the largest entry along axis (the first one at ties and NaNs), of index_dtype.

    Example:
        >>> lax.argmax(anp.array([1.0, 3.0, 3.0]), 0, anp.int32)   # 1
    """
    return _arg_reduce("argmax", anp.argmax, operand, axis, index_dtype)


def argmin(operand, axis: int, index_dtype):
    """Index of the smallest entry along axis (the first one at ties and NaNs), of index_dtype.

    Example:
        >>> lax.argmin(anp.array([2.0, 1.0, 1.0]), 0, anp.int32)   # 1
    """
    return _arg_reduce("argmin", anp.argmin, operand, axis, index_dtype)


# ---- reductions --------------------------------------------------------------------------------


def _identity(kind: str, dtype) -> np.ndarray:
    dtype = np.dtype(dtype)
    if kind in ("max", "min"):
        if dtypes.is_bool(dtype):
            return np.array(kind == "min", dtype)
        info = dtypes.finfo_or_iinfo(dtype)
        big = np.inf if dtypes.is_float(dtype) else info.max
        small = -np.inf if dtypes.is_float(dtype) else info.min
        return np.array(small if kind == "max" else big, dtype)
    if kind == "and":
        return np.array(True if dtypes.is_bool(dtype) else -1, dtype) if not \
            dtypes.is_unsigned(dtype) else np.array(np.iinfo(dtype).max, dtype)
    return np.array(1 if kind == "prod" else 0, dtype)


_COMBINE = {"sum": ew.add, "prod": ew.multiply, "max": ew.maximum, "min": ew.minimum,
            "and": ew.and_, "or": ew.or_, "xor": ew.xor}


def _reduction(kind: str, kinds: str):
    name = f"reduce_{kind}"

    def reduce_(operand, axes):
        x = _require(name, to_tracer(operand), kinds)
        axes = normalize_axes(name, tuple(axes), x.ndim)
        if not axes:
            return x
        init = shape_ops.constant(_identity(kind, x.dtype))
        return Tracer(reduction.reduce_binary(x.value, init, axes, _COMBINE[kind]), x.weak_type)

    reduce_.__name__ = name
    reduce_.__doc__ = (f"lax.{name}: reduce over `axes` with {kind}, keeping the dtype.\n\n"
                       f"    Example:\n        >>> lax.{name}(x, (0,))\n    ")
    return reduce_


reduce_sum, reduce_prod = _reduction("sum", "fi"), _reduction("prod", "fi")
reduce_max, reduce_min = _reduction("max", "fib"), _reduction("min", "fib")
reduce_and, reduce_or = _reduction("and", "ib"), _reduction("or", "ib")
reduce_xor = _reduction("xor", "ib")


# ---- scans -------------------------------------------------------------------------------------


def _interleave(a: Tracer, b: Tracer, axis: int) -> Tracer:
    """a[0], b[0], a[1], b[1], ... along axis (len(a) is len(b) or one more), as JAX: two
    interior-padded copies added."""
    same = a.shape[axis] == b.shape[axis]
    lo, hi = [0] * a.ndim, [0] * a.ndim
    interior = [0] * a.ndim
    interior[axis] = 1
    zero = shape_ops.constant(np.zeros((), a.dtype))
    hi[axis] = 1 if same else 0
    a_pad = Tracer(shape_ops.pad(a.value, zero, lo, hi, interior), a.weak_type)
    lo_b, hi_b = [0] * a.ndim, [0] * a.ndim
    lo_b[axis], hi_b[axis] = 1, 0 if same else 1
    b_pad = Tracer(shape_ops.pad(b.value, zero, lo_b, hi_b, interior), b.weak_type)
    return (a_pad | b_pad) if dtypes.is_bool(a.dtype) else a_pad + b_pad


def associative_scan(fn, elems, reverse: bool = False, axis: int = 0):
    """Inclusive scan of elems (a pytree of arrays sharing dim `axis`) with an associative
    fn(a, b) on pytrees of slices, in O(log n) depth (JAX's odd/even recursion, so results
    match jax.lax.associative_scan's rounding).

    Example:
        >>> lax.associative_scan(lambda a, b: a + b, anp.arange(5.0))   # [0, 1, 3, 6, 10]
    """
    leaves, treedef = tree.flatten(elems)
    leaves = [to_tracer(x) for x in leaves]
    if not leaves:
        return elems
    axis = normalize_axis("associative_scan", axis, leaves[0].ndim)
    n = leaves[0].shape[axis]
    if builtins.any(x.shape[axis] != n for x in leaves):
        raise TracingError(f"{caller_site()}: lax.associative_scan: elems differ in dim {axis}: "
                           f"{[shape_text(x.shape) for x in leaves]}")
    if reverse:
        leaves = [rev(x, (axis,)) for x in leaves]

    def combine(a, b):
        out = fn(tree.unflatten(treedef, a), tree.unflatten(treedef, b))
        return [to_tracer(x) for x in tree.flatten(out)[0]]

    def part(xs, start, stop, stride=1):
        return [slice_in_dim(x, start, stop, stride, axis) for x in xs]

    def scan(xs):
        count = xs[0].shape[axis]
        if count < 2:
            return xs
        odd = scan(combine(part(xs, 0, count - 1, 2), part(xs, 1, None, 2)))
        if count % 2 == 0:
            even = combine(part(odd, 0, odd[0].shape[axis] - 1), part(xs, 2, None, 2))
        else:
            even = combine(odd, part(xs, 2, None, 2))
        even = [anp.concatenate([slice_in_dim(x, 0, 1, 1, axis), e], axis)
                for x, e in zip(xs, even)]
        return [_interleave(e, o, axis) for e, o in zip(even, odd)]

    out = scan(leaves)
    if reverse:
        out = [rev(x, (axis,)) for x in out]
    return tree.unflatten(treedef, out)


def _cumulative(name: str, combine, kinds: str):
    def cumulative(operand, axis: int = 0, reverse: bool = False):
        x = _require(name, to_tracer(operand), kinds)
        return associative_scan(combine, x, reverse=reverse, axis=axis)

    cumulative.__name__ = name
    cumulative.__doc__ = (f"lax.{name}: inclusive cumulative reduction along axis (reverse=True "
                          "runs from the end), by associative_scan.\n\n"
                          f"    Example:\n        >>> lax.{name}(x, axis=0, reverse=True)\n    ")
    return cumulative


def _keep_dtype(fn):
    return lambda a, b: astype(fn(a, b), to_tracer(a).dtype)


cumsum = _cumulative("cumsum", _keep_dtype(anp.add), "fi")
cumprod = _cumulative("cumprod", _keep_dtype(anp.multiply), "fi")
cummax = _cumulative("cummax", anp.maximum, "fi")
cummin = _cumulative("cummin", anp.minimum, "fi")
cumlogsumexp = _cumulative("cumlogsumexp", anp.logaddexp, "f")


def batch_matmul(lhs, rhs, precision=None):
    """Batched matrix product: lhs (..., m, k) @ rhs (..., k, n), of one rank >= 2 and one
    batch shape.

    Example:
        >>> lax.batch_matmul(anp.ones((4, 2, 3)), anp.ones((4, 3, 5))).shape   # (4, 2, 5)
    """
    lhs, rhs = to_tracer(lhs), to_tracer(rhs)
    if lhs.ndim < 2 or lhs.ndim != rhs.ndim or lhs.shape[:-2] != rhs.shape[:-2]:
        raise TracingError(f"{caller_site()}: lax.batch_matmul: operands of one rank >= 2 and one "
                           f"batch shape, got {shape_text(lhs.shape)} and "
                           f"{shape_text(rhs.shape)}")
    lhs, rhs = _same_dtype("batch_matmul", lhs, rhs, broadcast=False)
    return anp.matmul(lhs, rhs)
