"""Entry points: ShapeSpec, lower, jit."""

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from aotc.frontend import dtypes, tree
from aotc.frontend.errors import InputError, TracingError
from aotc.frontend.tracer import Traced, Tracer, trace


@dataclass(frozen=True)
class ShapeSpec:
    """The abstract value of an argument: a shape (None = dynamic dimension) and a dtype.

    Example:
        aotc.lower(predict, params, aotc.ShapeSpec((None, 784), "float32"))
    """

    shape: tuple
    dtype: np.dtype = dtypes.float32
    weak_type: bool = False

    def __init__(self, shape, dtype="float32", weak_type: bool = False):
        object.__setattr__(self, "shape", tuple(None if d is None else int(d) for d in shape))
        object.__setattr__(self, "dtype", dtypes.canonicalize(dtype))
        object.__setattr__(self, "weak_type", weak_type)

    def __repr__(self) -> str:
        dims = ", ".join("None" if d is None else str(d) for d in self.shape)
        return f"ShapeSpec(({dims}{',' if len(self.shape) == 1 else ''}), {self.dtype.name})"


def spec_of(leaf) -> ShapeSpec:
    """The ShapeSpec of an argument leaf: a ShapeSpec, an array, or a Python scalar."""
    if isinstance(leaf, ShapeSpec):
        return leaf
    if isinstance(leaf, (bool, int, float)) and not isinstance(leaf, np.generic):
        return ShapeSpec((), dtypes.python_scalar_dtype(leaf), weak_type=not isinstance(leaf, bool))
    if hasattr(leaf, "shape") and hasattr(leaf, "dtype"):
        try:
            return ShapeSpec(leaf.shape, dtypes.canonical_default(leaf.dtype))
        except TypeError as exc:
            raise TracingError(f"argument of dtype {leaf.dtype}: {exc}") from None
    raise TracingError(f"cannot trace an argument of type {type(leaf).__name__}; pass numpy "
                       "arrays, Python scalars or aotc.ShapeSpec (inside lists, tuples, dicts)")


def _fn_name(fn: Callable) -> str:
    name = getattr(fn, "__name__", "main")
    return name if name.isidentifier() and name != "<lambda>" else "main"


def lower(fn: Callable, *args, name: str | None = None) -> Traced:
    """Trace fn on arrays or ShapeSpecs (pytrees of them) into a StableHLO module.

    Example:
        >>> print(aotc.lower(lambda x: anp.sin(x) * 2, aotc.ShapeSpec((3,))))
    """
    leaves, in_tree = tree.flatten(args)
    specs = [spec_of(leaf) for leaf in leaves]
    weak = [s.weak_type for s in specs]

    def positional(*xs):
        return fn(*xs)

    traced = trace(positional, specs, in_tree, name or _fn_name(fn), weak_types=weak)
    return traced


class _Compiled:
    __slots__ = ("dtypes", "function", "module", "traced")

    def __init__(self, traced: Traced, target: str, specs, device=None):
        from aotc.tools.compile import compile_stablehlo
        from aotc_runtime import load_bytes

        self.traced = traced
        self.module = load_bytes(compile_stablehlo(traced.text_with_locations(), target),
                                 device=device)
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


def jit(fn: Callable, *, target: str = "cpu", device=None) -> Callable:
    """Compile fn with IREE for this CPU; compiled once per argument shapes/dtypes/structure.

    device: an IREE driver name or device for the runtime (default: the target's driver,
    'local-task'); 'local-sync' runs on the calling thread, faster for small programs on few
    cores.

    Example:
        >>> fast = aotc.jit(predict)
        >>> out = fast(params, x)        # numpy in, numpy out
    """
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
            compiled = cache[key] = _Compiled(lower(fn, *args), target, specs, device)
        arrays = [np.asarray(leaf, dtype=dt) for leaf, dt in zip(leaves, compiled.dtypes)]
        outs = compiled.function(*arrays)
        return tree.unflatten(compiled.traced.out_tree, outs)

    call.lower = lambda *args: lower(fn, *args)
    return call
