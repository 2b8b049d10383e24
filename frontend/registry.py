"""The op registry: one table per transform, keyed by MLIR op name, filled beside each op.

Each op aotc emits is defined once in `frontend/ops/<family>.py` with
- a type rule `(operand_types, attrs) -> [result types]`,
- a numpy reference `IMPL[name](ctx, *operands) -> array | [arrays]` used by the interpreter,
and later transforms add their own rules to `JVP`, `TRANSPOSE`, `BATCH` the same way.
Registering a rule twice is an error.
"""

import os
import re
import sys
import threading
from collections.abc import Callable

import numpy as np

from aotc.frontend import dtypes
from aotc.frontend.errors import MissingRuleError
from aotc.frontend.ir import ir, shape_of, tensor_type

TYPE_RULE: dict[str, Callable] = {}
IMPL: dict[str, Callable] = {}
JVP: dict[str, Callable] = {}
TRANSPOSE: dict[str, Callable] = {}
BATCH: dict[str, Callable] = {}
VJP: dict[str, Callable] = {}  # control-flow ops only: reverse mode through their regions

TABLES = {"type": TYPE_RULE, "interpret": IMPL, "jvp": JVP, "transpose": TRANSPOSE, "batch": BATCH,
          "vjp": VJP}


def register(table: str, op_name: str, rule: Callable) -> Callable:
    rules = TABLES[table]
    if op_name in rules:
        raise ValueError(f"{table} rule for '{op_name}' is registered twice")
    rules[op_name] = rule
    return rule


def defop(op_name: str, type_rule: Callable, impl: Callable) -> str:
    """Define an op: its result-type rule and its numpy reference implementation."""
    register("type", op_name, type_rule)
    register("interpret", op_name, impl)
    return op_name


def rule(table: str, *op_names: str):
    """Decorator form of `register`, for one rule shared by several ops."""

    def decorate(fn):
        for name in op_names:
            register(table, name, fn)
        return fn

    return decorate


def lookup(table: str, op_name: str, where: str = "") -> Callable:
    rules = TABLES[table]
    if op_name not in rules:
        raise MissingRuleError(table, op_name, where)
    return rules[op_name]


# ---- locations: every traced op carries the user's file:line ----------------------------------

_AOTC_DIRS = tuple(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep + d + os.sep
    for d in ("frontend", "passes", "tools", "aotc")
)


def user_frame():
    """The innermost Python frame outside aotc itself: the user's call site."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_AOTC_DIRS):
        frame = frame.f_back
    return frame


def where() -> str:
    """'file.py:12' of the user's call site, for error messages."""
    frame = user_frame()
    return f"{frame.f_code.co_filename}:{frame.f_lineno}" if frame else "<unknown>"


_LOCATION = threading.local()


class at_location:
    """Make `emit` use `loc` (a pass re-emitting an op keeps the op's own location)."""

    def __init__(self, loc: ir.Location):
        self.loc = loc

    def __enter__(self):
        self.saved = getattr(_LOCATION, "loc", None)
        _LOCATION.loc = self.loc

    def __exit__(self, *exc):
        _LOCATION.loc = self.saved


def user_location() -> ir.Location:
    override = getattr(_LOCATION, "loc", None)
    if override is not None:
        return override
    frame = user_frame()
    if frame is None:
        return ir.Location.unknown()
    col = 0
    for i, pos in enumerate(frame.f_code.co_positions()):
        if i == frame.f_lasti // 2:
            col = (pos[2] or 0) + 1
            break
    return ir.Location.file(frame.f_code.co_filename, frame.f_lineno, col)


def location_text(loc: ir.Location) -> str:
    """'file.py:12:5' from an MLIR location (empty when unknown)."""
    match = re.search(r'"([^"]+)":(\d+):(\d+)', str(loc))
    return f"{match[1]}:{match[2]}:{match[3]}" if match else ""


# ---- building ops ------------------------------------------------------------------------------


def emit(
    op_name: str,
    operands,
    attributes: dict | None = None,
    *,
    result_types=None,
    regions: int = 0,
) -> ir.Operation:
    """Create `op_name` at the current insertion point, with the user's location.

    Result types come from the op's type rule unless given (ops with regions give them).
    """
    attributes = {k: v for k, v in (attributes or {}).items() if v is not None}
    if result_types is None:
        result_types = lookup("type", op_name)([v.type for v in operands], Attrs(attributes))
    return ir.Operation.create(
        op_name,
        results=list(result_types),
        operands=list(operands),
        attributes=attributes,
        regions=regions,
        loc=user_location(),
    )


