"""Tracing: a `Tracer` wraps one `ir.Value`; calling a Python function on tracers emits StableHLO.

Shape and dtype are read from the value's MLIR type, never stored twice. The only extra fact a
Tracer keeps is JAX's weak type flag (a Python scalar that has not yet met a typed array).
"""

import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from aotc.frontend.core import dtypes, placement, tree
from aotc.frontend.core.errors import ConcretizationError, TracingError
from aotc.frontend.core.ir import func, ir, new_context, shape_of, tensor_type
from aotc.frontend.core.source import caller_site, user_location
from aotc.frontend.ops import shape as shape_ops
from aotc.frontend.trace import symbolic


class Tracer:
    """A traced array. Behaves like a NumPy array inside `aotc.jit`, `aotc.lower`, `aotc.export`."""

    __slots__ = ("value", "weak_type")
    __array_priority__ = 100

    def __init__(self, value: ir.Value, weak_type: bool = False):
        self.value = value
        self.weak_type = weak_type

    # ---- read from the IR type ----
    @property
    def shape(self) -> tuple:
        shape = shape_of(self.value)
        if None in shape and symbolic.from_user():  # user code gets Dims (aotc's own: None)
            return symbolic.user_shape(self.value)
        return shape

    @property
    def dtype(self) -> np.dtype:
        return dtypes.from_mlir(ir.RankedTensorType(self.value.type).element_type)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int | None:
        n = 1
        for d in self.shape:
            if d is None:
                return None
            n *= d
        return n

    @property
    def mlir_type(self) -> ir.RankedTensorType:
        return ir.RankedTensorType(self.value.type)

    def __repr__(self) -> str:
        weak = ", weak_type=True" if self.weak_type else ""
        return f"Tracer(shape={self.shape}, dtype={self.dtype}{weak})"

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d traced array")
        if self.shape[0] is None:
            raise ConcretizationError(f"{caller_site()}: len() of a dynamic dimension is not known "
                                      "while tracing; use x.shape with a static size instead")
        return self.shape[0]

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    # ---- Python needs a concrete value: refuse with a useful message ----
    def _concretize(self, what: str):
        raise ConcretizationError(
            f"{caller_site()}: {what} needs the value of a traced array {self.shape} {self.dtype}, "
            "which is only known when the compiled program runs. Use anp.where(cond, a, b) "
            "or aotc.lax.cond(pred, true_fn, false_fn, ...) instead of Python `if`, and "
            "aotc.lax.fori_loop / while_loop instead of Python loops over traced values."
        )

    def __bool__(self):
        self._concretize("bool() (an `if`, `while`, `and`/`or`, or `assert`)")

    def __int__(self):
        self._concretize("int()")

    def __float__(self):
        self._concretize("float()")

    def __index__(self):
        self._concretize("using it as a Python index (__index__)")

    def __complex__(self):
        self._concretize("complex()")

    def __array__(self, dtype=None, copy=None):
        self._concretize("conversion to a NumPy array (np.asarray)")

    def __hash__(self):
        return id(self)


_STATE = threading.local()


def is_tracing() -> bool:
    return getattr(_STATE, "depth", 0) > 0


class tracing:
    """Context manager marking that a trace is live on this thread."""

    def __enter__(self):
        _STATE.depth = getattr(_STATE, "depth", 0) + 1

    def __exit__(self, *exc):
        _STATE.depth -= 1


def constant(value, dtype=None, weak_type: bool = False) -> Tracer:
    return Tracer(shape_ops.constant(value, dtype), weak_type)


_SEQUENCE_CONVERTER: list = []


def convert_sequences_with(convert) -> None:
    """Set how to_tracer turns (nested) lists and tuples into arrays: aotc.numpy's asarray,
    which promotes and stacks them, registers itself here (it sits in a higher layer)."""
    _SEQUENCE_CONVERTER[:] = [convert]


