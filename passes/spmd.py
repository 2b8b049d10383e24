"""SPMD on block lists: the per-device pieces of a sharded value, and the unroller that turns a
mapped body (shard_map's) into N per-device copies of it with explicit transfers.

A sharded value is a *block list*: one ir.Value per mesh position p, block p living on device p
(see aotc.frontend.core.mesh for which block of the global array that is). Every helper here
emits at the current insertion point, with static shapes only, and moves data between devices
only through `transfer` (`stablehlo.custom_call @aotc.transfer`, which tools/compile.py turns
into `flow.tensor.transfer`). Collectives follow JAX's semantics over the named mesh axes: the
devices that share their coordinates on every other axis form a group, ordered by their
mixed-radix position over the named axes (first axis major).

The unroller (`unroll`) walks a traced function with the shared Walker; its environment maps
each source value to its N per-device values. Ops are cloned once per device; calls to functions
without collectives are kept (one call per device, so custom derivatives survive);
`@aotc.collective` ops are resolved with the helpers below; a `stablehlo.while` whose body holds
collectives becomes one loop over all devices' carries, its condition read from device 0.
"""

from collections.abc import Sequence

from aotc.frontend.core import mesh as meshes
from aotc.frontend.core.errors import TracingError
from aotc.frontend.core.ir import clone_remapped, find_function, ir, module_body, shape_of
from aotc.frontend.core.mesh import Mesh, ShardingError, Spec
from aotc.frontend.core.source import location_text
from aotc.frontend.ops import control
from aotc.frontend.ops import shape as shape_ops
from aotc.frontend.ops import spmd as spmd_ops
from aotc.passes.walker import Walker, callee_of

# The default all-reduce schedule, by measurement (benchmarks/sharding.py, IREE CPU devices in
# one process): "tree" took 1.5-2.3x less time than "ring" per MB at 9 of 10 sizes (64 KiB..16
# MiB per device, 2 and 4 devices). Local devices share host memory, so ring's bandwidth saving
# buys nothing there, and it costs 2(n-1) dependent steps of chunk slices and concatenates.
SCHEDULE = "tree"
_KIND_ALIASES = {"sum": "psum", "max": "pmax", "min": "pmin"}


def transfer(v: ir.Value, src: int, dst: int) -> ir.Value:
    """v (living on device src) moved to device dst; v itself when src == dst."""
    return spmd_ops.transfer(v, src, dst)


def _spec(spec, rank: int, mesh: Mesh) -> Spec:
    """A normalized spec from a normalized one or a PartitionSpec."""
    if isinstance(spec, meshes.PartitionSpec) or spec is None:
        return meshes.normalize_spec(spec, rank, mesh, "value")
    return tuple(tuple(axes) for axes in spec) + ((),) * (rank - len(spec))


def _axes(axes) -> tuple[str, ...]:
    return (axes,) if isinstance(axes, str) else tuple(axes)


def _check_axes(axes: tuple[str, ...], mesh: Mesh, what: str) -> None:
    unknown = [a for a in axes if a not in mesh.axis_names]
    if unknown or not axes:
        raise ShardingError(f"{what} over axes {axes}: the mesh has axes {mesh.axis_names}")


def split(value: ir.Value, src_device: int, spec, mesh: Mesh) -> list[ir.Value]:
    """The block list of a global `value` living on `src_device`: device p gets its block
    (a slice taken on src_device, then moved), replicated dims whole. `spec` is a
    PartitionSpec or a normalized spec; dims must divide (ShardingError otherwise)."""
    shape = shape_of(value)
    spec = _spec(spec, len(shape), mesh)
    block = meshes.block_shape(shape, spec, mesh, "value")
    slices: dict[tuple, ir.Value] = {}
    blocks = []
    for p in meshes.devices_of(mesh):
        index = meshes.block_index(p, spec, mesh)
        if index not in slices:
            start = [i * b for i, b in zip(index, block)]
            limit = [s + b for s, b in zip(start, block)]
            slices[index] = (value if tuple(block) == tuple(shape)
                             else shape_ops.slice(value, start, limit))
        blocks.append(transfer(slices[index], src_device, p))
    return blocks


