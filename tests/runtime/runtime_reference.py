"""NumPy references and inputs for tests/runtime/sample_model.py."""

import numpy as np
from sample_model import W

RNG = np.random.default_rng(0)
PARAMS = {"w": RNG.standard_normal((4, 3)).astype(np.float32),
          "b": RNG.standard_normal(3).astype(np.float32)}


def batch(n: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, 4)).astype(np.float32)


def predict(params, x):
    return np.tanh(x.astype(np.float64) @ params["w"] + params["b"])


def stats(x, k):
    y = x.astype(np.float64) @ W
    return {"sum": y.sum(axis=0), "count": np.int32(k + 1), "lo": y.min(), "hi": y.max()}
