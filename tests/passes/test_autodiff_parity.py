"""Parity of aotc's derivatives with JAX's (jax.grad, jax.jvp, jax.hessian as test-only oracle)
on the loss functions of parity_functions.py: an MLP, an attention block, a scan RNN, cond and
switch piecewise functions, a Lennard-Jones energy, a CNN and more.

Each function is differentiated two ways:
- traced by aotc (value_and_grad, jvp, and jvp of grad for Hessian-vector products);
- imported: JAX's exported StableHLO (`jax.jit(f).lower(...).as_text()`) through
  `aotc.differentiate` (reverse mode, forward mode, and forward over reverse).
Every function is checked per function through the reference interpreter, then all of them at
once through IREE in float32 (one compiled program per side, plus one for full Hessians).
"""

import functools

import jax
import numpy as np
import pytest
from autodiff_checks import interpreted
from parity_functions import FUNCTIONS, inputs, namespace

import aotc
from aotc.frontend.core import registry, tree
from aotc.frontend.core.ir import functions, ir

J, A = namespace("jax"), namespace("aotc")
RTOL = 1e-4


def _missing(name: str) -> list[str]:
    return [op for op in FUNCTIONS[name].needs
            if op not in registry.JVP or op not in registry.TRANSPOSE]


def _params(names):
    """A function whose ops lack rules must fail with MissingRuleError (strict xfail) until
    the rules land; then it runs like the others."""
    rows = []
    for name in names:
        missing = _missing(name)
        marks = [pytest.mark.xfail(raises=aotc.MissingRuleError, strict=True,
                                   reason=f"no derivative rules yet for {missing}")
                 ] if missing else []
        rows.append(pytest.param(name, marks=marks, id=name))
    return rows


READY = [name for name in FUNCTIONS if not _missing(name)]
HESSIAN = [name for name, spec in FUNCTIONS.items() if spec.hessian]


def _tangents(name: str) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    return [rng.standard_normal(a.shape).astype(np.float32) for a in inputs(name)]


@functools.cache
def jax_reference(name: str):
    """(value, grads, J t, H t) from JAX (H t by forward over reverse, as jax.hessian does)."""
    fn, argnums = FUNCTIONS[name].fn, tuple(range(len(inputs(name))))

    def f(*a):
        return fn(J, *a)

    @jax.jit
    def reference(args, tangents):
        value, grads = jax.value_and_grad(f, argnums)(*args)
        _, tangent = jax.jvp(f, tuple(args), tuple(tangents))
        _, hvp = jax.jvp(jax.grad(f, argnums), tuple(args), tuple(tangents))
        return value, grads, tangent, hvp

    value, grads, tangent, hvp = reference(inputs(name), _tangents(name))
    return [np.asarray(value), [np.asarray(g) for g in grads], np.asarray(tangent),
            [np.asarray(h) for h in hvp]]


def _assert_matches(got, want, what: str, rtol: float = RTOL) -> None:
    got_leaves, want_leaves = tree.leaves(got), tree.leaves(want)
    assert len(got_leaves) == len(want_leaves), what
    for k, (g, w) in enumerate(zip(got_leaves, want_leaves)):
        g, w = np.asarray(g, np.float64), np.asarray(w, np.float64)
        assert g.shape == w.shape, f"{what}[{k}]: shape {g.shape} != {w.shape}"
        scale = max(1.0, float(np.abs(w).max(initial=0.0)))
        np.testing.assert_allclose(g, w, rtol=rtol, atol=rtol * scale, err_msg=f"{what}[{k}]")


# ---- traced by aotc ----------------------------------------------------------------------------


