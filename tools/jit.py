"""`aotc.jit`: trace, compile with IREE, load with aotc_runtime, call; one compile per argument
signature."""

import functools
import inspect
from collections.abc import Callable, Sequence

import numpy as np

from aotc.frontend.core import tree
from aotc.frontend.core.errors import InputError
from aotc.frontend.core.ir import shape_of
from aotc.frontend.core.source import caller_site
from aotc.frontend.trace.eager import Array, as_array, as_arrays
from aotc.frontend.trace.lower import ShapeSpec, lower, spec_of
from aotc.frontend.trace.tracer import Traced, Tracer
from aotc.passes import functions
from aotc.tools import sharded


class _Compiled:
    __slots__ = ("call", "dtypes", "module", "traced")

    def __init__(self, traced: Traced, target: str, specs, device=None, flags=(),
                 shardings=None):
        from aotc.tools.compile import compile_stablehlo
        from aotc_runtime import load_bytes

        self.traced = traced
        self.dtypes = [s.dtype for s in specs]
        if shardings is not None:  # partition first: the module then holds the mesh program
            part = shardings.partition(traced, specs)
            vmfb = compile_stablehlo(traced.text_with_locations(), target, flags)
            self.call = sharded.ShardedCall(part, vmfb, traced.name, device)
            self.module = self.call.module
            return
        vmfb = compile_stablehlo(traced.text_with_locations(), target, flags)
        self.module = load_bytes(vmfb, device=device, require_aotc=False)
        self.call = self.module[traced.name]
        if device is None:
            self.call = _device_choice(self.module, vmfb, traced.name)


def _device_choice(module, vmfb: bytes, name: str):
    """The function to call: module's (on the device aotc_runtime chose from the program's
    recorded cost), or, where that cost leaves the better of local-sync and local-task open
    (aotc_runtime.policy.uncertain), a TimedChoice that times both on the first calls."""
    from aotc_runtime import load_bytes, policy

    cost = policy.module_cost(module)
    if (module.device_count != 1 or module.driver not in (policy.SYNC, policy.TASK)
            or cost is None or not policy.uncertain(cost)):
        return module[name]
    other = policy.SYNC if module.driver == policy.TASK else policy.TASK
    twin = load_bytes(vmfb, device=other, require_aotc=False)
    return policy.TimedChoice({module.driver: module[name], other: twin[name]})


class _Shardings:
    """jit's in_shardings / out_shardings, resolved per call signature against the arguments'
    and results' trees (see aotc.tools.sharded)."""

    def __init__(self, in_shardings, out_shardings, name: str, n_positional=None):
        self.in_shardings = in_shardings
        self.out_shardings = out_shardings
        self.name = name
        self.n_positional = n_positional  # of the traced arguments (None: all; then kwargs)

    def at(self, n_positional) -> "_Shardings":
        return _Shardings(self.in_shardings, self.out_shardings, self.name, n_positional)

    def partition(self, traced: Traced, specs):
        names = sharded.leaf_names(traced.in_tree)
        what = f"aotc.jit({self.name}) in_shardings"
        positional = tree.unflatten(traced.in_tree, names)
        positional, n_kw = (positional, 0) if self.n_positional is None else (
            positional[:self.n_positional], len(tree.leaves(positional[self.n_positional:])))
        given = sharded.per_leaf(self.in_shardings, tuple(positional), what) + [None] * n_kw
        out_template = tree.unflatten(traced.out_tree, [0] * traced.out_tree.num_leaves)
        outs = sharded.per_leaf(self.out_shardings, out_template,
                                f"aotc.jit({self.name}) out_shardings")
        mesh = sharded.mesh_of(given + outs, f"aotc.jit({self.name})")
        in_specs = sharded.specs_of(given, [s.shape for s in specs], mesh,
                                    [f"{what}: {n}" for n in names])
        out_types = functions.function_type(functions.find_function(
            traced.module, traced.name)).results
        out_specs = sharded.specs_of(outs, [shape_of(t) for t in out_types], mesh,
                                     [f"aotc.jit({self.name}) output {k}"
                                      for k in range(len(outs))])
        return sharded.partition_traced(traced, mesh, in_specs, out_specs)


