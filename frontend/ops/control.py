"""Region-carrying ops: stablehlo.return, while, if, case. Bodies are built by Python callbacks.

The VJP of stablehlo.while (reverse mode through counted loops) is in loops.py."""

from aotc.frontend.core.emit import emit
from aotc.frontend.core.ir import clone_remapped, ir, shape_of
from aotc.frontend.core.registry import builds_own_op, defop, register
from aotc.frontend.core.source import user_location
from aotc.frontend.ops import elementwise as ew
from aotc.frontend.ops import shape as shape_ops
from aotc.frontend.ops import tensors as values


def _no_results(types, attrs):
    return []


def _terminator_impl(ctx, *values):
    raise RuntimeError("terminators are handled by the interpreter itself")


defop("stablehlo.return", _no_results, _terminator_impl)


def return_(values) -> None:
    emit("stablehlo.return", list(values), result_types=[])


def build_region(region: ir.Region, arg_types, body) -> None:
    """Fill `region` with one block of `arg_types`; body(*block_args) returns what it yields."""
    block = region.blocks.append(*arg_types)
    with ir.InsertionPoint(block):
        return_(body(*block.arguments))


def _while_impl(ctx, *state):
    while bool(ctx.run_region(0, *state)[0]):
        state = ctx.run_region(1, *state)
    return list(state)


defop("stablehlo.while", lambda types, attrs: list(types), _while_impl)


def while_(init, cond, body) -> list[ir.Value]:
    """`stablehlo.while`: cond(*state) -> i1 scalar, body(*state) -> [new state]."""
    types = [v.type for v in init]
    op = emit("stablehlo.while", init, result_types=types, regions=2)
    build_region(op.regions[0], types, lambda *s: [cond(*s)])
    build_region(op.regions[1], types, body)
    return list(op.results)


def _if_impl(ctx, pred):
    return ctx.run_region(0 if bool(pred) else 1)


def _explicit_type(types, attrs):
    raise TypeError("this op's result types must be given by its builder")


defop("stablehlo.if", _explicit_type, _if_impl)


def if_(pred: ir.Value, result_types, true_body, false_body) -> list[ir.Value]:
    """`stablehlo.if`; bodies take no arguments and may use values from the enclosing scope."""
    op = emit("stablehlo.if", [pred], result_types=result_types, regions=2)
    build_region(op.regions[0], [], true_body)
    build_region(op.regions[1], [], false_body)
    return list(op.results)


def _case_impl(ctx, index):
    n = ctx.num_regions
    i = int(index)
    return ctx.run_region(i if 0 <= i < n else n - 1)


defop("stablehlo.case", _explicit_type, _case_impl)


def case(index: ir.Value, result_types, bodies) -> list[ir.Value]:
    """`stablehlo.case`: runs bodies[index]; an out-of-range index runs the last body."""
    op = emit("stablehlo.case", [index], result_types=result_types, regions=len(bodies))
    for region, body in zip(op.regions, bodies):
        build_region(region, [], body)
    return list(op.results)




def call(callee: str, operands, result_types) -> list[ir.Value]:
    """`func.call @callee(operands)`."""
    op = ir.Operation.create("func.call", results=list(result_types), operands=list(operands),
                             attributes={"callee": ir.FlatSymbolRefAttr.get(callee)},
                             loc=user_location())
    return list(op.results)


# ---- autodiff rules: forward mode builds differentiated regions; reverse mode recomputes ------




def _float_positions(vals) -> list[int]:
    return [i for i, v in enumerate(vals) if values.is_float(v.type)]


def _with_tangents(outs, touts, float_idx):
    return list(outs) + [values.instantiate(touts[i]) for i in float_idx]


def _split_tangents(results, n, float_idx):
    touts = [values.Zero.of(r) for r in results[:n]]
    for k, i in enumerate(float_idx):
        touts[i] = results[n + k]
    return list(results[:n]), touts


def _branches_jvp(ctx, build):
    src, walker = ctx.op, ctx.walker
    float_idx = _float_positions(src.results)
    types = [r.type for r in src.results] + [src.results[i].type for i in float_idx]

    def branch(region):
        def body():
            outs, touts = walker.jvp_block(region.blocks[0], [], [])
            return _with_tangents(outs, touts, float_idx)

        return body

    results = build(types, [branch(r) for r in src.regions])
    return _split_tangents(results, len(src.results), float_idx)


@builds_own_op
def _if_jvp(ctx, primals, tangents):
    return _branches_jvp(ctx, lambda types, bodies: if_(primals[0], types, *bodies))


