"""User-defined derivatives and rematerialization: custom_jvp, custom_vjp, checkpoint."""

import functools
from collections.abc import Callable

import numpy as np

from aotc.frontend import numpy as anp
from aotc.frontend.core import dtypes, tree
from aotc.frontend.core.errors import TracingError
from aotc.frontend.core.ir import ir
from aotc.frontend.core.registry import CUSTOM_ATTRIBUTE, add_custom_rule
from aotc.frontend.core.source import caller_site
from aotc.frontend.ops import tensors as values
from aotc.frontend.trace.eager import eager
from aotc.frontend.trace.staging import function_name, stage_marked
from aotc.frontend.trace.tracer import Tracer, current_module, to_tracer, tracing
from aotc.passes import functions as util


class _Custom:
    """Base of custom-derivative wrappers: stages the function with a rule kept by its module."""

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
        traced, out = stage_marked(self.fun, args, function_name(self.fun), CUSTOM_ATTRIBUTE,
                                    ir.StringAttr.get("pending"),
                                    allow_captures=self.kind == "checkpoint")
        module = current_module()
        util.find_function(module, traced.name).attributes[CUSTOM_ATTRIBUTE] = (
            ir.StringAttr.get(traced.name))
        add_custom_rule(module, traced.name, _Rule(self, tree.structure(args), traced.out_tree))
        return out


class _Rule:
    """A custom rule kept with its module: what the autodiff pass calls, on ir.Values."""

    def __init__(self, custom: _Custom, in_tree, out_tree):
        self.custom, self.in_tree, self.out_tree = custom, in_tree, out_tree
        self.kind = custom.kind

    def jvp(self, primals, tangents):
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
        operands = list(ctx.op.operands)
        with tracing():
            args = tree.unflatten(self.in_tree, [Tracer(ctx.primal(v)) for v in operands])
            out, residuals = self.custom.fwd(*args)
            self._leaves(out, "fwd's primal output")
            cts = [Tracer(values.instantiate(c, ctx.primal(r)))
                   for c, r in zip(result_cts, ctx.op.results)]
            arg_cts = self.custom.bwd(residuals, tree.unflatten(self.out_tree, cts))
            if not isinstance(arg_cts, (tuple, list)):
                raise TracingError(f"{caller_site()}: custom_vjp bwd must return a tuple of "
                                   f"cotangents, one per argument; got {type(arg_cts).__name__}")
            leaves = _cotangent_leaves(self.in_tree, tuple(arg_cts))
            if leaves is None:
                raise TracingError(f"{caller_site()}: custom_vjp bwd must return one cotangent per "
                                   f"argument, structured as {self.in_tree!r} (None for a "
                                   f"zero); got {tree.structure(tuple(arg_cts))!r}")
        grads = {}
        for v, c in zip(operands, leaves):
            if c is not None and values.is_float(v.type):
                grads[v] = values.add_any(grads.get(v), to_tracer(c).value)
        return [grads.get(v) for v in wrt]

    def _leaves(self, value, what: str) -> list[Tracer]:
        leaves, treedef = tree.flatten(value)
        if treedef != self.out_tree:
            raise TracingError(f"{caller_site()}: custom rule's {what} has structure "
                               f"{treedef!r}, but "
                               f"the function returns {self.out_tree!r}")
        return [to_tracer(leaf) for leaf in leaves]


