"""Linear algebra of aotc.numpy: matmul, dot, vdot, inner, outer, tensordot, einsum, trace."""

import math
import string

import numpy as np

from aotc.frontend.core import dtypes
from aotc.frontend.core.errors import TracingError
from aotc.frontend.core.source import caller_site
from aotc.frontend.numpy.core import (
    astype,
    broadcast_shapes,
    broadcast_to,
    normalize_axis,
    promote,
    shape_text,
)
from aotc.frontend.numpy.creation import eye
from aotc.frontend.numpy.math import multiply
from aotc.frontend.numpy.rearranging import diagonal
from aotc.frontend.numpy.reductions import sum as reduce_sum
from aotc.frontend.numpy.shape import moveaxis, ravel, reshape, squeeze, transpose
from aotc.frontend.ops import complex as cx
from aotc.frontend.ops import linalg
from aotc.frontend.trace.tracer import Tracer, to_tracer


def _dot(x: Tracer, y: Tracer, contracting, batch=((), ())) -> Tracer:
    for a, b in zip(*contracting):
        if x.shape[a] is not None and y.shape[b] is not None and x.shape[a] != y.shape[b]:
            raise TracingError(
                f"{caller_site()}: contraction of {shape_text(x.shape)} axis {a} with "
                f"{shape_text(y.shape)} axis {b}: sizes {x.shape[a]} and {y.shape[b]} differ")
    return Tracer(linalg.dot_general(x.value, y.value, contracting, batch), x.weak_type)


def _preferred(x, y, preferred_element_type):
    """x and y cast to preferred_element_type (JAX's accumulation and result dtype) when given."""
    if preferred_element_type is None:
        return x, y
    dtype = np.dtype(preferred_element_type)
    return astype(x, dtype), astype(y, dtype)


def matmul(x, y, *, precision=None, preferred_element_type=None):
    """x @ y with numpy's rules: 1-D operands are promoted to matrices, batch dims broadcast.

    preferred_element_type (as in JAX) is the dtype to accumulate in and return, e.g.
    `anp.matmul(a8, b8, preferred_element_type=anp.int32)` for int8 inputs.
    """
    x, y = promote("matmul", x, y, broadcast=False)
    x, y = _preferred(x, y, preferred_element_type)
    if x.ndim == 0 or y.ndim == 0:
        raise TracingError(f"{caller_site()}: matmul: operands must not be scalars, got "
                           f"{shape_text(x.shape)} @ {shape_text(y.shape)}")
    x_vec, y_vec = x.ndim == 1, y.ndim == 1
    if x_vec or y_vec:  # contract the vector directly: no reshapes of dynamic dims
        return _vector_matmul(x, y)
    if x_vec:
        x = reshape(x, (1, x.shape[0]))
    if y_vec:
        y = reshape(y, (y.shape[0], 1))
    if x.shape[-1] is not None and y.shape[-2] is not None and x.shape[-1] != y.shape[-2]:
        raise TracingError(f"{caller_site()}: matmul: shapes {shape_text(x.shape)} and "
                           f"{shape_text(y.shape)} do not align ({x.shape[-1]} != "
                           f"{y.shape[-2]})")
    batch = broadcast_shapes("matmul", x.shape[:-2], y.shape[:-2])
    nb = len(batch)
    if x.ndim > 2 or y.ndim > 2:
        if y.ndim == 2 and x.ndim > 2:  # fold x's batch into rows: one plain matmul
            out = _dot(x, y, ((x.ndim - 1,), (0,)))
        else:
            x = broadcast_to(x, batch + x.shape[-2:], like=[x, y])
            y = broadcast_to(y, batch + y.shape[-2:], like=[x, y])
            out = _dot(x, y, ((nb + 1,), (nb,)), (tuple(range(nb)), tuple(range(nb))))
    else:
        out = _dot(x, y, ((1,), (0,)))
    if x_vec:
        out = squeeze(out, out.ndim - 2)
    if y_vec:
        out = squeeze(out, out.ndim - 1)
    return out


def _vector_matmul(x, y):
    """matmul with a 1-D operand as one dot_general: the vector's axis is contracted."""
    kx, ky = (0 if x.ndim == 1 else x.ndim - 1), (0 if y.ndim == 1 else y.ndim - 2)
    if x.shape[kx] is not None and y.shape[ky] is not None and x.shape[kx] != y.shape[ky]:
        raise TracingError(f"{caller_site()}: matmul: shapes {shape_text(x.shape)} and "
                           f"{shape_text(y.shape)} do not align ({x.shape[kx]} != "
                           f"{y.shape[ky]})")
    if None in x.shape[:kx] + y.shape[:ky] + y.shape[ky + 1:]:
        # IREE 3.13 fails on a dot_general of a dynamic-dim matrix and a vector (it reshapes the
        # result to a dynamic ?x1): a product and a sum, which a matrix-vector product is anyway.
        if y.ndim == 1:
            return reduce_sum(multiply(x, y), axis=-1)
        return reduce_sum(multiply(reshape(x, (x.shape[0], 1)), y), axis=-2)
    return _dot(x, y, ((kx,), (ky,)))


