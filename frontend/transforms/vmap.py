"""vmap by staging: trace one example of the batch into its own function, run the batching pass
(passes/batching.py) on it, and emit a call of the batched function; `vectorize` does the same
for imported StableHLO text."""

from collections.abc import Callable

from aotc.frontend.core import tree
from aotc.frontend.core.errors import TracingError
from aotc.frontend.core.ir import tensor_type
from aotc.frontend.core.source import caller_site
from aotc.frontend.sharding.context import mapped
from aotc.frontend.trace.eager import eager
from aotc.frontend.trace.staging import call_function, function_name, stage
from aotc.frontend.trace.tracer import to_tracer
from aotc.passes import batching, spmd


def _batch_size(tracers, axes, paths, axis_size) -> int:
    sizes = {}
    for t, axis, path in zip(tracers, axes, paths):
        if axis is None:
            continue
        if not -t.ndim <= axis < t.ndim:
            raise TracingError(f"{caller_site()}: vmap: in_axes {axis} is out of range for "
                               "argument "
                               f"args{path} of shape {t.shape}")
        size = t.shape[axis % t.ndim]
        if size is None:
            raise TracingError(f"{caller_site()}: vmap: argument args{path} is mapped over a "
                               "dynamic "
                               "dimension; give it a static size")
        sizes[path] = size
    if axis_size is not None:
        sizes["axis_size"] = axis_size
    if len(set(sizes.values())) > 1:
        listed = ", ".join(f"args{p} has size {s}" if p != "axis_size" else f"axis_size={s}"
                           for p, s in sizes.items())
        raise TracingError(f"{caller_site()}: vmap got inconsistent sizes for the mapped axis: "
                           f"{listed}")
    if not sizes:
        raise TracingError(f"{caller_site()}: vmap needs at least one mapped argument or axis_size")
    return next(iter(sizes.values()))


def vmap(fun: Callable, in_axes=0, out_axes=0, axis_size: int | None = None,
         axis_name: str | None = None):
    """Vectorize fun over a mapped axis of its arguments, like jax.vmap.

    in_axes: an int, None, or a tree prefix of the arguments (per-argument ints or None);
    out_axes likewise for the outputs. Batching happens on StableHLO (passes/batching.py).
    axis_name: a name for the mapped axis, over which fun may call the collectives
    (aotc.lax.psum(x, axis_name), all_gather, axis_index, ...), as in jax.vmap.

    Example:
        >>> per_example_grads = aotc.vmap(aotc.grad(loss), in_axes=(None, 0, 0))(params, xs, ys)
    """
    def batched(*args):
        leaves, in_tree = tree.flatten(args)
        tracers = [to_tracer(leaf) for leaf in leaves]
        try:
            axes_prefix = in_axes if not isinstance(in_axes, list) else tuple(in_axes)
            if isinstance(axes_prefix, tuple) and len(args) == 1 and len(axes_prefix) != 1:
                axes_prefix = (axes_prefix,)
            axes = tree.broadcast_prefix(axes_prefix, tuple(args))
        except ValueError as exc:
            raise TracingError(f"{caller_site()}: vmap in_axes: {exc}") from None
        paths = tree.leaf_paths(in_tree)
        size = _batch_size(tracers, axes, paths, axis_size)
        axes = [None if a is None else a % t.ndim for a, t in zip(axes, tracers)]
        example_types = [t.mlir_type if a is None else tensor_type(
            t.shape[:a] + t.shape[a + 1:], t.mlir_type.element_type) for t, a in zip(tracers, axes)]
        with mapped({} if axis_name is None else {axis_name: size}):
            module, traced, tracers, captures = stage(fun, args, function_name(fun),
                                                      example_types)
        axes = axes + [None] * len(captures)  # values the function closes over are not mapped
        try:
            out_leaves_axes = tree.broadcast_prefix(out_axes, tree.unflatten(
                traced.out_tree, [0] * traced.out_tree.num_leaves))
            batched_name = batching.vmap(
                module, traced.name, axes, size, out_leaves_axes, private=True,
                out_names=[f"output{p or ''} of '{function_name(fun)}'"
                           for p in tree.leaf_paths(traced.out_tree)], axis_name=axis_name)
        except ValueError as exc:
            raise TracingError(f"{caller_site()}: vmap out_axes: {exc}") from None
        except TracingError as exc:
            if str(exc).startswith("vmap: "):
                raise TracingError(f"{caller_site()}: {exc}") from None
            raise
        outs = call_function(batched_name, module, tracers + captures)
        if axis_name is not None:  # the unbatched body still holds the collectives: drop it
            spmd.drop_mapped_body(module, traced.name)
        return tree.unflatten(traced.out_tree, outs)

    return eager(batched, like=fun)
