"""docs/ops.md: every op in aotc's registry with the rules it has, and the StableHLO/CHLO ops that
JAX emits which aotc lacks, each with its reason.

Both halves are derived, not kept: the table from the registry tables, the list by lowering a
broad sample of jax.numpy / jax.lax / jax.nn / jax.scipy.special functions here and collecting
the op names in their text. Regenerate the page with
    AOTC_WRITE_OPS=1 .venv/bin/python -m pytest tests/test_ops_table.py
"""

import os
import pathlib
import re

import jax
import jax.numpy as jnp
import jax.scipy.special as jss
import numpy as np

import aotc.frontend.linalg  # registers the rules of JAX's LAPACK custom_calls
import aotc.frontend.ops  # noqa: F401  (registers every op)
from aotc.frontend.core import registry

jax.config.update("jax_platforms", "cpu")

DOC = pathlib.Path(__file__).parents[1] / "docs" / "ops.md"
REGENERATE = "AOTC_WRITE_OPS=1 .venv/bin/python -m pytest tests/test_ops_table.py"
COLUMNS = [
    ("type", "type"),
    ("interpret", "interpreter"),
    ("jvp", "JVP"),
    ("transpose", "transpose"),
    ("vjp", "VJP"),
    ("batch", "batching"),
    ("bounds", "bounds"),
    ("dims", "dims"),
]

# Ops JAX emits that aotc has no rules for, and why.
MISSING_REASONS = {
    "stablehlo.reduce_precision": "only jax.lax.reduce_precision emits it; it needs a numpy "
    "reference that rounds exponent and mantissa bits (its JVP "
    "would be the same rounding of the tangent)",
    "stablehlo.rng_bit_generator": "aotc's random numbers are threefry in plain integer ops "
    "(frontend/random); this op's bit streams are "
    "backend-defined, so no numpy reference can reproduce them",
}

