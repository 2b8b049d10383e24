"""SPMD ops: the device transfer, and the collectives of mapped bodies (shard_map, vmap with an
axis_name), as `stablehlo.custom_call`s with rules of their own (registry key
"stablehlo.custom_call @<target>").

- `@aotc.transfer(x) {backend_config = "<from>-><to>"}` moves a value between artifact devices.
  Its value is x (IMPL: identity); its JVP transfers the tangent, its TRANSPOSE transfers the
  cotangent back, its BATCH transfers the batched value. Before IREE it becomes
  `flow.tensor.transfer` (tools/compile.py).
- `@aotc.collective(x) {backend_config = <JSON>}` is a collective over named mapped axes:
  {"kind": "psum" | "pmax" | "pmin" | "all_gather" | "psum_scatter" | "ppermute" |
  "all_to_all" | "axis_index", "axes": [names], "size": devices along the axes, + params}.
  Only the tiled forms exist here (JAX's primitives are tiled too; aotc.lax adds the untiled
  reshapes). A shard_map unrolls its body and resolves each collective into transfers and local
  ops (aotc.passes.spmd); vmap(axis_name=) resolves them with the BATCH rule below. A collective
  that neither resolves fails in the interpreter with a clear error.

Reverse mode, in the per-device view of pmap: a mapped body's outputs on all devices add up
into the loss, so each linear collective transposes into its adjoint: psum <-> psum,
all_gather <-> psum_scatter, ppermute <-> the inverse permutation, all_to_all <-> all_to_all
with split and concat axes swapped.

The lane algorithms (`lanes_*`) compute a collective over a list of per-member values, one group
of members at a time, given `move(value, src, dst)`: passes/spmd.py passes a device transfer,
the BATCH rule passes the identity (the lanes of a vmap share one device).
"""

import json
from collections.abc import Callable

import numpy as np

from aotc.frontend.core.emit import Attrs, emit
from aotc.frontend.core.errors import MissingRuleError
from aotc.frontend.core.ir import ir, shape_of, tensor_type
from aotc.frontend.core.mesh import ShardingError
from aotc.frontend.core.registry import CUSTOM_CALL, custom_call_key, register
from aotc.frontend.ops import elementwise as ew
from aotc.frontend.ops import reduction
from aotc.frontend.ops import shape as shape_ops
from aotc.frontend.ops import tensors as values

TRANSFER = "aotc.transfer"
COLLECTIVE = "aotc.collective"
TRANSFER_KEY = custom_call_key(TRANSFER)
COLLECTIVE_KEY = custom_call_key(COLLECTIVE)
REDUCING = {"psum": ew.add, "pmax": ew.maximum, "pmin": ew.minimum}
KINDS = (*REDUCING, "all_gather", "psum_scatter", "ppermute", "all_to_all", "axis_index")

Move = Callable[[ir.Value, int, int], ir.Value]

# ---- the transfer -------------------------------------------------------------------------------


def transfer(x: ir.Value, src: int, dst: int) -> ir.Value:
    """x moved from device src to device dst (x itself when src == dst). Static shapes only."""
    if src == dst:
        return x
    if None in shape_of(x):
        raise ShardingError(f"a device transfer of a value of dynamic shape {x.type}: sharded "
                            "programs need static shapes")
    return emit(CUSTOM_CALL, [x], {
        "call_target_name": ir.StringAttr.get(TRANSFER),
        "backend_config": ir.StringAttr.get(f"{src}->{dst}"),
    }, result_types=[x.type]).result


def transfer_devices(op: ir.Operation) -> tuple[int, int]:
    """(from, to) of a transfer op."""
    src, dst = ir.StringAttr(op.attributes["backend_config"]).value.split("->")
    return int(src), int(dst)


def _transfer_jvp(ctx, primals, tangents):
    (x_dot,) = tangents
    if values.is_zero(x_dot):
        return [values.Zero.of(ctx.results[0])]
    return [transfer(x_dot, *transfer_devices(ctx.op))]


def _transfer_transpose(ctx, cts, operands):
    src, dst = transfer_devices(ctx.op)
    return [transfer(values.instantiate(cts[0]), dst, src)]


def _transfer_batch(ctx, operands, batched):
    return [transfer(operands[0], *transfer_devices(ctx.op))], [batched[0]]


register("type", TRANSFER_KEY, lambda types, attrs: [types[0]])
register("interpret", TRANSFER_KEY, lambda ctx, x: x)
register("jvp", TRANSFER_KEY, _transfer_jvp)
register("transpose", TRANSFER_KEY, _transfer_transpose)
register("batch", TRANSFER_KEY, _transfer_batch)


# ---- the collective op --------------------------------------------------------------------------


