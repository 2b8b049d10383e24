"""Debug printing inside traced programs: `stablehlo.custom_call @aotc.debug_print`.

The traced op is a side-effecting custom_call without results whose backend_config is the
format string (and keyword names, as JSON). The interpreter prints with it; before IREE
compiles a module, the bounds pass rewrites it into IREE's `flow.tensor.trace`, which the
runtime hands to aotc_runtime's debug sink (aotc_runtime.debug) on CPU devices.
"""

import json

import numpy as np

from aotc.frontend.core.emit import emit
from aotc.frontend.core.ir import ir, shape_of
from aotc.frontend.core.registry import CUSTOM_CALL, custom_call_key, defzero, register

TARGET = "aotc.debug_print"
_OP = CUSTOM_CALL
_KEY = custom_call_key(TARGET)  # the rules of this call target


def format_values(key: str, values) -> str:
    """The printed line: key is JSON {"aotc.debug.print": fmt, "names": [keyword names]}; the
    last len(names) values are the keyword arguments; 0-d arrays print as scalars."""
    spec = json.loads(key)
    arrays = [np.asarray(v) for v in values]
    arrays = [a[()] if a.ndim == 0 else a for a in arrays]
    names = spec["names"]
    positional = arrays[:len(arrays) - len(names)]
    keywords = dict(zip(names, arrays[len(positional):]))
    return spec["aotc.debug.print"].format(*positional, **keywords)


def debug_print(fmt: str, values) -> None:
    """Emit a print of `values` (ir.Values) with the format string fmt."""
    emit(_OP, list(values), {
        "call_target_name": ir.StringAttr.get(TARGET),
        "has_side_effect": ir.BoolAttr.get(True),
        "backend_config": ir.StringAttr.get(fmt),
    }, result_types=[])


def is_debug_print(op: ir.Operation) -> bool:
    return op.name == _OP and ir.StringAttr(op.attributes["call_target_name"]).value == TARGET


def _fmt(op: ir.Operation) -> str:
    return ir.StringAttr(op.attributes["backend_config"]).value


def _impl(ctx, *values):
    print(format_values(_fmt(ctx.op), values), flush=True)
    return []


def _type_rule(types, attrs):
    return []


def _batch(ctx, operands, batched):
    debug_print(_fmt(ctx.op), operands)  # a batched value prints with its batch dim
    return [], []


def _to_flow_trace(ctx, operands):
    """IREE's spelling: flow.tensor.trace "fmt" = [values], with each dynamic dim's size."""
    index = ir.IndexType.get()
    loc = ctx.op.location
    dims = []
    for v in operands:
        for axis, d in enumerate(shape_of(v)):
            if d is None:
                position = ir.Operation.create("arith.constant", results=[index], attributes={
                    "value": ir.IntegerAttr.get(index, axis)}, loc=loc).result
                dims.append(ir.Operation.create("tensor.dim", results=[index],
                                                operands=[v, position], loc=loc).result)
    ir.Operation.create("flow.tensor.trace", results=[], operands=[*operands, *dims], attributes={
        "key": ir.StringAttr.get(_fmt(ctx.op)),
        "operandSegmentSizes": ir.DenseI32ArrayAttr.get([len(operands), len(dims)]),
    }, loc=loc)
    return []


register("type", _KEY, _type_rule)
register("interpret", _KEY, _impl)
defzero(_KEY)  # no results; the JVP walker keeps the print on the primal values
register("batch", _KEY, _batch)
register("bounds", _KEY, _to_flow_trace)