def _leaf_key(leaf):
    """A cheap cache key for an argument leaf: what its ShapeSpec depends on."""
    if isinstance(leaf, np.ndarray):
        return leaf.shape, leaf.dtype
    if isinstance(leaf, (bool, int, float)) and not isinstance(leaf, np.generic):
        return type(leaf)
    if isinstance(leaf, ShapeSpec):
        raise InputError("a compiled function needs arrays, not ShapeSpecs; use aotc.lower for "
                         "specs")
    return np.shape(leaf), np.result_type(leaf)


def _as_tuple(value, kind, what: str) -> tuple:
    items = (value,) if isinstance(value, kind) else tuple(value)
    if not all(isinstance(item, kind) for item in items):
        raise InputError(f"{caller_site()}: aotc.jit {what} must be "
                         f"{kind.__name__ if isinstance(kind, type) else 'int'}s, got {value!r}")
    return items


class _Binder:
    """Binds a call's arguments by fn's signature, as jax.jit does, and splits them into the
    static ones (part of the cache key, Python values inside the trace) and the dynamic ones
    (traced array leaves)."""

    def __init__(self, fn: Callable, static_argnums, static_argnames):
        self.fn = fn
        try:
            self.signature = inspect.signature(fn)
        except (TypeError, ValueError):
            self.signature = None
        params = list(self.signature.parameters.values()) if self.signature else []
        self.positional = [p.name for p in params
                           if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        nums = _as_tuple(static_argnums, int, "static_argnums")
        names = set(_as_tuple(static_argnames, str, "static_argnames"))
        has_varargs = any(p.kind is p.VAR_POSITIONAL for p in params)
        self.static_nums = set()
        for num in nums:
            if num < 0:
                if has_varargs or not self.positional:
                    raise InputError(f"{caller_site()}: aotc.jit static_argnums={num}: a "
                                     "negative index needs a function without *args")
                num += len(self.positional)
            self.static_nums.add(num)
            if num < len(self.positional):  # as jax.jit: static by position is static by name
                names.add(self.positional[num])
        self.static_names = names
        self.static_nums.update(i for i, n in enumerate(self.positional) if n in names)
        self.simple = not self.static_nums and not self.static_names

    def split(self, args: tuple, kwargs: dict) -> tuple[tuple, dict, tuple]:
        """(dynamic positional args, dynamic keyword args, static key)."""
        if kwargs and self.signature is not None:
            try:
                bound = self.signature.bind(*args, **kwargs)
            except TypeError as exc:
                raise InputError(f"{caller_site()}: calling jitted "
                                 f"{getattr(self.fn, '__name__', 'function')}: {exc}; pass "
                                 f"arguments that match its signature {self.signature}") from None
            args, kwargs = bound.args, bound.kwargs
        dyn_args, dyn_kwargs, statics = [], {}, []
        for i, arg in enumerate(args):
            if i in self.static_nums:
                statics.append((i, self._hashable(arg, f"static argument {i}")))
            else:
                dyn_args.append(arg)
        for name, arg in kwargs.items():
            if name in self.static_names:
                statics.append((name, self._hashable(arg, f"static argument {name!r}")))
            else:
                dyn_kwargs[name] = arg
        return tuple(dyn_args), dyn_kwargs, tuple(statics)

    @staticmethod
    def _hashable(value, what: str):
        try:
            hash(value)
        except TypeError:
            raise InputError(f"{caller_site()}: aotc.jit {what} of type "
                             f"{type(value).__name__} is not hashable; pass a hashable value "
                             "(a tuple instead of a list, a Python scalar instead of an array) "
                             "or make it a dynamic argument") from None
        return value

    def staged(self, statics: tuple, n_dynamic: int) -> Callable:
        """fn of (dynamic positional args..., dynamic keyword args dict), statics filled in."""
        fn = self.fn
        static_pos = {k: v for k, v in statics if isinstance(k, int)}
        static_kw = {k: v for k, v in statics if isinstance(k, str)}

        def staged_fn(*dynamic):
            dyn_args, dyn_kwargs = iter(dynamic[:n_dynamic]), dynamic[n_dynamic]
            n_args = n_dynamic + len(static_pos)
            args = [static_pos[i] if i in static_pos else next(dyn_args) for i in range(n_args)]
            return fn(*args, **dyn_kwargs, **static_kw)

        staged_fn.__name__ = getattr(fn, "__name__", "main")
        return staged_fn


def _check_leaves(leaves) -> None:
    for leaf in leaves:
        if isinstance(leaf, (str, bytes)) or callable(leaf):
            raise InputError(f"{caller_site()}: aotc.jit got an argument of type "
                             f"{type(leaf).__name__}, which is not an array; mark it static "
                             "with static_argnums= or static_argnames=")


def jit(fn: Callable, *, static_argnums: int | Sequence[int] = (),
        static_argnames: str | Sequence[str] = (), donate_argnums: int | Sequence[int] = (),
        donate_argnames: str | Sequence[str] = (), target: str = "cpu", device=None,
        flags=(), in_shardings=None, out_shardings=None) -> Callable:
    """Compile fn with IREE for this CPU; compiled once per argument shapes/dtypes/structure
    and per value of the static arguments.

    static_argnums / static_argnames: arguments passed to fn as Python values (a mode string,
    a layer count, a shape), not traced; each distinct value (it must be hashable) traces and
    compiles once, as in jax.jit. Static by position is static by name and the other way round.
    Keyword arguments are bound by fn's signature, as in jax.jit; non-static ones are traced.
    donate_argnums / donate_argnames are accepted for JAX compatibility and do nothing: inputs
    are host numpy arrays and are never modified.

    in_shardings / out_shardings (JAX's): NamedShardings of one aotc.sharding.Mesh, one for
    every argument (result) leaf or a tree prefix of the positional arguments (results), None
    leaves meaning replicated (results: the layout propagation gives). With them, fn is
    partitioned for the mesh by aotc's SPMD pass (aotc.passes.sharding) and runs on one device
    per mesh position; calls still take and return global numpy arrays.

    device: an IREE driver name or device for the runtime. Default: for CPU targets,
    'local-sync' (runs on the calling thread: small programs, loops) or 'local-task' (IREE's
    worker pool: large ones), chosen per program from its estimated cost, and where that
    leaves it open by timing both on the first calls (aotc_runtime.policy); other targets:
    their driver. An explicit device always wins. flags are extra IREE compiler flags, after
    the target preset's (see `aotc targets` and aotc.tools.targets), e.g.
    ["--iree-opt-level=O3"].

    Example:
        >>> fast = aotc.jit(predict)
        >>> out = fast(params, x)        # numpy in, numpy out
        >>> act = aotc.jit(layer, static_argnames="activation")
        >>> out = act(x, activation="relu")
        >>> small = aotc.jit(step, flags=["--iree-opt-level=O3"])
        >>> mesh = aotc.sharding.Mesh((4,), ("data",))
        >>> dp = aotc.jit(step, in_shardings=(NamedSharding(mesh, P()),
        ...                                   NamedSharding(mesh, P("data"))))
    """
    flags = (flags,) if isinstance(flags, str) else tuple(flags)
    _as_tuple(donate_argnums, int, "donate_argnums")
    _as_tuple(donate_argnames, str, "donate_argnames")
    binder = _Binder(fn, static_argnums, static_argnames)
    shardings = (None if in_shardings is None and out_shardings is None else
                 _Shardings(in_shardings, out_shardings, getattr(fn, "__name__", "function")))
    cache: dict = {}
    # Calls whose arguments are all numpy arrays of the compiled dtypes skip the pytree walk and
    # the dtype conversions: (shapes and dtypes) -> (compiled call, results builder). This
    # halves the fixed cost of a call (a 16x16 add: 34 -> 17.5 us; JAX: 11 us).
    plain: dict = {}

    @functools.wraps(fn)
    def call(*args, **kwargs):
        fast = _plain_key(args) if binder.simple and not kwargs and shardings is None else None
        entry = plain.get(fast) if fast is not None else None
        if entry is not None:
            return entry[1](entry[0](*args))
        if binder.simple and not kwargs:  # the common case: flatten the arguments once
            staged, dynamic, statics = fn, args, ()
            leaves, in_tree = tree.flatten(dynamic)
            traced = any(isinstance(leaf, Tracer) for leaf in leaves)
        else:
            traced = any(isinstance(leaf, Tracer) for leaf in tree.leaves((args, kwargs)))
        if traced:
            return fn(*args, **kwargs)  # inside another trace: trace through, compile once
        if not binder.simple or kwargs:
            dyn_args, dyn_kwargs, statics = binder.split(args, kwargs)
            staged = binder.staged(statics, len(dyn_args))
            dynamic = (*dyn_args, dyn_kwargs)
            leaves, in_tree = tree.flatten(dynamic)
        _check_leaves(leaves)
        key = (in_tree, tuple(_leaf_key(leaf) for leaf in leaves), statics)
        compiled = cache.get(key)
        if compiled is None:
            specs = [spec_of(leaf) for leaf in leaves]
            layout = None if shardings is None else shardings.at(
                None if staged is fn else len(dynamic) - 1)
            compiled = cache[key] = _Compiled(lower(staged, *dynamic), target, specs,
                                              device, flags, layout)
        arrays = [np.asarray(leaf, dtype=dt) for leaf, dt in zip(leaves, compiled.dtypes)]
        if shardings is not None:
            return tree.unflatten(compiled.traced.out_tree, as_arrays(compiled.call(arrays)))
        if fast is not None and all(a.dtype == dt for a, dt in zip(args, compiled.dtypes)):
            plain[fast] = (compiled.call, _results_builder(compiled.traced.out_tree))
        outs = compiled.call(*arrays)
        return _results(compiled.traced.out_tree, outs)

    def lower_fn(*args, **kwargs) -> Traced:
        if binder.simple and not kwargs:
            return lower(fn, *args)
        dyn_args, dyn_kwargs, statics = binder.split(args, kwargs)
        return lower(binder.staged(statics, len(dyn_args)), *dyn_args, dyn_kwargs)

    call.lower = lower_fn
    if shardings is not None:
        call._aotc_shardings = (in_shardings, out_shardings)  # read by sharded exports
    return call


def _plain_key(args: tuple):
    """(shape, dtype) of each argument if every one is a numpy array (or an aotc Array, the
    results of calls), else None."""
    for a in args:
        if type(a) is not np.ndarray and type(a) is not Array:
            return None
    return tuple([(a.shape, a.dtype) for a in args])


def _results_builder(out_tree) -> Callable:
    """outs -> _results(out_tree, outs), without the pytree walk for a single result or a
    tuple of results."""
    if out_tree.kind is None:
        return lambda outs: as_array(outs[0])
    if out_tree.kind is tuple and all(c.kind is None for c in out_tree.children):
        return lambda outs: tuple([as_array(o) for o in outs])
    return functools.partial(_results, out_tree)


def _results(out_tree, outs):
    """The call's result pytree, its arrays as aotc.Array (numpy arrays with JAX's .at[])."""
    return tree.unflatten(out_tree, as_arrays(outs))


def block_until_ready(x):
    """x itself, as jax.block_until_ready: aotc's results are host numpy arrays, already
    computed when a call returns, so there is nothing to wait for.

    Example:
        >>> out = aotc.block_until_ready(aotc.jit(f)(x))
    """
    return x