def collective_config(op_or_attrs) -> dict:
    """The JSON backend_config of a collective op (or of its Attrs) as a dict."""
    if hasattr(op_or_attrs, "raw"):
        text = ir.StringAttr(op_or_attrs.raw("backend_config")).value
    else:
        text = ir.StringAttr(op_or_attrs.attributes["backend_config"]).value
    return json.loads(text)


def is_while(op: ir.Operation) -> bool:
    """Whether op is a stablehlo.while (the one region op the unroller merges across devices)."""
    return op.name == "stablehlo.while"


def is_if(op: ir.Operation) -> bool:
    return op.name == "stablehlo.if"


def is_branch(op: ir.Operation) -> bool:
    """Whether op is a stablehlo.if or stablehlo.case (the unroller merges them too)."""
    return op.name in ("stablehlo.if", "stablehlo.case")


def is_collective(op: ir.Operation) -> bool:
    return (op.name == CUSTOM_CALL
            and ir.StringAttr(op.attributes["call_target_name"]).value == COLLECTIVE)


def _collective_shape(shape, config: dict) -> tuple:
    """The result shape of a collective of an operand of `shape`."""
    shape, n = list(shape), config["size"]
    kind = config["kind"]
    if kind == "all_gather":
        shape[config["dim"]] *= n
    elif kind == "psum_scatter":
        shape[config["dim"]] //= n
    elif kind == "all_to_all":
        shape[config["split"]] //= n
        shape[config["concat"]] *= n
    return tuple(shape)


def _collective_type(types, attrs):
    config = collective_config(attrs)
    if config["kind"] == "axis_index":
        return [tensor_type((), ir.IntegerType.get_signless(32))]
    return [tensor_type(_collective_shape(shape_of(types[0]), config),
                        ir.RankedTensorType(types[0]).element_type)]


def collective(kind: str, x: ir.Value | None, axes, size: int, **params) -> ir.Value:
    """Emit a collective over the mapped `axes` (`size` members in all); x is None for
    axis_index. params: dim (all_gather, psum_scatter), perm (ppermute: [[src, dst], ...]),
    split and concat (all_to_all). Checks the shapes a tiled collective needs."""
    if kind not in KINDS:
        raise ValueError(f"unknown collective kind {kind!r}")
    config = {"kind": kind, "axes": list(axes), "size": int(size), **params}
    operands = [] if x is None else [x]
    if x is not None:
        _check_divisible(shape_of(x), config)
    attrs = {"call_target_name": ir.StringAttr.get(COLLECTIVE),
             "backend_config": ir.StringAttr.get(json.dumps(config, sort_keys=True))}
    return emit(CUSTOM_CALL, operands, attrs,
                result_types=_collective_type([v.type for v in operands], Attrs(attrs))).result


def _check_divisible(shape, config: dict) -> None:
    kind, n = config["kind"], config["size"]
    dim = {"psum_scatter": "dim", "all_to_all": "split"}.get(kind)
    if dim is None:
        return
    axis = config[dim]
    if not 0 <= axis < len(shape):
        raise ShardingError(f"{kind}: axis {axis} is out of range for an operand of shape "
                            f"{shape}")
    if shape[axis] is None or shape[axis] % n:
        raise ShardingError(f"{kind}: dimension {axis} of the operand (shape {shape}) must be "
                            f"divisible by the {n} members of axes {config['axes']}")


def _collective_impl(ctx, *operands):
    config = collective_config(ctx.op)
    raise ShardingError(
        f"{ctx.location}: {config['kind']} over axis {config['axes']} outside a mapped context; "
        "collectives run only inside aotc.shard_map, aotc.pmap or aotc.vmap(..., axis_name=)")


def _with_config(ctx, x, **changes) -> ir.Value:
    config = collective_config(ctx.op)
    config.update(changes)
    kind, axes, size = config.pop("kind"), config.pop("axes"), config.pop("size")
    return collective(kind, x, axes, size, **config)


def _collective_jvp(ctx, primals, tangents):
    config = collective_config(ctx.op)
    kind = config["kind"]
    if kind in ("pmax", "pmin"):
        raise MissingRuleError("jvp", f"{COLLECTIVE_KEY} ({kind})", ctx.location)
    if not primals or values.is_zero(tangents[0]):
        return [values.Zero.of(r) for r in ctx.results]
    return [_with_config(ctx, tangents[0])]


def _collective_transpose(ctx, cts, operands):
    config = collective_config(ctx.op)
    ct = values.instantiate(cts[0])
    kind = config["kind"]
    if kind == "psum":
        return [_with_config(ctx, ct)]
    if kind == "all_gather":
        return [_with_config(ctx, ct, kind="psum_scatter")]
    if kind == "psum_scatter":
        return [_with_config(ctx, ct, kind="all_gather")]
    if kind == "ppermute":
        return [_with_config(ctx, ct, perm=[[d, s] for s, d in config["perm"]])]
    if kind == "all_to_all":
        return [_with_config(ctx, ct, split=config["concat"], concat=config["split"])]
    raise MissingRuleError("transpose", f"{COLLECTIVE_KEY} ({kind})", ctx.location)


