"""Function transforms by staging: grad, value_and_grad, jvp, vjp, jacfwd, jacrev, hessian.

`grad(f)(x)` inside a trace traces f into its own private `func.func` of the module being built,
runs the autodiff pass on it (passes/autodiff.py), and emits a `func.call` of the derivative.
Nesting (`grad(grad(f))`, `jit(grad(f))`) falls out: the pass inlines calls as it goes.
Outside any trace, the transformed function runs eagerly (traced and interpreted).
"""

from collections.abc import Callable, Sequence

import numpy as np

from aotc.frontend import dtypes, tree
from aotc.frontend.eager import eager
from aotc.frontend.errors import TracingError
from aotc.frontend.ir import ir, replace_uses
from aotc.frontend.ops import control, values
from aotc.frontend.registry import user_location, where
from aotc.frontend.tracer import (
    Traced,
    Tracer,
    current_module,
    to_tracer,
    trace_into_block,
)
from aotc.passes import autodiff, util


class _Spec:
    __slots__ = ("dtype", "shape")

    def __init__(self, t: Tracer):
        self.shape, self.dtype = t.shape, t.dtype


def stage(fun: Callable, args, base: str, arg_types=None):
    """Trace fun(*args) into a new private function of the current module.

    Values of the enclosing trace that fun closes over become extra trailing arguments of the new
    function (closure conversion): returns (module, traced, argument tracers, captured tracers),
    and a call of the function (or of its derivative) passes the captures after the arguments.
    arg_types overrides the function's argument types (vmap traces one example of a batch).
    """
    leaves, in_tree = tree.flatten(args)
    tracers = [to_tracer(leaf) for leaf in leaves]
    module = current_module()
    name = util.fresh_name(module, base)
    arg_types = arg_types or [t.value.type for t in tracers]
    fn, block = util.new_function(module, name, arg_types, True, user_location())
    with ir.InsertionPoint(block):
        outs, out_def = trace_into_block(lambda *a: fun(*a), list(block.arguments), in_tree,
                                         [t.weak_type for t in tracers])
        captured = autodiff.free_values(fn)
        lifted = {v: block.add_argument(v.type, ir.Location.unknown()) for v in captured}
        replace_uses(fn, lifted)
        result_values = [lifted.get(o.value, o.value) for o in outs]
        util.finish_function(fn, result_values)
    fn.attributes["function_type"] = ir.TypeAttr.get(ir.FunctionType.get(
        arg_types + [v.type for v in captured], [v.type for v in result_values]))
    fn.verify()
    traced = Traced(module, name, in_tree, out_def, [o.weak_type for o in outs])
    return module, traced, tracers, [Tracer(v) for v in captured]


def function_name(fun) -> str:
    name = getattr(fun, "__name__", "fn")
    return name if name.isidentifier() and name != "<lambda>" else "fn"


def _argnum_leaves(args, argnums) -> tuple[list[int], list]:
    """Flat leaf indices of args[argnums] and each differentiated argument's tree structure."""
    offsets, start = [], 0
    for a in args:
        n = len(tree.leaves(a))
        offsets.append((start, n))
        start += n
    indices, structures = [], []
    for a in argnums:
        if not -len(args) <= a < len(args):
            raise TracingError(f"{where()}: argnums {a} is out of range for {len(args)} arguments")
        first, n = offsets[a]
        indices.extend(range(first, first + n))
        structures.append((a % len(args), tree.structure(args[a])))
    return indices, structures


def _check_float(tracers, indices, what: str) -> None:
    for i in indices:
        if not dtypes.is_float(tracers[i].dtype):
            raise TracingError(f"{where()}: {what} needs float inputs, but an input has dtype "
                               f"{tracers[i].dtype}; differentiate with respect to float arrays "
                               "only (use argnums to pick them)")


def call_function(name: str, module, operands) -> list[Tracer]:
    fn = util.find_function(module, name)
    outs = control.call(name, [t.value for t in operands], util.function_type(fn).results)
    return [Tracer(v) for v in outs]


def _normalize_argnums(argnums) -> tuple[tuple[int, ...], bool]:
    if isinstance(argnums, int):
        return (argnums,), True
    return tuple(argnums), False


