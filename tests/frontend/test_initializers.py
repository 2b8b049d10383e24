"""aotc.nn.initializers against jax.nn.initializers: every initializer, with its fan axes and
dtypes, for several keys, eagerly (interpreted) and compiled once; orthogonal's QR to 1e-5."""

import jax
import jax.nn.initializers as ji
import ml_dtypes
import numpy as np
import pytest
from test_random import KEYS, ulps

import aotc
import aotc.nn as ann
from aotc.frontend.core.errors import TracingError

ai = ann.initializers
jax.config.update("jax_platforms", "cpu")

# (name, factory args or None for a plain init function, shape, dtype, max ulps vs JAX)
CASES = [
    ("zeros", None, (2, 3), np.float32, 0), ("ones", None, (2, 3), ml_dtypes.bfloat16, 0),
    ("constant", (-7.0,), (2, 3), np.float32, 0), ("uniform", (10.0,), (3, 4), np.float32, 0),
    ("uniform", (), (5,), np.float16, 0), ("normal", (2.0,), (3, 4), np.float32, 16),
    ("truncated_normal", (0.5,), (3, 4), np.float32, 16),
    ("glorot_uniform", (), (5, 7), np.float32, 0), ("glorot_normal", (), (5, 7), np.float32, 16),
    ("xavier_uniform", (), (6, 3), ml_dtypes.bfloat16, 0),
    ("xavier_normal", (), (6, 3), np.float32, 16),
    ("lecun_uniform", (), (3, 3, 4, 8), np.float32, 0),
    ("lecun_normal", (), (3, 3, 4, 8), np.float32, 16),
    ("he_uniform", (), (6, 5), np.float32, 0), ("he_normal", (), (6, 5), np.float32, 16),
    ("kaiming_uniform", (), (2, 4, 6), np.float16, 0),
    ("kaiming_normal", (), (2, 4, 6), np.float32, 16),
    ("variance_scaling", (2.0, "fan_geo_avg", "uniform", (0, 1), -1, 2), (2, 3, 4, 5),
     np.float32, 0),
    ("variance_scaling", (0.5, "fan_out", "normal", 0, (1, 2)), (3, 4, 5), np.float32, 16),
    ("variance_scaling", (1.0, "fan_avg", "truncated_normal", -2, -1, 0), (2, 8, 3),
     ml_dtypes.bfloat16, 32),
]
ORTHOGONAL = [("orthogonal", (), (4, 4)), ("orthogonal", (), (3, 5)),
              ("orthogonal", (2.0, 0), (6, 2, 3)), ("delta_orthogonal", (), (3, 3, 4, 4)),
              ("delta_orthogonal", (0.5,), (3, 4, 5)), ("delta_orthogonal", (), (1, 3, 3, 2, 2))]


def _pair(name, args):
    a, j = getattr(ai, name), getattr(ji, name)
    return (a, j) if args is None else (a(*args), j(*args))


@pytest.mark.parametrize("name,args,shape,dtype,limit", CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_initializer_matches_jax(name, args, shape, dtype, limit):
    a, j = _pair(name, args)
    for key in KEYS[:4]:
        got, want = a(key, shape, dtype), np.asarray(j(key, shape, dtype))
        assert got.shape == want.shape and got.dtype == want.dtype
        assert ulps(got, want) <= limit, (name, ulps(got, want))


@pytest.mark.parametrize("name,args,shape", ORTHOGONAL)
def test_orthogonal_matches_jax(name, args, shape):
    a, j = _pair(name, args)
    for key in KEYS[:3]:
        got, want = a(key, shape), np.asarray(j(key, shape))
        np.testing.assert_allclose(got, want, atol=1e-5)


@pytest.mark.slow
def test_initializers_compiled_once():
    def init_all(key):
        return [ai.glorot_uniform()(key, (8, 4)), ai.he_normal()(key, (3, 3, 2, 4)),
                ai.orthogonal()(key, (5, 3)), ai.delta_orthogonal()(key, (3, 3, 3))]

    got = aotc.jit(init_all)(KEYS[9])
    want = [ji.glorot_uniform()(KEYS[9], (8, 4)), ji.he_normal()(KEYS[9], (3, 3, 2, 4)),
            ji.orthogonal()(KEYS[9], (5, 3)), ji.delta_orthogonal()(KEYS[9], (3, 3, 3))]
    np.testing.assert_array_equal(got[0], want[0])
    for g, w in zip(got[1:], want[1:]):
        np.testing.assert_allclose(g, np.asarray(w), atol=1e-5)


def test_bad_shapes_name_the_user_line():
    for case in [lambda: ai.glorot_uniform()(KEYS[0], (5,)),
                 lambda: ai.orthogonal()(KEYS[0], (5,)),
                 lambda: ai.delta_orthogonal()(KEYS[0], (3, 5, 4)),
                 lambda: ai.variance_scaling(1.0, "fan_sum", "normal"),
                 lambda: ai.normal()(KEYS[0], (2,), np.int32)]:
        with pytest.raises(TracingError, match=r"test_initializers\.py:\d+"):
            case()