def dot(x, y, *, precision=None, preferred_element_type=None):
    """numpy.dot: sum product over the last axis of x and the second-to-last of y.

    preferred_element_type (as in JAX) is the dtype to accumulate in and return.
    """
    x, y = promote("dot", x, y, broadcast=False)
    x, y = _preferred(x, y, preferred_element_type)
    if x.ndim == 0 or y.ndim == 0:
        return multiply(x, y)
    if y.ndim <= 2:
        return matmul(x, y) if x.ndim <= 2 else _dot(x, y, ((x.ndim - 1,), (max(y.ndim - 2, 0),)))
    return _dot(x, y, ((x.ndim - 1,), (y.ndim - 2,)))


def vdot(x, y):
    """The dot product of x and y flattened, as numpy.vdot: a complex x is conjugated first.

        >>> anp.vdot(anp.asarray([1j]), anp.asarray([1j]))  # (1+0j)
    """
    x = to_tracer(x)
    if dtypes.is_complex(x.dtype):
        x = Tracer(cx.conj(x.value), x.weak_type)
    return dot(ravel(x), ravel(y))


def inner(x, y):
    """Sum-product over the last axes of x and y, as numpy.inner."""
    x, y = promote("inner", x, y, broadcast=False)
    if x.ndim == 0 or y.ndim == 0:
        return multiply(x, y)
    return _dot(x, y, ((x.ndim - 1,), (y.ndim - 1,)))


def outer(x, y):
    """The outer product of x and y flattened: out[i, j] = x[i] * y[j], as numpy.outer."""
    x, y = promote("outer", ravel(x), ravel(y), broadcast=False)
    return _dot(x, y, ((), ()))


def tensordot(x, y, axes=2):
    """Sum-product over `axes` (an int or a pair of axis lists), as numpy.tensordot.

    Example: `anp.tensordot(a, b, axes=([1], [0]))` is `a @ b` for 2-D arrays.
    """
    x, y = promote("tensordot", x, y, broadcast=False)
    if isinstance(axes, int):
        xa, ya = list(range(x.ndim - axes, x.ndim)), list(range(axes))
    else:
        xa, ya = axes
        xa = [xa] if isinstance(xa, int) else list(xa)
        ya = [ya] if isinstance(ya, int) else list(ya)
    xa = [normalize_axis("tensordot", a, x.ndim) for a in xa]
    ya = [normalize_axis("tensordot", a, y.ndim) for a in ya]
    return _dot(x, y, (tuple(xa), tuple(ya)))


def einsum(subscripts: str, *operands, optimize=None, precision=None,
           preferred_element_type=None):
    """Einstein summation over any number of operands, like jnp.einsum.

    A letter repeated within one operand takes its diagonal ('ii->i', 'ii->' is the trace);
    letters that appear nowhere else are summed first; three or more operands contract
    pairwise, each step picking the pair with the smallest result (greedy order). Each pairwise
    contraction is one dot_general plus transposes. '...' stands for the leading dims of each
    operand, broadcast together as in NumPy ('...ij,...jk->...ik' is a batched matmul); without
    '->' the output is '...' followed by the letters used once, in alphabetical order.

    Example:
        >>> anp.einsum("ij,jk,kl->il", a, b, c)   # a @ b @ c
        >>> anp.einsum("...ij,jk", x, w)          # x @ w over any leading dims
    """
    spec = subscripts.replace(" ", "")
    inputs, output = spec.split("->") if "->" in spec else (spec, None)
    names = inputs.split(",")
    if len(names) != len(operands):
        raise TracingError(f"{caller_site()}: einsum '{subscripts}' names {len(names)} operands, "
                           f"got {len(operands)}")
    ts = promote("einsum", *operands, broadcast=False)
    ellipsis = ""
    if "..." in spec:
        names, ts, ellipsis = _expand_ellipsis(subscripts, names, ts)
        if output is not None:
            output = output.replace("...", ellipsis)
    if output is None:
        letters = "".join(names)
        output = ellipsis + "".join(sorted(c for c in set(letters)
                                           if letters.count(c) == 1 and c not in ellipsis))
    items = []
    for name, t in zip(names, ts):
        if len(name) != t.ndim or "." in name:
            raise TracingError(f"{caller_site()}: einsum operand '{name}' does not fit shape "
                               f"{shape_text(t.shape)}")
        items.append(_diagonals(name, t))
    while len(items) > 2:
        items = _contract_cheapest(items, output)
    if len(items) == 1:
        name, t = _sum_private(*items[0], output)
    else:
        name, t = _contract(items[0], items[1], output)
    missing = [c for c in output if c not in name]
    if missing:
        raise TracingError(f"{caller_site()}: einsum '{subscripts}': output letters {missing} "
                           "appear in no operand")
    return transpose(t, [name.index(c) for c in output])


