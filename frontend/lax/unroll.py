"""Partial unrolling of counted loops (JAX's `unroll=` of scan and fori_loop), chosen by body size.

IREE 3.13 runs a loop from the host, one submission per iteration, and copies every loop-carried
array that the body updates in place (a scan's stacked outputs, a gradient's stacked residuals)
once per iteration. A loop that does `factor` steps per iteration pays both costs `factor`
times less often. The rewritten loop is still a counted loop (its counter steps by one; step
`k * factor + u` of the body runs with the counter at `start + k * factor + u`), so reverse mode
differentiates it like the original, with `factor` steps per reverse iteration too.
"""

from aotc.frontend.core.errors import TracingError
from aotc.frontend.core.ir import functions, ir
from aotc.frontend.core.source import caller_site
from aotc.frontend.ops import control, loops
from aotc.frontend.ops import elementwise as ew
from aotc.frontend.ops import tensors as values

SMALL_BODY = 100  # ops in one step: larger bodies amortize the per-iteration cost already
BODY_BUDGET = 600  # ops in one iteration of an automatically unrolled body
MAX_FACTOR = 10  # steps per iteration, at most, when chosen automatically


def body_size(while_op: ir.Operation) -> int:
    """How many ops the loop's body holds, nested ones and those of the functions it calls
    included (per call): a body that calls a large function, such as a gradient step whose
    linalg kernels are private functions, is large, and unrolling it would only multiply the
    program IREE compiles (the GP model's 25-step fit loop: 5 gradient copies)."""
    functions = _module_functions(while_op)
    sizes: dict[str, int] = {}

    def size_of(block: ir.Block) -> int:
        count = 0

        def visit(op):
            nonlocal count
            count += 1
            if op.name == "func.call":
                count += callee_size(ir.FlatSymbolRefAttr(op.attributes["callee"]).value)
            return ir.WalkResult.ADVANCE

        for op in block.operations:
            op.operation.walk(visit)
        return count

    def callee_size(name: str) -> int:
        if name not in sizes:
            sizes[name] = 0  # a recursive call counts once
            fn = functions.get(name)
            if fn is not None and fn.regions[0].blocks:
                sizes[name] = size_of(fn.regions[0].blocks[0])
        return sizes[name]

    return size_of(while_op.regions[1].blocks[0])


def _module_functions(op: ir.Operation) -> dict:
    """The func.func ops of the module around op, by name (none while op is detached)."""
    parent = op.parent
    while parent is not None and parent.name != "builtin.module":
        parent = parent.parent
    return {} if parent is None else functions(parent)


def choose_factor(trip: int, size: int, unroll) -> int:
    """Steps per iteration for a loop of `trip` steps whose body has `size` ops.

    unroll=None chooses, for a body of at most SMALL_BODY ops: the largest divisor of trip that
    keeps the unrolled body within BODY_BUDGET ops and MAX_FACTOR steps, and leaves at least two
    iterations (so that a loop stays a loop). An int asks for that many steps per iteration
    (the largest divisor of trip not above it is used: unrolling never changes results), True
    for all of them, False or 1 for none.
    """
    if unroll is None:
        limit = min(MAX_FACTOR, BODY_BUDGET // max(size, 1), trip // 2) if size <= SMALL_BODY \
            else 1
    elif isinstance(unroll, bool):
        limit = trip if unroll else 1
    elif isinstance(unroll, int) and unroll >= 1:
        limit = min(unroll, trip)
    else:
        raise TracingError(f"{caller_site()}: unroll must be None, a bool or an int >= 1, got "
                           f"{unroll!r}")
    return max((d for d in range(1, limit + 1) if trip % d == 0), default=1)


def unroll(while_op: ir.Operation, unroll_arg=None) -> list[ir.Value]:
    """Rewrite a counted stablehlo.while (see loops.counted_loop) to run `factor` body steps
    per iteration (choose_factor); returns its results, the op itself when nothing changes."""
    counted = loops.counted_loop(while_op)
    if counted is None:
        return list(while_op.results)
    k, start, stop = counted
    trip = stop - start
    factor = choose_factor(trip, body_size(while_op), unroll_arg) if trip > 0 else 1
    if factor == 1:
        return list(while_op.results)
    body = while_op.regions[1].blocks[0]
    with ir.InsertionPoint(while_op), while_op.location:
        element = values.element(while_op.operands[k])
        init = list(while_op.operands)
        init[k] = values.scalar(0, element)

        def step(*state):
            outer, state = state[k], list(state)
            first = ew.multiply(outer, values.scalar(factor, element))
            for u in range(factor):
                state[k] = ew.add(first, values.scalar(start + u, element))
                state = control.inline_block(body, state, {})
            state[k] = ew.add(outer, values.scalar(1, element))
            return state

        results = control.while_(
            init, lambda *s: ew.compare("LT", s[k], values.scalar(trip // factor, element)), step)
        results[k] = values.scalar(stop, element)  # where the original counter ends
    for old, new in zip(while_op.results, results):
        old.replace_all_uses_with(new)
    while_op.erase()
    return results