def _value_and_grad_traced(fun, argnums, has_aux, args):
    argnums, single = _normalize_argnums(argnums)
    module, traced, tracers, captures = stage(fun, args, function_name(fun))
    indices, structures = _argnum_leaves(args, argnums)
    _check_float(tracers, indices, "grad")
    out_def = traced.out_tree
    fn = util.find_function(module, traced.name)
    out_types = list(util.function_type(fn).results)
    if has_aux:
        if out_def.kind is not tuple or len(out_def.children) != 2:
            raise TracingError(f"{where()}: with has_aux=True the function must return a pair "
                               "(value, aux)")
        value_def = out_def.children[0]
    else:
        value_def = out_def
    if value_def.num_leaves != 1 or tuple(ir.RankedTensorType(out_types[0]).shape) != () or \
            not values.is_float(out_types[0]):
        raise TracingError(f"{where()}: grad needs a function returning a float scalar, got "
                           f"{[str(t) for t in out_types[:value_def.num_leaves]]}; use jacrev or "
                           "vjp for other outputs")
    vjp_name = autodiff.vjp(module, traced.name, indices, private=True)
    seeds = []
    for k, t in enumerate(out_types):
        if values.is_float(t):
            seeds.append(Tracer(values.full_like(t, 1.0 if k == 0 else 0.0)))
    results = call_function(vjp_name, module, tracers + captures + seeds)
    outs, grads = results[:len(out_types)], results[len(out_types):]
    out = tree.unflatten(out_def, outs)
    grads_tree, pos = [], 0
    for _, structure in structures:
        n = structure.num_leaves
        grads_tree.append(tree.unflatten(structure, grads[pos:pos + n]))
        pos += n
    grads_out = grads_tree[0] if single else tuple(grads_tree)
    return out, grads_out


def value_and_grad(fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False):
    """f -> (x -> (f(x), df/dx)), for f returning a float scalar (or (scalar, aux) with has_aux).

    Example:
        >>> loss, grads = aotc.value_and_grad(loss_fn)(params, x, y)
    """

    def value_and_grad_fn(*args):
        out, grads = _value_and_grad_traced(fun, argnums, has_aux, args)
        return out, grads

    return eager(value_and_grad_fn)


def grad(fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False):
    """The gradient of a scalar function, like jax.grad.

    Example:
        >>> aotc.grad(lambda x: anp.sum(anp.sin(x)))(np.ones(3))   # cos(1) three times
    """

    def grad_fn(*args):
        out, grads = _value_and_grad_traced(fun, argnums, has_aux, args)
        return (grads, out[1]) if has_aux else grads

    return eager(grad_fn)


def jvp(fun: Callable, primals, tangents):
    """(f(*primals), J f(primals) · tangents), like jax.jvp. Tangents match primals' structure."""

    def jvp_fn(primals, tangents):
        primals, tangents = tuple(primals), tuple(tangents)
        if tree.structure(primals) != tree.structure(tangents):
            raise TracingError(f"{where()}: jvp: primals {tree.structure(primals)!r} and "
                               f"tangents {tree.structure(tangents)!r} differ in structure")
        module, traced, tracers, captures = stage(fun, primals, function_name(fun))
        tangent_leaves = [to_tracer(t) for t in tree.leaves(tangents)]
        indices = [i for i, t in enumerate(tracers) if dtypes.is_float(t.dtype)]
        for i in indices:
            p, t = tracers[i], tangent_leaves[i]
            if p.shape != t.shape or p.dtype != t.dtype:
                raise TracingError(f"{where()}: jvp: tangent {t.shape} {t.dtype} does not match "
                                   f"primal {p.shape} {p.dtype}")
        jvp_name = autodiff.jvp(module, traced.name, tangent_args=indices, private=True)
        results = call_function(jvp_name, module,
                        tracers + captures + [tangent_leaves[i] for i in indices])
        n_out = traced.out_tree.num_leaves
        outs, touts = results[:n_out], iter(results[n_out:])
        tangent_outs = [next(touts) if dtypes.is_float(o.dtype) else Tracer(values.zeros_like(
            o.value)) for o in outs]
        return (tree.unflatten(traced.out_tree, outs),
                tree.unflatten(traced.out_tree, tangent_outs))

    return eager(jvp_fn)(primals, tangents)


