"""The op registry: one table per transform, keyed by MLIR op name, filled beside each op.

Each op aotc emits is defined once in `frontend/ops/<family>.py` with
- a type rule `(operand_types, attrs) -> [result types]`,
- a numpy reference `IMPL[name](ctx, *operands) -> array | [arrays]` used by the interpreter,
and later transforms add their own rules to `JVP`, `TRANSPOSE`, `BATCH` the same way.
Registering a rule twice is an error.
"""

import threading
import weakref
from collections.abc import Callable

from aotc.frontend.core.errors import MissingRuleError
from aotc.frontend.core.ir import ir

CUSTOM_ATTRIBUTE = "aotc.custom"  # on a func.func: the name its custom rule is kept under

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
TABLES["shard"] = {}  # SPMD partitioning (operand shardings -> local ops); aotc.passes.sharding


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


CUSTOM_CALL = "stablehlo.custom_call"


def custom_call_key(target: str) -> str:
    """The rule key of `stablehlo.custom_call @target`: each call target has rules of its own."""
    return f"{CUSTOM_CALL} @{target}"


def rule_key(op: ir.Operation) -> str:
    """The key an op's rules are registered under: its name, or for a custom_call its name and
    call target ("stablehlo.custom_call @aotc.transfer")."""
    if op.name == CUSTOM_CALL:
        return custom_call_key(ir.StringAttr(op.attributes["call_target_name"]).value)
    return op.name


def lookup(table: str, op_name: str, where: str = "") -> Callable:
    rules = TABLES[table]
    if op_name not in rules:
        raise MissingRuleError(table, op_name, where)
    return rules[op_name]


# ---- traits: structural facts about ops that passes read without importing op modules ----------

TRAITS: dict[str, set[str]] = {}  # trait -> op names; "same_shape": results shaped as operands


def deftrait(trait: str, *op_names: str) -> None:
    """Give ops a trait, beside their definitions (e.g. "same_shape" for elementwise ops)."""
    TRAITS.setdefault(trait, set()).update(op_names)


def has_trait(op_name: str, trait: str) -> bool:
    return op_name in TRAITS.get(trait, ())


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


# ---- custom derivatives: rules that belong to a module ------------------------------------------
#
# A function whose derivative the user defined (custom_jvp / custom_vjp) or that is recomputed in
# reverse mode (checkpoint) is traced into a private function carrying `aotc.custom = "<name>"`;
# its rule is a Python object kept here, in a table owned by the function's MLIR context (held
# weakly). Each traced program has a context of its own, so its rules go with its module; eager
# calls share one context per thread, and their trace cache drops a module's rules when it lets
# the module go (`drop_custom_rules`). Nothing here grows per call.
_CUSTOM_RULES: "weakref.WeakKeyDictionary[ir.Context, dict[str, object]]" = (
    weakref.WeakKeyDictionary())
_CUSTOM_LOCK = threading.Lock()


def add_custom_rule(module, name: str, rule) -> None:
    """Attach the custom-derivative rule of function `name` to `module` (an ir.Module or a
    builtin.module operation)."""
    with _CUSTOM_LOCK:
        _CUSTOM_RULES.setdefault(module.context, {})[name] = rule


def find_custom_rule(fn, name: str):
    """The rule attached to the module of `fn` (a func.func operation) under `name`, or None."""
    with _CUSTOM_LOCK:
        return _CUSTOM_RULES.get(fn.context, {}).get(name)


def drop_custom_rules(module) -> None:
    """Forget the rules of `module`'s functions (its owner is letting it go, but its context
    lives on)."""
    with module.context:
        names = [ir.StringAttr(op.attributes[CUSTOM_ATTRIBUTE]).value
                 for op in module.body.operations if CUSTOM_ATTRIBUTE in op.attributes]
    with _CUSTOM_LOCK:
        rules = _CUSTOM_RULES.get(module.context, {})
        for name in names:
            rules.pop(name, None)
        if not rules:
            _CUSTOM_RULES.pop(module.context, None)


def custom_rule_count() -> int:
    """How many custom rules the process holds, over all live modules (for tests)."""
    with _CUSTOM_LOCK:
        return sum(len(rules) for rules in _CUSTOM_RULES.values())
