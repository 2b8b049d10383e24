"""The small tanh MLP that models/data_parallel.py and models/tensor_parallel.py train on a
mesh: its weights, a regression task, the float64 NumPy oracle, the training loop and the
command line both share. Not a model of its own."""

import argparse
import os

import numpy as np

import aotc.numpy as anp

SIZES = (16, 64, 4)  # inputs, hidden, outputs
LEARNING_RATE = 0.1
STEPS = 5
TOLERANCE = 1e-6  # float32 sums in another order: ~1e-7 relative after STEPS steps
DEVICES_VARIABLE = "AOTC_MODEL_DEVICES"


def devices_from_env(default: int = 2) -> int:
    """The mesh size from $AOTC_MODEL_DEVICES, else default."""
    text = os.environ.get(DEVICES_VARIABLE, "").strip()
    if not text:
        return default
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{DEVICES_VARIABLE}={text!r}: give a positive device count, e.g. 4")
    return int(text)


def init_params(seed: int = 0, sizes: tuple = SIZES) -> tuple:
    """Random float32 weights (w1, b1, w2, b2) of a tanh MLP of `sizes`."""
    rng = np.random.default_rng(seed)
    n_in, hidden, n_out = sizes
    return (rng.normal(size=(n_in, hidden)).astype("f4") / np.sqrt(n_in).astype("f4"),
            (rng.normal(size=hidden) * 0.1).astype("f4"),
            rng.normal(size=(hidden, n_out)).astype("f4") / np.sqrt(hidden).astype("f4"),
            (rng.normal(size=n_out) * 0.1).astype("f4"))


def make_batches(steps: int, seed: int, batch: int,
                 sizes: tuple = SIZES) -> list[tuple[np.ndarray, np.ndarray]]:
    """`steps` batches (x, y) of a regression task: y is a fixed random teacher MLP of x."""
    rng = np.random.default_rng(seed)
    teacher = init_params(seed + 100, sizes)
    batches = []
    for _ in range(steps):
        x = rng.normal(size=(batch, sizes[0])).astype("f4")
        batches.append((x, numpy_predict(teacher, x).astype("f4")))
    return batches


def predict(params, x):
    """The unsplit MLP's outputs for a batch x: (n, inputs) -> (n, outputs)."""
    w1, b1, w2, b2 = params
    return anp.tanh(x @ w1 + b1) @ w2 + b2


# ---- numpy (float64) oracle ---------------------------------------------------------------------


def numpy_predict(params, x) -> np.ndarray:
    w1, b1, w2, b2 = (np.asarray(p, np.float64) for p in params)
    return np.tanh(np.asarray(x, np.float64) @ w1 + b1) @ w2 + b2


def numpy_step(params, x, y) -> tuple:
    """One SGD step on the mean squared error, in float64 with hand-written gradients:
    (new params, the loss before the step)."""
    w1, b1, w2, b2 = (np.asarray(p, np.float64) for p in params)
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    h = np.tanh(x @ w1 + b1)
    err = h @ w2 + b2 - y
    d_out = 2 * err / err.size
    d_pre = d_out @ w2.T * (1 - h ** 2)
    grads = (x.T @ d_pre, d_pre.sum(0), h.T @ d_out, d_out.sum(0))
    new = tuple(p - LEARNING_RATE * g for p, g in zip((w1, b1, w2, b2), grads))
    return new, float(np.mean(err ** 2))


# ---- running it ---------------------------------------------------------------------------------


def train(step_fn, params, batches) -> tuple[tuple, list[float]]:
    """Apply step_fn(params, x, y) -> (params, loss) over the batches: final params, losses."""
    losses = []
    for x, y in batches:
        params, loss = step_fn(params, x, y)
        params = tuple(np.asarray(p) for p in params)
        losses.append(float(np.asarray(loss)))
    return params, losses


def relative_difference(got, want) -> float:
    """max |got - want| over the leaves, relative to the largest |want| of each leaf."""
    worst = 0.0
    for g, w in zip(got, want):
        g, w = np.asarray(g, np.float64), np.asarray(w, np.float64)
        worst = max(worst, float(np.max(np.abs(g - w)) / np.max(np.abs(w))))
    return worst


def argument_parser(description: str) -> argparse.ArgumentParser:
    """The models' common arguments: the mesh size and the number of steps."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("devices", nargs="?", type=int, default=None,
                        help=f"mesh size (default: ${DEVICES_VARIABLE}, else 2)")
    parser.add_argument("--steps", type=int, default=STEPS)
    return parser