def vjp(fun: Callable, *primals, has_aux: bool = False):
    """(f(*primals), vjp_fn) where vjp_fn(cotangent) gives the cotangents of the primals.

    Example:
        >>> y, pullback = aotc.vjp(f, x)
        >>> (x_ct,) = pullback(np.ones_like(y))
    """

    def forward(*primals):
        out = fun(*primals)
        return out

    out = eager(forward)(*primals)
    value = out[0] if has_aux else out

    def pullback(ct):
        def staged(primals, ct):
            def linear_in(*ps):
                result = fun(*ps)
                result = result[0] if has_aux else result
                return _dot_tree(result, ct)

            _, grads = _value_and_grad_traced(linear_in, tuple(range(len(primals))), False,
                                              tuple(primals))
            return tuple(grads)

        return eager(staged)(primals, ct)

    return (value, pullback, out[1]) if has_aux else (value, pullback)


def _dot_tree(result, ct):
    """sum over leaves of <result, ct>: a scalar whose gradient is the VJP with ct."""
    from aotc.frontend.np_math import multiply
    from aotc.frontend.np_reductions import sum as reduce_sum

    total = None
    for r, c in zip(tree.leaves(result), tree.leaves(ct)):
        r = to_tracer(r)
        if not dtypes.is_float(r.dtype):
            continue
        term = reduce_sum(multiply(r, Tracer(to_tracer(c).value)))
        total = term if total is None else total + term
    if total is None:
        raise TracingError(f"{where()}: vjp of a function without float outputs")
    return total


def _flat_single(args, argnum):
    arg = args[argnum]
    if tree.structure(arg).kind is not None:
        raise TracingError(f"{where()}: jacfwd/jacrev take array arguments (argnums={argnum} is a "
                           "pytree)")
    return to_tracer(arg)


def jacfwd(fun: Callable, argnums: int = 0):
    """The Jacobian by forward mode: the JVP vmapped over the input's basis.
    Shape: out.shape + in.shape."""

    def jac(*args):
        from aotc.frontend.np_creation import eye
        from aotc.frontend.np_shape import moveaxis, reshape
        from aotc.frontend.vmap_api import vmap

        x = _flat_single(args, argnums)
        n = int(np.prod(x.shape))
        basis = reshape(eye(n, dtype=x.dtype), (n, *x.shape))

        def push(direction):
            tangents = tuple(direction if k == argnums else _zeros_like_tree(a)
                             for k, a in enumerate(args))
            return to_tracer(jvp(fun, args, tangents)[1])

        columns = vmap(push)(basis)  # (n, *out.shape)
        out_shape = columns.shape[1:]
        return reshape(moveaxis(columns, 0, -1), (*out_shape, *x.shape))

    return eager(jac)


def _zeros_like_tree(a):
    from aotc.frontend.np_creation import zeros_like

    return tree.map(lambda leaf: zeros_like(leaf), a)


def jacrev(fun: Callable, argnums: int = 0):
    """The Jacobian by reverse mode: the VJP vmapped over the output's basis.
    Shape: out.shape + in.shape."""

    def jac(*args):
        from aotc.frontend.np_creation import eye
        from aotc.frontend.np_shape import reshape
        from aotc.frontend.vmap_api import vmap

        x = _flat_single(args, argnums)
        y = to_tracer(fun(*args))
        m = int(np.prod(y.shape))
        basis = reshape(eye(m, dtype=y.dtype), (m, *y.shape))

        def pull(ct):
            _, pullback = vjp(fun, *args)
            return pullback(ct)[argnums]

        rows = vmap(pull)(basis)  # (m, *x.shape)
        return reshape(rows, (*y.shape, *x.shape))

    return eager(jac)


def hessian(fun: Callable, argnums: int = 0):
    """The Hessian of a scalar function: jacfwd(jacrev(f))."""
    return jacfwd(jacrev(fun, argnums), argnums)


# ---- stop_gradient, custom_jvp, custom_vjp, checkpoint -----------------------------------------


