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

import aotc
import aotc.numpy as anp
from aotc.sharding import Mesh, NamedSharding, P

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

BATCH = 64  # the global batch: divisible by 1, 2, 4 and 8 devices


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


def make_batches(steps: int = STEPS, seed: int = 1, batch: int = BATCH, sizes: tuple = SIZES):
    """The training batches (x, y), of the global BATCH size unless told otherwise."""
    return parallel_mlp.make_batches(steps, seed, batch, sizes)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argument_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--artifact", help="run the step of this artifact (written by "
                        "`aotc compile models/data_parallel.py`) instead of aotc.jit")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    steps = make_batches(args.steps)
    params = init_params()
    if args.artifact:
        import aotc_runtime

        module = aotc_runtime.load(args.artifact)
        n = module.signature("step").mesh.size
        sharded = module.step
    else:
        n = args.devices if args.devices is not None else devices_from_env()
        sharded = data_parallel(Mesh((n,), ("data",)))
    got, losses = train(sharded, params, steps)
    want, want_losses = train(aotc.jit(train_step), params, steps)
    difference = max(relative_difference(got, want), relative_difference(losses, want_losses))
    print(f"data parallel on {n} devices, batch {BATCH} ({BATCH // n} per device), "
          f"{args.steps} steps: loss {losses[0]:.5f} -> {losses[-1]:.5f}")
    print(f"max relative difference vs one device: {difference:.2e} (tolerance {TOLERANCE:g})")
    return 0 if difference <= TOLERANCE else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
