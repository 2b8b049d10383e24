"""Staging: trace a Python function into a private func.func of the module being built, and
call it."""

from collections.abc import Callable

from aotc.frontend.core import shardy, tree
from aotc.frontend.core.errors import TracingError
from aotc.frontend.core.ir import ir, replace_uses
from aotc.frontend.core.source import caller_site, user_location
from aotc.frontend.ops import control
from aotc.frontend.trace.eager import eager
from aotc.frontend.trace.tracer import Traced, Tracer, current_module, to_tracer, trace_into_block
from aotc.passes import autodiff
from aotc.passes import functions as util


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


def call_function(name: str, module, operands) -> list[Tracer]:
    fn = util.find_function(module, name)
    outs = control.call(name, [t.value for t in operands], util.function_type(fn).results)
    return [Tracer(v) for v in outs]


# ---- stop_gradient, custom_jvp, custom_vjp, checkpoint -----------------------------------------


def stage_marked(fun, args, base: str, attribute: str, value: ir.Attribute,
                  allow_captures: bool = True):
    """Stage fun into a private function carrying `attribute`, emit its call; returns
    (function name, output pytree)."""
    module, traced, tracers, captures = stage(fun, args, base)
    if captures and not allow_captures:
        raise TracingError(f"{caller_site()}: '{function_name(fun)}' has a custom derivative and "
                           "uses "
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
        _, outs = stage_marked(identity, tuple(leaves), "stop_gradient", autodiff.STOP_GRADIENT,
                                ir.UnitAttr.get())
        return tree.unflatten(treedef, list(outs))

    return eager(staged)(x)


# ---- differentiating imported StableHLO --------------------------------------------------------


def parse_module(mlir_text: str) -> ir.Module:
    """Parse StableHLO text (e.g. `jax.jit(f).lower(x).as_text()`) into a module of its own.

    JAX marks some ops (its LAPACK custom_calls) with a Shardy `sdy.sharding_rule`: how the
    op's dimensions map for sharding propagation, not a sharding, so it is dropped (the `sdy`
    dialect is not registered here). Actual Shardy shardings (`sdy.mesh`, `sdy.sharding` on
    arguments or results, `sdy.sharding_constraint`) are refused with a clear error, not
    silently dropped: aotc's import would otherwise compile a sharded program unsharded.
    """
    from aotc.frontend.core.ir import new_context

    mlir_text = shardy.importable(mlir_text, TracingError, "could not import the MLIR text: it")
    with new_context():
        try:
            return ir.Module.parse(mlir_text)
        except ir.MLIRError as exc:
            raise TracingError(f"could not parse the MLIR text: {exc}") from None


