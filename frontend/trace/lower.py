"""Entry points: ShapeSpec (and JAX's ShapeDtypeStruct), lower, eval_shape."""

import inspect
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from aotc.frontend.core import dtypes, tree
from aotc.frontend.core.errors import TracingError
from aotc.frontend.core.ir import ir
from aotc.frontend.trace.tracer import Traced, trace
from aotc.passes import dims, functions


@dataclass(frozen=True)
class ShapeSpec:
    """The abstract value of an argument: a shape and a dtype. A dynamic dimension is a name
    (dims of one name are declared equal: aotc checks it at every call) or None (a dynamic
    size of its own, equal to no other).

    Example:
        aotc.lower(predict, params, aotc.ShapeSpec(("batch", 784), "float32"))
    """

    shape: tuple  # None for every dynamic dimension, named or not
    dtype: np.dtype = dtypes.float32
    weak_type: bool = False
    names: tuple = ()  # per dimension: the name of a named dynamic dim, else None

    def __init__(self, shape, dtype="float32", weak_type: bool = False):
        names = tuple(_dim_name(d) for d in shape)
        object.__setattr__(self, "shape", tuple(
            None if d is None or isinstance(d, str) else int(d) for d in shape))
        object.__setattr__(self, "dtype", dtypes.canonicalize(dtype))
        object.__setattr__(self, "weak_type", weak_type)
        object.__setattr__(self, "names", names if any(names) else ())

    @property
    def dims(self) -> tuple:
        """The shape with each named dynamic dim as its name: ('batch', 784)."""
        if not self.names:
            return self.shape
        return tuple(n if n is not None else d for d, n in zip(self.shape, self.names))

    def __repr__(self) -> str:
        dims = ", ".join(repr(d) for d in self.dims)
        return f"ShapeSpec(({dims}{',' if len(self.shape) == 1 else ''}), {self.dtype.name})"


class ShapeDtypeStruct(ShapeSpec):
    """JAX's name for an abstract array, with JAX's signature: ShapeDtypeStruct(shape, dtype).
    A ShapeSpec (aotc.lower, aotc.jit(...).lower and aotc.eval_shape take either);
    aotc.eval_shape returns these.

    Example:
        >>> aotc.eval_shape(lambda x: x @ x.T, aotc.ShapeDtypeStruct((3, 4), np.float32))
        ShapeDtypeStruct(shape=(3, 3), dtype=float32)
    """

    def __init__(self, shape, dtype, *, weak_type: bool = False, sharding=None):
        if sharding is not None:
            raise TracingError("ShapeDtypeStruct(sharding=...): aotc compiles for one device; "
                               "leave sharding out")
        super().__init__(shape, dtype, weak_type)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int | None:
        return None if None in self.shape else int(np.prod(self.shape, dtype=np.int64))

    def __repr__(self) -> str:
        dims = ", ".join(repr(d) for d in self.dims)
        weak = ", weak_type=True" if self.weak_type else ""
        return (f"ShapeDtypeStruct(shape=({dims}{',' if len(self.shape) == 1 else ''}), "
                f"dtype={self.dtype.name}{weak})")


def _dim_name(d) -> str | None:
    if isinstance(d, str):
        if not d.isidentifier():
            raise TracingError(f"ShapeSpec dim {d!r}: a dynamic dim's name must be a Python "
                               "identifier, e.g. 'batch'")
        return d
    return None


def spec_of(leaf) -> ShapeSpec:
    """The ShapeSpec of an argument leaf: a ShapeSpec, an array, or a Python scalar."""
    if isinstance(leaf, ShapeSpec):
        return leaf
    if isinstance(leaf, (bool, int, float, complex)) and not isinstance(leaf, np.generic):
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
    check_dims(traced, specs, _positional_names(fn))
    return traced


def check_dims(traced: Traced, specs, arg_names) -> list[tuple]:
    """TracingError where traced combines dynamic dims that may differ (aotc.passes.dims).
    specs: the ShapeSpec of every argument leaf; arg_names: the top-level arguments' names.
    Returns each result's dims (names for named dynamic dims, None for other dynamic ones)."""
    if not any(None in s.shape for s in specs):
        return []  # static shapes only: the verifier has checked every op
    leaves = []
    for i, child in enumerate(traced.in_tree.children):
        arg = arg_names[i] if i < len(arg_names) else f"argument {i}"
        leaves.extend(arg + path for path in tree.leaf_paths(child))
    return dims.check(traced.module, traced.name,
                      [(leaf, s.dims) for leaf, s in zip(leaves, specs)])


def _positional_names(fn: Callable) -> list[str]:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return []
    return [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


def eval_shape(fn: Callable, *args, **kwargs):
    """The shapes and dtypes of fn's results, as a pytree of ShapeDtypeStruct, by tracing fn on
    args (arrays, Python scalars, ShapeSpec/ShapeDtypeStruct, in pytrees) without compiling or
    running it, like jax.eval_shape. A dynamic dimension comes back as its name, else None.

    Example:
        >>> aotc.eval_shape(anp.outer, np.ones(3), aotc.ShapeDtypeStruct((4,), "float32"))
        ShapeDtypeStruct(shape=(3, 4), dtype=float32)
    """

    def positional(args, kwargs):
        return fn(*args, **kwargs)

    leaves, in_tree = tree.flatten((args, kwargs))
    specs = [spec_of(leaf) for leaf in leaves]
    traced = trace(positional, specs, in_tree, _fn_name(fn),
                   weak_types=[s.weak_type for s in specs])
    out_dims = check_dims(traced, specs, ["args", "kwargs"])
    results = functions.function_type(functions.find_function(traced.module, traced.name)).results
    structs = []
    for k, (result, weak) in enumerate(zip(results, traced.out_weak)):
        tensor = ir.RankedTensorType(result)
        shape = out_dims[k] if out_dims else tuple(
            None if tensor.is_dynamic_dim(i) else tensor.shape[i] for i in range(tensor.rank))
        structs.append(ShapeDtypeStruct(shape, dtypes.from_mlir(tensor.element_type),
                                        weak_type=weak))
    return tree.unflatten(traced.out_tree, structs)