def traced_derivatives(name: str):
    """(args, tangents) -> (value, grads, J t, H t), by aotc's transforms."""
    fn = FUNCTIONS[name].fn

    def derivatives(args, tangents):
        argnums = tuple(range(len(args)))

        def f(*a):
            return fn(A, *a)

        value, grads = aotc.value_and_grad(f, argnums)(*args)
        _, tangent = aotc.jvp(f, tuple(args), tuple(tangents))
        _, hvp = aotc.jvp(aotc.grad(f, argnums), tuple(args), tuple(tangents))
        return [value, list(grads), tangent, list(hvp)]

    return derivatives


def _specs(arrays):
    return [aotc.ShapeSpec(a.shape) for a in arrays]


@pytest.mark.parametrize("name", _params(FUNCTIONS))
def test_traced_matches_jax_in_interpreter(name):
    args, tangents = inputs(name), _tangents(name)
    run = interpreted(traced_derivatives(name), [_specs(args), _specs(tangents)])
    _assert_matches(run(args, tangents), jax_reference(name), name)


# ---- imported from JAX -------------------------------------------------------------------------


def jax_text(fn, args) -> str:
    return jax.jit(lambda *a: fn(J, *a)).lower(*args).as_text()


def import_derivatives(text: str, n_args: int):
    """JAX's module with main's VJP, JVP and forward-over-reverse added by aotc.differentiate;
    returns (module, {'vjp': name, 'jvp': name, 'hvp': name})."""
    argnums = tuple(range(n_args))
    module = aotc.differentiate(text, argnums=argnums)
    names = {"vjp": _added(module, set(), "main_vjp")}
    aotc.differentiate(module, argnums=argnums, mode="forward")
    names["jvp"] = _added(module, set(names.values()), "main_jvp")
    aotc.differentiate(module, function=names["vjp"], argnums=argnums, mode="forward")
    names["hvp"] = _added(module, set(names.values()), f"{names['vjp']}_jvp")
    return module, names


def _added(module, known: set, prefix: str) -> str:
    found = [n for n in functions(module) if n.startswith(prefix) and n not in known]
    assert len(found) == 1, (prefix, list(functions(module)))
    return found[0]


def _unpack_hvp(outs, n_values: int, n_args: int):
    """Outputs of the JVP of the VJP: values, grads, their tangents (J t, then H t)."""
    values = outs[:n_values]
    grads = outs[n_values:n_values + n_args]
    rest = outs[n_values + n_args:]
    return values, grads, rest[:n_values], rest[n_values:]


@pytest.mark.parametrize("name", _params(FUNCTIONS))
def test_imported_matches_jax_in_interpreter(name):
    args, tangents = inputs(name), _tangents(name)
    module, names = import_derivatives(jax_text(FUNCTIONS[name].fn, args), len(args))
    f64 = [a.astype(np.float64) for a in args]
    t64 = [t.astype(np.float64) for t in tangents]
    values, grads, tangent, hvp = _unpack_hvp(
        aotc.interpret(module, names["hvp"], *f64, np.float64(1.0), *t64), 1, len(args))
    _, forward = np.split(np.asarray(aotc.interpret(module, names["jvp"], *f64, *t64),
                                     dtype=object), 2)
    _assert_matches([values[0], grads, tangent[0], hvp], jax_reference(name), name)
    _assert_matches(list(forward), [jax_reference(name)[2]], f"{name} forward mode")


# ---- through IREE: all functions at once, one compiled program per side ------------------------


def compile_traced(fn, *args):
    """fn compiled by IREE and called on args; returns its pytree."""
    from aotc.tools.compile import compile_stablehlo
    from aotc_runtime import load_bytes

    traced = aotc.lower(fn, *args)
    module = load_bytes(compile_stablehlo(traced.text_with_locations()), require_aotc=False)
    outs = module[traced.name](*[np.asarray(a) for a in tree.leaves(args)])
    return tree.unflatten(traced.out_tree, outs)


