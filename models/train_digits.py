"""Train the MLP of models/mlp.py on scikit-learn's bundled digits, through aotc_runtime alone.

    python models/train_digits.py [--artifact build/digits.vmfb] [--epochs 30] [--seed 0]

The digits data set ships with scikit-learn (1797 8x8 images, no download): 64 inputs, 10
classes, split 75/25 into train and test sets. The script first compiles models/mlp.py for 64
inputs (`AOTC_MLP_SIZES=64,128,10 aotc compile models/mlp.py -o ARTIFACT`, skipped when ARTIFACT
exists), then trains by calling the artifact's `train_step` and measures test accuracy with its
`predict`: every computation on the model runs in the compiled artifact; numpy only shuffles
batches and counts correct labels. Exit status 0 when the test accuracy reaches 95%.
"""

import argparse
import contextlib
import importlib.util
import os
import sys
from dataclasses import dataclass

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
MLP_PATH = os.path.join(HERE, "mlp.py")
DIGITS_SIZES = (64, 128, 10)
TARGET_ACCURACY = 0.95


def load_mlp():
    """models/mlp.py as a module (for init_params and init_opt_state)."""
    spec = importlib.util.spec_from_file_location("mlp", MLP_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def _environment(name: str, value: str):
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name)
        else:
            os.environ[name] = old


def compile_artifact(output: str, sizes: tuple = DIGITS_SIZES) -> str:
    """`AOTC_MLP_SIZES=... aotc compile models/mlp.py -o output`, in this process."""
    from aotc.tools.export import ExportOutput

    with _environment("AOTC_MLP_SIZES", ",".join(map(str, sizes))):
        return ExportOutput.from_file(MLP_PATH).write(output)[0]


def load_data(seed: int = 0, test_size: float = 0.25):
    """(x_train, x_test, y_train, y_test): pixels scaled to [0, 1] as float32, int32 labels."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int32)
    return train_test_split(x, y, test_size=test_size, random_state=seed, stratify=y)


@dataclass
class Result:
    """What a training run gives: the mean training loss of each epoch, test accuracy, weights."""

    epoch_losses: list
    accuracy: float
    params: dict


def _layer_sizes(module) -> tuple:
    """The MLP's layer sizes, read from the artifact's train_step signature."""
    leaves = dict(module.signature("train_step").arg_leaves())
    weights = sorted((k for k in leaves if k.startswith("params['w")),
                     key=lambda k: int(k[len("params['w"):-2]))
    shapes = [leaves[k].shape for k in weights]
    return (shapes[0][0], *(s[1] for s in shapes))


def accuracy(module, params: dict, x: np.ndarray, y: np.ndarray) -> float:
    """The fraction of x that the artifact's predict labels correctly."""
    return float(np.mean(np.argmax(module.predict(params, x), axis=-1) == y))


def train(module, data, epochs: int = 30, learning_rate: float = 0.2, seed: int = 0,
          progress: bool = True) -> Result:
    """Minibatch SGD with the artifact's train_step; returns losses and test accuracy."""
    from tqdm import tqdm

    x_train, x_test, y_train, y_test = data
    mlp = load_mlp()
    sizes = _layer_sizes(module)
    if sizes[0] != x_train.shape[1]:
        raise ValueError(f"the artifact's MLP takes {sizes[0]} inputs but the digits have "
                         f"{x_train.shape[1]}; compile it with AOTC_MLP_SIZES="
                         f"{','.join(map(str, DIGITS_SIZES))}")
    batch = dict(module.signature("train_step").arg_leaves())["x"].shape[0]
    steps = len(x_train) // batch  # the last partial batch of each shuffle is left out
    params = mlp.init_params(seed, sizes)
    opt_state = mlp.init_opt_state(learning_rate)
    rng = np.random.default_rng(seed)
    epoch_losses = []
    with tqdm(total=epochs * steps, desc="training", unit="step", disable=not progress,
              file=sys.stderr) as bar:
        for epoch in range(1, epochs + 1):
            order = rng.permutation(len(x_train))
            losses = []
            for i in range(steps):
                picked = order[i * batch:(i + 1) * batch]
                params, opt_state, loss = module.train_step(params, opt_state, x_train[picked],
                                                            y_train[picked])
                losses.append(float(loss))
                bar.update()
            epoch_losses.append(float(np.mean(losses)))
            bar.set_postfix(epoch=epoch, loss=f"{epoch_losses[-1]:.4f}")
    return Result(epoch_losses, accuracy(module, params, x_test, y_test), params)


def main(argv: list[str] | None = None) -> int:
    import aotc_runtime

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifact", default=os.path.join("build", "digits.vmfb"),
                        help="the compiled MLP (compiled from models/mlp.py when missing)")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--learning-rate", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = parser.parse_args(argv)

    if not os.path.exists(args.artifact):
        os.makedirs(os.path.dirname(os.path.abspath(args.artifact)), exist_ok=True)
        print(f"compiling models/mlp.py for {DIGITS_SIZES[0]} inputs -> {args.artifact}")
        compile_artifact(args.artifact)
    module = aotc_runtime.load(args.artifact)
    data = load_data(args.seed)
    print(f"digits: {len(data[0])} training and {len(data[1])} test images of "
          f"{data[0].shape[1]} pixels; artifact functions {module.functions}")
    try:
        result = train(module, data, args.epochs, args.learning_rate, args.seed,
                       progress=not args.no_progress)
    except ValueError as exc:
        print(f"train_digits: error: {args.artifact}: {exc}", file=sys.stderr)
        return 1
    print(f"training loss {result.epoch_losses[0]:.4f} (epoch 1) -> "
          f"{result.epoch_losses[-1]:.4f} (epoch {len(result.epoch_losses)})")
    print(f"test accuracy {result.accuracy:.2%} (target {TARGET_ACCURACY:.0%})")
    return 0 if result.accuracy >= TARGET_ACCURACY else 1


if __name__ == "__main__":
    sys.exit(main())
