"""SPMD partitioning: `partition(module, "f", mesh, in_specs)` adds the per-device program of a
traced global function (GSPMD's propagation, unrolled as design "A" of issue 12 describes).

Every global value of the source function becomes a `Sharded`: a normalized spec (one tuple of
mesh axes per dim) and one block per mesh position, block p living on device p. Arguments come
in with the specs given; each op's SHARD rule (table "shard", beside the op in frontend/ops/)
maps its operands' shardings to local ops on the blocks and the shardings of its results,
asking the partitioner (`ShardContext`) to reshard an operand where it needs another layout.
Resharding is explicit communication from aotc.passes.spmd (all_gather to replicate a dim,
all_to_all to move a split from one dim to another) or free local slicing (a replicated dim
split into blocks); partial sums (a contraction or reduction over a split dim) are all-reduced.
Every collective the pass emits is recorded in `Partitioned.collectives`.

An op without a SHARD rule runs replicated: its operands are gathered and each device runs the
whole op. Ops that cannot run that way (side-effecting or placed custom calls) and dynamic
shapes (sharded programs are static) raise ShardingError naming the op and its source line.
"""

from dataclasses import dataclass, field

from aotc.frontend.core.ir import ir, replace_uses, shape_of, tensor_type
from aotc.frontend.core.mesh import (
    Mesh,
    ShardingError,
    Spec,
    axes_size,
    axis_position,
    block_shape,
)
from aotc.frontend.core.registry import TABLES, rule_key
from aotc.frontend.ops import shape as shape_ops
from aotc.frontend.ops import tensors
from aotc.passes import functions as util
from aotc.passes import spmd
from aotc.passes.walker import RuleContext, Walker

DEVICE_ATTRIBUTE = "aotc.device"  # on a function's args/results: the device it lives on


@dataclass
class Sharded:
    """What a global value becomes: its normalized spec and one block per mesh position."""

    spec: Spec
    blocks: list

    @property
    def rank(self) -> int:
        return len(self.spec)


@dataclass(frozen=True)
class Collective:
    """One collective the partitioner emitted: what, over which mesh axes, of which block shape,
    for the op at `location`."""

    kind: str  # "all_reduce:sum" / ":max" / ":min", "all_gather", "all_to_all"
    axes: tuple
    shape: tuple
    location: str


@dataclass
class Partitioned:
    """The per-device function `name` of a partitioned global function: per global argument
    `in_specs[i]` and N block arguments; per result `out_specs[k]` and N block results."""

    name: str
    source: str  # the global function's name
    mesh: Mesh
    in_specs: list
    out_specs: list
    collectives: list = field(default_factory=list)  # the live ones, in program order


def replicated(rank: int) -> Spec:
    return ((),) * rank


def is_replicated(spec: Spec) -> bool:
    return not any(spec)


def _element(v) -> ir.Type:
    return ir.RankedTensorType(v if isinstance(v, ir.Type) else v.type).element_type