def _expand_ellipsis(subscripts: str, names: list, ts: list) -> tuple[list, list, str]:
    """Each operand's '...' spelled as letters of its own (its dims right-aligned with the
    others', as NumPy broadcasts them); a size-1 '...' dim that meets a bigger one is squeezed
    out of its operand (broadcasting it). Returns the names, operands and the '...' letters."""
    free = [c for c in string.ascii_letters if c not in subscripts]
    ranks = []
    for name, t in zip(names, ts):
        rank = t.ndim - (len(name) - 3) if "..." in name else 0
        if name.count("...") > 1 or rank < 0 or name.replace("...", "").count(".") > 0:
            raise TracingError(f"{caller_site()}: einsum operand '{name}' of '{subscripts}' "
                               f"does not fit shape {shape_text(t.shape)}")
        ranks.append(rank)
    letters = "".join(free[:max(ranks)])
    names = [name.replace("...", letters[len(letters) - rank:] if rank else "")
             for name, rank in zip(names, ranks)]
    ts = list(ts)
    for c in letters:
        sizes = [t.shape[name.index(c)] for name, t in zip(names, ts) if c in name]
        if all(d == 1 for d in sizes):
            continue
        static = {d for d in sizes if d not in (None, 1)}
        if len(static) > 1:
            raise TracingError(f"{caller_site()}: einsum '{subscripts}': the '...' dims do not "
                               f"broadcast ({' and '.join(shape_text(t.shape) for t in ts)})")
        for k, (name, t) in enumerate(zip(names, ts)):
            if c in name and t.shape[name.index(c)] == 1:
                ts[k] = squeeze(t, name.index(c))
                names[k] = name.replace(c, "")
    return names, ts, letters


def _diagonals(name: str, t: Tracer) -> tuple[str, Tracer]:
    """Each letter repeated within one operand replaced by the diagonal along its axes."""
    while len(set(name)) != len(name):
        c = next(c for c in name if name.count(c) > 1)
        i = name.index(c)
        j = name.index(c, i + 1)
        t = diagonal(t, 0, i, j)  # the diagonal becomes the last axis
        name = "".join(d for k, d in enumerate(name) if k not in (i, j)) + c
    return name, t


def _sum_private(name: str, t: Tracer, keep: str) -> tuple[str, Tracer]:
    """Sum out the letters not in `keep` (the output and the other operands' letters)."""
    private = tuple(i for i, c in enumerate(name) if c not in keep)
    if private:
        t = reduce_sum(t, private, dtype=t.dtype)
        name = "".join(c for i, c in enumerate(name) if i not in private)
    return name, t


def _contract(left, right, keep: str) -> tuple[str, Tracer]:
    """One dot_general of two named operands, keeping the letters in `keep`."""
    a, x = _sum_private(*left, keep + right[0])
    b, y = _sum_private(*right, keep + a)
    batch = [c for c in a if c in b and c in keep]
    contract = [c for c in a if c in b and c not in keep]
    out = _dot(x, y, (tuple(a.index(c) for c in contract), tuple(b.index(c) for c in contract)),
               (tuple(a.index(c) for c in batch), tuple(b.index(c) for c in batch)))
    return "".join(batch + [c for c in a if c not in b] + [c for c in b if c not in a]), out


def _contract_cheapest(items, output: str):
    """Contract the pair of operands whose result has the fewest elements (greedy order)."""
    sizes = {c: d for name, t in items for c, d in zip(name, t.shape)}
    best = None
    for i in range(len(items)):
        for j in range(i + 1, len(items)):
            others = "".join(name for k, (name, _) in enumerate(items) if k not in (i, j))
            keep = output + others
            kept = {c for c in items[i][0] + items[j][0] if c in keep}
            cost = math.prod(sizes[c] or 1 for c in kept)
            if best is None or cost < best[0]:
                best = (cost, i, j, keep)
    _, i, j, keep = best
    rest = [item for k, item in enumerate(items) if k not in (i, j)]
    return [*rest, _contract(items[i], items[j], keep)]


def trace(x, offset=0, axis1=0, axis2=1):
    """Sum of the diagonal (with `offset`) over axis1/axis2."""
    x = moveaxis(x, (axis1, axis2), (-2, -1))
    n, m = x.shape[-2:]
    mask = eye(n, m, k=offset, dtype=x.dtype)
    return reduce_sum(multiply(x, mask), axis=(-2, -1))


