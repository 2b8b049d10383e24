"""Eager calls trace once per signature into one context per thread; custom derivative rules
belong to the module that uses them, so nothing process-wide grows per call."""

import gc
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import aotc
import aotc.numpy as anp
from aotc.frontend.core import registry
from aotc.frontend.trace import eager

X = np.array([0.3, -1.2, 2.0], np.float32)
TRACES = []


@aotc.custom_jvp
def doubled_sine(x):
    TRACES.append(x.shape)
    return anp.sin(x)


@doubled_sine.defjvp
def _doubled_sine_jvp(primals, tangents):  # twice the true derivative: shows the rule is used
    (x,), (t,) = primals, tangents
    return anp.sin(x), 2.0 * anp.cos(x) * t


@aotc.custom_vjp
def clip_gradient(x):
    return x * 1.0


clip_gradient.defvjp(lambda x: (x * 1.0, None), lambda _, g: (anp.clip(g, -0.5, 0.5),))


def close(a, b):
    np.testing.assert_allclose(np.asarray(a, np.float64), b, rtol=1e-5, atol=1e-6)


def test_a_signature_is_traced_once_and_static_values_are_part_of_it():
    x = np.linspace(-1.0, 1.0, 7, dtype=np.float32)
    TRACES.clear()
    for _ in range(5):
        close(doubled_sine(x), np.sin(x))
    assert TRACES == [(7,)]
    close(doubled_sine(x[:4]), np.sin(x[:4]))
    assert TRACES == [(7,), (4,)]
    ints = np.arange(3, dtype=np.int32)
    assert anp.add(ints, 1).dtype == np.int32 and anp.add(ints, 1.0).dtype == np.float32
    assert anp.add(ints, True).dtype == np.int32
    for scalar in (1, 1.0, True):
        np.testing.assert_array_equal(anp.add(ints, scalar), ints + scalar)
    assert not np.signbit(anp.multiply(np.ones(1, np.float32), 0.0))[0]
    assert np.signbit(anp.multiply(np.ones(1, np.float32), -0.0))[0]
    m = np.arange(6.0, dtype=np.float32).reshape(2, 3)
    close(anp.sum(m, axis=0), m.sum(0))
    close(anp.sum(m, axis=1), m.sum(1))


def test_the_cache_is_bounded_and_takes_the_rules_of_what_it_drops(monkeypatch):
    monkeypatch.setattr(eager, "CACHE_SIZE", 3)
    rules_before = registry.custom_rule_count()
    for n in range(1, 9):
        close(doubled_sine(np.ones(n, np.float32)), np.sin(np.ones(n)))
        assert eager.cache_size() <= 3
        assert registry.custom_rule_count() <= rules_before + 3


def test_rules_do_not_grow_over_eager_calls_transforms_and_lowering():
    grad_clip = aotc.grad(lambda a: anp.sum(clip_gradient(a) * np.array([3.0, 0.2, -2.0])))
    close(grad_clip(X), [0.5, 0.2, -0.5])
    close(doubled_sine(X), np.sin(X))
    gc.collect()
    before = registry.custom_rule_count()
    for _ in range(200):
        doubled_sine(X)
        grad_clip(X)
    for _ in range(20):  # each lowering has a context of its own: its rules go with it
        traced = aotc.lower(aotc.grad(lambda a: anp.sum(doubled_sine(a))), X)
        assert "aotc.custom" in traced.text
    del traced
    gc.collect()
    assert registry.custom_rule_count() == before


def test_a_jit_compile_owns_its_rules_until_the_jitted_function_goes():
    gc.collect()
    before = registry.custom_rule_count()
    slope = aotc.jit(aotc.grad(lambda a: anp.sum(doubled_sine(a))))
    close(slope(X), 2 * np.cos(X))  # the compiled program used the rule
    assert registry.custom_rule_count() > before  # kept by the module in jit's cache
    del slope
    gc.collect()
    assert registry.custom_rule_count() == before


def test_a_failed_trace_leaves_no_rule_behind():
    gc.collect()
    before = registry.custom_rule_count()

    def fails(a):
        anp.sum(doubled_sine(a))
        raise ValueError("stop")

    for _ in range(3):
        with pytest.raises(ValueError, match="stop"):
            aotc.grad(fails)(X)
    assert registry.custom_rule_count() == before


def test_rules_resolve_through_nested_transforms():
    # grad of jit of a custom_vjp function (jit traces through inside another trace)
    jitted = aotc.jit(lambda a: anp.sum(clip_gradient(a) * np.array([3.0, 0.2, -2.0])))
    close(aotc.grad(jitted)(X), [0.5, 0.2, -0.5])
    # vmap of grad of a custom_jvp function
    batch = np.stack([X, 2 * X])
    per_row = aotc.vmap(aotc.grad(lambda a: anp.sum(doubled_sine(a))))(batch)
    close(per_row, 2 * np.cos(batch))
    # hessian through checkpoint: the rematerialized block is differentiated twice
    block = aotc.checkpoint(lambda a: anp.sin(a) * a)
    hess = aotc.hessian(lambda a: anp.sum(block(a)))(X)
    close(hess, np.diag(2 * np.cos(X) - X * np.sin(X)))


def test_threads_trace_into_contexts_of_their_own():
    inputs = [np.full(4, k / 10, np.float32) for k in range(6)]

    def work(x):
        for _ in range(30):
            out = (anp.tanh(x) * 2, doubled_sine(x),
                   aotc.grad(lambda a: anp.sum(doubled_sine(a)))(x))
        return out

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(work, inputs))  # re-raises a thread's exception here
    for x, (scaled, sine, slope) in zip(inputs, results):
        close(scaled, np.tanh(x) * 2)
        close(sine, np.sin(x))
        close(slope, 2 * np.cos(x))


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


def test_ten_thousand_eager_calls_keep_rss_flat():
    x = np.linspace(-1.0, 1.0, 8, dtype=np.float32)

    def step():
        return anp.tanh(x) * 2, doubled_sine(x)

    for _ in range(1_000):
        step()
    gc.collect()
    warm = _rss_mib()
    for _ in range(9_000):
        y, s = step()
    gc.collect()
    grown = _rss_mib() - warm
    close(y, np.tanh(x) * 2)
    close(s, np.sin(x))
    assert grown < 5.0, f"RSS grew {grown:.1f} MiB over 9,000 eager calls"
