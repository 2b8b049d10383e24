"""Region-carrying ops: stablehlo.return, while, if, case. Bodies are built by Python callbacks."""


from aotc.frontend.ir import ir, tensor_type
from aotc.frontend.registry import defop, emit, user_location


def _no_results(types, attrs):
    return []


def _terminator_impl(ctx, *values):
    raise RuntimeError("terminators are handled by the interpreter itself")


defop("stablehlo.return", _no_results, _terminator_impl)


def return_(values) -> None:
    emit("stablehlo.return", list(values), result_types=[])


def build_region(region: ir.Region, arg_types, body) -> None:
    """Fill `region` with one block of `arg_types`; `body(*block_args)` returns the yielded values."""
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


def scalar_type(element: ir.Type) -> ir.RankedTensorType:
    return tensor_type((), element)




def call(callee: str, operands, result_types) -> list[ir.Value]:
    """`func.call @callee(operands)`."""
    op = ir.Operation.create("func.call", results=list(result_types), operands=list(operands),
                             attributes={"callee": ir.FlatSymbolRefAttr.get(callee)},
                             loc=user_location())
    return list(op.results)
