"""A two-layer MLP classifier for 28x28 images, in aotc's model.py convention.

    aotc compile models/mlp.py -o mlp.vmfb      # exports predict and classify
    python models/mlp.py mlp.vmfb               # runs the artifact with aotc_runtime

`predict(params, x)` takes the weights as an argument (swap them without recompiling);
`classify(x)` closes over the weights of `init_params(0)`, which are baked into the artifact.
The batch dimension is dynamic in both.
"""

import itertools
import sys

import numpy as np

import aotc
import aotc.numpy as anp

SIZES = (784, 128, 10)


def init_params(seed: int = 0) -> dict:
    """Random float32 weights (He initialisation), keyed w1, b1, w2, b2."""
    rng = np.random.default_rng(seed)
    params = {}
    for i, (n_in, n_out) in enumerate(itertools.pairwise(SIZES), start=1):
        params[f"w{i}"] = (rng.standard_normal((n_in, n_out)) * np.sqrt(2 / n_in)).astype("f4")
        params[f"b{i}"] = (rng.standard_normal(n_out) * 0.1).astype("f4")
    return params


PARAMS_SPEC = {k: aotc.ShapeSpec(v.shape, "float32") for k, v in init_params().items()}
BATCH = aotc.ShapeSpec((None, SIZES[0]), "float32")
WEIGHTS = init_params(0)


@aotc.export(params=PARAMS_SPEC, x=BATCH)
def predict(params, x):
    """Logits of a batch of flattened images: (n, 784) -> (n, 10)."""
    hidden = anp.maximum(x @ params["w1"] + params["b1"], 0.0)
    return hidden @ params["w2"] + params["b2"]


@aotc.export(x=BATCH)
def classify(x):
    """Class labels and probabilities, with the baked-in weights."""
    logits = predict(WEIGHTS, x)
    return {"label": anp.argmax(logits, axis=-1), "probs": aotc.nn.softmax(logits, axis=-1)}


def reference_predict(params: dict, x: np.ndarray) -> np.ndarray:
    """NumPy float64 reference of `predict`."""
    p = {k: v.astype(np.float64) for k, v in params.items()}
    hidden = np.maximum(x.astype(np.float64) @ p["w1"] + p["b1"], 0.0)
    return hidden @ p["w2"] + p["b2"]


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
    return 0 if error < 1e-3 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