class ShardContext(RuleContext):
    """What a SHARD rule sees: the op, the mesh, and the partitioner's services: reshard an
    operand, run the op locally on blocks, all-reduce partial results, or run it replicated."""

    def __init__(self, op: ir.Operation, walker: "Partitioner"):
        super().__init__(op, walker)
        self.mesh = walker.mesh

    @property
    def n(self) -> int:
        return self.mesh.size

    def block_type(self, t: ir.Type, spec: Spec) -> ir.Type:
        """The per-device block type of a global type under spec (ShardingError if a split dim
        does not divide)."""
        what = f"{self.op.name} at {self.location}"
        return tensor_type(block_shape(shape_of(t), spec, self.mesh, what), _element(t))

    def divides(self, t: ir.Type, spec: Spec) -> bool:
        """Whether every dim of type t is divisible by the mesh axes spec splits it over."""
        return all(d % axes_size(axes, self.mesh) == 0 for d, axes in zip(shape_of(t), spec))

    def axes_size(self, axes) -> int:
        """How many blocks the mesh axes split a dim into."""
        return axes_size(axes, self.mesh)

    def sharded(self, spec: Spec, blocks) -> Sharded:
        """A global value made of `blocks` (one per device), laid out by spec."""
        return Sharded(tuple(spec), list(blocks))

    def reshard(self, x: Sharded, spec: Spec) -> Sharded:
        return self.walker.reshard(x, tuple(spec), self.location)

    def replicate(self, x: Sharded) -> Sharded:
        return self.reshard(x, replicated(x.rank))

    def widest(self, operands: list[Sharded]) -> Spec:
        """The spec of the operand split over the most devices (the first among equals): the
        layout an elementwise op computes in."""
        best = max(operands, key=lambda x: axes_size([a for axes in x.spec for a in axes],
                                                     self.mesh))
        return best.spec

    def local(self, operands: list[Sharded], result_specs, op: ir.Operation | None = None
              ) -> list[Sharded]:
        """Run the op (or `op`) on each device's blocks, its results split by result_specs."""
        op = op or self.op
        types = [self.block_type(r.type, s) for r, s in zip(op.results, result_specs)]
        per_device = [tensors.clone_with(op, [x.blocks[p] for x in operands], types).results
                      for p in range(self.n)]
        return [Sharded(tuple(s), [list(outs)[k] for outs in per_device])
                for k, s in enumerate(result_specs)]

    def all_reduce(self, x: Sharded, axes, kind: str) -> Sharded:
        """Combine the partial blocks of x over the mesh axes (kind: sum, max, min)."""
        return self.walker.all_reduce(x, tuple(axes), kind, self.location)

    def everywhere(self) -> list[Sharded]:
        """An op without operands (constant, iota): one copy per device, replicated. (Not one
        copy transferred to each device: IREE 3.13's constant evaluation crashes on transfers
        of constants, and a constant needs no transfer: IREE materializes it where it is
        used.)"""
        copies = [list(self.op.clone().operation.results) for _ in range(self.n)]
        return [Sharded(replicated(len(shape_of(r))), [c[k] for c in copies])
                for k, r in enumerate(self.op.results)]

    def run_replicated(self, operands: list[Sharded]) -> list[Sharded]:
        return self.walker.run_replicated(self.op, operands)

    def cannot(self, why: str) -> ShardingError:
        """The error for an op the partitioner cannot handle, naming it and its source line."""
        return ShardingError(f"{self.location}: cannot partition {rule_key(self.op)} over "
                             f"{self.mesh!r}: {why}")