@builds_own_op
def _case_jvp(ctx, primals, tangents):
    return _branches_jvp(ctx, lambda types, bodies: case(primals[0], types, bodies))


@builds_own_op
def _while_jvp(ctx, primals, tangents):
    src, walker = ctx.op, ctx.walker
    n = len(primals)
    float_idx = _float_positions(primals)

    def split(state):
        return _split_tangents(state, n, float_idx)

    def cond(*state):
        outs, _ = walker.jvp_block(src.regions[0].blocks[0], *split(state))
        return outs[0]

    def body(*state):
        outs, touts = walker.jvp_block(src.regions[1].blocks[0], *split(state))
        return _with_tangents(outs, touts, float_idx)

    results = while_(_with_tangents(primals, tangents, float_idx), cond, body)
    return split(results)


register("jvp", "stablehlo.if", _if_jvp)
register("jvp", "stablehlo.case", _case_jvp)
register("jvp", "stablehlo.while", _while_jvp)


def _branches_vjp(ctx, result_cts, wrt, build):
    """VJP of if/case: the same branching, each branch running its own region's VJP."""
    src = ctx.op
    out_cts = [values.instantiate(c) for c, r in zip(result_cts, src.results)
               if values.is_float(r.type)]
    wrt_now = [ctx.primal(v) for v in wrt]

    def branch(k):
        def body():
            captures = ctx.free_values(k)
            picked = [captures.index(v) for v in wrt if v in captures]
            _, cts = ctx.block_vjp(src.regions[k].blocks[0], captures,
                                   [ctx.primal(c) for c in captures], [], picked, out_cts)
            by_value = dict(zip([captures[i] for i in picked], cts))
            return [values.instantiate(by_value[v]) if v in by_value else values.zeros_like(now)
                    for v, now in zip(wrt, wrt_now)]

        return body

    return build([v.type for v in wrt_now], [branch(k) for k in range(len(src.regions))])


def _if_vjp(ctx, result_cts, wrt):
    pred = ctx.primal(ctx.op.operands[0])
    return _branches_vjp(ctx, result_cts, wrt, lambda types, bodies: if_(pred, types, *bodies))


def _case_vjp(ctx, result_cts, wrt):
    index = ctx.primal(ctx.op.operands[0])
    return _branches_vjp(ctx, result_cts, wrt, lambda types, bodies: case(index, types, bodies))


def move_block(block: ir.Block, args=()) -> list[ir.Value]:
    """Move a block's ops (all but its terminator) to the insertion point, its arguments
    replaced by `args`; returns the operands of its terminator. Ops keep their identity, so
    values of the block stay valid where they are used."""
    for old, new in zip(block.arguments, args):
        old.replace_all_uses_with(new)
    *body, terminator = list(block.operations)
    point = ir.InsertionPoint.current
    for op in body:
        op.operation.detach_from_parent()
        point.insert(op.operation)
    return list(terminator.operands)


def inline_block(block: ir.Block, args, env: dict) -> list[ir.Value]:
    """Clone block's ops here, its arguments bound to args and outer values mapped through env;
    returns its terminator's operands."""
    env = dict(env) | dict(zip(block.arguments, args))
    *body, terminator = list(block.operations)
    for op in body:
        new = clone_remapped(op.operation, env)
        env.update(zip(op.results, new.results))
    return [env.get(v, v) for v in terminator.operands]


register("vjp", "stablehlo.if", _if_vjp)
register("vjp", "stablehlo.case", _case_vjp)


def _call_vjp(ctx, result_cts, wrt):
    """Reverse mode of a boxed call: the user's custom_vjp, or (checkpoint) the callee's VJP
    emitted here, which recomputes its intermediate values instead of keeping them."""
    fn, custom = ctx.callee()
    if custom is not None and custom.kind == "vjp":
        return custom.vjp(ctx, result_cts, wrt)
    operands = list(ctx.op.operands)
    picked = [i for i, v in enumerate(operands) if v in wrt]
    out_cts = [values.instantiate(c) for c, r in zip(result_cts, ctx.op.results)
               if values.is_float(r.type)]
    _, cts = ctx.block_vjp(fn.regions[0].blocks[0], [], [],
                           [ctx.primal(v) for v in operands], picked, out_cts)
    grads = {}
    for i, c in zip(picked, cts):
        grads[operands[i]] = values.add_any(grads.get(operands[i]), c)
    return [grads[v] if v in grads else values.Zero(v.type) for v in wrt]


