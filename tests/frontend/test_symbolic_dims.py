"""Symbolic dims: `b, t, d = x.shape` on dynamic dims gives Dims whose arithmetic feeds
reshape, broadcast_to, zeros/ones/full, arange and array arithmetic, computed at run time; compiled
through IREE and run at several sizes, with grad and vmap, against numpy and jax. Where a Dim
cannot be used (its value in Python), the error names the user's line and the dim."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import aotc
import aotc.numpy as anp
import aotc_runtime
from aotc import ConcretizationError, ShapeSpec, TracingError
from aotc.frontend.trace.symbolic import Dim

SPEC = ShapeSpec(("batch", None, 4))
SIZES = [(2, 3, 4), (1, 5, 4), (3, 1, 4)]


def shapes(x):
    b, t, d = x.shape
    merged = x.reshape(b * t, d)
    padded = anp.concatenate([merged, anp.zeros((b * t, 3)) + 1], axis=1)
    twos = anp.full((b, t, 1), 2.0) * x
    spread = anp.broadcast_to(x.sum(axis=1, keepdims=True), (b, t, d))
    mean = x.sum() / (b * t * d)
    back = merged.reshape(b, t, d)
    rows = x.reshape(b, -1)
    steps = x.reshape(-1, t * d)
    counts = anp.ones((b,), anp.int32) * (t + 1) - (b * t) // t + b % 1
    floor = anp.ones((2,), anp.int32) * ((t - 2 * t) // 2) + (-t) % 3
    # Dims read from results of elementwise ops, transposes and reductions are x's own
    swapped = anp.tanh(x).transpose(1, 0, 2)
    t2, b2, _ = swapped.shape
    summed = x.sum(axis=1) * 2
    ranges = (anp.arange(b), anp.arange(2, t + 2, 3), x[:, :, 0] * anp.arange(t),
              anp.arange(b, b + 3), anp.arange(t, dtype=anp.float32) * 0.5)
    return (padded, twos, spread, mean, back, rows, steps, counts, floor,
            swapped.reshape(t2 * b2, d), summed.reshape(summed.shape[0] * d), *ranges)


def expected(x):
    b, t, d = x.shape
    merged = x.reshape(b * t, d)
    return (np.concatenate([merged, np.ones((b * t, 3), np.float32)], 1), 2 * x,
            np.broadcast_to(x.sum(1, keepdims=True), x.shape), x.mean(), x, x.reshape(b, -1),
            x.reshape(-1, t * d), np.full(b, t + 1 - b), np.full(2, (t - 2 * t) // 2 + (-t) % 3),
            np.tanh(x).transpose(1, 0, 2).reshape(t * b, d), (x.sum(1) * 2).reshape(b * d),
            np.arange(b), np.arange(2, t + 2, 3), x[:, :, 0] * np.arange(t), np.arange(b, b + 3),
            np.arange(t) * 0.5)


@pytest.fixture(scope="module")
def module():
    return aotc_runtime.load_bytes(aotc.compile(shapes, SPEC))


def test_dim_arithmetic_compiles_and_runs_at_several_sizes(module):
    rng = np.random.default_rng(0)
    traced = aotc.lower(shapes, SPEC)
    for size in SIZES:
        x = rng.normal(size=size).astype(np.float32)
        for got, want in zip(module.shapes(x), expected(x)):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
        for got, want in zip(aotc.interpret(traced.module, traced.name, x), expected(x)):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_dims_in_user_code_and_none_in_aotc():
    seen = {}

    def record(x, y):
        seen["x"], seen["y"] = x.shape, y.shape
        b, t, _ = x.shape
        seen["same"] = (b == y.shape[0], b * t == t * b, b + 1 - 1 == b, b == t, 2 * b // 2)
        return x.reshape(b * t, 4)

    traced = aotc.lower(record, SPEC, ShapeSpec(("batch",)))
    b, t, d = seen["x"]
    assert isinstance(b, Dim) and isinstance(t, Dim) and d == 4
    assert str(b) == "batch" and "dim 1" in str(t)
    assert seen["same"][:4] == (True, True, True, False) and seen["same"][4] == b
    assert "tensor<?x4xf32>" in traced.text  # the type keeps dynamic dims dynamic
    assert aotc.eval_shape(record, SPEC, ShapeSpec(("batch",))).shape == (None, 4)


def test_grad_and_vmap_through_dim_arithmetic():
    def loss(x):
        b, t, d = x.shape
        weights = anp.arange(t).reshape(1, t, 1) * anp.arange(4.0)
        return anp.sum(anp.sin(x.reshape(b * t, d)).reshape(b, t, d) * weights) / b

    def jax_loss(x):
        b, t, d = x.shape
        weights = jnp.arange(t).reshape(1, t, 1) * jnp.arange(4.0)
        return jnp.sum(jnp.sin(x.reshape(b * t, d)).reshape(b, t, d) * weights) / b

    def flatten(x):
        b, t = x.shape
        return x.reshape(b * t) * 2

    grads = aotc_runtime.load_bytes(aotc.compile(aotc.grad(loss), SPEC))
    mapped = aotc_runtime.load_bytes(aotc.compile(aotc.vmap(flatten), ShapeSpec((3, None,
                                                                                  None))))
    rng = np.random.default_rng(1)
    for size in SIZES[:2]:
        x = rng.normal(size=size).astype(np.float32)
        np.testing.assert_allclose(grads.loss(x), jax.grad(jax_loss)(x), rtol=1e-5, atol=1e-6)
        z = rng.normal(size=(3, size[0], size[1])).astype(np.float32)
        np.testing.assert_allclose(mapped.flatten(z), z.reshape(3, -1) * 2, rtol=1e-6)


@pytest.mark.parametrize("fn, match", [
    (lambda x: int(x.shape[0]), r"int\(\) needs the value of the dynamic dim batch"),
    (lambda x: list(range(x.shape[0])), r"as a Python int .* dynamic dim batch"),
    (lambda x: x.shape[0] < 3, r"comparing it with < .* dynamic dim batch"),
    (lambda x: x * 2 if x.shape[1] else x, r"bool\(\) .* dynamic dim dim 1"),
    (lambda x: anp.arange(0, x.shape[0], x.shape[1]), r"arange\(0, batch, dim 1 .*positive int"),
    (lambda x: x * (x.shape[0] / 2), r"batch / 2: true division of a dynamic dim"),
    (lambda x: x.reshape(x.shape[0] * 2, 2), r"cannot prove .* write -1"),
    (lambda x: x[:, :, :2].reshape(x.shape[0] * x.shape[1], 2), r"cannot prove"),
    (lambda x: anp.broadcast_to(x, (*x.shape[:2], 5)), r"cannot broadcast a dim of size 4"),
    (lambda x: anp.broadcast_to(x, (x.shape[0], 3, 4)), r"x dim 1 and the static size 3 can "),
])
def test_unusable_dims_name_the_line_and_the_dim(fn, match):
    with pytest.raises((ConcretizationError, TracingError),
                       match=r"test_symbolic_dims.py:\d+(:\d+)?: .*" + match):
        aotc.lower(fn, SPEC)
