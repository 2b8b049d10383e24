"""Data parallelism on one machine: an MLP's SGD step on a mesh of N CPU devices.

    python models/data_parallel.py             # 2 devices: train, compare with one device
    python models/data_parallel.py 8           # 8 devices (or AOTC_MODEL_DEVICES=8)
    aotc compile models/data_parallel.py -o dp.vmfb    # sharded artifact for AOTC_MODEL_DEVICES
    python models/data_parallel.py --artifact dp.vmfb  # train with it through aotc_runtime

The batch is split along its first dimension over the mesh axis "data" (each device holds
BATCH / N examples); the parameters are replicated. `aotc.jit(train_step, in_shardings=...)`
partitions the step: each device computes the loss and the gradients of its block, the
partitioner all-reduces each gradient (the batch is a contracted dimension of the weight
gradients) and every device applies the same update. The run compares every parameter and
loss with the same steps under a plain, single-device `aotc.jit` and exits with status 1 when
they differ by more than TOLERANCE (relative to the largest magnitude).
"""

import argparse
import os
import sys

import numpy as np

import aotc
import aotc.numpy as anp
from aotc.sharding import Mesh, NamedSharding, P

SIZES = (16, 64, 4)  # inputs, hidden, outputs
BATCH = 64  # the global batch: divisible by 1, 2, 4 and 8 devices
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


def make_batches(steps: int = STEPS, seed: int = 1, batch: int = BATCH,
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
    """The MLP's outputs for a batch x: (n, inputs) -> (n, outputs)."""
    w1, b1, w2, b2 = params
    return anp.tanh(x @ w1 + b1) @ w2 + b2


def loss_fn(params, x, y):
    """Mean squared error over the batch (and the outputs)."""
    return anp.mean((predict(params, x) - y) ** 2)


def train_step(params, x, y):
    """One SGD step: (new params, the loss before the step)."""
    loss, grads = aotc.value_and_grad(loss_fn)(params, x, y)
    return tuple(p - LEARNING_RATE * g for p, g in zip(params, grads)), loss


def data_parallel(mesh: Mesh):
    """train_step partitioned over mesh axis "data": batch-sharded x and y, replicated
    parameters in and out."""
    replicated = NamedSharding(mesh, P())
    batch = NamedSharding(mesh, P("data"))
    return aotc.jit(train_step, in_shardings=(replicated, batch, batch),
                    out_shardings=replicated)


MESH = Mesh((devices_from_env(),), ("data",))
PARAMS_SPEC = tuple(aotc.ShapeSpec(p.shape, "float32") for p in init_params())
X_SPEC = aotc.ShapeSpec((BATCH, SIZES[0]), "float32")
Y_SPEC = aotc.ShapeSpec((BATCH, SIZES[-1]), "float32")


@aotc.export(params=PARAMS_SPEC, x=X_SPEC, y=Y_SPEC,
             in_shardings={"params": NamedSharding(MESH, P()),
                           "x": NamedSharding(MESH, P("data")),
                           "y": NamedSharding(MESH, P("data"))},
             out_shardings=NamedSharding(MESH, P()))
def step(params, x, y):
    """train_step exported for MESH (AOTC_MODEL_DEVICES devices): `aotc compile` writes an
    artifact whose step takes the global batch (or its per-device blocks)."""
    return train_step(params, x, y)


# ---- numpy (float64) oracle ---------------------------------------------------------------------


def numpy_predict(params, x) -> np.ndarray:
    w1, b1, w2, b2 = (np.asarray(p, np.float64) for p in params)
    return np.tanh(np.asarray(x, np.float64) @ w1 + b1) @ w2 + b2


def numpy_step(params, x, y) -> tuple:
    """train_step in float64 with hand-written gradients."""
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


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("devices", nargs="?", type=int, default=None,
                        help=f"mesh size (default: ${DEVICES_VARIABLE}, else 2)")
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--artifact", help="run the step of this artifact (written by "
                        "`aotc compile models/data_parallel.py`) instead of aotc.jit")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    batches = make_batches(args.steps)
    params = init_params()
    if args.artifact:
        import aotc_runtime

        module = aotc_runtime.load(args.artifact)
        n = module.signature("step").mesh.size
        sharded = module.step
    else:
        n = args.devices if args.devices is not None else devices_from_env()
        sharded = data_parallel(Mesh((n,), ("data",)))
    got, losses = train(sharded, params, batches)
    want, want_losses = train(aotc.jit(train_step), params, batches)
    difference = max(relative_difference(got, want), relative_difference(losses, want_losses))
    print(f"data parallel on {n} devices, batch {BATCH} ({BATCH // n} per device), "
          f"{args.steps} steps: loss {losses[0]:.5f} -> {losses[-1]:.5f}")
    print(f"max relative difference vs one device: {difference:.2e} (tolerance {TOLERANCE:g})")
    return 0 if difference <= TOLERANCE else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
