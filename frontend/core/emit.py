"""Building ops: `emit` at the insertion point with the user's location, and attribute
encoding and decoding."""


import numpy as np

from aotc.frontend.core.ir import ir, shape_of, tensor_type
from aotc.frontend.core.registry import lookup
from aotc.frontend.core.source import user_location

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
