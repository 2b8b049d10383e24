"""Data-parallel training of the digits MLP over MPI ranks, with aotc_runtime.distributed.

    mpiexec -n 2 python models/train_digits_mpi.py [--steps 300] [--batch 64] [--check]
    python -c "from aotc_runtime.distributed import mpiexec_command as c; \
print(' '.join(c(2, ['python', 'models/train_digits_mpi.py'])))"   # the flags this machine needs

This file is also a model file: it exports `grad(params, x, y) -> (loss, grads)` on one rank's
shard of the batch, `update(params, opt_state, grads) -> (params, opt_state)` (SGD) and
`logits(params, x)`. Rank 0 compiles it for shards of batch/ranks examples
(`AOTC_MPI_SHARD_BATCH=32 aotc compile models/train_digits_mpi.py`, skipped when the artifact
exists) and sends the artifact's bytes to every rank, which loads them; rank 0's initial
parameters (models/mlp.py's init_params) are broadcast, and each step every rank computes the
gradient of its shard, the ranks average the gradients in place (bucketed MPI Allreduce), and
every rank applies the same update. All ranks read the same digits split and draw the same
global batches.

--save PATH writes the final parameters (rank 0, .npz); --check recomputes the run in one
process on the whole batch with models/mlp.py's train_step (batch 64) and fails unless every
parameter agrees within 1e-5 (|mpi - single| <= 1e-5 + 1e-5 * |single|, numpy's allclose).
"""

import argparse
import itertools
import os
import sys

import numpy as np

import aotc
import aotc.numpy as anp

HERE = os.path.dirname(os.path.abspath(__file__))
SIZES = (64, 128, 10)  # the digits MLP of models/train_digits.py
SHARD_BATCH = int(os.environ.get("AOTC_MPI_SHARD_BATCH", "32"))  # one rank's examples per step
CHECK_TOLERANCE = 1e-5
REFERENCE_BATCH = 64  # models/mlp.py's TRAIN_BATCH: --check runs its train_step

PARAMS_SPEC = {name: aotc.ShapeSpec(shape, "float32")
               for i, (n_in, n_out) in enumerate(itertools.pairwise(SIZES), start=1)
               for name, shape in ((f"w{i}", (n_in, n_out)), (f"b{i}", (n_out,)))}
OPT_STATE_SPEC = {"learning_rate": aotc.ShapeSpec((), "float32"),
                  "step": aotc.ShapeSpec((), "int32")}


def _predict(params, x):
    layers = len(params) // 2
    for i in range(1, layers):
        x = anp.maximum(x @ params[f"w{i}"] + params[f"b{i}"], 0.0)
    return x @ params[f"w{layers}"] + params[f"b{layers}"]


def _loss(params, x, y):
    """Mean softmax cross-entropy of a batch (the loss of models/mlp.py's train_step)."""
    logits = _predict(params, x)
    log_probs = aotc.nn.log_softmax(logits, axis=-1)
    return -anp.mean(anp.sum(log_probs * aotc.nn.one_hot(y, logits.shape[-1]), axis=-1))


@aotc.export(params=PARAMS_SPEC, x=aotc.ShapeSpec((SHARD_BATCH, SIZES[0]), "float32"),
             y=aotc.ShapeSpec((SHARD_BATCH,), "int32"))
def grad(params, x, y):
    """(mean loss, gradient of the mean loss) on one rank's shard of the batch."""
    return aotc.value_and_grad(_loss)(params, x, y)


@aotc.export(params=PARAMS_SPEC, opt_state=OPT_STATE_SPEC, grads=PARAMS_SPEC)
def update(params, opt_state, grads):
    """One SGD step with the averaged gradients: (params, opt_state) after the step."""
    rate = opt_state["learning_rate"]
    new_params = {k: p - rate * grads[k] for k, p in params.items()}
    return new_params, {"learning_rate": rate, "step": opt_state["step"] + 1}


@aotc.export(params=PARAMS_SPEC, x=aotc.ShapeSpec((None, SIZES[0]), "float32"))
def logits(params, x):
    """Class scores of a batch of flattened 8x8 digits."""
    return _predict(params, x)