def assemble(blocks: Sequence[ir.Value], spec, mesh: Mesh, dst: int = 0) -> ir.Value:
    """The global value of a block list, on device dst: each block is read from the device that
    holds it with coordinate 0 on the mesh axes the spec leaves out (JAX's choice for a
    replicated out_spec), moved to dst, and the blocks concatenated dim by dim."""
    spec = _spec(spec, len(shape_of(blocks[0])), mesh)
    counts = [meshes.axes_size(axes, mesh) for axes in spec]
    grid: dict[tuple, ir.Value] = {}
    for p in meshes.devices_of(mesh):
        if meshes.replica_device(p, spec, mesh):
            grid[meshes.block_index(p, spec, mesh)] = transfer(blocks[p], p, dst)
    for dim in reversed(range(len(counts))):  # concatenate the last dim first
        merged: dict[tuple, ir.Value] = {}
        for index in {k[:dim] + k[dim + 1:] for k in grid}:
            parts = [grid[(*index[:dim], i, *index[dim:])] for i in range(counts[dim])]
            merged[index] = shape_ops.concatenate(parts, dim)
        grid = {(*k[:dim], 0, *k[dim:]): v for k, v in merged.items()}
    return grid[(0,) * len(counts)]


def all_reduce(blocks: Sequence[ir.Value], axes, mesh: Mesh, kind: str = "psum",
               schedule: str = SCHEDULE) -> list[ir.Value]:
    """Every device gets the sum (kind "psum"/"sum"), max ("pmax"/"max") or min ("pmin"/"min")
    of its group's blocks over `axes`. schedule "ring": reduce-scatter then all-gather of 1/n
    chunks around the group; "tree": a binary reduction tree to the group's first member and
    back."""
    axes = _axes(axes)
    _check_axes(axes, mesh, "all_reduce")
    kind = _KIND_ALIASES.get(kind, kind)
    if kind not in spmd_ops.REDUCING:
        raise ValueError(f"all_reduce kind {kind!r}: use psum, pmax or pmin")
    return spmd_ops.lanes_all_reduce(list(blocks), meshes.axis_groups(axes, mesh), kind,
                                     transfer, schedule)


def all_gather(blocks: Sequence[ir.Value], axes, mesh: Mesh, dim: int,
               tiled: bool = True) -> list[ir.Value]:
    """Every device gets its group's blocks over `axes`, in group order: concatenated along dim
    (tiled), or stacked along a new dim at `dim` (untiled, like jax.lax.all_gather)."""
    axes = _axes(axes)
    _check_axes(axes, mesh, "all_gather")
    blocks = list(blocks)
    if not tiled:
        blocks = [_insert_dim(b, dim) for b in blocks]
    return spmd_ops.lanes_all_gather(blocks, meshes.axis_groups(axes, mesh), dim, transfer)


def reduce_scatter(blocks: Sequence[ir.Value], axes, mesh: Mesh, dim: int,
                   tiled: bool = True) -> list[ir.Value]:
    """Member k of each group over `axes` gets chunk k along dim of the group's sum (tiled: dim
    divisible by the group size), or slice k of dim (untiled: dim's size equals the group size;
    the dim is dropped), like jax.lax.psum_scatter."""
    axes = _axes(axes)
    _check_axes(axes, mesh, "reduce_scatter")
    n = meshes.axes_size(axes, mesh)
    size = shape_of(blocks[0])[dim]
    if (size % n) if tiled else (size != n):
        raise ShardingError(f"reduce_scatter over {axes}: dim {dim} of size {size} must "
                            f"{'be divisible by' if tiled else 'equal'} the group size {n}")
    out = spmd_ops.lanes_reduce_scatter(list(blocks), meshes.axis_groups(axes, mesh), dim,
                                        transfer)
    return out if tiled else [_drop_dim(b, dim) for b in out]


def ppermute(blocks: Sequence[ir.Value], axis, mesh: Mesh, perm) -> list[ir.Value]:
    """For each (src, dst) of perm (positions along `axis`, a name or names), the block of
    member src moves to member dst of its group; members no pair sends to get zeros."""
    axes = _axes(axis)
    _check_axes(axes, mesh, "ppermute")
    perm = _check_perm(perm, meshes.axes_size(axes, mesh))
    return spmd_ops.lanes_ppermute(list(blocks), meshes.axis_groups(axes, mesh), perm, transfer)


def _check_perm(perm, n: int) -> list[list[int]]:
    pairs = [[int(s), int(d)] for s, d in perm]
    sources, targets = [s for s, _ in pairs], [d for _, d in pairs]
    if len(set(sources)) != len(sources) or len(set(targets)) != len(targets) or any(
            not 0 <= i < n for i in sources + targets):
        raise ShardingError(f"ppermute: perm {perm} must pair distinct sources with distinct "
                            f"destinations, each in 0..{n - 1}")
    return pairs