register("vjp", "func.call", _call_vjp)


defop("stablehlo.optimization_barrier", lambda types, attrs: list(types),
      lambda ctx, *xs: list(xs))


def _barrier_jvp(ctx, primals, tangents):
    return list(tangents)  # a scheduling hint: derivatives pass straight through


register("jvp", "stablehlo.optimization_barrier", _barrier_jvp)


def optimization_barrier(xs) -> list[ir.Value]:
    """`stablehlo.optimization_barrier`: xs unchanged, but nothing is moved across it."""
    return list(emit("stablehlo.optimization_barrier", list(xs),
                     result_types=[x.type for x in xs]).results)


# ---- batching: unbatched predicates keep the op; batched ones run every branch and select ------


def _branch_outputs(walker, region: ir.Region, size: int) -> list[ir.Value]:
    outs, flags = walker.batch_block(region.blocks[0], [], [])
    return [o if f else values.broadcast_batch(o, size) for o, f in zip(outs, flags)]


def _select_lanes(pred: ir.Value, on_true: ir.Value, on_false: ir.Value) -> ir.Value:
    """Per batch lane: on_true where pred (shape (size,)) holds, else on_false."""
    shape = shape_of(on_true)
    mask = shape_ops.broadcast_in_dim(pred, shape, [0]) if len(shape) > 1 else pred
    return ew.select(mask, on_true, on_false)


def _if_batch(ctx, operands, batched):
    src, walker, size = ctx.op, ctx.walker, ctx.size
    n = len(src.results)
    if not batched[0]:
        bodies = [lambda r=r: _branch_outputs(walker, r, size) for r in src.regions]
        return if_(operands[0], ctx.batched_types(), *bodies), [True] * n
    on_true = _branch_outputs(walker, src.regions[0], size)
    on_false = _branch_outputs(walker, src.regions[1], size)
    return [_select_lanes(operands[0], a, b) for a, b in zip(on_true, on_false)], [True] * n


def _case_batch(ctx, operands, batched):
    src, walker, size = ctx.op, ctx.walker, ctx.size
    n = len(src.results)
    if not batched[0]:
        bodies = [lambda r=r: _branch_outputs(walker, r, size) for r in src.regions]
        return case(operands[0], ctx.batched_types(), bodies), [True] * n
    branches = [_branch_outputs(walker, r, size) for r in src.regions]
    index = operands[0]
    results = branches[-1]  # out-of-range indices take the last branch, as stablehlo.case does
    for k in reversed(range(len(branches) - 1)):
        pick = ew.compare("EQ", index, values.full_like(index, k))
        results = [_select_lanes(pick, a, b) for a, b in zip(branches[k], results)]
    return results, [True] * n


def _dry_run_flags(ctx, block: ir.Block, types, flags) -> list[bool]:
    """Which of a block's results come out batched when its arguments have these types and
    flags: the block is batched into the walker's scratch function, which is then erased."""
    with ctx.walker.scratch(types) as args:
        _, out_flags = ctx.walker.batch_block(block, args, flags)
    return out_flags


def _while_batch(ctx, operands, batched):
    src, walker, size = ctx.op, ctx.walker, ctx.size
    cond_block, body_block = src.regions[0].blocks[0], src.regions[1].blocks[0]
    carry_types = [r.type for r in src.results]

    def types(flags):
        return [values.with_batch(t, size) if f else t for t, f in zip(carry_types, flags)]

    flags = list(batched)
    while True:  # a carry is batched when its initial value or its update is
        out_flags = _dry_run_flags(ctx, body_block, types(flags), flags)
        merged = [a or b for a, b in zip(flags, out_flags)]
        if merged == flags:
            break
        flags = merged
    pred_batched = _dry_run_flags(ctx, cond_block, types(flags), flags)[0]
    if pred_batched:
        flags = [True] * len(operands)
    init = [v if b or not f else values.broadcast_batch(v, size)
            for v, b, f in zip(operands, batched, flags)]

    def run(block, state):
        outs, out_flags = walker.batch_block(block, list(state), flags)
        return [o if of or not f else values.broadcast_batch(o, size)
                for o, of, f in zip(outs, out_flags, flags)]

    def predicate(state):  # the cond block's one result, batched only when pred_batched
        return walker.batch_block(cond_block, list(state), flags)[0][0]

    if not pred_batched:
        results = while_(init, lambda *s: predicate(s), lambda *s: run(body_block, s))
        return results, flags

    from aotc.frontend.ops.reduction import reduce_binary

    def any_active(*state):
        pred = predicate(state)
        return reduce_binary(pred, values.scalar(False, values.element(pred)), [0], ew.or_)

    def masked_body(*state):  # finished lanes keep their carry
        pred = predicate(state)
        updated = run(body_block, state)
        return [_select_lanes(pred, new, old) for new, old in zip(updated, state)]

    return while_(init, any_active, masked_body), flags