def _train_digits():
    """models/train_digits.py (data loading, mlp.py's init_params and its compiler)."""
    sys.path.insert(0, HERE)
    try:
        import train_digits
    finally:
        sys.path.remove(HERE)
    return train_digits


def global_batches(x: np.ndarray, y: np.ndarray, batch: int, steps: int, seed: int):
    """The (x, y) global batch of each step: shuffles of the training set, as every rank
    draws them (the same seed gives every rank, and the reference, the same batches)."""
    rng = np.random.default_rng(seed)
    per_epoch = len(x) // batch
    order = rng.permutation(len(x))
    for step in range(steps):
        if step and step % per_epoch == 0:
            order = rng.permutation(len(x))
        picked = order[(step % per_epoch) * batch:(step % per_epoch + 1) * batch]
        yield x[picked], y[picked]


def artifact_from_rank0(world, path: str, shard: int, target: str) -> bytes:
    """The artifact's bytes on every rank: rank 0 reads path, compiling this file for shards
    of `shard` examples first when path is missing, and broadcasts them, so other machines
    need no shared filesystem (and no rank waits forever on a failed compile)."""
    data = failure = None
    if world.rank == 0:
        try:
            if not os.path.exists(path):
                _compile(path, shard, target)
            with open(path, "rb") as f:
                data = f.read()
        except (aotc.AotcError, OSError) as exc:
            failure = str(exc)
    data, failure = world.comm.bcast((data, failure), root=0)
    if failure:
        raise SystemExit(f"train_digits_mpi: rank {world.rank}: no artifact: {failure}")
    return data


def _compile(path: str, shard: int, target: str) -> None:
    """`AOTC_MPI_SHARD_BATCH=shard aotc compile models/train_digits_mpi.py --target ... -o path`"""
    from aotc.tools.export import ExportOutput

    print(f"compiling {__file__} for shards of {shard} examples ({target}) -> {path}",
          flush=True)
    old = os.environ.get("AOTC_MPI_SHARD_BATCH")
    os.environ["AOTC_MPI_SHARD_BATCH"] = str(shard)
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        ExportOutput.from_file(os.path.abspath(__file__)).write(path, target)
    finally:
        os.environ.pop("AOTC_MPI_SHARD_BATCH")
        if old is not None:
            os.environ["AOTC_MPI_SHARD_BATCH"] = old


def reference_run(data, params: dict, steps: int, learning_rate: float, seed: int,
                  artifact: str) -> dict:
    """One process, whole batches: models/mlp.py's train_step from the same start."""
    import aotc_runtime

    train_digits = _train_digits()
    if not os.path.exists(artifact):
        train_digits.compile_artifact(artifact, SIZES)
    module = aotc_runtime.load(artifact)
    opt_state = train_digits.load_mlp().init_opt_state(learning_rate)
    x_train, _, y_train, _ = data
    for xb, yb in global_batches(x_train, y_train, REFERENCE_BATCH, steps, seed):
        params, opt_state, _ = module.train_step(params, opt_state, xb, yb)
    return params


def max_violation(params: dict, reference: dict) -> float:
    """max over elements of |a - b| / (1e-5 + 1e-5 |b|): at most 1 means numpy's
    allclose(a, b, rtol=1e-5, atol=1e-5) holds everywhere."""
    return max(float(np.max(np.abs(params[k] - reference[k])
                            / (CHECK_TOLERANCE + CHECK_TOLERANCE * np.abs(reference[k]))))
               for k in reference)


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch", type=int, default=64, help="the global batch, all ranks")
    parser.add_argument("--learning-rate", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--artifact", help="read (or compiled) by rank 0, sent to all ranks; "
                        "default: build/digits_mpi_b<shard>.vmfb")
    parser.add_argument("--target", default="cpu",
                        help="compile target when the artifact is missing: 'cpu' is rank 0's "
                        "own CPU; 'x86_64' runs on any x86-64-v3 machine of a cluster")
    parser.add_argument("--save", help="rank 0 writes the final parameters to this .npz")
    parser.add_argument("--check", action="store_true",
                        help=f"compare with one process on the whole batch ({CHECK_TOLERANCE})")
    return parser.parse_args(argv)


