"""shard_map: run a function on per-device blocks of its arguments over a mesh (jax.shard_map).

The body is traced once, on block shapes, into a private function (inside a mapped context
naming the mesh axes, so collectives are allowed there); then aotc.passes.spmd unrolls it over
the mesh's devices at the call site: the arguments are split into blocks (transfers to each
device), the body is cloned per device, the collectives become transfers plus local ops, and the
outputs are assembled per out_specs onto device 0. The traced program stays plain StableHLO plus
transfers, so grad, vmap, the interpreter and jit work on it unchanged.

Example:
    >>> mesh = aotc.sharding.Mesh((4,), ("data",))
    >>> f = aotc.shard_map(lambda x: aotc.lax.psum(x.sum(0), "data"), mesh=mesh,
    ...                    in_specs=P("data"), out_specs=P())
"""

import inspect
from collections.abc import Callable

from aotc.frontend.core import placement, tree
from aotc.frontend.core.ir import shape_of, tensor_type
from aotc.frontend.core.mesh import (
    Mesh,
    PartitionSpec,
    ShardingError,
    block_shape,
    normalize_spec,
)
from aotc.frontend.core.source import caller_site
from aotc.frontend.sharding.context import mapped
from aotc.frontend.trace.eager import eager
from aotc.frontend.trace.staging import function_name, stage
from aotc.frontend.trace.tracer import Tracer, to_tracer
from aotc.passes import functions as util
from aotc.passes import spmd


def _is_spec(x) -> bool:
    return x is None or isinstance(x, PartitionSpec)


def _leaf_specs(specs, full, what: str, fn_name: str) -> list:
    """One spec per leaf of `full`: `specs` is a tree prefix of it whose leaves are
    PartitionSpecs (None: replicated)."""
    if isinstance(specs, tuple) and not isinstance(specs, PartitionSpec) and isinstance(
            full, tuple) and len(specs) != len(full):
        raise ShardingError(f"{caller_site()}: shard_map '{fn_name}': {what} has {len(specs)} "
                            f"entries for {len(full)} {_noun(what)}; give one spec per "
                            f"{_noun(what)[:-1]}")
    try:
        spread = tree.broadcast(specs, full, is_leaf=_is_spec)
    except (ValueError, TypeError) as exc:
        raise ShardingError(f"{caller_site()}: shard_map '{fn_name}': {what} {specs!r} does "
                            f"not match the structure of the {_noun(what)}: {exc}") from None
    leaves = tree.flatten(spread, is_leaf=_is_spec)[0]
    for leaf in leaves:
        if not _is_spec(leaf):
            raise ShardingError(f"{caller_site()}: shard_map '{fn_name}': {what} entries must "
                                f"be PartitionSpecs (P(...)), got {leaf!r}")
    return leaves


def _noun(what: str) -> str:
    return "arguments" if what == "in_specs" else "outputs"


