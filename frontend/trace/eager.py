"""Eager calls: aotc.numpy / nn / lax functions called on concrete arrays outside any trace.

A JAX user can write `anp.tanh(np.ones(3))` at the prompt. Outside a trace such a call is traced
on its array arguments and evaluated by the reference interpreter, so it gives exactly the
values and dtypes that the same call inside `aotc.jit` has (up to IREE's float rounding).

The trace is kept per signature, as `aotc.jit` keeps its compiled programs: the function, the
argument structure, each array's shape and dtype and every other (static) argument's value. A
cache hit only interprets. Like `aotc.jit`, a function's other inputs (a global array it reads)
are constants of its trace. Each thread traces into one MLIR context of its own (contexts are not
thread-safe); its cache holds the last few hundred traces, and the context is renewed now and
then, because an MLIR context never frees the types and attributes it interns. So a long loop of
eager calls keeps a flat memory profile.
"""

import functools
import threading
import types
from collections import OrderedDict

import numpy as np

from aotc.frontend.core import registry, tree
from aotc.frontend.core.ir import ir, new_context
from aotc.frontend.trace.tracer import is_tracing, trace

CACHE_SIZE = 256  # traces kept per thread
RENEW_AFTER = 2048  # traces into one context before the thread starts a fresh one

# Functions that answer questions about their arguments rather than computing arrays, and
# trim_zeros, whose output length depends on its (static, host) values.
_NOT_TRACED = {"shape", "ndim", "size", "result_type", "promote_types", "dtype", "can_cast",
               "trim_zeros"}
# Host functions of aotc.numpy (frontend/numpy/dtypes_api.py): predicates, printing and I/O.
_NOT_TRACED |= {
    "isdtype", "issubdtype", "isscalar", "iterable", "broadcast_shapes", "einsum_path",
    "array_repr", "array_str", "get_printoptions", "set_printoptions", "printoptions", "load",
    "save", "savez", "frombuffer", "fromstring", "fromiter", "fromfile",
}
# Static layout helpers of aotc.lax (frontend/lax/more.py).
_NOT_TRACED |= {"conv_dimension_numbers", "conv_general_permutations", "conv_shape_tuple",
                "conv_general_shape_tuple", "conv_transpose_shape_tuple",
                "reduce_window_shape_tuple"}


def _is_array(leaf) -> bool:
    return isinstance(leaf, (np.ndarray, np.generic)) and not isinstance(leaf, (bool, int, float))


class _ThreadState(threading.local):
    """One thread's MLIR context and its cache of traces, most recently used last."""

    def __init__(self):
        self.context = None
        self.traces = 0
        self.cache: OrderedDict = OrderedDict()


_STATE = _ThreadState()


class _Entry:
    __slots__ = ("dtypes", "traced")

    def __init__(self, traced):
        self.traced = traced
        self.dtypes = _arg_dtypes(traced)


def eager(fn):
    """Make fn usable outside a trace: trace it on its array arguments (once per signature) and
    interpret it."""

    @functools.wraps(fn)
    def call(*args, **kwargs):
        if is_tracing():
            return fn(*args, **kwargs)
        from aotc.passes.interpreter import interpret

        leaves, treedef = tree.flatten((args, kwargs))
        slots = [i for i, leaf in enumerate(leaves) if _is_array(leaf)]
        arrays = [leaves[i] for i in slots]
        key = _signature(fn, treedef, leaves, slots)
        entry = _STATE.cache.get(key) if key is not None else None
        if entry is None:

            def on_arrays(*arrays):
                filled = list(leaves)
                for i, array in zip(slots, arrays):
                    filled[i] = array
                call_args, call_kwargs = tree.unflatten(treedef, filled)
                return fn(*call_args, **call_kwargs)

            entry = _trace(on_arrays, arrays, key)
        else:
            _STATE.cache.move_to_end(key)
        traced = entry.traced
        outs = interpret(traced.module, traced.name,
                         *[np.asarray(a, dt) for a, dt in zip(arrays, entry.dtypes)])
        return tree.unflatten(traced.out_tree, outs)

    return call


def _signature(fn, treedef, leaves, slots):
    """The cache key of a call, or None when a static argument cannot be a key (unhashable)."""
    slot_set = set(slots)
    parts = []
    for i, leaf in enumerate(leaves):
        if i in slot_set:
            parts.append((leaf.shape, leaf.dtype))
        elif isinstance(leaf, (bool, int, float, complex)):
            parts.append((type(leaf), repr(leaf)))  # 1, 1.0 and True differ; so do 0.0 and -0.0
        else:
            parts.append((type(leaf), leaf))
    key = (fn, treedef, tuple(parts))
    try:
        hash(key)
    except TypeError:
        return None
    return key


def _trace(on_arrays, arrays, key) -> _Entry:
    """Trace on_arrays into a new module of this thread's context; cache it under key."""
    from aotc.frontend.trace.lower import spec_of

    state = _STATE
    if state.context is None or state.traces >= RENEW_AFTER:
        _release_all(state)
        state.context, state.traces = new_context(), 0
    state.traces += 1
    with state.context, ir.Location.unknown():
        module = ir.Module.create()
    specs = [spec_of(a) for a in arrays]
    in_tree = tree.flatten(tuple(arrays))[1]
    try:
        entry = _Entry(trace(on_arrays, specs, in_tree, "eager", module=module,
                             weak_types=[s.weak_type for s in specs]))
    except BaseException:
        registry.drop_custom_rules(module)
        raise
    if key is None:
        registry.drop_custom_rules(module)  # used once: the rules are not needed after tracing
        return entry
    state.cache[key] = entry
    while len(state.cache) > CACHE_SIZE:
        _, old = state.cache.popitem(last=False)
        registry.drop_custom_rules(old.traced.module)
    return entry


def _release_all(state: _ThreadState) -> None:
    for entry in state.cache.values():
        registry.drop_custom_rules(entry.traced.module)
    state.cache.clear()


def cache_size() -> int:
    """How many traces this thread's eager cache holds (for tests)."""
    return len(_STATE.cache)


def _arg_dtypes(traced) -> list:
    from aotc.frontend.core import dtypes

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