def _stage_marked(fun, args, base: str, attribute: str, value: ir.Attribute,
                  allow_captures: bool = True):
    """Stage fun into a private function carrying `attribute`, emit its call; returns
    (function name, output pytree)."""
    module, traced, tracers, captures = stage(fun, args, base)
    if captures and not allow_captures:
        raise TracingError(f"{where()}: '{function_name(fun)}' has a custom derivative and uses "
                           f"{len(captures)} traced value(s) of the enclosing function; pass "
                           "them as arguments instead of closing over them")
    util.find_function(module, traced.name).attributes[attribute] = value
    outs = call_function(traced.name, module, tracers + captures)
    outs = [Tracer(o.value, weak) for o, weak in zip(outs, traced.out_weak)]
    return traced, tree.unflatten(traced.out_tree, outs)


def stop_gradient(x):
    """x unchanged, but a constant for differentiation (its tangent and cotangent are zero).

    Example:
        >>> loss = anp.sum((pred - aotc.stop_gradient(target)) ** 2)
    """

    def identity(*leaves):
        return leaves

    def staged(x):
        leaves, treedef = tree.flatten(x)
        _, outs = _stage_marked(identity, tuple(leaves), "stop_gradient", autodiff.STOP_GRADIENT,
                                ir.UnitAttr.get())
        return tree.unflatten(treedef, list(outs))

    return eager(staged)(x)


class _Custom:
    """Base of custom-derivative wrappers: stages the function with a CUSTOM_CALLS entry."""

    kind = ""

    def __init__(self, fun: Callable):
        self.fun = fun
        self.__name__ = getattr(fun, "__name__", "custom")
        self.__doc__ = getattr(fun, "__doc__", None)

    def _ready(self) -> None:
        pass

    def __call__(self, *args):
        self._ready()
        return eager(self._staged)(*args)

    def _staged(self, *args):
        from aotc.frontend import registry

        traced, out = _stage_marked(self.fun, args, function_name(self.fun), autodiff.CUSTOM,
                                    ir.StringAttr.get("pending"),
                                    allow_captures=self.kind == "checkpoint")
        module = current_module()
        util.find_function(module, traced.name).attributes[autodiff.CUSTOM] = (
            ir.StringAttr.get(traced.name))
        registry.CUSTOM_CALLS[traced.name] = _Rule(self, tree.structure(args), traced.out_tree)
        return out


class _Rule:
    """A CUSTOM_CALLS entry: what the autodiff pass calls, on ir.Values."""

    def __init__(self, custom: _Custom, in_tree, out_tree):
        self.custom, self.in_tree, self.out_tree = custom, in_tree, out_tree
        self.kind = custom.kind

    def jvp(self, primals, tangents):
        from aotc.frontend.tracer import tracing

        with tracing():
            p = tree.unflatten(self.in_tree, [Tracer(v) for v in primals])
            t = tree.unflatten(self.in_tree, [Tracer(v if v is not None else values.zeros_like(
                primals[i])) for i, v in enumerate(tangents)])
            out, t_out = self.custom.jvp_rule(tuple(p), tuple(t))
            outs = self._leaves(out, "primal output")
            touts = self._leaves(t_out, "tangent output")
        return ([o.value for o in outs],
                [t.value if dtypes.is_float(t.dtype) else None for t in touts])

    def vjp(self, ctx, result_cts, wrt):
        from aotc.frontend.tracer import tracing

        operands = list(ctx.op.operands)
        with tracing():
            args = tree.unflatten(self.in_tree, [Tracer(ctx.primal(v)) for v in operands])
            out, residuals = self.custom.fwd(*args)
            self._leaves(out, "fwd's primal output")
            cts = [Tracer(values.instantiate(c, ctx.primal(r)))
                   for c, r in zip(result_cts, ctx.op.results)]
            arg_cts = self.custom.bwd(residuals, tree.unflatten(self.out_tree, cts))
            leaves, treedef = tree.flatten(tuple(arg_cts))
            if treedef != self.in_tree:
                raise TracingError(f"{where()}: custom_vjp bwd must return one cotangent per "
                                   f"argument, structured as {self.in_tree!r}; got {treedef!r}")
        grads = {}
        for v, c in zip(operands, leaves):
            if c is not None and values.is_float(v.type):
                grads[v] = values.add_any(grads.get(v), to_tracer(c).value)
        return [grads.get(v) for v in wrt]

    def _leaves(self, value, what: str) -> list[Tracer]:
        leaves, treedef = tree.flatten(value)
        if treedef != self.out_tree:
            raise TracingError(f"{where()}: custom rule's {what} has structure {treedef!r}, but "
                               f"the function returns {self.out_tree!r}")
        return [to_tracer(leaf) for leaf in leaves]