class Partitioner(Walker):
    """Walks a global function; source values become `Sharded` block lists (see the module's
    docstring)."""

    table = "shard"

    def __init__(self, module, mesh: Mesh):
        super().__init__(module)
        self.mesh = mesh
        self.collectives: list[tuple[Collective, list]] = []  # with their result blocks

    def visit(self, op: ir.Operation) -> list:
        ctx = ShardContext(op, self)
        _check_static(ctx)
        operands = [self.read(v) for v in op.operands]
        rule = TABLES["shard"].get(rule_key(op))
        if rule is None:
            return self.apply(self.run_replicated, op, op, operands)
        return self.apply(rule, op, ctx, operands)

    # ---- running an op replicated (no SHARD rule) ----

    def run_replicated(self, op: ir.Operation, operands: list[Sharded]) -> list[Sharded]:
        """Gather the operands (and values the op's regions capture) and run the whole op on
        every device; results are replicated."""
        ctx = ShardContext(op, self)
        _check_replicable(ctx)
        if not operands and not _captured(op, self.env):
            return ctx.everywhere()
        sources = list(op.operands) + [v for v in _captured(op, self.env)
                                       if v not in set(op.operands)]
        full = {v: self.reshard(self.read(v), replicated(len(shape_of(v))), ctx.location)
                for v in sources}
        results = []
        for p in range(self.mesh.size):
            new = op.clone().operation
            mapping = {v: x.blocks[p] for v, x in full.items()}
            replace_uses(new, mapping)
            results.append(list(new.results))
        return [Sharded(replicated(len(shape_of(r))), [outs[k] for outs in results])
                for k, r in enumerate(op.results)]

    # ---- communication ----

    def reshard(self, x: Sharded, target: Spec, where: str) -> Sharded:
        """x laid out by target: a split moved whole to an unsplit dim is one all_to_all, other
        changed splits are gathered, then dims target splits are sliced locally (free)."""
        if x.spec == target:
            return x
        shape = shape_of(x.blocks[0].type)
        global_shape = [d * axes_size(a, self.mesh) for d, a in zip(shape, x.spec)]
        block_shape(global_shape, target, self.mesh, f"a value resharded at {where}")
        blocks, current = list(x.blocks), list(x.spec)
        for i, axes in enumerate(current):
            if not axes or axes == target[i]:
                continue
            j = next((j for j, t in enumerate(target) if t == axes and not current[j]), None)
            if j is not None:
                blocks = spmd.all_to_all(blocks, axes, self.mesh, j, i)
                current[i], current[j] = (), axes
                self._log("all_to_all", axes, blocks, where)
            else:
                blocks = spmd.all_gather(blocks, axes, self.mesh, i, True)
                current[i] = ()
                self._log("all_gather", axes, blocks, where)
        if tuple(current) != tuple(target):
            blocks = [self._slice_block(b, p, current, target) for p, b in enumerate(blocks)]
        return Sharded(tuple(target), blocks)

    def _slice_block(self, block: ir.Value, p: int, current, target) -> ir.Value:
        """Device p's block of the dims target splits and `current` does not (a local slice)."""
        shape = shape_of(block.type)
        start, limit = [], []
        for d, (now, want) in enumerate(zip(current, target)):
            if now or not want:
                start.append(0)
                limit.append(shape[d])
                continue
            size = shape[d] // axes_size(want, self.mesh)
            index = axis_position(p, want, self.mesh)
            start.append(index * size)
            limit.append((index + 1) * size)
        return shape_ops.slice(block, start, limit)

    def all_reduce(self, x: Sharded, axes: tuple, kind: str, where: str) -> Sharded:
        if not axes:
            return x
        blocks = spmd.all_reduce(list(x.blocks), axes, self.mesh, kind)
        self._log(f"all_reduce:{kind}", axes, blocks, where)
        return Sharded(x.spec, blocks)

    def _log(self, kind: str, axes, blocks, where: str) -> None:
        self.collectives.append(
            (Collective(kind, tuple(axes), shape_of(blocks[0].type), where), list(blocks)))


def _check_static(ctx: ShardContext) -> None:
    for v in [*ctx.op.operands, *ctx.op.results]:
        if None in shape_of(v.type):
            raise ctx.cannot(f"it has the dynamic shape {v.type}; sharded programs need static "
                             "shapes (give every argument a static ShapeSpec)")


def _check_replicable(ctx: ShardContext) -> None:
    """Ops that must not run once per device: side-effecting or placed custom calls."""
    op = ctx.op
    if op.name != "stablehlo.custom_call":
        return
    target = ir.StringAttr(op.attributes["call_target_name"]).value
    effect = ("has_side_effect" in op.attributes
              and ir.BoolAttr(op.attributes["has_side_effect"]).value)
    if effect:
        raise ctx.cannot(f"custom_call @{target} has side effects, which would happen once per "
                         "device; move it out of the sharded function")
    if target.startswith("aotc."):
        raise ctx.cannot(f"custom_call @{target} places or communicates values itself; use "
                         "shard_map outside a jit with in_shardings, or shardings inside it")
    raise ctx.cannot(f"custom_call @{target} has no sharding rule")


def _live_values(results) -> set:
    """The values the function's `results` depend on (everything inside a live op's regions
    counts as live): which collectives survive dead-code elimination."""
    live, seen, stack = set(), set(), list(results)
    while stack:
        v = stack.pop()
        if v in live:
            continue
        live.add(v)
        if not isinstance(v, ir.OpResult):
            continue
        op = v.owner.operation
        if op in seen:
            continue
        seen.add(op)
        live.update(op.results)
        stack.extend(op.operands)
        for region in op.regions:
            for block in region.blocks:
                for inner in block.operations:
                    live.update(inner.operation.results)
                    stack.extend(inner.operation.operands)
    return live


