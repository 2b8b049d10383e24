import numpy as np
from helpers import check

import aotc
import aotc.numpy as anp


def test_mlp_layer_matches_numpy():
    rng = np.random.default_rng(0)
    w = {"a": rng.standard_normal((4, 3), np.float32), "b": rng.standard_normal(3, np.float32)}
    x = rng.standard_normal((5, 4), np.float32)
    check(lambda w, x: anp.tanh(x @ w["a"] + w["b"]).sum(axis=-1),
          lambda w, x: np.tanh(x @ w["a"] + w["b"]).sum(axis=-1), w, x)


def test_dynamic_batch_dimension_runs_at_any_size():
    w = np.arange(12, dtype=np.float32).reshape(4, 3) / 10
    traced = aotc.lower(lambda w, x: (x @ w + 1.0).mean(axis=0), w, aotc.ShapeSpec((None, 4)))
    assert "tensor<?x4xf32>" in str(traced)
    fast = aotc.jit(lambda w, x: (x @ w + 1.0).mean(axis=0))
    for n in (1, 7):
        x = np.ones((n, 4), np.float32)
        np.testing.assert_allclose(fast(w, x), (x @ w + 1.0).mean(axis=0), rtol=1e-6)
