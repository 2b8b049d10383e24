"""aotc.numpy's functions that map a Python function over array axes with vmap: vectorize and
apply_along_axis (exposed from the aotc.numpy facade, since frontend/numpy sits below vmap)."""

import functools
import re

from aotc.frontend.core.errors import TracingError
from aotc.frontend.core.source import caller_site
from aotc.frontend.numpy.core import asarray, normalize_axis
from aotc.frontend.numpy.shape import expand_dims, squeeze
from aotc.frontend.trace.eager import eager
from aotc.frontend.transforms.vmap import vmap

__all__ = ["apply_along_axis", "vectorize"]

_DIMS = re.compile(r"\(([^()]*)\)")


def _parse_signature(signature: str):
    """'(n),(n)->()' as ([('n',), ('n',)], [()]): the core dims of each input and output."""
    inputs, arrow, outputs = signature.replace(" ", "").partition("->")
    if not arrow:
        raise TracingError(f"{caller_site()}: vectorize: signature {signature!r} has no '->'")

    def dims(text):
        return [tuple(d for d in group.split(",") if d) for group in _DIMS.findall(text)]

    return dims(inputs), dims(outputs)


def _bind_excluded(pyfunc, excluded, args, kwargs):
    """pyfunc with the excluded positional and keyword arguments bound, and the rest."""
    positions = sorted(e for e in excluded if isinstance(e, int) and e < len(args))
    names = {k: v for k, v in kwargs.items() if k in excluded}
    fixed = {i: args[i] for i in positions}
    free = [a for i, a in enumerate(args) if i not in fixed]
    rest = {k: v for k, v in kwargs.items() if k not in names}

    def bound(*free_args):
        it = iter(free_args)
        full = [fixed[i] if i in fixed else next(it) for i in range(len(args))]
        return pyfunc(*full, **names, **rest)

    return bound, free


def _broadcast_shape(args, core_dims) -> tuple:
    shapes = [a.shape[:a.ndim - len(dims)] for a, dims in zip(args, core_dims)]
    rank = max((len(s) for s in shapes), default=0)
    out = [1] * rank
    for shape in shapes:
        for i, size in enumerate(shape, rank - len(shape)):
            if size != 1 and out[i] not in (1, size):
                listed = ", ".join(str(a.shape) for a in args)
                raise TracingError(f"{caller_site()}: vectorize: cannot broadcast {listed}")
            out[i] = size if size != 1 else out[i]
    return tuple(out)


def vectorize(pyfunc, *, excluded=frozenset(), signature=None):
    """pyfunc mapped over the leading (broadcast) dims of its arguments with vmap, like
    jnp.vectorize; signature='(n),(n)->()' names the core dims pyfunc sees.

    Keyword arguments are passed through unmapped. Example:
        >>> anp.vectorize(lambda a, b: anp.dot(a, b), signature="(n),(n)->()")(xs, ys)
    """
    @functools.wraps(pyfunc)
    def mapped(*args, **kwargs):
        func, free = _bind_excluded(pyfunc, excluded, args, kwargs)
        free = [asarray(a) for a in free]
        core_dims = _parse_signature(signature)[0] if signature else [()] * len(free)
        if len(core_dims) != len(free):
            raise TracingError(f"{caller_site()}: vectorize: signature {signature!r} names "
                               f"{len(core_dims)} inputs, got {len(free)}")
        shape = _broadcast_shape(free, core_dims)
        squeezed, reversed_shapes = [], []
        for a, dims in zip(free, core_dims):
            loop = a.shape[:a.ndim - len(dims)]
            reversed_shapes.append(((1,) * (len(shape) - len(loop)) + loop)[::-1])
            ones = tuple(i for i, size in enumerate(loop) if size == 1)
            squeezed.append(squeeze(a, ones) if ones else a)
        expand = []
        for negdim, sizes in enumerate(zip(*reversed_shapes)):
            in_axes = tuple(None if size == 1 else 0 for size in sizes)
            if all(axis is None for axis in in_axes):
                expand.append(len(shape) - 1 - negdim)
            else:
                func = vmap(func, in_axes)
        result = func(*squeezed)
        if not expand:
            return result
        if isinstance(result, (tuple, list)):
            return tuple(expand_dims(r, tuple(expand)) for r in result)
        return expand_dims(result, tuple(expand))

    return eager(mapped)


@eager
def apply_along_axis(func1d, axis: int, arr, *args, **kwargs):
    """func1d applied to every 1-D slice of arr along axis (its output dims replace axis), like
    jnp.apply_along_axis.

    Example:
        >>> anp.apply_along_axis(lambda v: v[0] + v[-1], 1, anp.ones((2, 3)))   # [2.0, 2.0]
    """
    arr = asarray(arr)
    axis = normalize_axis("apply_along_axis", axis, arr.ndim)

    def func(v):
        return func1d(v, *args, **kwargs)

    for i in range(1, arr.ndim - axis):
        func = vmap(func, in_axes=i, out_axes=-1)
    for _ in range(axis):
        func = vmap(func, in_axes=0, out_axes=0)
    return func(arr)