def all_to_all(blocks: Sequence[ir.Value], axes, mesh: Mesh, split_dim: int,
               concat_dim: int) -> list[ir.Value]:
    """Member k of each group gets chunk k (along split_dim) of every member's block,
    concatenated along concat_dim in group order (JAX's tiled all_to_all)."""
    axes = _axes(axes)
    _check_axes(axes, mesh, "all_to_all")
    n = meshes.axes_size(axes, mesh)
    if shape_of(blocks[0])[split_dim] % n:
        raise ShardingError(f"all_to_all over {axes}: dim {split_dim} of shape "
                            f"{shape_of(blocks[0])} is not divisible by the group size {n}")
    return spmd_ops.lanes_all_to_all(list(blocks), meshes.axis_groups(axes, mesh), split_dim,
                                     concat_dim, transfer)


def axis_index(axis, mesh: Mesh) -> list[ir.Value]:
    """Each device's position along `axis` (a name or names, mixed radix), as i32 scalars."""
    axes = _axes(axis)
    _check_axes(axes, mesh, "axis_index")
    return spmd_ops.lanes_axis_index(mesh.size, meshes.axis_groups(axes, mesh))


def _insert_dim(v: ir.Value, dim: int) -> ir.Value:
    shape = list(shape_of(v))
    shape.insert(dim, 1)
    return shape_ops.reshape(v, shape)


def _drop_dim(v: ir.Value, dim: int) -> ir.Value:
    shape = list(shape_of(v))
    del shape[dim]
    return shape_ops.reshape(v, shape)


# ---- the lockstep unroller ----------------------------------------------------------------------


def _nested_ops(op: ir.Operation) -> list[ir.Operation]:
    found = []

    def visit(inner):
        found.append(inner.operation)
        return ir.WalkResult.ADVANCE

    op.walk(visit)
    return found


class Unroller(Walker):
    """Emits N per-device copies of a block at the insertion point; a source value becomes the
    list of its N per-device values."""

    def __init__(self, module, mesh: Mesh, schedule: str = SCHEDULE):
        super().__init__(module)
        self.mesh = mesh
        self.schedule = schedule
        self._collective_fns: dict[str, bool] = {}

    def has_collectives(self, op: ir.Operation) -> bool:
        """Whether op, its regions, or a function it calls (transitively) holds a collective."""
        for inner in _nested_ops(op):
            if spmd_ops.is_collective(inner):
                return True
            callee = callee_of(inner)
            if callee is not None and self._function_has_collectives(callee):
                return True
        return False

    def _function_has_collectives(self, name: str) -> bool:
        if name not in self._collective_fns:
            self._collective_fns[name] = False  # recursion guard
            fn = find_function(self.module, name)
            self._collective_fns[name] = self.has_collectives(fn.operation)
        return self._collective_fns[name]

    def _per_device(self, op: ir.Operation, p: int) -> ir.Operation:
        used = {v for inner in _nested_ops(op) for v in inner.operands if v in self.env}
        return clone_remapped(op, {v: self.env[v][p] for v in used})

    def call(self, op: ir.Operation, fn) -> list:
        if self._function_has_collectives(callee_of(op)):
            return super().call(op, fn)
        return self._cloned(op)

    def _cloned(self, op: ir.Operation) -> list:
        copies = [self._per_device(op, p) for p in meshes.devices_of(self.mesh)]
        return [[c.results[i] for c in copies] for i in range(len(op.results))]

    def visit(self, op: ir.Operation) -> list:
        if spmd_ops.is_collective(op):
            return [self._collective(op)]
        if op.regions and self.has_collectives(op):
            if spmd_ops.is_while(op):
                return self._merged_while(op)
            if spmd_ops.is_branch(op):
                return self._merged_branches(op)
            where = location_text(op.location) or "<unknown location>"
            raise ShardingError(f"{where}: {op.name} holds a collective; inside shard_map only "
                                "while loops and conditionals may hold collectives")
        return self._cloned(op)

    def _collective(self, op: ir.Operation) -> list:
        config = spmd_ops.collective_config(op)
        axes = tuple(config["axes"])
        _check_axes(axes, self.mesh, config["kind"])
        groups = meshes.axis_groups(axes, self.mesh)
        blocks = [self.env[op.operands[0]][p] for p in meshes.devices_of(self.mesh)] \
            if op.operands else [None] * self.mesh.size
        return spmd_ops.resolve(config, blocks, groups, transfer, self.schedule)

    def _merged_while(self, op: ir.Operation) -> list:
        """One loop carrying every device's state; device 0's condition decides (a loop with
        collectives runs in lockstep, so its trip count is the same on every device)."""
        n, k = self.mesh.size, len(op.operands)
        init = [self.env[v][p] for p in range(n) for v in op.operands]

        def regroup(flat):
            return [[flat[p * k + i] for p in range(n)] for i in range(k)]

        def run(region: int, flat):
            return self.run_block(op.regions[region].blocks[0], regroup(list(flat)))

        outs = control.while_(init, lambda *s: run(0, s)[0][0],
                              lambda *s: [v for p in range(n) for v in
                                          [o[p] for o in run(1, s)]])
        return regroup(outs)


    def _merged_branches(self, op: ir.Operation) -> list:
        """One stablehlo.if / case over every device's results; device 0's predicate or index
        picks the branch (a branch with collectives is taken by all devices together)."""
        n, k = self.mesh.size, len(op.results)
        types = [r.type for _ in range(n) for r in op.results]

        def branch(region: int):
            outs = self.run_block(op.regions[region].blocks[0], [])
            return [outs[j][p] for p in range(n) for j in range(k)]

        selector = self.env[op.operands[0]][0]
        bodies = [lambda r=r: branch(r) for r in range(len(op.regions))]
        if len(op.regions) == 2 and spmd_ops.is_if(op):
            flat = control.if_(selector, types, bodies[0], bodies[1])
        else:
            flat = control.case(selector, types, bodies)
        return [[flat[p * k + j] for p in range(n)] for j in range(k)]


