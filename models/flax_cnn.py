"""A Flax linen CNN trained in JAX with Optax on sklearn's 8x8 digits, deployed with aotc.

    aotc compile models/flax_cnn.py -o flax_cnn.vmfb        # + flax_cnn.irpa (the weights)
    aotc bundle models/flax_cnn.py --target aarch64 -o dist/

Importing this file trains the model (Adam, STEPS steps of 128 images, a few seconds on a CPU)
unless $FLAX_CNN_PARAMS names an .npz of trained weights; with $FLAX_CNN_PARAMS set, the
weights trained here are saved there, so that `aotc compile` and `aotc bundle` train once.
`classify` is exported through JAX (frontend="jax"): aotc lowers `model.apply` with JAX and
keeps the trained weights in the .irpa beside the .vmfb (aotc.Param).

Needs `pip install aotc[jax]` and scikit-learn.
"""

import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import linen as nn

import aotc

IMAGE = (8, 8, 1)
CLASSES = 10
STEPS = int(os.environ.get("FLAX_CNN_STEPS", "300"))


class CNN(nn.Module):
    """conv 3x3 (16) -> relu -> conv 3x3 stride 2 SAME (32) -> relu -> dense (64) -> dense (10)."""

    @nn.compact
    def __call__(self, x):
        x = nn.relu(nn.Conv(16, (3, 3), padding="SAME")(x))
        x = nn.relu(nn.Conv(32, (3, 3), strides=(2, 2), padding="SAME")(x))
        x = x.reshape((x.shape[0], -1))
        x = nn.relu(nn.Dense(64)(x))
        return nn.Dense(CLASSES)(x)


MODEL = CNN()


def load_data(seed: int = 0):
    """(x_train, x_test, y_train, y_test): NHWC float32 images in [0, 1], int32 labels."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[..., None]
    y = digits.target.astype(np.int32)
    return train_test_split(x, y, test_size=0.25, random_state=seed, stratify=y)


def train(steps: int = STEPS, seed: int = 0, batch: int = 128, learning_rate: float = 3e-3):
    """Flax params trained with optax.adam on the digits' training split (numpy arrays)."""
    x_train, _, y_train, _ = load_data(seed)
    params = MODEL.init(jax.random.PRNGKey(seed), jnp.zeros((1, *IMAGE)))
    optimizer = optax.adam(learning_rate)
    state = optimizer.init(params)

    def loss(params, x, y):
        logits = MODEL.apply(params, x)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    @jax.jit
    def step(params, state, x, y):
        value, grads = jax.value_and_grad(loss)(params, x, y)
        updates, state = optimizer.update(grads, state, params)
        return optax.apply_updates(params, updates), state, value

    rng = np.random.default_rng(seed)
    for _ in range(steps):
        pick = rng.choice(len(x_train), batch, replace=False)
        params, state, _ = step(params, state, x_train[pick], y_train[pick])
    return jax.tree_util.tree_map(np.asarray, params)


def _flat(params, prefix=()):
    for key, value in params.items():
        if isinstance(value, dict):
            yield from _flat(value, (*prefix, key))
        else:
            yield "/".join((*prefix, key)), value


def save_params(path: str, params) -> None:
    np.savez(path, **dict(_flat(params)))


def load_params(path: str) -> dict:
    params: dict = {}
    with np.load(path) as arrays:
        for key in arrays.files:
            *folders, leaf = key.split("/")
            node = params
            for folder in folders:
                node = node.setdefault(folder, {})
            node[leaf] = arrays[key]
    return params


def trained_params() -> dict:
    """The weights in $FLAX_CNN_PARAMS if that file exists, else trained now (and saved there)."""
    path = os.environ.get("FLAX_CNN_PARAMS")
    if path and os.path.exists(path):
        return load_params(path)
    params = train()
    if path:
        save_params(path, params)
    return params


PARAMS = trained_params()


@aotc.export(params=aotc.Param(PARAMS), images=aotc.ShapeSpec(("batch", *IMAGE)),
             frontend="jax")
def classify(params, images):
    """Logits of a batch of 8x8 digits (n, 8, 8, 1) -> (n, 10)."""
    return MODEL.apply(params, images)