def _load(world, args):
    """(the artifact loaded on this rank, None) or (None, why this run cannot train)."""
    import aotc_runtime

    try:
        shard = len(world.shard_batch(np.arange(args.batch)))
    except aotc_runtime.InputError as exc:
        return None, str(exc)
    if args.check and args.batch != REFERENCE_BATCH:
        return None, (f"--check compares with models/mlp.py's train_step, whose batch is "
                      f"{REFERENCE_BATCH}; pass --batch {REFERENCE_BATCH}")
    args.artifact = args.artifact or os.path.join("build", f"digits_mpi_b{shard}.vmfb")
    data = artifact_from_rank0(world, args.artifact, shard, args.target)
    module = aotc_runtime.load_bytes(data)
    compiled = dict(module.signature("grad").arg_leaves())["x"].shape[0]
    if compiled != shard:
        return None, (f"{args.artifact} computes gradients on {compiled} examples, but "
                      f"{world.size} ranks sharing a batch of {args.batch} take {shard} each; "
                      "pass another --artifact (or delete that one)")
    return module, None


def train(world, module, data, args) -> tuple[dict, dict, list[float]]:
    """(initial params, final params, losses): rank 0's initial weights broadcast, then
    args.steps data-parallel steps on the global batches."""
    from aotc_runtime import distributed

    train_digits = _train_digits()
    mlp = train_digits.load_mlp()
    start = mlp.init_params(args.seed, SIZES)
    params = world.broadcast_({k: v.copy() if world.rank == 0 else np.zeros_like(v)
                               for k, v in start.items()})
    opt_state = mlp.init_opt_state(args.learning_rate)
    step = distributed.DataParallel(module, world)
    losses = []
    x_train, _, y_train, _ = data
    for xb, yb in global_batches(x_train, y_train, args.batch, args.steps, args.seed):
        params, opt_state, loss = step(params, opt_state, xb, yb)
        losses.append(float(loss))
    return start, params, losses


def check(world, params: dict, start: dict, data, args, artifact_folder: str) -> bool:
    """Rank 0: do all ranks hold the same parameters, and are they one process's?"""
    everyone = world.comm.gather(params, root=0)
    if world.rank != 0:
        return True
    spread = max(float(np.max(np.abs(p[k] - params[k]))) for p in everyone for k in params)
    reference = reference_run(data, start, args.steps, args.learning_rate, args.seed,
                              os.path.join(artifact_folder, "digits.vmfb"))
    worst = max_violation(params, reference)
    error = max(float(np.max(np.abs(params[k] - reference[k]))) for k in reference)
    print(f"ranks agree within {spread:.1e}; against one process on the whole batch: max "
          f"|difference| {error:.2e}, allclose(rtol=atol={CHECK_TOLERANCE}) "
          f"{'holds' if worst <= 1 else 'FAILS'}")
    return spread == 0 and worst <= 1


def main(argv: list[str] | None = None) -> int:
    from aotc_runtime import distributed

    args = _arguments(argv)
    world = distributed.init()
    module, problem = _load(world, args)
    if problem:
        if world.rank == 0:
            print(f"train_digits_mpi: error: {problem}", file=sys.stderr)
        return 2

    data = _train_digits().load_data(args.seed)
    start, params, losses = train(world, module, data, args)
    if world.rank == 0:
        _, x_test, _, y_test = data
        accuracy = float(np.mean(np.argmax(module.logits(params, x_test), axis=-1) == y_test))
        print(f"{world.size} ranks x {args.batch // world.size} examples, {args.steps} steps: loss "
              f"{losses[0]:.4f} -> {losses[-1]:.4f}, test accuracy {accuracy:.2%}")
        if args.save:
            np.savez(args.save, **params)
    if args.check:
        folder = os.path.dirname(os.path.abspath(args.artifact))
        return 0 if check(world, params, start, data, args, folder) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