F = np.float32
v = np.linspace(0.1, 0.9, 6).astype(F)
m = np.ones((4, 4), F)
i = np.arange(6, dtype=np.int32)
unary = [
    "sin",
    "cos",
    "tan",
    "arcsin",
    "arccos",
    "arctan",
    "sinh",
    "cosh",
    "tanh",
    "arcsinh",
    "arccosh",
    "arctanh",
    "exp",
    "expm1",
    "log",
    "log1p",
    "sqrt",
    "cbrt",
    "abs",
    "sign",
    "floor",
    "ceil",
    "round",
    "rint",
    "exp2",
    "log2",
    "log10",
    "square",
    "reciprocal",
    "sinc",
    "i0",
    "isfinite",
    "isnan",
    "cumsum",
    "cumprod",
    "sort",
    "argsort",
    "argmax",
    "median",
    "signbit",
    "frexp",
    "trunc",
]
SAMPLE = [(n, getattr(jnp, n), (v,)) for n in unary]
SAMPLE += [
    (n, getattr(jnp, n), (v, v[::-1]))
    for n in [
        "nextafter",
        "logaddexp",
        "hypot",
        "arctan2",
        "power",
        "remainder",
        "fmod",
        "maximum",
        "minimum",
        "copysign",
        "heaviside",
    ]
]
SAMPLE += [
    (n, getattr(jss, n), (v,))
    for n in [
        "digamma",
        "gammaln",
        "erf",
        "erfc",
        "erfinv",
        "i0e",
        "i1e",
        "i0",
        "i1",
        "ndtri",
        "expit",
        "logit",
        "entr",
        "log_ndtr",
        "ndtr",
        "gamma",
        "spence",
        "spence",
    ]
]
SAMPLE += [
    (n, getattr(jss, n), (v, v))
    for n in ["gammainc", "gammaincc", "xlogy", "xlog1py", "zeta", "kl_div", "rel_entr", "beta"]
]
SAMPLE += [
    ("polygamma", lambda x: jss.polygamma(2, x), (v,)),
    ("betainc", lambda x: jss.betainc(x, x, x), (v,)),
]
lax = jax.lax
SAMPLE += [
    ("clz", lax.clz, (i,)),
    ("popcnt", lax.population_count, (i,)),
    ("shift", lambda a: lax.shift_right_logical(a, a), (i,)),
    ("bitcast", lambda x: lax.bitcast_convert_type(x, jnp.int32), (v,)),
    ("reduce_precision", lambda x: lax.reduce_precision(x, 5, 10), (v,)),
    ("top_k", lambda x: lax.top_k(x, 2), (v,)),
    ("cummax", lax.cummax, (v,)),
    ("cond", lambda x: lax.cond(x[0] > 0, jnp.sin, jnp.cos, x), (v,)),
    ("switch", lambda x: lax.switch(i[0], [jnp.sin, jnp.cos, jnp.tan], x), (v,)),
    ("while", lambda x: lax.while_loop(lambda c: c.sum() < 10, lambda c: c * 2, x), (v,)),
    ("scan", lambda x: lax.scan(lambda c, a: (c + a, c), 0.0, x), (v,)),
    ("dyn_slice", lambda x: lax.dynamic_slice(x, (i[1],), (2,)), (v,)),
    ("dus", lambda x: lax.dynamic_update_slice(x, x[:2], (i[1],)), (v,)),
    ("gather", lambda x: x[i[::-1]], (v,)),
    ("scatter", lambda x: x.at[i].add(x), (v,)),
    ("pad", lambda x: lax.pad(x, 0.0, [(1, 2, 1)]), (v,)),
    ("rev", lambda x: lax.rev(x, (0,)), (v,)),
    ("concat", lambda x: jnp.concatenate([x, x]), (v,)),
    ("clamp", lambda x: lax.clamp(0.2, x, 0.5), (v,)),
    ("conv", lambda x: jnp.convolve(x, x[:3]), (v,)),
    ("conv2d", lambda x: lax.conv(x[None, None], x[None, None, :3], (1,), "SAME"), (v,)),
    ("einsum", lambda a: jnp.einsum("ij,jk->ik", a, a), (m,)),
    ("fft", lambda x: jnp.fft.fft(x), (v,)),
    ("rfft", lambda x: jnp.fft.irfft(jnp.fft.rfft(x)), (v,)),
    ("complex", lambda x: jnp.abs(lax.complex(x, x) * 2), (v,)),
    ("cholesky", jnp.linalg.cholesky, (m + 4 * np.eye(4, dtype=F),)),
    (
        "triangular_solve",
        lambda a: jax.scipy.linalg.solve_triangular(a + np.eye(4, dtype=F), a[0]),
        (m,),
    ),
    ("qr", lambda a: jnp.linalg.qr(a)[0], (m,)),
    ("eigh", lambda a: jnp.linalg.eigh(a)[0], (m,)),
    ("svd", lambda a: jnp.linalg.svd(a)[1], (m,)),
    ("inv", jnp.linalg.inv, (m + np.eye(4, dtype=F),)),
    ("random_normal", lambda x: jax.random.normal(jax.random.key(0), (3,)) + x[:3], (v,)),
    ("rng_bit_generator", lambda x: lax.rng_bit_generator(jnp.zeros(4, jnp.uint32), (3,))[1], (v,)),
    ("relu", jax.nn.relu, (v,)),
    ("gelu", jax.nn.gelu, (v,)),
    ("softmax", jax.nn.softmax, (v,)),
    ("log_softmax", jax.nn.log_softmax, (v,)),
    ("silu", jax.nn.silu, (v,)),
    ("one_hot", lambda a: jax.nn.one_hot(a, 6), (i,)),
    ("logsumexp", jss.logsumexp, (v,)),
    ("segment_max", lambda x: jax.ops.segment_max(x, i // 2, 3), (v,)),
    ("reduce_max", jnp.max, (v,)),
    ("argmin", jnp.argmin, (v,)),
    ("select_n", lambda x: lax.select_n(i % 3, x, x * 2, x * 3), (v,)),
    ("max_pool", lambda x: lax.reduce_window(x, -jnp.inf, lax.max, (2,), (2,), "VALID"), (v,)),
    ("sort_multi", lambda x: lax.sort((x, i), num_keys=1), (v,)),
    ("optimization_barrier", lambda x: lax.optimization_barrier(x) * 2, (v,)),
    ("convert_bf16", lambda x: x.astype(jnp.bfloat16), (v,)),
    ("atan2", lax.atan2, (v, v)),
    ("iota", lambda x: x + jnp.arange(6.0), (v,)),
    ("grad_of_while_free", jax.grad(lambda x: jnp.sum(jnp.sin(x))), (v,)),
    ("cumlogsumexp", lax.cumlogsumexp, (v,)),
    ("erf_inv", lax.erf_inv, (v,)),
    ("tanh_bf16", lambda x: jnp.tanh(x.astype(jnp.bfloat16)), (v,)),
    ("dot_general", lambda a: lax.dot_general(a, a, (((1,), (0,)), ((), ()))), (m,)),
    ("custom_jvp_call", jax.nn.softplus, (v,)),
    ("rem", lax.rem, (v, v)),
    ("round_even", lambda x: lax.round(x, lax.RoundingMethod.TO_NEAREST_EVEN), (v,)),
    ("is_finite", lax.is_finite, (v,)),
    ("expand_dims", lambda x: jnp.expand_dims(x, 0).reshape(2, 3).T, (v,)),
    ("real_dynamic", lambda x: jnp.roll(x, i[2]), (v,)),
]

_OP = re.compile(r'(?<![#!\w.])"?((?:stablehlo|chlo)\.[a-z_0-9]+)\b')
_CUSTOM_CALL = re.compile(r'stablehlo\.custom_call @"?([\w.]+)')  # keyed by target, as the registry


def jax_emitted_ops() -> dict[str, list[str]]:
    """op name -> names of the sample functions whose JAX lowering contains it."""
    found: dict[str, list[str]] = {}
    for name, fn, args in SAMPLE:
        text = jax.jit(fn).lower(*args).as_text()
        ops = set(_OP.findall(text)) - {"stablehlo.custom_call"}
        ops |= {f"stablehlo.custom_call @{target}" for target in _CUSTOM_CALL.findall(text)}
        for op in sorted(ops):
            found.setdefault(op, []).append(name)
    return found


def render(emitted: dict[str, list[str]]) -> str:
    lines = [
        "# aotc's ops and their rules",
        "",
        f"Generated by tests/test_ops_table.py (`{REGENERATE}`); do not edit by hand.",
        "",
        "Each op aotc knows, by the rule tables of `aotc.frontend.core.registry`. A transpose "
        "exists only for ops linear in some operand; a VJP only for control flow (reverse "
        "mode through regions); bounds only for indexed ops; dims only where sizes must "
        "agree.",
        "",
        "| op | " + " | ".join(title for _, title in COLUMNS) + " |",
        "|---|" + "---|" * len(COLUMNS),
    ]
    for op in sorted(registry.TYPE_RULE):
        marks = ["yes" if op in registry.TABLES[table] else "" for table, _ in COLUMNS]
        lines.append(f"| `{op}` | " + " | ".join(marks) + " |")
    missing = sorted(op for op in emitted if op not in registry.TYPE_RULE)
    lines += [
        "",
        "## Ops JAX emits that aotc lacks",
        "",
        f"Collected by lowering {len(SAMPLE)} jax.numpy / jax.lax / jax.nn / "
        "jax.scipy.special functions with JAX "
        f"{jax.__version__}; {len(emitted)} distinct StableHLO/CHLO ops appeared.",
        "",
        "| op | emitted by | why aotc lacks it |",
        "|---|---|---|",
    ]
    for op in missing:
        lines.append(f"| `{op}` | {', '.join(emitted[op][:4])} | {MISSING_REASONS.get(op, '')} |")
    return "\n".join(lines) + "\n"


def test_every_missing_op_has_a_reason_and_no_reason_is_stale():
    emitted = jax_emitted_ops()
    missing = {op for op in emitted if op not in registry.TYPE_RULE}
    assert missing - set(MISSING_REASONS) == set(), "give these ops a reason (or rules)"
    assert set(MISSING_REASONS) - missing == set(), "aotc has these now, or JAX stopped emitting"
    if os.environ.get("AOTC_WRITE_OPS") == "1":
        DOC.write_text(render(emitted))
    assert DOC.exists(), f"docs/ops.md is missing; generate it with `{REGENERATE}`"
    assert DOC.read_text() == render(emitted), f"docs/ops.md is stale; run `{REGENERATE}`"
