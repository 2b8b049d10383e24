"""A numpy reference interpreter for StableHLO functions built from registered ops.

`interpret(module, "main", *args)` evaluates a function with each op's `IMPL` rule. Given float64
inputs it computes every float value in float64, whatever the IR's float types: a fast, exact
oracle for pass tests and a second opinion on IREE's numbers.
"""

import numpy as np

from aotc.frontend import dtypes
from aotc.frontend.errors import TracingError
from aotc.frontend.ir import find_function, ir, new_context, shape_of
from aotc.frontend.ops.control import callee_of
from aotc.frontend.registry import Attrs, location_text, lookup

_TERMINATORS = ("func.return", "stablehlo.return")


class ImplContext:
    """What an IMPL rule sees of its op: attributes, result types, and its regions to run."""

    def __init__(self, interp: "_Interpreter", op: ir.Operation):
        self._interp = interp
        self.op = op
        self.attrs = Attrs.of(op)

    @property
    def num_regions(self) -> int:
        return len(self.op.regions)

    def region(self, i: int) -> ir.Region:
        return self.op.regions[i]

    def run_region(self, i: int, *args) -> list[np.ndarray]:
        return self._interp.run_block(self.op.regions[i].blocks[0], args)

    def result_dtype(self, i: int) -> np.dtype:
        return self._interp.dtype_of(self.op.results[i].type)

    def result_shape(self, i: int) -> tuple:
        return shape_of(self.op.results[i].type)


class _Interpreter:
    def __init__(self, module: ir.Module, float64: bool):
        self.module = module
        self.float64 = float64
        self.env: dict = {}

    def dtype_of(self, t: ir.Type) -> np.dtype:
        dt = dtypes.from_mlir(ir.RankedTensorType(t).element_type)
        return dtypes.float64 if self.float64 and dtypes.is_float(dt) else dt

    def call(self, name: str, args) -> list[np.ndarray]:
        fn = find_function(self.module, name)
        block = fn.regions[0].blocks[0]
        if len(args) != len(block.arguments):
            raise TracingError(
                f"function '{name}' takes {len(block.arguments)} arguments, got {len(args)}")
        return self.run_block(block, args)

    def run_block(self, block: ir.Block, args) -> list[np.ndarray]:
        env = self.env
        for param, arg in zip(block.arguments, args):
            env[param] = np.asarray(arg, dtype=self.dtype_of(param.type))
        for op in block.operations:
            op = op.operation
            name = op.name
            operands = [env[v] for v in op.operands]
            if name in _TERMINATORS:
                return operands
            callee = callee_of(op)
            if callee is not None:
                outs = self.call(callee, operands)
            else:
                impl = lookup("interpret", name, location_text(op.location))
                with np.errstate(all="ignore"):
                    outs = impl(ImplContext(self, op), *operands)
            if not isinstance(outs, (list, tuple)):
                outs = [outs]
            for result, value in zip(op.results, outs):
                env[result] = np.asarray(value).astype(self.dtype_of(result.type), copy=False)
        raise TracingError("block ended without a terminator")


def _parse(module_or_text):
    if isinstance(module_or_text, ir.Module):
        return module_or_text
    if isinstance(module_or_text, str):
        with new_context():
            return ir.Module.parse(module_or_text)
    raise TypeError(f"expected an ir.Module or MLIR text, got {type(module_or_text).__name__}")


def interpret(module_or_text, function: str = "main", *args):
    """Evaluate `function` of a StableHLO module with numpy; returns a list of arrays.

    Example:
        >>> interpret(aotc.lower(lambda x: anp.sin(x) * 2, x).module, "main", x)
    """
    module = _parse(module_or_text)
    args = [np.asarray(a) for a in args]
    float64 = any(a.dtype == np.float64 for a in args)
    with module.context:
        return _Interpreter(module, float64).call(function, args)
