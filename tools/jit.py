"""`aotc.jit`: trace, compile with IREE, load with aotc_runtime, call; one compile per argument
signature."""

import functools
from collections.abc import Callable

import numpy as np

from aotc.frontend.core import tree
from aotc.frontend.core.errors import InputError
from aotc.frontend.trace.lower import ShapeSpec, lower, spec_of
from aotc.frontend.trace.tracer import Traced, Tracer


class _Compiled:
    __slots__ = ("dtypes", "function", "module", "traced")

    def __init__(self, traced: Traced, target: str, specs, device=None, flags=()):
        from aotc.tools.compile import compile_stablehlo
        from aotc_runtime import load_bytes

        self.traced = traced
        self.module = load_bytes(compile_stablehlo(traced.text_with_locations(), target, flags),
                                 device=device, require_aotc=False)
        self.function = self.module[traced.name]
        self.dtypes = [s.dtype for s in specs]


def _leaf_key(leaf):
    """A cheap cache key for an argument leaf: what its ShapeSpec depends on."""
    if isinstance(leaf, np.ndarray):
        return leaf.shape, leaf.dtype
    if isinstance(leaf, (bool, int, float)) and not isinstance(leaf, np.generic):
        return type(leaf)
    if isinstance(leaf, ShapeSpec):
        raise InputError("a compiled function needs arrays, not ShapeSpecs; use aotc.lower for "
                         "specs")
    return np.shape(leaf), np.result_type(leaf)


def jit(fn: Callable, *, target: str = "cpu", device=None, flags=()) -> Callable:
    """Compile fn with IREE for this CPU; compiled once per argument shapes/dtypes/structure.

    device: an IREE driver name or device for the runtime (default: the target's driver,
    'local-task'); 'local-sync' runs on the calling thread, faster for small programs on few
    cores. flags are extra IREE compiler flags, after the target preset's (see
    `aotc targets` and aotc.tools.targets), e.g. ["--iree-opt-level=O3"].

    Example:
        >>> fast = aotc.jit(predict)
        >>> out = fast(params, x)        # numpy in, numpy out
        >>> small = aotc.jit(step, flags=["--iree-opt-level=O3"])
    """
    flags = (flags,) if isinstance(flags, str) else tuple(flags)
    cache: dict = {}

    @functools.wraps(fn)
    def call(*args):
        leaves, in_tree = tree.flatten(args)
        if any(isinstance(leaf, Tracer) for leaf in leaves):
            return fn(*args)  # inside another trace: trace through, compile once at the top
        key = (in_tree, tuple(_leaf_key(leaf) for leaf in leaves))
        compiled = cache.get(key)
        if compiled is None:
            specs = [spec_of(leaf) for leaf in leaves]
            compiled = cache[key] = _Compiled(lower(fn, *args), target, specs, device,
                                                   flags)
        arrays = [np.asarray(leaf, dtype=dt) for leaf, dt in zip(leaves, compiled.dtypes)]
        outs = compiled.function(*arrays)
        return tree.unflatten(compiled.traced.out_tree, outs)

    call.lower = lambda *args: lower(fn, *args)
    return call