def to_tracer(x) -> Tracer:
    """A Tracer for x: tracers pass through, Python scalars become weak constants."""
    if isinstance(x, Tracer):
        return x
    if isinstance(x, symbolic.Dim):  # a dynamic dim as a value: a weak int32 scalar
        return Tracer(x.emit(), weak_type=True)
    if isinstance(x, (bool, int, float, complex)) and not isinstance(x, np.generic):
        dt = dtypes.python_scalar_dtype(x)
        if dt == dtypes.int32 and not (-(2**31) <= x < 2**31):
            raise TracingError(f"{caller_site()}: Python int {x} does not fit in int32")
        return constant(np.asarray(x, dt), weak_type=not isinstance(x, bool))
    if isinstance(x, (np.ndarray, np.generic)):
        return constant(dtypes.canonicalize_array(np.asarray(x)))
    if isinstance(x, (list, tuple)) and _SEQUENCE_CONVERTER:
        return _SEQUENCE_CONVERTER[0](x)
    raise TypeError(
        f"{caller_site()}: {type(x).__name__} is not an array; aotc traces numpy arrays, Python "
        "scalars and aotc.numpy values"
    )


# ---- tracing a Python function into a func.func ------------------------------------------------


def _leaf_type(leaf) -> ir.RankedTensorType:
    return tensor_type(leaf.shape, dtypes.to_mlir(leaf.dtype))


def trace_into_block(fn: Callable, block_args, arg_treedef, weak_types=None):
    """Call fn on tracers of block_args (unflattened by arg_treedef); returns (out leaves, def)."""
    weak_types = weak_types or [False] * len(block_args)
    tracers = [Tracer(v, w) for v, w in zip(block_args, weak_types)]
    out = fn(*tree.unflatten(arg_treedef, tracers))
    leaves, out_def = tree.flatten(out)
    return [to_tracer(leaf) for leaf in leaves], out_def


@dataclass
class Traced:
    """A traced function: its module, the function's name, and the pytree structure of results."""

    module: ir.Module
    name: str
    in_tree: tree.TreeDef
    out_tree: tree.TreeDef
    out_weak: list

    def __str__(self) -> str:
        return str(self.module)

    @property
    def text(self) -> str:
        return self.module.operation.get_asm(enable_debug_info=False)

    def text_with_locations(self) -> str:
        return self.module.operation.get_asm(enable_debug_info=True)


def trace(fn: Callable, leaf_specs, in_tree: tree.TreeDef, name: str = "main",
          module=None, weak_types=None, private: bool = False) -> Traced:
    """Trace fn(*args) where args has structure in_tree and leaves shaped like leaf_specs.

    leaf_specs are objects with .shape (None = dynamic) and .dtype. Adds `func.func @name` to
    `module` (an ir.Module or a builtin.module operation; a new module in a new context when None).
    """
    if module is None:
        symbolic.forget()
        placement.forget()
    context = module.context if module is not None else new_context()
    float64 = any(np.dtype(s.dtype) == dtypes.float64 for s in leaf_specs)
    with context, ir.Location.unknown(), tracing(), dtypes.float64_inputs(float64):
        if module is None:
            module = ir.Module.create()
        body = module.body if isinstance(module, ir.Module) else module.regions[0].blocks[0]
        arg_types = [_leaf_type(s) for s in leaf_specs]
        with ir.InsertionPoint(body):
            fn_op = func.FuncOp(name, ir.FunctionType.get(arg_types, []), loc=user_location())
        if private:
            fn_op.attributes["sym_visibility"] = ir.StringAttr.get("private")
        block = fn_op.add_entry_block()
        symbolic.name_arguments(block.arguments, leaf_specs)
        with ir.InsertionPoint(block):
            leaves, out_def = trace_into_block(fn, list(block.arguments), in_tree, weak_types)
            func.ReturnOp([leaf.value for leaf in leaves], loc=user_location())
        fn_op.attributes["function_type"] = ir.TypeAttr.get(
            ir.FunctionType.get(arg_types, [leaf.value.type for leaf in leaves]))
        fn_op.verify()
    return Traced(module, name, in_tree, out_def, [leaf.weak_type for leaf in leaves])


def current_module() -> ir.Operation:
    """The builtin.module operation the live trace is emitting into."""
    op = ir.InsertionPoint.current.block.owner.operation
    while op.name != "builtin.module":
        op = op.parent.operation
    return op
