"""A multilayer perceptron classifier for 28x28 images, in aotc's model.py convention.

    aotc compile models/mlp.py -o mlp.vmfb      # exports predict, classify and train_step
    python models/mlp.py mlp.vmfb               # runs the artifact with aotc_runtime
    AOTC_MLP_SIZES=64,128,10 aotc compile models/mlp.py -o digits.vmfb   # other layer sizes

`predict(params, x)` takes the weights as an argument; `classify(x)` reads the weights of
`init_params(0)` from mlp.irpa, which `aotc compile` writes beside mlp.vmfb (aotc.Param), so
the artifact holds code only and new weights need no recompile. The batch dimension is
dynamic in both. `train_step(params, opt_state, x, y)` is one step of minibatch SGD on the
softmax cross-entropy of TRAIN_BATCH examples (value_and_grad, then the update) and returns
(new params, new opt_state, loss); opt_state holds the learning rate and the step count, so
the learning rate changes without recompiling. models/train_digits.py trains the
MLP with it through aotc_runtime alone.
"""

import itertools
import os
import sys

import numpy as np

import aotc
import aotc.numpy as anp

DEFAULT_SIZES = (784, 128, 10)  # inputs, hidden layers..., classes
TRAIN_BATCH = 64  # train_step's batch (reverse mode needs static shapes)


def sizes_from_env(default: tuple = DEFAULT_SIZES) -> tuple:
    """Layer sizes from $AOTC_MLP_SIZES ('64,128,10'), else default."""
    text = os.environ.get("AOTC_MLP_SIZES", "").strip()
    if not text:
        return default
    try:
        sizes = tuple(int(s) for s in text.split(","))
    except ValueError:
        sizes = ()
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"AOTC_MLP_SIZES={text!r}: give at least two positive layer sizes "
                         "separated by commas, e.g. 64,128,10")
    return sizes


SIZES = sizes_from_env()


def init_params(seed: int = 0, sizes: tuple = SIZES) -> dict:
    """Random float32 weights (He initialisation), keyed w1, b1, w2, b2, ..."""
    rng = np.random.default_rng(seed)
    params = {}
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes), start=1):
        params[f"w{i}"] = (rng.standard_normal((n_in, n_out)) * np.sqrt(2 / n_in)).astype("f4")
        params[f"b{i}"] = (rng.standard_normal(n_out) * 0.1).astype("f4")
    return params


def init_opt_state(learning_rate: float = 0.1) -> dict:
    """train_step's optimizer state: the SGD learning rate and the number of steps taken."""
    return {"learning_rate": np.float32(learning_rate), "step": np.int32(0)}


PARAMS_SPEC = {k: aotc.ShapeSpec(v.shape, "float32") for k, v in init_params().items()}
OPT_STATE_SPEC = {k: aotc.ShapeSpec((), v.dtype) for k, v in init_opt_state().items()}
BATCH = aotc.ShapeSpec((None, SIZES[0]), "float32")
WEIGHTS = init_params(0)


@aotc.export(params=PARAMS_SPEC, x=BATCH)
def predict(params, x):
    """Logits of a batch of flattened images: (n, inputs) -> (n, classes)."""
    layers = len(params) // 2
    for i in range(1, layers):
        x = anp.maximum(x @ params[f"w{i}"] + params[f"b{i}"], 0.0)
    return x @ params[f"w{layers}"] + params[f"b{layers}"]


@aotc.export(params=aotc.Param(WEIGHTS), x=BATCH)
def classify(params, x):
    """Class labels and probabilities, with the weights of mlp.irpa (exported as classify(x))."""
    logits = predict(params, x)
    return {"label": anp.argmax(logits, axis=-1), "probs": aotc.nn.softmax(logits, axis=-1)}


def loss(params, x, y):
    """Mean softmax cross-entropy of a batch: x (n, inputs), y integer labels (n,)."""
    logits = predict(params, x)
    log_probs = aotc.nn.log_softmax(logits, axis=-1)
    return -anp.mean(anp.sum(log_probs * aotc.nn.one_hot(y, logits.shape[-1]), axis=-1))


@aotc.export(params=PARAMS_SPEC, opt_state=OPT_STATE_SPEC,
             x=aotc.ShapeSpec((TRAIN_BATCH, SIZES[0]), "float32"),
             y=aotc.ShapeSpec((TRAIN_BATCH,), "int32"))
def train_step(params, opt_state, x, y):
    """One SGD step on a batch: (params, opt_state, x, y) -> (params, opt_state, loss)."""
    value, grads = aotc.value_and_grad(loss)(params, x, y)
    rate = opt_state["learning_rate"]
    new_params = {k: p - rate * grads[k] for k, p in params.items()}
    return new_params, {"learning_rate": rate, "step": opt_state["step"] + 1}, value


def reference_predict(params: dict, x: np.ndarray) -> np.ndarray:
    """NumPy float64 reference of `predict`."""
    p = {k: v.astype(np.float64) for k, v in params.items()}
    layers = len(p) // 2
    x = x.astype(np.float64)
    for i in range(1, layers):
        x = np.maximum(x @ p[f"w{i}"] + p[f"b{i}"], 0.0)
    return x @ p[f"w{layers}"] + p[f"b{layers}"]


def example_batch(n: int = 4, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).random((n, SIZES[0]), dtype=np.float32)


def main(argv: list[str]) -> int:
    """Run a compiled mlp.vmfb with aotc_runtime and compare it with the NumPy reference."""
    import aotc_runtime

    path = argv[0] if argv else "mlp.vmfb"
    m = aotc_runtime.load(path)
    x = example_batch()
    print(f"loaded {path}: {m.functions}")
    print(m.signature("predict"))
    logits = m.predict(WEIGHTS, x)
    out = m.classify(x)
    error = float(np.max(np.abs(logits - reference_predict(WEIGHTS, x))))
    print(f"predict(WEIGHTS, x[{x.shape[0]}]) logits[0] = {np.round(logits[0], 3)}")
    print(f"classify(x) labels = {out['label'].tolist()}, max |IREE - NumPy| = {error:.2e}")
    batch = example_batch(TRAIN_BATCH, seed=2)
    labels = np.arange(TRAIN_BATCH, dtype=np.int32) % SIZES[-1]
    params, opt_state, losses = WEIGHTS, init_opt_state(0.05), []
    for _ in range(5):
        params, opt_state, value = m.train_step(params, opt_state, batch, labels)
        losses.append(float(value))
    print(f"train_step x {int(opt_state['step'])} on one batch: loss {losses[0]:.3f} -> "
          f"{losses[-1]:.3f}")
    return 0 if error < 1e-3 and losses[-1] < losses[0] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
