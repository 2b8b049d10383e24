"""Sharded programs for `aotc.jit(f, in_shardings=..., out_shardings=...)` and sharded exports.

A traced global function is partitioned by aotc.passes.sharding into a per-device program under
the traced function's own name (the global function stays in the module as a private helper
that IREE drops). The program takes, per argument leaf, N per-device blocks (device p's block
is marked `aotc.device = p`) and returns N blocks per result leaf; `ShardedCall` splits global
numpy arrays into those blocks, calls the compiled program on N devices and assembles the
results (aotc_runtime.mesh holds the block rule the runtime shares).

Shardings follow JAX's rules: `in_shardings` is one NamedSharding for every argument leaf, or a
tree prefix of the arguments (a tuple with one entry per positional argument) whose leaves are
NamedShardings or None (None: replicated); `out_shardings` likewise for the results, where None
keeps whatever layout propagation gives.
"""

from collections.abc import Callable

import numpy as np

from aotc.frontend.core import tree
from aotc.frontend.core.ir import find_function, ir, shape_of
from aotc.frontend.core.mesh import (
    Mesh,
    NamedSharding,
    PartitionSpec,
    ShardingError,
    block_shape,
    normalize_spec,
)
from aotc.frontend.trace.tracer import Traced
from aotc.passes import functions as util
from aotc.passes.sharding import Partitioned, partition
from aotc_runtime import mesh as runtime_mesh


def _is_sharding_leaf(x) -> bool:
    return x is None or isinstance(x, (NamedSharding, PartitionSpec))


def per_leaf(shardings, full, what: str) -> list:
    """One NamedSharding or None per leaf of `full` from a sharding or a tree prefix of it."""
    for leaf in tree.leaves(shardings, is_leaf=_is_sharding_leaf):
        if isinstance(leaf, PartitionSpec):
            raise ShardingError(f"{what}: got the PartitionSpec {leaf!r} without a mesh; pass "
                                "NamedSharding(mesh, spec)")
        if leaf is not None and not isinstance(leaf, NamedSharding):
            raise ShardingError(f"{what}: expected NamedShardings (or None), got "
                                f"{type(leaf).__name__} {leaf!r}")
    if isinstance(shardings, NamedSharding):
        return [shardings] * len(tree.leaves(full))
    try:
        return tree.broadcast_prefix(shardings, full)
    except ValueError:
        raise ShardingError(
            f"{what}: the shardings {shardings!r} do not match the structure "
            f"{tree.structure(full)!r}; give one NamedSharding (or None) per argument, or a "
            "tree prefix of each") from None


def mesh_of(shardings: list, what: str) -> Mesh:
    """The one mesh every given sharding uses (ShardingError if none or several)."""
    meshes = {s.mesh for s in shardings if s is not None}
    if not meshes:
        raise ShardingError(f"{what}: no NamedSharding given; pass in_shardings with a mesh")
    if len(meshes) > 1:
        raise ShardingError(f"{what}: shardings on different meshes {sorted(map(repr, meshes))}; "
                            "use one mesh for a function")
    return meshes.pop()


def specs_of(shardings: list, shapes: list, mesh: Mesh, names: list[str]) -> list:
    """Normalized specs (None stays None) for leaves of `shapes`, checked against the mesh."""
    out = []
    for sharding, shape, name in zip(shardings, shapes, names):
        if sharding is None:
            out.append(None)
            continue
        spec = normalize_spec(sharding.spec, len(shape), mesh, name)
        block_shape(shape, spec, mesh, name)  # each sharded dim divisible, named as the user's
        out.append(spec)
    return out


def partition_traced(traced: Traced, mesh: Mesh, in_specs: list, out_specs) -> Partitioned:
    """Partition traced's function in its module: the per-device program takes the traced
    function's name (and place); the global one becomes a private helper."""
    module = traced.module
    with module.context:
        fn = find_function(module, traced.name)
        global_name = util.fresh_name(module, f"{traced.name}_global")
        fn.attributes["sym_name"] = ir.StringAttr.get(global_name)
        fn.attributes["sym_visibility"] = ir.StringAttr.get("private")
        specs = [s if s is not None else ((),) * len(shape_of(t))
                 for s, t in zip(in_specs, util.function_type(fn).inputs)]
        return partition(module, global_name, mesh, specs, out_specs, name=traced.name)


def leaf_names(in_tree, arg_names=()) -> list[str]:
    """'argument x[0]['w']'-style names of a flattened argument tuple's leaves, for errors."""
    names = []
    for i, child in enumerate(in_tree.children):
        arg = arg_names[i] if i < len(arg_names) else f"argument {i}"
        names.extend(f"{arg}{path}" for path in tree.leaf_paths(child))
    return names


class ShardedCall:
    """A partitioned program compiled for its mesh and loaded on N devices; called with the
    global argument leaves, returns the global result leaves (numpy)."""

    def __init__(self, part: Partitioned, vmfb: bytes, name: str, device=None):
        from aotc_runtime import load_bytes

        self.part = part
        self.mesh = runtime_mesh.MeshSpec(part.mesh.axis_names, part.mesh.axis_sizes)
        self.module = load_bytes(vmfb, device=device, require_aotc=False)
        self.function = self.module[name]

    def __call__(self, arrays: list) -> list:
        blocks = [b for a, spec in zip(arrays, self.part.in_specs)
                  for b in runtime_mesh.split(a, spec, self.mesh)]
        outs = self.function(*blocks)
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        n = self.mesh.size
        results = []
        for k, spec in enumerate(self.part.out_specs):
            group = [np.asarray(b) for b in outs[k * n:(k + 1) * n]]
            shape = tuple(d * self.mesh.axis_size(axes) for d, axes in zip(group[0].shape, spec))
            results.append(runtime_mesh.assemble(group, spec, shape, self.mesh))
        return results


def sharded_arguments(fn: Callable):
    """(function, in_shardings, out_shardings) of an `aotc.jit(f, in_shardings=...)` callable,
    else None: what a sharded export of a jitted function reads."""
    shardings = getattr(fn, "_aotc_shardings", None)
    return None if shardings is None else (fn.__wrapped__, *shardings)