class custom_jvp(_Custom):
    """A function with a user-defined JVP, like jax.custom_jvp.

    Example:
        >>> @aotc.custom_jvp
        ... def safe_log(x): return anp.log(x)
        >>> @safe_log.defjvp
        ... def _(primals, tangents): (x,), (t,) = primals, tangents; return anp.log(x), t / x
    """

    kind = "jvp"

    def __init__(self, fun: Callable):
        super().__init__(fun)
        self.jvp_rule = None

    def defjvp(self, jvp_rule: Callable) -> Callable:
        self.jvp_rule = jvp_rule
        return jvp_rule

    def _ready(self) -> None:
        if self.jvp_rule is None:
            raise TracingError(f"custom_jvp function '{self.__name__}' has no rule; define one "
                               "with @f.defjvp")


class custom_vjp(_Custom):
    """A function with a user-defined VJP, like jax.custom_vjp: fwd(*args) -> (out, residuals),
    bwd(residuals, cotangent) -> tuple of argument cotangents.

    Example:
        >>> @aotc.custom_vjp
        ... def clip_gradient(x): return x
        >>> clip_gradient.defvjp(lambda x: (x, None), lambda _, g: (anp.clip(g, -1, 1),))
    """

    kind = "vjp"

    def __init__(self, fun: Callable):
        super().__init__(fun)
        self.fwd = self.bwd = None

    def defvjp(self, fwd: Callable, bwd: Callable) -> None:
        self.fwd, self.bwd = fwd, bwd

    def _ready(self) -> None:
        if self.fwd is None:
            raise TracingError(f"custom_vjp function '{self.__name__}' has no rule; define it "
                               "with f.defvjp(fwd, bwd)")


class checkpoint(_Custom):
    """Recompute fun's intermediate values in reverse mode instead of keeping them (jax.checkpoint).

    Example:
        >>> block = aotc.checkpoint(lambda x: anp.tanh(x @ w))
    """

    kind = "checkpoint"


remat = checkpoint


# ---- differentiating imported StableHLO --------------------------------------------------------


def parse_module(mlir_text: str) -> ir.Module:
    """Parse StableHLO text (e.g. `jax.jit(f).lower(x).as_text()`) into a module of its own."""
    from aotc.frontend.ir import new_context

    with new_context():
        try:
            return ir.Module.parse(mlir_text)
        except ir.MLIRError as exc:
            raise TracingError(f"could not parse the MLIR text: {exc}") from None


def differentiate(mlir_text_or_module, function: str = "main", argnums=(0,),
                  mode: str = "reverse") -> ir.Module:
    """Add the derivative of `function` of a StableHLO module (from aotc, JAX, torch-mlir, ...).

    mode="reverse" adds `@<function>_vjp(args..., output cotangents...) -> (outputs...,
    cotangents of args[argnums]...)`; mode="forward" adds `@<function>_jvp(args..., tangents of
    args[argnums]...) -> (outputs..., output tangents...)`. Returns the module.

    Example:
        >>> text = jax.jit(loss).lower(params, x).as_text()
        >>> module = aotc.differentiate(text, argnums=(0,))
    """
    module = (parse_module(mlir_text_or_module) if isinstance(mlir_text_or_module, str)
              else mlir_text_or_module)
    argnums = [argnums] if isinstance(argnums, int) else list(argnums)
    if mode == "reverse":
        autodiff.vjp(module, function, argnums, name=util.unique_name(module, f"{function}_vjp"))
    elif mode == "forward":
        autodiff.jvp(module, function, tangent_args=argnums,
                     name=util.unique_name(module, f"{function}_jvp"))
    else:
        raise ValueError(f"mode must be 'reverse' or 'forward', got {mode!r}")
    with module.context:
        module.operation.verify()
    return module