def _argument_names(fn: Callable, in_tree, n_args: int) -> list[str]:
    """How errors call each argument leaf: its parameter name and path ("x", "params['w']")."""
    try:
        params = [p.name for p in inspect.signature(fn).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    names = []
    for path in tree.leaf_paths(in_tree):
        index = int(path[1:path.index("]")])
        base = params[index] if index < len(params) else f"args[{index}]"
        names.append(base + path[path.index("]") + 1:])
    return names


def split_value(value, spec, mesh: Mesh) -> list:
    """The blocks of a global value (on device 0) under a normalized spec, reusing the blocks a
    shard_map output or sharded argument already has (the placement table)."""
    blocks = placement.blocks_of(value, mesh, spec)
    if blocks is None:
        blocks = spmd.split(value, 0, spec, mesh)
        placement.remember(value, mesh, spec, blocks)
    return blocks


def shard_map(f: Callable, mesh: Mesh | None = None, in_specs=None, out_specs=None, *,
              check_rep: bool = True, check_vma: bool = True, schedule: str = spmd.SCHEDULE):
    """Map f over per-device blocks of its arguments, like jax.shard_map.

    in_specs: a PartitionSpec per argument (a tree prefix of the arguments; P() or None:
    replicated). out_specs likewise for the outputs; an output whose spec leaves out a mesh
    axis is read from the devices with coordinate 0 on it (the user says it is replicated).
    Inside f, aotc.lax.psum / all_gather / ... run over the mesh axes. schedule: the
    all-reduce schedule ("ring" or "tree"). check_rep / check_vma are accepted for JAX
    compatibility; aotc does not check replication.

    Differentiating inside f follows pmap's per-device view (JAX's check_vma=False): the loss
    is the sum of every device's output, so psum transposes to psum. A loss that each device
    of an axis computes identically (after a psum over it) counts once per device there;
    divide it by the axis size and psum the gradients of parameters replicated over that axis
    (what JAX's replication checks insert by themselves). Gradients *of* a shard_map'd function
    (aotc.grad(shard_map(f, ...))) are exact whatever f does.

    Example:
        >>> mesh = aotc.sharding.Mesh((2,), ("data",))
        >>> total = aotc.shard_map(lambda x: aotc.lax.psum(x, "data"), mesh=mesh,
        ...                        in_specs=(P("data"),), out_specs=P())(anp.arange(4.0))
    """
    del check_rep, check_vma
    name = function_name(f)
    if not isinstance(mesh, Mesh):
        raise ShardingError(f"{caller_site()}: shard_map '{name}' needs mesh=aotc.sharding.Mesh"
                            f"(...), got {type(mesh).__name__}")
    if in_specs is None or out_specs is None:
        raise ShardingError(f"{caller_site()}: shard_map '{name}' needs in_specs= and "
                            "out_specs= (PartitionSpecs, e.g. P('data'), or P() for replicated)")

    def mapped_call(*args):
        leaves, in_tree = tree.flatten(args)
        tracers = [to_tracer(leaf) for leaf in leaves]
        names = _argument_names(f, in_tree, len(args))
        specs = [normalize_spec(s, t.ndim, mesh, f"argument {n} of '{name}'")
                 for s, t, n in zip(_leaf_specs(in_specs, args, "in_specs", name), tracers,
                                    names)]
        block_types = [_block_type(t, s, mesh, f"argument {n} of '{name}'")
                       for t, s, n in zip(tracers, specs, names)]
        with mapped(mesh.shape):
            module, traced, tracers, captures = stage(f, args, name, block_types)
        out_shapes = tree.unflatten(traced.out_tree, [None] * traced.out_tree.num_leaves)
        fn_type = util.function_type(util.find_function(module, traced.name)).results
        paths = tree.leaf_paths(traced.out_tree)
        out_leaf_specs = [normalize_spec(s, len(shape_of(t)), mesh,
                                         f"output{p or ''} of '{name}'")
                          for s, t, p in zip(_leaf_specs(out_specs, out_shapes, "out_specs",
                                                         name), fn_type, paths)]
        replicated = ((),)
        arg_blocks = [split_value(t.value, s, mesh) for t, s in zip(tracers, specs)]
        arg_blocks += [split_value(c.value, replicated * c.ndim, mesh) for c in captures]
        out_blocks = spmd.unroll(module, traced.name, mesh, arg_blocks, schedule)
        spmd.drop_mapped_body(module, traced.name)
        outs = []
        for blocks, spec, weak in zip(out_blocks, out_leaf_specs, traced.out_weak):
            value = spmd.assemble(blocks, spec, mesh)
            placement.remember(value, mesh, spec, blocks)
            outs.append(Tracer(value, weak))
        return tree.unflatten(traced.out_tree, outs)

    return eager(mapped_call, like=f)


def _block_type(t: Tracer, spec, mesh: Mesh, what: str):
    if None in shape_of(t.value):
        raise ShardingError(f"{caller_site()}: {what} has a dynamic shape {t.shape}; "
                            "shard_map needs static shapes")
    return tensor_type(block_shape(shape_of(t.value), spec, mesh, what),
                       t.mlir_type.element_type)


__all__ = ["shard_map", "split_value"]
