"""Eager calls: aotc.numpy / nn / lax functions called on concrete arrays outside any trace.

A JAX user can write `anp.tanh(np.ones(3))` at the prompt. Outside a trace such a call is traced
on its array arguments and evaluated by the reference interpreter, so it gives exactly the
values and dtypes that the same call inside `aotc.jit` has (up to IREE's float rounding).
"""

import functools
import types

import numpy as np

from aotc.frontend.core import tree
from aotc.frontend.trace.tracer import is_tracing

# Functions that answer questions about their arguments rather than computing arrays.
_NOT_TRACED = {"shape", "ndim", "size", "result_type", "promote_types", "dtype", "can_cast"}


def _is_array(leaf) -> bool:
    return isinstance(leaf, (np.ndarray, np.generic)) and not isinstance(leaf, (bool, int, float))


def eager(fn):
    """Make fn usable outside a trace: trace it on its array arguments and interpret it."""

    @functools.wraps(fn)
    def call(*args, **kwargs):
        if is_tracing():
            return fn(*args, **kwargs)
        from aotc.frontend.trace.lower import lower
        from aotc.passes.interpreter import interpret

        leaves, treedef = tree.flatten((args, kwargs))
        slots = [i for i, leaf in enumerate(leaves) if _is_array(leaf)]

        def on_arrays(*arrays):
            filled = list(leaves)
            for i, array in zip(slots, arrays):
                filled[i] = array
            call_args, call_kwargs = tree.unflatten(treedef, filled)
            return fn(*call_args, **call_kwargs)

        arrays = [leaves[i] for i in slots]
        traced = lower(on_arrays, *arrays, name="eager")
        outs = interpret(traced.module, traced.name,
                         *[np.asarray(a, s) for a, s in zip(arrays, _arg_dtypes(traced))])
        return tree.unflatten(traced.out_tree, outs)

    return call


def _arg_dtypes(traced) -> list:
    from aotc.frontend.core import dtypes
    from aotc.frontend.core.ir import ir

    with traced.module.context:
        fn = next(op for op in traced.module.body.operations if op.operation.name == "func.func")
        inputs = ir.FunctionType(ir.TypeAttr(fn.attributes["function_type"]).value).inputs
        return [dtypes.from_mlir(ir.RankedTensorType(t).element_type) for t in inputs]


def wrap_namespace(namespace: dict) -> None:
    """Replace each public aotc function in a module namespace by its eager-capable form."""
    for name, value in list(namespace.items()):
        if (isinstance(value, types.FunctionType) and not name.startswith("_")
                and name not in _NOT_TRACED and value.__module__.startswith("aotc.frontend")):
            namespace[name] = eager(value)