def test_matmul_then_weighted_sum_compiles_with_default_flags():
    """IREE 3.13 fails on `sum((x @ w) * c)` ("vector.contract op invalid accumulator/result
    vector shape") when it fuses multi-reductions; the cpu preset turns that fusion off."""
    x, w, c = np.ones((2, 3), np.float32), np.ones((3, 4), np.float32), np.arange(4.0)
    fn = aotc.jit(lambda x, w: aotc.numpy.sum((x @ w) * c))
    np.testing.assert_allclose(fn(x, w), np.sum((x @ w) * c), rtol=1e-6)


@pytest.fixture(scope="module")
def traced_through_iree():
    """{name: (value, grads, J t, H t)} from one compiled program over every ready function."""
    derivatives = {name: traced_derivatives(name) for name in READY}

    def everything(all_args, all_tangents):
        return {name: derivatives[name](all_args[name], all_tangents[name]) for name in READY}

    return compile_traced(everything, {n: inputs(n) for n in READY},
                          {n: _tangents(n) for n in READY})


@pytest.fixture(scope="module")
def imported_through_iree():
    """{name: (value, grads, J t, H t)} from one JAX export of all ready functions side by side,
    differentiated by aotc and compiled once."""
    from aotc.tools.compile import compile_stablehlo
    from aotc_runtime import load_bytes

    groups = [inputs(n) for n in READY]
    flat = [a for g in groups for a in g]
    sizes = [len(g) for g in groups]

    def side_by_side(m, *arrays):
        outs, start = [], 0
        for name, n in zip(READY, sizes):
            outs.append(FUNCTIONS[name].fn(m, *arrays[start:start + n]))
            start += n
        return tuple(outs)

    module, names = import_derivatives(jax_text(side_by_side, flat), len(flat))
    with module.context:  # compile only forward over reverse: it computes all four results
        for name, fn in functions(module).items():
            if name != names["hvp"]:
                fn.attributes["sym_visibility"] = ir.StringAttr.get("private")
        text = module.operation.get_asm(enable_debug_info=False)
    compiled = load_bytes(compile_stablehlo(text), require_aotc=False)
    tangents = [t for n in READY for t in _tangents(n)]
    ones = [np.float32(1.0)] * len(READY)
    outs = [np.asarray(o) for o in compiled[names["hvp"]](*flat, *ones, *tangents)]
    values, grads, tangent_values, hvps = _unpack_hvp(outs, len(READY), len(flat))
    results, start = {}, 0
    for k, (name, n) in enumerate(zip(READY, sizes)):
        results[name] = [values[k], grads[start:start + n], tangent_values[k],
                         hvps[start:start + n]]
        start += n
    return results


@pytest.mark.slow
@pytest.mark.parametrize("name", READY)
def test_traced_through_iree_matches_jax(name, traced_through_iree):
    _assert_matches(traced_through_iree[name], jax_reference(name), name)


@pytest.mark.slow
@pytest.mark.parametrize("name", READY)
def test_imported_through_iree_matches_jax(name, imported_through_iree):
    _assert_matches(imported_through_iree[name], jax_reference(name), name)


@pytest.mark.slow
def test_full_hessians_through_iree_match_jax_hessian():
    """aotc.hessian (jacfwd of jacrev) against jax.hessian, for the one-argument functions."""

    def hessians(all_args):
        return {name: aotc.hessian(lambda x, f=FUNCTIONS[name].fn: f(A, x))(all_args[name][0])
                for name in HESSIAN}

    got = compile_traced(hessians, {name: inputs(name) for name in HESSIAN})
    for name in HESSIAN:
        want = jax.hessian(lambda x, f=FUNCTIONS[name].fn: f(J, x))(inputs(name)[0])
        _assert_matches(got[name], np.asarray(want), name)


def test_at_least_25_functions_including_the_required_kinds():
    assert len(FUNCTIONS) >= 25
    assert {"mlp_loss", "cnn_loss", "attention_block", "scan_rnn", "piecewise_cond",
            "lennard_jones"} <= set(FUNCTIONS)
    assert list(FUNCTIONS)[-1] == "cnn_loss"
