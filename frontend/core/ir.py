"""The one place aotc imports the MLIR Python bindings (bundled in the IREE compiler wheel).

Everything else imports `ir`, `func` and the small helpers from here.
"""

from iree.compiler import ir
from iree.compiler._mlir_libs import _mlir
from iree.compiler.dialects import func

_mlir.globals.append_dialect_search_prefix("aotc.frontend.core.dialects")

__all__ = [
    "DYNAMIC",
    "clone_remapped",
    "replace_uses",
    "uses_any",
    "element_type",
    "func",
    "ir",
    "new_context",
    "shape_of",
    "tensor_type",
]

DYNAMIC = ir.ShapedType.get_dynamic_size()


# The dialects aotc builds ops, types and attributes of. The parser loads any other registered
# dialect (util, hal, linalg, ...) when a text names it. Loading all ~30 that IREE registers took
# 15 ms per context (1 ms for these): a third of tracing and differentiating a small function.
DIALECTS = ("builtin", "func", "stablehlo", "chlo", "arith", "tensor", "flow", "util", "hal")


def new_context() -> ir.Context:
    """A context with aotc's dialects loaded (DIALECTS)."""
    return ir.Context(load_on_create_dialects=list(DIALECTS))


def tensor_type(shape, element: ir.Type) -> ir.RankedTensorType:
    """`tensor<...>` of `shape`, where None marks a dynamic dimension."""
    return ir.RankedTensorType.get([DYNAMIC if d is None else int(d) for d in shape], element)


def shape_of(value_or_type) -> tuple:
    """The static shape of a ranked tensor value or type, with None for dynamic dimensions."""
    t = value_or_type if isinstance(value_or_type, ir.Type) else value_or_type.type
    t = ir.RankedTensorType(t)
    return tuple(None if t.is_dynamic_dim(i) else d for i, d in enumerate(t.shape))


def element_type(value_or_type) -> ir.Type:
    t = value_or_type if isinstance(value_or_type, ir.Type) else value_or_type.type
    return ir.RankedTensorType(t).element_type


def replace_uses(op, mapping: dict) -> None:
    """Replace, in op and everything nested in it, operands that are keys of mapping."""

    def remap(inner):
        inner = inner.operation
        for i, v in enumerate(inner.operands):
            if v in mapping:
                inner.operands[i] = mapping[v]
        return ir.WalkResult.ADVANCE

    op.operation.walk(remap)


def uses_any(op, values) -> bool:
    """Whether op or anything nested in it has an operand in `values` (a set or dict)."""
    found = False

    def visit(inner):
        nonlocal found
        if any(v in values for v in inner.operation.operands):
            found = True
        return ir.WalkResult.ADVANCE

    op.operation.walk(visit)
    return found


def clone_remapped(op: ir.Operation, env: dict) -> ir.Operation:
    """Clone op (with its regions) at the insertion point, mapping operands and captured values
    through env."""
    new = op.clone()
    replace_uses(new, env)
    return new.operation


def module_body(module) -> ir.Block:
    """The body block of an ir.Module or of a builtin.module operation."""
    return module.operation.regions[0].blocks[0]


def functions(module) -> dict:
    """The module's func.func ops by symbol name."""
    found = {}
    for op in module_body(module).operations:
        if op.operation.name == "func.func":
            found[ir.StringAttr(op.attributes["sym_name"]).value] = op
    return found


def find_function(module, name: str):
    fns = functions(module)
    if name not in fns:
        from aotc.frontend.core.errors import TracingError

        raise TracingError(f"no function '{name}' in the module; it has: {', '.join(fns)}")
    return fns[name]
