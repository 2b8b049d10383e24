"""pmap: map a function over the leading axis of its arguments, one mesh device per element
(jax.pmap), built on shard_map over a 1-D mesh named axis_name."""

from collections.abc import Callable

from aotc.frontend.core import tree
from aotc.frontend.core.ir import shape_of
from aotc.frontend.core.mesh import Mesh, P, ShardingError
from aotc.frontend.core.source import caller_site
from aotc.frontend.ops import shape as shape_ops
from aotc.frontend.ops import tensors as values
from aotc.frontend.sharding.shard_map import shard_map
from aotc.frontend.trace.eager import eager
from aotc.frontend.trace.staging import function_name
from aotc.frontend.trace.tracer import Tracer, to_tracer

_DEFAULT_AXIS = "_pmap"


def _reshaped(t: Tracer, shape) -> Tracer:
    return Tracer(shape_ops.reshape(t.value, tuple(shape)), t.weak_type)


def pmap(fun: Callable, axis_name: str | None = None, *, in_axes=0, out_axes=0):
    """Run fun once per element of the mapped axis of its arguments, each on its own device
    (device i gets element i), like jax.pmap; inside, collectives over axis_name combine them.

    in_axes: an int or None per argument (a tree prefix; None: the same value on every device).
    out_axes: 0 (stacked along a new leading axis) or None (a replicated output: device 0's).

    Example:
        >>> aotc.pmap(lambda x: x / aotc.lax.psum(x, "i"), axis_name="i")(anp.arange(4.0))
    """
    name = function_name(fun)
    axis = axis_name or _DEFAULT_AXIS

    def mapped_call(*args):
        leaves, in_tree = tree.flatten(args)
        tracers = [to_tracer(leaf) for leaf in leaves]
        try:
            axes = tree.broadcast_prefix(in_axes if not isinstance(in_axes, list)
                                         else tuple(in_axes), tuple(args))
        except ValueError as exc:
            raise ShardingError(f"{caller_site()}: pmap '{name}' in_axes: {exc}") from None
        sizes = set()
        moved = []
        for t, a in zip(tracers, axes):
            if a is None:
                moved.append(t)
                continue
            if not -t.ndim <= a < t.ndim:
                raise ShardingError(f"{caller_site()}: pmap '{name}': in_axes {a} is out of "
                                    f"range for an argument of shape {t.shape}")
            a %= t.ndim
            sizes.add(t.shape[a])
            moved.append(t if a == 0 else Tracer(values.move_axis(t.value, a, 0), t.weak_type))
        if len(sizes) != 1:
            raise ShardingError(f"{caller_site()}: pmap '{name}' needs mapped arguments with one "
                                f"size along their mapped axes, got sizes {sorted(sizes)}")
        mesh = Mesh((sizes.pop(),), (axis,))
        mapped_flags = [a is not None for a in axes]
        out_spec = P(axis) if out_axes == 0 else P() if out_axes is None else None
        if out_spec is None:
            raise ShardingError(f"{caller_site()}: pmap '{name}': out_axes must be 0 or None, "
                                f"got {out_axes!r}")

        def body(*blocks):
            inner = [_reshaped(b, b.shape[1:]) if m else b for b, m in zip(blocks, mapped_flags)]
            out = fun(*tree.unflatten(in_tree, inner))
            if out_axes is None:
                return out
            return tree.map(lambda o: _reshaped(to_tracer(o), (1, *shape_of(to_tracer(o).value))),
                            out)

        specs = tuple(P(axis) if m else P() for m in mapped_flags)
        return shard_map(body, mesh=mesh, in_specs=specs, out_specs=out_spec)(*moved)

    return eager(mapped_call, like=fun)