def _captured(op: ir.Operation, env: dict) -> list:
    """Values defined outside op (in env) that ops nested in its regions use."""
    found: list = []

    def visit(inner):
        for v in inner.operation.operands:
            if v in env and v not in found:
                found.append(v)
        return ir.WalkResult.ADVANCE

    for region in op.regions:
        for block in region.blocks:
            for inner in block.operations:
                inner.operation.walk(visit)
    return found




# ---- the pass ------------------------------------------------------------------------------------


def _device_attrs(count: int, n: int) -> ir.ArrayAttr:
    """arg_attrs / res_attrs placing `count` groups of n blocks on devices 0..n-1 each."""
    i64 = ir.IntegerType.get_signless(64)
    return ir.ArrayAttr.get([ir.DictAttr.get({DEVICE_ATTRIBUTE: ir.IntegerAttr.get(i64, p)})
                             for _ in range(count) for p in range(n)])


def partition(module, fn_name: str, mesh: Mesh, in_specs, out_specs=None, *,
              name: str | None = None, private: bool = False) -> Partitioned:
    """Add the per-device program of global function `fn_name` to module.

    in_specs: one normalized spec per argument (aotc.frontend.core.mesh.normalize_spec).
    out_specs: one normalized spec or None (whatever propagation gives) per result, or None.
    The new function takes, per argument, its N blocks (argument attributes `aotc.device = p`)
    and returns, per result, its N blocks; `Partitioned` says the specs and the collectives.
    """
    fn = util.find_function(module, fn_name)
    ftype = util.function_type(fn)
    inputs, results = list(ftype.inputs), list(ftype.results)
    if len(in_specs) != len(inputs):
        raise ShardingError(f"'{fn_name}' takes {len(inputs)} arrays but {len(in_specs)} "
                            "input shardings were given; give one per argument leaf")
    out_specs = list(out_specs) if out_specs is not None else [None] * len(results)
    if len(out_specs) != len(results):
        raise ShardingError(f"'{fn_name}' returns {len(results)} arrays but {len(out_specs)} "
                            "output shardings were given; give one per result leaf")
    n = mesh.size
    name = name or util.fresh_name(module, f"{fn_name}_spmd")
    with util.module_op(module).context, fn.location:
        arg_types = []
        for i, (t, spec) in enumerate(zip(inputs, in_specs)):
            if None in shape_of(t):
                raise ShardingError(f"argument {i} of '{fn_name}' has the dynamic shape {t}; "
                                    "sharded programs need static shapes")
            block = block_shape(shape_of(t), spec, mesh, f"argument {i} of '{fn_name}'")
            arg_types += [tensor_type(block, _element(t))] * n
        new_fn, entry = util.new_function(module, name, arg_types, private, fn.location)
        try:
            with ir.InsertionPoint(entry):
                walker = Partitioner(module, mesh)
                args = [Sharded(tuple(spec), list(entry.arguments[i * n:(i + 1) * n]))
                        for i, spec in enumerate(in_specs)]
                outs = walker.run_block(util.entry_block(fn), args)
                final = [x if spec is None else walker.reshard(x, tuple(spec), f"'{fn_name}'")
                         for x, spec in zip(outs, out_specs)]
                util.finish_function(new_fn, [b for x in final for b in x.blocks])
            new_fn.attributes["arg_attrs"] = _device_attrs(len(inputs), n)
            new_fn.attributes["res_attrs"] = _device_attrs(len(results), n)
        except Exception:
            new_fn.operation.erase()  # leave the module as it was
            raise
    util.verify_after(new_fn, "SPMD partitioning")
    live = _live_values([b for x in final for b in x.blocks])
    return Partitioned(name, fn_name, mesh, [tuple(s) for s in in_specs], [x.spec for x in final],
                       [c for c, blocks in walker.collectives if live.intersection(blocks)])


__all__ = ["Collective", "Partitioned", "Partitioner", "ShardContext", "Sharded", "is_replicated",
           "partition", "replicated"]
