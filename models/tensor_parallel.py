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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # parallel_mlp beside this file
import parallel_mlp
from parallel_mlp import (  # noqa: F401 (numpy_*: the model's float64 oracle, for its tests)
    LEARNING_RATE,
    SIZES,
    STEPS,
    TOLERANCE,
    argument_parser,
    devices_from_env,
    init_params,
    numpy_predict,
    numpy_step,
    predict,
    relative_difference,
    train,
)

BATCH = 32
PARAM_SPECS = (P(None, "model"), P("model"), P("model", None), P())  # w1, b1, w2, b2


def make_batches(steps: int = STEPS, seed: int = 1):
    """The training batches (x, y) of BATCH examples."""
    return parallel_mlp.make_batches(steps, seed, BATCH)


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


# ---- running it ---------------------------------------------------------------------------------


def run(step_fn, predict_fn, params, batches) -> tuple[tuple, list[float], np.ndarray]:
    """Train over the batches; (final params, losses, predictions of the last batch's x)."""
    params, losses = train(step_fn, params, batches)
    return params, losses, np.asarray(predict_fn(params, batches[-1][0]))


def parse_args(argv: list[str]) -> argparse.Namespace:
    return argument_parser(__doc__.split("\n\n")[0]).parse_args(argv)


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