# ---- lane algorithms: a collective over per-member values, group by group ----------------------


def reduce_tree(blocks: list, group: list[int], combine, move: Move) -> list:
    """Members of `group` reduce pairwise up a binary tree to group[0], which then sends the
    result back down the same tree: 2(n-1) full-size moves, 2 log2(n) steps."""
    partial = {p: blocks[p] for p in group}
    stride = 1
    while stride < len(group):
        for i in range(0, len(group) - stride, 2 * stride):
            dst, src = group[i], group[i + stride]
            partial[dst] = combine(partial[dst], move(partial[src], src, dst))
        stride *= 2
    out = {group[0]: partial[group[0]]}
    while stride > 1:
        stride //= 2
        for i in range(0, len(group) - stride, 2 * stride):
            src, dst = group[i], group[i + stride]
            out[dst] = move(out[src], src, dst)
    return [out[p] for p in group]


def reduce_ring(blocks: list, group: list[int], combine, move: Move) -> list:
    """Ring all-reduce: each value is flattened and split into n chunks (zero-padded); n-1
    reduce-scatter steps then n-1 all-gather steps pass one chunk each to the next member:
    2(n-1) moves of size/n per member."""
    n = len(group)
    shape = shape_of(blocks[group[0]])
    total = int(np.prod(shape, dtype=np.int64))
    if total < n:  # fewer elements than members: nothing to chunk
        return reduce_tree(blocks, group, combine, move)
    chunk = -(-total // n)
    chunks = {p: _chunks(blocks[p], total, chunk, n) for p in group}
    for step in range(n - 1):  # member i sends chunk (i - step) to member i + 1
        sent = [(i, (i - step) % n, chunks[group[i]][(i - step) % n]) for i in range(n)]
        for i, c, value in sent:
            src, dst = group[i], group[(i + 1) % n]
            chunks[dst][c] = combine(chunks[dst][c], move(value, src, dst))
    for step in range(n - 1):  # member i now owns the full chunk (i + 1); pass it on
        sent = [(i, (i + 1 - step) % n, chunks[group[i]][(i + 1 - step) % n]) for i in range(n)]
        for i, c, value in sent:
            src, dst = group[i], group[(i + 1) % n]
            chunks[dst][c] = move(value, src, dst)
    return [_unchunk(chunks[p], total, shape) for p in group]


def _chunks(x: ir.Value, total: int, chunk: int, n: int) -> list:
    flat = x if len(shape_of(x)) == 1 else shape_ops.reshape(x, (total,))
    if chunk * n != total:
        zero = values.scalar(0, values.element(x))
        flat = shape_ops.pad(flat, zero, [0], [chunk * n - total])
    return [shape_ops.slice(flat, [k * chunk], [(k + 1) * chunk]) for k in range(n)]


def _unchunk(parts: list, total: int, shape) -> ir.Value:
    flat = shape_ops.concatenate(parts, 0)
    if shape_of(flat)[0] != total:
        flat = shape_ops.slice(flat, [0], [total])
    return flat if len(shape) == 1 else shape_ops.reshape(flat, shape)


SCHEDULES = {"tree": reduce_tree, "ring": reduce_ring}


def lanes_all_reduce(blocks: list, groups, kind: str, move: Move, schedule: str = "ring") -> list:
    """psum / pmax / pmin of each group's members, every member getting the result."""
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown all-reduce schedule {schedule!r}; use 'ring' or 'tree'")
    out = list(blocks)
    for group in groups:
        for p, v in zip(group, SCHEDULES[schedule](blocks, group, REDUCING[kind], move)):
            out[p] = v
    return out


def _split(x: ir.Value, dim: int, n: int) -> list:
    size = shape_of(x)[dim] // n
    rank = len(shape_of(x))
    return [shape_ops.slice(x, [k * size if d == dim else 0 for d in range(rank)],
                            [(k + 1) * size if d == dim else s
                             for d, s in enumerate(shape_of(x))]) for k in range(n)]


def lanes_all_gather(blocks: list, groups, dim: int, move: Move) -> list:
    """Every member gets its group's values concatenated along dim, in group order."""
    out = list(blocks)
    for group in groups:
        for dst in group:
            out[dst] = shape_ops.concatenate([move(blocks[src], src, dst) for src in group], dim)
    return out


def lanes_reduce_scatter(blocks: list, groups, dim: int, move: Move) -> list:
    """Member k of a group gets chunk k (along dim) of the sum of the group's values: each
    member sends chunk k straight to member k, which adds what it receives."""
    out = list(blocks)
    for group in groups:
        parts = {src: _split(blocks[src], dim, len(group)) for src in group}
        for k, dst in enumerate(group):
            total = None
            for src in group:
                part = move(parts[src][k], src, dst)
                total = part if total is None else ew.add(total, part)
            out[dst] = total
    return out


def lanes_ppermute(blocks: list, groups, perm, move: Move) -> list:
    """Member dst gets member src's value for each (src, dst) of perm; others get zeros."""
    out = list(blocks)
    for group in groups:
        sources = {dst: src for src, dst in perm}
        for k, dst in enumerate(group):
            if k in sources:
                src = group[sources[k]]
                out[dst] = move(blocks[src], src, dst)
            else:
                out[dst] = values.zeros_like(blocks[dst])
    return out


def lanes_all_to_all(blocks: list, groups, split: int, concat: int, move: Move) -> list:
    """Member k gets chunk k (along split) of every member's value, concatenated along concat
    in group order."""
    out = list(blocks)
    for group in groups:
        parts = {src: _split(blocks[src], split, len(group)) for src in group}
        for k, dst in enumerate(group):
            out[dst] = shape_ops.concatenate([move(parts[src][k], src, dst) for src in group],
                                             concat)
    return out


def lanes_axis_index(n_members: int, groups) -> list:
    """Each member's index in its group, as an i32 scalar constant."""
    out: list = [None] * n_members
    for group in groups:
        for k, p in enumerate(group):
            out[p] = shape_ops.constant(np.asarray(k, np.int32))
    return out


def resolve(config: dict, blocks: list, groups, move: Move, schedule: str = "ring") -> list:
    """A collective (its config) over per-member values `blocks` (None for axis_index)."""
    kind = config["kind"]
    if kind in REDUCING:
        return lanes_all_reduce(blocks, groups, kind, move, schedule)
    if kind == "all_gather":
        return lanes_all_gather(blocks, groups, config["dim"], move)
    if kind == "psum_scatter":
        return lanes_reduce_scatter(blocks, groups, config["dim"], move)
    if kind == "ppermute":
        return lanes_ppermute(blocks, groups, config["perm"], move)
    if kind == "all_to_all":
        return lanes_all_to_all(blocks, groups, config["split"], config["concat"], move)
    return lanes_axis_index(len(blocks), groups)


# ---- vmap(axis_name=): the lanes of the batch dim are the members ------------------------------


def _same_device(v: ir.Value, src: int, dst: int) -> ir.Value:
    return v


def _unstack(x: ir.Value, n: int) -> list:
    rest = shape_of(x)[1:]
    return [shape_ops.reshape(part, rest) for part in _split(x, 0, n)]


def _stack(lanes: list) -> ir.Value:
    return shape_ops.concatenate([shape_ops.reshape(v, (1, *shape_of(v))) for v in lanes], 0)


def _collective_batch(ctx, operands, batched):
    """A collective over the vmapped axis is computed across the batch lanes; one over other
    axes stays a collective, of the batched value (its dims shift by one)."""
    config = collective_config(ctx.op)
    name = getattr(ctx.walker, "axis_name", None)
    if name not in config["axes"]:
        return _batched_outer_collective(ctx, config, operands, batched)
    if config["axes"] != [name]:
        raise ShardingError(f"{ctx.location}: {config['kind']} over axes {config['axes']} mixes "
                            f"vmap's axis {name!r} with others; use one at a time")
    n = ctx.size
    if config["kind"] == "axis_index":
        return [shape_ops.iota((n,), 0, ir.IntegerType.get_signless(32))], [True]
    x = operands[0] if batched[0] else values.broadcast_batch(operands[0], n)
    if config["kind"] == "psum":  # one reduction over the lanes, broadcast back
        total = reduction.reduce_binary(x, values.scalar(0, values.element(x)), [0], ew.add)
        return [values.broadcast_batch(total, n)], [True]
    lanes = resolve(config, _unstack(x, n), [list(range(n))], _same_device, "tree")
    return [_stack(lanes)], [True]


def _batched_outer_collective(ctx, config, operands, batched):
    if config["kind"] == "axis_index":
        return [_with_config(ctx, None)], [False]
    if not batched[0]:
        return [_with_config(ctx, operands[0])], [False]
    shift = {k: config[k] + 1 for k in ("dim", "split", "concat") if k in config}
    return [_with_config(ctx, operands[0], **shift)], [True]


register("type", COLLECTIVE_KEY, _collective_type)
register("interpret", COLLECTIVE_KEY, _collective_impl)
register("jvp", COLLECTIVE_KEY, _collective_jvp)
register("transpose", COLLECTIVE_KEY, _collective_transpose)
register("batch", COLLECTIVE_KEY, _collective_batch)
