"""Rule coverage, derived from the registry tables (JAX builds LAX_OPS from its primitives).

Which ops need which rule is not kept by hand: every op in `registry.TYPE_RULE` needs a JVP
and a batching rule; every op that a JVP rule emits on tangents (found by tracing the JVP of
every row of the autodiff spec table and following the tangent arguments through the IR) needs
a transpose. An op may be left out only through EXCLUDED, whose reasons sit in the table and
which may name only ops the registry knows (so it cannot drift).
"""

import pytest
from test_autodiff_spec import TABLE

import aotc
from aotc.frontend.core import registry
from aotc.frontend.core.ir import ir

TERMINATOR = "a region terminator: the walkers handle it, no rule is looked up"
NO_OPERANDS = "has no operands, so it is never batched: the batching pass clones it as is"

# (table, op) -> why the op needs no rule in that table
EXCLUDED = {
    ("jvp", "stablehlo.return"): TERMINATOR,
    ("batch", "stablehlo.return"): TERMINATOR,
    ("batch", "stablehlo.constant"): NO_OPERANDS,
    ("batch", "stablehlo.iota"): NO_OPERANDS,
}

# Ops on tangents that reverse mode handles without a TRANSPOSE rule, with the mechanism.
REVERSE_WITHOUT_TRANSPOSE = {
    "func.call": "inlined by the autodiff pass before transposing",
    "func.return": TERMINATOR,
    "stablehlo.return": TERMINATOR,
    "stablehlo.optimization_barrier": "its JVP passes tangents around it (never on tangents)",
}


def _ops_without(table: str) -> set[str]:
    rules = registry.TABLES[table]
    return {name for name in registry.TYPE_RULE
            if name not in rules and (table, name) not in EXCLUDED}


def test_exclusions_name_known_ops_with_a_reason():
    for (table, name), reason in EXCLUDED.items():
        assert table in registry.TABLES and name in registry.TYPE_RULE, (table, name)
        assert name not in registry.TABLES[table], f"{name} has a {table} rule now: drop the row"
        assert len(reason) > 20, (table, name)


def test_every_op_has_a_jvp_rule():
    assert not _ops_without("jvp"), "ops without a JVP rule (add one, or a reasoned EXCLUDED row)"


def test_every_op_has_a_batching_rule():
    assert not _ops_without("batch"), "ops without a BATCH rule"


def test_every_structurally_linear_op_has_a_transpose():
    """An op whose JVP is the op itself applied to tangents is linear in them."""
    structural = {name for name, rule in registry.JVP.items()
                  if rule.__qualname__.startswith("structural_jvp.")}
    assert structural, "structural_jvp was renamed: update this test"
    assert structural <= set(registry.TRANSPOSE), sorted(structural - set(registry.TRANSPOSE))


def _used_values(op: ir.Operation) -> list[ir.Value]:
    """The operands of op and of every op nested in its regions (captures included)."""
    used = []

    def visit(inner):
        used.extend(inner.operation.operands)
        return ir.WalkResult.ADVANCE

    op.walk(visit)
    return used


def _tangent_ops(module, fn_name: str, n_tangents: int) -> set[str]:
    """Names of the ops that depend on the last n_tangents arguments of fn_name, following calls
    into their callees (a worklist, not recursion). Regions are not entered: control flow is
    reversed by its VJP rule, and a reduce's or scatter's body by the op's transpose."""
    functions = {ir.StringAttr(op.attributes["sym_name"]).value: op
                 for op in module.body.operations if "sym_name" in op.attributes}
    found: set[str] = set()
    seen = set()
    entry = functions[fn_name].regions[0].blocks[0]
    n_args = len(entry.arguments)
    pending = [(fn_name, tuple(i >= n_args - n_tangents for i in range(n_args)))]
    while pending:
        name, mask = pending.pop()
        if (name, mask) in seen:
            continue
        seen.add((name, mask))
        block = functions[name].regions[0].blocks[0]
        dependent = {a for a, m in zip(block.arguments, mask) if m}
        for op in block.operations:
            op = op.operation
            if not any(v in dependent for v in _used_values(op)):
                continue
            found.add(op.name)
            dependent.update(op.results)
            if op.name == "func.call":
                callee = ir.FlatSymbolRefAttr(op.attributes["callee"]).value
                pending.append((callee, tuple(v in dependent for v in op.operands)))
    return found


def _jvp_tangent_ops(case) -> set[str]:
    specs = [aotc.ShapeSpec(a.shape) for a in case.args]
    traced = aotc.lower(lambda xs, ts: aotc.jvp(case.fn, tuple(xs), tuple(ts))[1], specs, specs)
    with traced.module.context:
        return _tangent_ops(traced.module, traced.name, len(specs))


@pytest.fixture(scope="module")
def ops_on_tangents() -> dict[str, set[str]]:
    """op name -> the spec rows whose JVP emits it on tangents."""
    rows: dict[str, set[str]] = {}
    for case in TABLE:
        for name in _jvp_tangent_ops(case):
            rows.setdefault(name, set()).add(case.name)
    return rows


def test_every_op_jvp_rules_emit_on_tangents_has_a_transpose(ops_on_tangents):
    reversible = set(registry.TRANSPOSE) | set(registry.VJP) | set(REVERSE_WITHOUT_TRANSPOSE)
    missing = {name: sorted(rows)[:3] for name, rows in ops_on_tangents.items()
               if name not in reversible}
    assert not missing, f"ops on tangents without a transpose rule (op: rows): {missing}"


def test_the_tangent_walk_finds_linear_ops(ops_on_tangents):
    """The walk itself can fail: these linear ops must be seen on tangents."""
    for name in ("stablehlo.multiply", "stablehlo.dot_general", "stablehlo.reduce",
                 "stablehlo.gather", "stablehlo.scatter", "stablehlo.convolution",
                 "stablehlo.select", "stablehlo.while"):
        assert name in ops_on_tangents, name
    assert "stablehlo.cosine" not in ops_on_tangents  # sin's JVP multiplies by cos(x): primal
