"""A numpy reference interpreter for StableHLO functions built from registered ops.

`interpret(module, "main", *args)` evaluates a function with each op's `IMPL` rule. Given float64
inputs it computes every float value in float64, whatever the IR's float types: a fast, exact
oracle for pass tests and a second opinion on IREE's numbers.
"""

import numpy as np

from aotc.frontend.core import dtypes, shardy
from aotc.frontend.core.errors import TracingError
from aotc.frontend.core.ir import find_function, ir, new_context, shape_of
from aotc.passes.walker import RuleContext, Walker, entry_block


class ImplContext(RuleContext):
    """What an IMPL rule sees of its op: attributes, result types, and its regions to run."""

    @property
    def num_regions(self) -> int:
        return len(self.op.regions)

    def region(self, i: int) -> ir.Region:
        return self.op.regions[i]

    def run_region(self, i: int, *args) -> list[np.ndarray]:
        return self.walker.run_block(self.op.regions[i].blocks[0], args)

    def result_dtype(self, i: int) -> np.dtype:
        return self.walker.dtype_of(self.op.results[i].type)

    def result_shape(self, i: int) -> tuple:
        return shape_of(self.op.results[i].type)


class Interpreter(Walker):
    """Source values become numpy arrays; each op runs its IMPL rule."""

    table = "interpret"

    def __init__(self, module: ir.Module, float64: bool):
        super().__init__(module)
        self.float64 = float64

    def dtype_of(self, t: ir.Type) -> np.dtype:
        dt = dtypes.from_mlir(ir.RankedTensorType(t).element_type)
        if self.float64 and dtypes.is_complex(dt):
            return dtypes.complex128
        return dtypes.float64 if self.float64 and dtypes.is_float(dt) else dt

    def bind(self, source: ir.Value, value) -> None:
        self.env[source] = np.asarray(value).astype(self.dtype_of(source.type), copy=False)

    def visit(self, op: ir.Operation) -> list:
        impl = self.rule(op)
        with np.errstate(all="ignore"):
            outs = impl(ImplContext(op, self), *[self.env[v] for v in op.operands])
        return list(outs) if isinstance(outs, (list, tuple)) else [outs]


def _parse(module_or_text):
    if isinstance(module_or_text, ir.Module):
        return module_or_text
    if isinstance(module_or_text, str):
        with new_context():  # JAX's sdy.sharding_rule attributes name an unregistered dialect
            try:
                return ir.Module.parse(shardy.without_sharding_rules(module_or_text))
            except ir.MLIRError as exc:
                raise TracingError(f"could not parse the MLIR text: {exc}") from None
    raise TypeError(f"expected an ir.Module or MLIR text, got {type(module_or_text).__name__}")


def interpret(module_or_text, function: str = "main", *args):
    """Evaluate `function` of a StableHLO module with numpy; returns a list of arrays.

    Example:
        >>> interpret(aotc.lower(lambda x: anp.sin(x) * 2, x).module, "main", x)
    """
    module = _parse(module_or_text)
    args = [np.asarray(a) for a in args]
    float64 = any(a.dtype in (np.float64, np.complex128) for a in args)
    with module.context:
        _check_shapes(module, function, args)
        return Interpreter(module, float64).run_function(function, args)


def _check_shapes(module, function: str, args: list) -> None:
    """A TracingError naming the argument whose shape does not fit @function's type."""
    for i, (arg, param) in enumerate(zip(args, entry_block(find_function(module, function))
                                         .arguments)):
        if not isinstance(param.type, ir.RankedTensorType):
            continue
        want = shape_of(param)
        if len(want) != arg.ndim or any(w is not None and w != g for w, g in zip(want, arg.shape)):
            raise TracingError(f"argument {i} of @{function} has shape {arg.shape}, but the "
                               f"function takes {param.type}")
