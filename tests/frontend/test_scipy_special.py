"""aotc.scipy.special against jax.scipy.special: values and gradients, eagerly (the reference
interpreter) and under aotc.jit (IREE, one compile for every name), and the list of names left
out, which must cover the rest of jax.scipy.special."""

import jax
import jax.scipy.special as jss
import numpy as np
import pytest

import aotc
import aotc.scipy.special as sps

jax.config.update("jax_platforms", "cpu")

X = np.array([0.35, 0.8, 1.7, 2.9, 6.5], np.float32)
U = np.array([-0.9, -0.3, 0.1, 0.45, 0.85], np.float32)  # erfinv's domain
# name -> (argument builder over x, domain)
CASES = {
    "digamma": (lambda m, x: m.digamma(x), X),
    "gammaln": (lambda m, x: m.gammaln(x), X),
    "erf": (lambda m, x: m.erf(x), U),
    "erfc": (lambda m, x: m.erfc(x), U),
    "erfinv": (lambda m, x: m.erfinv(x), U),
    "polygamma": (lambda m, x: m.polygamma(2, x), X),
    "zeta": (lambda m, x: m.zeta(x + 1.2, x), X),  # derivatives in s and in q
    "i0": (lambda m, x: m.i0(x), U * 3),
    "i0e": (lambda m, x: m.i0e(x), np.append(U * 12, 0.0).astype(np.float32)),
    "i1e": (lambda m, x: m.i1e(x), np.append(U * 12, 0.0).astype(np.float32)),
    "expit": (lambda m, x: m.expit(x), U * 3),
    "logsumexp": (lambda m, x: m.logsumexp(x) * x, X),
    "softmax": (lambda m, x: m.softmax(x) * x, U),
    "log_softmax": (lambda m, x: m.log_softmax(x) * x, U),
}


def test_every_public_name_is_tested_and_jax_names_are_covered():
    assert set(CASES) == set(sps.__all__)
    public = {n for n in dir(jss) if not n.startswith("_")}
    assert public - set(sps.__all__) - set(sps.LEFT_OUT) == set(), "give these a reason"
    assert all(len(reason) > 5 for reason in sps.LEFT_OUT.values())
    assert not set(sps.LEFT_OUT) & set(sps.__all__)


@pytest.mark.parametrize("name", sorted(CASES))
def test_values_and_grads_match_jax_eagerly(name):
    fn, x = CASES[name]
    np.testing.assert_allclose(fn(sps, x), fn(jss, x), rtol=2e-5, atol=1e-6)
    got = aotc.grad(lambda v: fn(sps, v).sum())(x)
    np.testing.assert_allclose(got, jax.grad(lambda v: fn(jss, v).sum())(x), rtol=2e-4,
                               atol=1e-5)


@pytest.mark.slow
def test_values_and_grads_match_jax_through_iree():
    names = sorted(CASES)

    def program(module):
        def run(*xs):
            values = [CASES[n][0](module, x) for n, x in zip(names, xs)]
            return values, [(jax.grad if module is jss else aotc.grad)(
                lambda v, n=n: CASES[n][0](module, v).sum())(x) for n, x in zip(names, xs)]
        return run

    xs = [CASES[n][1] for n in names]
    got_values, got_grads = aotc.jit(program(sps))(*xs)
    want_values, want_grads = program(jss)(*xs)
    for n, g, w in zip(names, got_values + got_grads, want_values + want_grads):
        np.testing.assert_allclose(g, w, rtol=5e-4, atol=1e-5, err_msg=n)
