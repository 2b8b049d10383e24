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

Eager results (and `aotc.jit`'s) are `Array`s: numpy arrays with JAX's `.at[...]` and
`.block_until_ready()`, so `anp.zeros(3).at[0].set(1.0)` works at the prompt as in JAX.
"""

import functools
import inspect
import threading
import types
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from aotc.frontend.core import registry, tree
from aotc.frontend.core.errors import TracingError
from aotc.frontend.core.ir import ir, new_context
from aotc.frontend.core.source import caller_site
from aotc.frontend.trace.tracer import is_tracing, trace

CACHE_SIZE = 256  # traces kept per thread
RENEW_AFTER = 2048  # traces into one context before the thread starts a fresh one

# Functions that answer questions about their arguments rather than computing arrays, and
# trim_zeros, whose output length depends on its (static, host) values.
_NOT_TRACED = {"shape", "ndim", "size", "result_type", "promote_types", "dtype", "can_cast",
               "trim_zeros"}
# unique, which reads its output size off concrete inputs and then runs eagerly itself.
_NOT_TRACED |= {"unique"}
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


class Array(np.ndarray):
    """What eager aotc calls and `aotc.jit` return: a numpy array (every numpy function,
    operator, `np.testing`, pickling and aotc_runtime take it as one) with JAX's extras:

    - `x.at[index].set(v)` / `.add` / `.multiply` / `.divide` / `.power` / `.min` / `.max` /
      `.get(mode=, fill_value=)`: a new Array, computed by the same traced code as `.at` inside
      `aotc.jit` (out-of-range updates dropped, reads clamped, `mode=` as in JAX);
    - `x[i]` with an out-of-range static index clamps as in JAX instead of raising IndexError;
    - `x.block_until_ready()` returns x (results are computed when a call returns).

    Arithmetic on Arrays is numpy's (numpy's dtype promotion, in-place updates allowed); call
    aotc.numpy functions for JAX's semantics.

    Example:
        >>> y = anp.zeros(3).at[0].set(1.0)        # Array([1., 0., 0.], dtype=float32)
        >>> isinstance(y, np.ndarray)
        True
    """

    @property
    def at(self) -> "_IndexUpdateHelper":
        return _IndexUpdateHelper(self)

    def block_until_ready(self) -> "Array":
        """self, as jax.Array.block_until_ready: the values are already computed."""
        return self

    def __getitem__(self, index):
        try:
            return super().__getitem__(index)
        except IndexError:
            if _has_mask(index):
                raise
            # an out-of-range int or int array: clamp as JAX does (and as x[i] under aotc.jit)
            return _update("get", self, index, None, {})

    def __reduce__(self):
        # pickles as a plain numpy array: loading it needs no aotc
        return np.asarray(self).__reduce__()


def as_array(value):
    """value as an aotc Array when it is a numpy array (or a numpy scalar); else value."""
    if isinstance(value, Array):
        return value
    if isinstance(value, np.ndarray):
        return value.view(Array)
    if isinstance(value, np.generic):
        return np.asarray(value).view(Array)
    return value


def as_arrays(leaves) -> list:
    """as_array of every leaf (results of an eager or aotc.jit call)."""
    return [as_array(leaf) for leaf in leaves]


def _has_mask(index) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return any(np.asarray(item).dtype == np.bool_ for item in items
               if isinstance(item, (np.ndarray, list, bool, np.bool_)))


class _IndexUpdateHelper:
    """`Array.at`: `x.at[index]` gives the functional updates of JAX."""

    __slots__ = ("x",)

    def __init__(self, x):
        self.x = x

    def __getitem__(self, index) -> "_IndexUpdateRef":
        return _IndexUpdateRef(self.x, index)


class _IndexUpdateRef:
    """`x.at[index]` of an eager Array: each method traces `x.at[index].<method>(...)` once per
    signature and interprets it, as every eager aotc call does."""

    __slots__ = ("index", "x")

    def __init__(self, x, index):
        self.x, self.index = x, index

    def get(self, *, mode=None, fill_value=None, **kwargs):
        """x[index]; out-of-range indices clamp, or give fill_value with mode='fill'."""
        return _update("get", self.x, self.index, None, dict(kwargs, mode=mode,
                                                              fill_value=fill_value))

    def set(self, values, *, mode=None, **kwargs):
        """A copy of x with x[index] = values; out-of-range updates are dropped."""
        return _update("set", self.x, self.index, values, dict(kwargs, mode=mode))

    def add(self, values, *, mode=None, **kwargs):
        """A copy of x with values added at index (repeated indices accumulate)."""
        return _update("add", self.x, self.index, values, dict(kwargs, mode=mode))

    def multiply(self, values, *, mode=None, **kwargs):
        """A copy of x with x[index] multiplied by values."""
        return _update("multiply", self.x, self.index, values, dict(kwargs, mode=mode))

    mul = multiply

    def divide(self, values, *, mode=None, **kwargs):
        """A copy of x with x[index] divided by values."""
        return _update("divide", self.x, self.index, values, dict(kwargs, mode=mode))

    def power(self, values, *, mode=None, **kwargs):
        """A copy of x with x[index] raised to values."""
        return _update("power", self.x, self.index, values, dict(kwargs, mode=mode))

    def min(self, values, *, mode=None, **kwargs):
        """A copy of x with x[index] = minimum(x[index], values)."""
        return _update("min", self.x, self.index, values, dict(kwargs, mode=mode))

    def max(self, values, *, mode=None, **kwargs):
        """A copy of x with x[index] = maximum(x[index], values)."""
        return _update("max", self.x, self.index, values, dict(kwargs, mode=mode))


@dataclass(frozen=True)
class _Slot:
    """Where an index array sits in a static index template (its position in `arrays`)."""

    k: int


@dataclass(frozen=True)
class _Slice:
    """A slice in a static index template (slices are unhashable before Python 3.12)."""

    start: object
    stop: object
    step: object


def _split_index(index) -> tuple[tuple, list]:
    """A hashable template of index (slices as _Slices, arrays as _Slots) and its arrays;
    concrete boolean masks become their int positions (np.nonzero)."""
    items = index if isinstance(index, tuple) else (index,)
    template, arrays = [], []
    for item in items:
        if isinstance(item, list):
            item = np.asarray(item)
        if isinstance(item, np.ndarray) and item.dtype == np.bool_ and item.ndim:
            for part in np.nonzero(item):
                template.append(_Slot(len(arrays)))
                arrays.append(part.astype(np.int32))
        elif isinstance(item, np.ndarray) and item.ndim:
            template.append(_Slot(len(arrays)))
            arrays.append(item)
        elif isinstance(item, np.ndarray | np.integer):
            template.append(int(item))
        elif isinstance(item, slice):
            template.append(_Slice(item.start, item.stop, item.step))
        else:
            template.append(item)
    return (tuple(template) if isinstance(index, tuple) else template[0]), arrays


def _join_index(template, arrays):
    items = template if isinstance(template, tuple) else (template,)
    out = []
    for item in items:
        if isinstance(item, _Slot):
            out.append(arrays[item.k])
        elif isinstance(item, _Slice):
            out.append(slice(item.start, item.stop, item.step))
        else:
            out.append(item)
    return tuple(out) if isinstance(template, tuple) or len(out) != 1 else out[0]


def _apply_at(method, x, template, arrays, values, kwargs):
    ref = x.at[_join_index(template, arrays)]
    if method == "get":
        return ref.get(**kwargs)
    return getattr(ref, method)(values, **kwargs)


def _update(method: str, x, index, values, kwargs: dict):
    template, arrays = _split_index(index)
    kwargs = tuple(sorted(kwargs.items()))
    return _APPLY_AT(method, np.asarray(x), template, tuple(arrays), values, dict(kwargs))


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


def eager(fn, like=None):
    """Make fn usable outside a trace: trace it on its array arguments (once per signature) and
    interpret it.

    like: the user function a transform wraps (grad(f), vmap(f)): the result then carries its
    name and signature, as jax.grad's does, so keyword arguments bind by it
    (`aotc.jit(aotc.grad(f))(x=x)`) and `aotc.compile(aotc.grad(f), spec)` names its argument.
    """
    signature = _signature_of(like)

    @functools.wraps(fn)
    def call(*args, **kwargs):
        if kwargs and signature is not None:
            args, kwargs = _bind(signature, like, args, kwargs)
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
        return tree.unflatten(traced.out_tree, as_arrays(outs))

    if like is not None:
        for attribute in ("__name__", "__qualname__", "__module__", "__doc__"):
            if hasattr(like, attribute):
                setattr(call, attribute, getattr(like, attribute))
        if signature is not None:
            call.__signature__ = signature
    return call


def _signature_of(fn):
    if fn is None:
        return None
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):
        return None


def _bind(signature, like, args, kwargs) -> tuple[tuple, dict]:
    """args and kwargs bound by like's signature: keyword arguments of positional parameters
    become positional (argnums count them), keyword-only ones stay keywords."""
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError as exc:
        name = getattr(like, "__name__", "function")
        raise TracingError(f"{caller_site()}: calling a transform of {name}: {exc}; pass "
                           f"arguments that match its signature {signature}") from None
    return bound.args, bound.kwargs


_APPLY_AT = eager(_apply_at)  # x.at[...] of an eager Array (_update)


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