def _barrier_batch(ctx, operands, batched):
    return list(operands), list(batched)


register("batch", "stablehlo.if", _if_batch)
register("batch", "stablehlo.case", _case_batch)
register("batch", "stablehlo.while", _while_batch)
register("batch", "stablehlo.optimization_barrier", _barrier_batch)


# ---- dims (aotc.passes.dims): regions are walked; results agree across branches/iterations ----


def _agreed(first: list, *others: list) -> list:
    """Each result's dims where every list agrees; None (a fresh symbol) where they differ."""
    return [[d if all(o[i].dims[k] == d for o in others) else None
             for k, d in enumerate(info.dims)] for i, info in enumerate(first)]


def _while_dims(ctx):
    state = [ctx.walker.read(v) for v in ctx.op.operands]
    ctx.region(0, state)
    return _agreed(state, ctx.region(1, state))


def _branches_dims(ctx):
    outs = [ctx.region(k, []) for k in range(len(ctx.op.regions))]
    return _agreed(*outs)


register("dims", "stablehlo.while", _while_dims)
register("dims", "stablehlo.if", _branches_dims)
register("dims", "stablehlo.case", _branches_dims)
register("dims", "stablehlo.optimization_barrier",
         lambda ctx: [ctx.walker.read(v) for v in ctx.op.operands])


# ---- SPMD partitioning (aotc.passes.sharding) ----


def _regroup(ctx, specs, values_) -> list:
    """N blocks per global value, in order, back into the partitioner's sharded values."""
    n = ctx.n
    return [ctx.sharded(s, values_[i * n:(i + 1) * n]) for i, s in enumerate(specs)]


def _while_shard(ctx, operands):
    """One loop over every device's blocks: carries keep their init's layout (body outputs are
    resharded to it); the condition, a scalar, is read on device 0."""
    specs = [x.spec for x in operands]
    init = [b for x in operands for b in x.blocks]
    types = [b.type for b in init]
    op = emit("stablehlo.while", init, result_types=types, regions=2)
    cond_block, body_block = (r.blocks[0] for r in ctx.op.regions)

    def cond(*state):
        (pred,) = ctx.walker.run_block(cond_block, _regroup(ctx, specs, state))
        return [ctx.replicate(pred).blocks[0]]

    def body(*state):
        outs = ctx.walker.run_block(body_block, _regroup(ctx, specs, state))
        return [b for x, s in zip(outs, specs) for b in ctx.reshard(x, s).blocks]

    build_region(op.regions[0], types, cond)
    build_region(op.regions[1], types, body)
    return _regroup(ctx, specs, list(op.results))


def _branches_shard(ctx, operands):
    """if / case on a replicated selector read on device 0; every branch's outputs take the
    first branch's layouts."""
    selector = ctx.replicate(operands[0]).blocks[0]
    results = list(ctx.op.results)
    op = emit(ctx.op.name, [selector], result_types=[r.type for r in results for _ in
                                                     range(ctx.n)], regions=len(ctx.op.regions))
    specs: list = []

    def branch(block):
        def body():
            outs = ctx.walker.run_block(block, [])
            specs[:] = specs or [x.spec for x in outs]
            return [b for x, s in zip(outs, specs) for b in ctx.reshard(x, s).blocks]
        return body

    for source, region in zip(ctx.op.regions, op.regions):
        build_region(region, [], branch(source.blocks[0]))
    for value, t in zip(op.results, [ctx.block_type(r.type, s) for r, s in zip(results, specs)
                                     for _ in range(ctx.n)]):
        value.set_type(t)
    return _regroup(ctx, specs, list(op.results))


def _barrier_shard(ctx, operands):
    return ctx.local(operands, [x.spec for x in operands])  # each device's blocks, as they are


register("shard", "stablehlo.optimization_barrier", _barrier_shard)
register("shard", "stablehlo.while", _while_shard)
register("shard", "stablehlo.if", _branches_shard)
register("shard", "stablehlo.case", _branches_shard)
