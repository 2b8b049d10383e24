"""The op registry: one table per transform, keyed by MLIR op name, filled beside each op.

Each op aotc emits is defined once in `frontend/ops/<family>.py` with
- a type rule `(operand_types, attrs) -> [result types]`,
- a numpy reference `IMPL[name](ctx, *operands) -> array | [arrays]` used by the interpreter,
and later transforms add their own rules to `JVP`, `TRANSPOSE`, `BATCH` the same way.
Registering a rule twice is an error.
"""

from collections.abc import Callable

from aotc.frontend.core.errors import MissingRuleError

TYPE_RULE: dict[str, Callable] = {}
IMPL: dict[str, Callable] = {}
JVP: dict[str, Callable] = {}
TRANSPOSE: dict[str, Callable] = {}
BATCH: dict[str, Callable] = {}
VJP: dict[str, Callable] = {}  # control-flow ops only: reverse mode through their regions
DIMS: dict[str, Callable] = {}  # which dims must be equal; see aotc.passes.dims

TABLES = {"type": TYPE_RULE, "interpret": IMPL, "jvp": JVP, "transpose": TRANSPOSE, "batch": BATCH,
          "vjp": VJP, "dims": DIMS}
TABLES["bounds"] = {}  # index legalization (clamp reads, drop updates); aotc.passes.bounds


def register(table: str, op_name: str, rule: Callable) -> Callable:
    rules = TABLES[table]
    if op_name in rules:
        raise ValueError(f"{table} rule for '{op_name}' is registered twice")
    rules[op_name] = rule
    return rule


def defop(op_name: str, type_rule: Callable, impl: Callable) -> str:
    """Define an op: its result-type rule and its numpy reference implementation."""
    register("type", op_name, type_rule)
    register("interpret", op_name, impl)
    return op_name


def rule(table: str, *op_names: str):
    """Decorator form of `register`, for one rule shared by several ops."""

    def decorate(fn):
        for name in op_names:
            register(table, name, fn)
        return fn

    return decorate


def lookup(table: str, op_name: str, where: str = "") -> Callable:
    rules = TABLES[table]
    if op_name not in rules:
        raise MissingRuleError(table, op_name, where)
    return rules[op_name]


# ---- autodiff helpers shared by the op files ---------------------------------------------------


def zero_jvp(ctx, primals, tangents):
    """JVP of an op whose derivative is zero everywhere (compare, floor, sign, iota, ...)."""
    return [None] * len(ctx.results)


def is_zero_jvp(rule) -> bool:
    return rule is zero_jvp


def defzero(*op_names: str) -> None:
    """List ops whose outputs carry no tangent."""
    for name in op_names:
        register("jvp", name, zero_jvp)


def builds_own_op(rule):
    """Mark a JVP rule of a control-flow op: it emits the differentiated op itself (its regions
    include tangent code) and returns (primal outputs, tangent outputs)."""
    rule.builds_own_op = True
    return rule


# Functions whose derivative the user defined (custom_jvp / custom_vjp) or that are recomputed in
# reverse mode (checkpoint): traced into private functions carrying `aotc.custom = "<key>"`.
CUSTOM_CALLS: dict[str, object] = {}