def emit1(op_name: str, operands, attributes: dict | None = None, **kw) -> ir.Value:
    return emit(op_name, operands, attributes, **kw).result


# ---- attribute helpers, shared by builders, type rules and impls ------------------------------


def i64_array(values) -> ir.Attribute:
    return ir.DenseI64ArrayAttr.get([int(v) for v in values])


def i64(value: int) -> ir.Attribute:
    return ir.IntegerAttr.get(ir.IntegerType.get_signless(64), int(value))


def enum(dialect_enum: str, value: str) -> ir.Attribute:
    """e.g. enum('comparison_direction', 'GT') -> #stablehlo<comparison_direction GT>."""
    return ir.Attribute.parse(f"#stablehlo<{dialect_enum} {value}>")


class Attrs:
    """Read access to an op's attributes as Python values."""

    def __init__(self, attributes):
        self._attrs = attributes

    @classmethod
    def of(cls, op) -> "Attrs":
        op = op.operation
        return cls({name: op.attributes[name] for name in op.attributes})

    def __contains__(self, name):
        return name in self._attrs

    def raw(self, name) -> ir.Attribute:
        return self._attrs[name]

    def ints(self, name, default=None) -> list[int]:
        if name not in self._attrs:
            return default
        attr = self._attrs[name]
        if isinstance(attr, ir.DenseI64ArrayAttr) or hasattr(attr, "__len__"):
            try:
                return [int(v) for v in ir.DenseI64ArrayAttr(attr)]
            except (ValueError, TypeError):
                pass
        return [int(v) for v in np.array(ir.DenseElementsAttr(attr)).ravel()]

    def int(self, name, default=None) -> int:
        if name not in self._attrs:
            return default
        return ir.IntegerAttr(self._attrs[name]).value

    def bool(self, name, default=False) -> bool:
        if name not in self._attrs:
            return default
        return ir.BoolAttr(self._attrs[name]).value

    def array(self, name) -> np.ndarray:
        return np.array(ir.DenseElementsAttr(self._attrs[name]))

    def enum(self, name, default=None) -> str:
        """The value of '#stablehlo<comparison_direction GT>' -> 'GT'."""
        if name not in self._attrs:
            return default
        return str(self._attrs[name]).rstrip(">").split()[-1]

    def text(self, name) -> str:
        return str(self._attrs[name])


def same_shape_type(operand_types, attrs) -> list:
    return [operand_types[0]]


def with_element(t: ir.Type, element: ir.Type) -> ir.RankedTensorType:
    return tensor_type(shape_of(t), element)


def numpy_dtype(t: ir.Type) -> np.dtype:
    return dtypes.from_mlir(ir.RankedTensorType(t).element_type)


# ---- autodiff helpers shared by the op files ---------------------------------------------------


def zero_jvp(ctx, primals, tangents):
    """JVP of an op whose derivative is zero everywhere (compare, floor, sign, iota, ...)."""
    return [None] * len(ctx.results)


def is_zero_jvp(rule) -> bool:
    return rule is zero_jvp


def defzero(*op_names: str) -> None:
    """List ops whose outputs carry no tangent."""
    for name in op_names:
        register("jvp", name, zero_jvp)


def structural_jvp(*linear_operands: int):
    """JVP of an op that is linear in `linear_operands` (others are indices, shapes, ...): the same
    op, cloned, with those operands replaced by their tangents (zeros filled in)."""

    def jvp(ctx, primals, tangents):
        if all(tangents[i] is None for i in linear_operands):
            return [None] * len(ctx.results)
        from aotc.frontend.ops import values

        filled = {i: values.instantiate(tangents[i], primals[i]) for i in linear_operands}
        new = ctx.op.clone()  # after the zeros it uses, so they are defined before it
        for i, v in filled.items():
            new.operation.operands[i] = v
        return list(new.operation.results)

    return jvp


def builds_own_op(rule):
    """Mark a JVP rule of a control-flow op: it emits the differentiated op itself (its regions
    include tangent code) and returns (primal outputs, tangent outputs)."""
    rule.builds_own_op = True
    return rule


# Functions whose derivative the user defined (custom_jvp / custom_vjp) or that are recomputed in
# reverse mode (checkpoint): traced into private functions carrying `aotc.custom = "<key>"`.
CUSTOM_CALLS: dict[str, object] = {}