def unroll(module, fn_name: str, mesh: Mesh, arg_blocks, schedule: str = SCHEDULE) -> list:
    """Emit, at the insertion point, the body of function `fn_name` once per mesh device, its
    i-th argument on device p being arg_blocks[i][p]; returns its results as block lists
    (out_blocks[j][p]). Collectives resolve over the mesh's devices (all_reduce schedule
    `schedule`)."""
    for i, blocks in enumerate(arg_blocks):
        if len(blocks) != mesh.size:
            raise TracingError(f"unroll: argument {i} has {len(blocks)} blocks for a mesh of "
                               f"{mesh.size} devices")
    return Unroller(module, mesh, schedule).run_function(fn_name, [list(b) for b in arg_blocks])


def _collective_functions(module) -> set[str]:
    """Names of the functions that hold a collective, directly or through the calls they make."""
    fns = {ir.StringAttr(op.attributes["sym_name"]).value: op
           for op in module_body(module).operations if op.operation.name == "func.func"}
    calls = {name: set() for name in fns}
    holding = set()
    for name, fn in fns.items():
        for inner in _nested_ops(fn.operation):
            if spmd_ops.is_collective(inner):
                holding.add(name)
            callee = callee_of(inner)
            if callee is not None:
                calls[name].add(callee)
    changed = True
    while changed:
        grown = {name for name, callees in calls.items() if callees & holding} - holding
        holding |= grown
        changed = bool(grown)
    return holding


def _callees(fn) -> set[str]:
    return {callee_of(inner) for inner in _nested_ops(fn.operation)} - {None}


def drop_mapped_body(module, name: str) -> None:
    """Erase function `name`, a mapped body already unrolled or batched (nothing calls it), and
    then each private function holding collectives that only the erased ones called, so that no
    collective reaches IREE. Functions being traced elsewhere are never among them."""
    holding = _collective_functions(module)
    worklist = [name]
    while worklist:
        fns = {ir.StringAttr(op.attributes["sym_name"]).value: op
               for op in module_body(module).operations if op.operation.name == "func.func"}
        fn = fns.get(worklist.pop())
        if fn is None:
            continue
        own = ir.StringAttr(fn.attributes["sym_name"]).value
        if any(own in _callees(other) for key, other in fns.items() if key != own):
            continue  # still called
        callees = _callees(fn)
        fn.operation.erase()
        worklist.extend(c for c in callees if c in holding and c in fns
                        and "sym_visibility" in fns[c].attributes
                        and ir.StringAttr(fns[c].attributes["sym_visibility"]).value == "private")
