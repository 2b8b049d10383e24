"""Tensor parallelism on one machine: a Megatron-style MLP on a mesh of N CPU devices.

    python models/tensor_parallel.py           # 2 devices: train, compare with one device
    python models/tensor_parallel.py 8         # 8 devices (or AOTC_MODEL_DEVICES=8)

The hidden layer is split over the mesh axis "model": W1 by columns (P(None, "model")), its
bias b1 likewise, W2 by rows (P("model", None)). Each device computes its slice of the hidden
activations from the whole input with no communication, multiplies it by its rows of W2 and
`aotc.lax.psum` adds the N partial outputs: one all-reduce per layer pair, written explicitly
with `aotc.shard_map`. `aotc.grad` differentiates through it (psum's transpose broadcasts the
output's cotangent to every device), so the SGD step below trains the split weights. The run
compares the trained weights and the predictions with the same steps of the unsplit MLP under
a single-device `aotc.jit` and exits with status 1 when they differ by more than TOLERANCE
(relative to the largest magnitude).
"""

import argparse
import os
import sys

import numpy as np

import aotc
import aotc.numpy as anp
from aotc.sharding import Mesh, P

SIZES = (16, 64, 4)  # inputs, hidden (split over the devices), outputs
BATCH = 32
LEARNING_RATE = 0.1
STEPS = 5
TOLERANCE = 1e-6
DEVICES_VARIABLE = "AOTC_MODEL_DEVICES"
PARAM_SPECS = (P(None, "model"), P("model"), P("model", None), P())  # w1, b1, w2, b2


def devices_from_env(default: int = 2) -> int:
    """The mesh size from $AOTC_MODEL_DEVICES, else default."""
    text = os.environ.get(DEVICES_VARIABLE, "").strip()
    if not text:
        return default
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{DEVICES_VARIABLE}={text!r}: give a positive device count, e.g. 4")
    return int(text)


def init_params(seed: int = 0) -> tuple:
    """Random float32 weights (w1, b1, w2, b2) of a tanh MLP of SIZES."""
    rng = np.random.default_rng(seed)
    n_in, hidden, n_out = SIZES
    return (rng.normal(size=(n_in, hidden)).astype("f4") / np.sqrt(n_in).astype("f4"),
            (rng.normal(size=hidden) * 0.1).astype("f4"),
            rng.normal(size=(hidden, n_out)).astype("f4") / np.sqrt(hidden).astype("f4"),
            (rng.normal(size=n_out) * 0.1).astype("f4"))


def make_batches(steps: int = STEPS, seed: int = 1) -> list[tuple[np.ndarray, np.ndarray]]:
    """`steps` batches (x, y) of a regression task: y is a fixed random teacher MLP of x."""
    rng = np.random.default_rng(seed)
    teacher = init_params(seed + 100)
    batches = []
    for _ in range(steps):
        x = rng.normal(size=(BATCH, SIZES[0])).astype("f4")
        batches.append((x, numpy_predict(teacher, x).astype("f4")))
    return batches


def predict(params, x):
    """The unsplit MLP: (n, inputs) -> (n, outputs)."""
    w1, b1, w2, b2 = params
    return anp.tanh(x @ w1 + b1) @ w2 + b2


def megatron_block(x, w1, b1, w2, b2):
    """One device's part: its hidden slice (columns of w1, rows of w2), then the psum of the
    partial outputs over "model"."""
    h = anp.tanh(x @ w1 + b1)
    return aotc.lax.psum(h @ w2, "model") + b2


def tensor_parallel_predict(mesh: Mesh):
    """predict(params, x) with the hidden layer split over mesh axis "model"."""
    mapped = aotc.shard_map(megatron_block, mesh=mesh, in_specs=(P(), *PARAM_SPECS),
                            out_specs=P())
    return lambda params, x: mapped(x, *params)


def sgd_step(predict_fn):
    """A train step (params, x, y) -> (new params, loss) of the MSE of predict_fn."""
    def loss_fn(params, x, y):
        return anp.mean((predict_fn(params, x) - y) ** 2)

    def step(params, x, y):
        loss, grads = aotc.value_and_grad(loss_fn)(params, x, y)
        return tuple(p - LEARNING_RATE * g for p, g in zip(params, grads)), loss
    return step


def programs(mesh: Mesh | None) -> tuple:
    """(jitted train step, jitted predict) on the mesh (tensor parallel), or on one device for
    mesh=None."""
    fn = predict if mesh is None else tensor_parallel_predict(mesh)
    return aotc.jit(sgd_step(fn)), aotc.jit(fn)


# ---- numpy (float64) oracle ---------------------------------------------------------------------


def numpy_predict(params, x) -> np.ndarray:
    w1, b1, w2, b2 = (np.asarray(p, np.float64) for p in params)
    return np.tanh(np.asarray(x, np.float64) @ w1 + b1) @ w2 + b2


def numpy_step(params, x, y) -> tuple:
    """sgd_step(predict) in float64 with hand-written gradients."""
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


def run(step_fn, predict_fn, params, batches) -> tuple[tuple, list[float], np.ndarray]:
    """Train over the batches; (final params, losses, predictions of the last batch's x)."""
    losses = []
    for x, y in batches:
        params, loss = step_fn(params, x, y)
        params = tuple(np.asarray(p) for p in params)
        losses.append(float(np.asarray(loss)))
    return params, losses, np.asarray(predict_fn(params, batches[-1][0]))


def relative_difference(got, want) -> float:
    """max |got - want| over the leaves, relative to the largest |want| of each leaf."""
    worst = 0.0
    for g, w in zip(got, want):
        g, w = np.asarray(g, np.float64), np.asarray(w, np.float64)
        worst = max(worst, float(np.max(np.abs(g - w)) / np.max(np.abs(w))))
    return worst


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("devices", nargs="?", type=int, default=None,
                        help=f"mesh size (default: ${DEVICES_VARIABLE}, else 2)")
    parser.add_argument("--steps", type=int, default=STEPS)
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    n = args.devices if args.devices is not None else devices_from_env()
    batches, params = make_batches(args.steps), init_params()
    got = run(*programs(Mesh((n,), ("model",))), params, batches)
    want = run(*programs(None), params, batches)
    difference = max(relative_difference(got[0], want[0]),  # the trained weights
                     relative_difference(got[1], want[1]),  # each step's loss
                     relative_difference([got[2]], [want[2]]))  # the predictions
    print(f"tensor parallel on {n} devices, hidden {SIZES[1]} ({SIZES[1] // n} per device), "
          f"{args.steps} steps: loss {got[1][0]:.5f} -> {got[1][-1]:.5f}")
    print(f"max relative difference vs one device: {difference:.2e} (tolerance {TOLERANCE:g})")
    return 0 if difference <= TOLERANCE else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
