"""Entry points: ShapeSpec, lower, jit."""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from aotc.frontend.core import dtypes, tree
from aotc.frontend.core.errors import TracingError
from aotc.frontend.trace.tracer import Traced, trace


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