def _cotangent_leaves(in_tree, arg_cts) -> list | None:
    """bwd's cotangents as leaves of in_tree, a None (JAX's zero) standing for a whole argument
    or subtree; None when the structures do not match."""
    cts, prefix = tree.flatten(arg_cts, is_leaf=lambda c: c is None)
    zeros = tree.unflatten(in_tree, [0] * in_tree.num_leaves)
    try:
        subtrees = tree.flatten_up_to(prefix, zeros)
    except ValueError:
        return None
    leaves = []
    for ct, sub in zip(cts, subtrees):
        count = tree.structure(sub).num_leaves
        if ct is not None and tree.structure(sub) != tree.structure(0):
            return None
        leaves.extend([ct] * count)
    return leaves


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

    def defjvps(self, *jvps: Callable | None) -> None:
        """One JVP per argument, like jax.custom_jvp.defjvps: jvps[i](g, ans, *primals) is the
        output tangent from argument i's tangent g; None for an argument with no derivative.

        Example:
            >>> f.defjvps(lambda g, ans, x, y: g * y, lambda g, ans, x, y: g * x)
        """

        def jvp_rule(primals, tangents):
            ans = self.fun(*primals)
            total = None
            for jvp, g in zip(jvps, tangents):
                if jvp is None:
                    continue
                term = jvp(g, ans, *primals)
                total = term if total is None else tree.map(anp.add, total, term)
            return ans, tree.map(anp.zeros_like, ans) if total is None else total

        self.defjvp(jvp_rule)

    def _ready(self) -> None:
        if self.jvp_rule is None:
            raise TracingError(f"custom_jvp function '{self.__name__}' has no rule; define one "
                               "with @f.defjvp")


class custom_vjp(_Custom):
    """A function with a user-defined VJP, like jax.custom_vjp: fwd(*args) -> (out, residuals),
    bwd(residuals, cotangent) -> tuple of argument cotangents, None meaning zero.

    The arguments at nondiff_argnums get no cotangent and come first to bwd, as in JAX:
    bwd(*nondiff_args, residuals, cotangent); non-array ones are static (Python values).

    Example:
        >>> @aotc.custom_vjp
        ... def clip_gradient(x): return x
        >>> clip_gradient.defvjp(lambda x: (x, None), lambda _, g: (anp.clip(g, -1, 1),))
    """

    kind = "vjp"

    def __init__(self, fun: Callable, nondiff_argnums: tuple[int, ...] = ()):
        super().__init__(fun)
        self.fwd = self.bwd = None
        self.nondiff_argnums = tuple(sorted(nondiff_argnums))

    def __call__(self, *args):
        if not self.nondiff_argnums:
            return super().__call__(*args)
        self._ready()
        return _with_nondiff(self, args)()

    def defvjp(self, fwd: Callable, bwd: Callable) -> None:
        self.fwd, self.bwd = fwd, bwd

    def _ready(self) -> None:
        if self.fwd is None:
            raise TracingError(f"custom_vjp function '{self.__name__}' has no rule; define it "
                               "with f.defvjp(fwd, bwd)")


def _with_nondiff(custom: custom_vjp, args: tuple) -> custom_vjp:
    """A custom_vjp of the arguments other than the static (non-array) nondiff ones, whose bwd
    gets every nondiff argument first (JAX's order) and gives a zero cotangent to the traced
    ones."""
    nondiff = custom.nondiff_argnums
    static = {i: args[i] for i in nondiff if not isinstance(args[i], (Tracer, np.ndarray))}
    traced = [i for i in range(len(args)) if i not in static]

    def full(staged_args):
        filled = {**static, **dict(zip(traced, staged_args))}
        return [filled[i] for i in range(len(args))]

    def fun(*staged_args):
        return custom.fun(*full(staged_args))

    def fwd(*staged_args):
        values = full(staged_args)
        out, residuals = custom.fwd(*values)
        return out, ([values[i] for i in nondiff], residuals)

    def bwd(saved, ct):
        nondiff_values, residuals = saved
        arg_cts = iter(custom.bwd(*nondiff_values, residuals, ct))
        return tuple(None if i in nondiff else next(arg_cts) for i in traced)

    fun.__name__ = custom.__name__
    bound = custom_vjp(fun)
    bound.defvjp(fwd, bwd)
    return functools.partial(bound, *(args[i] for i in traced))


class checkpoint(_Custom):
    """Recompute fun's intermediate values in reverse mode instead of keeping them (jax.checkpoint).

    Example:
        >>> block = aotc.checkpoint(lambda x: anp.tanh(x @ w))
    """

    kind = "checkpoint"


remat = checkpoint
