"""Gaussian-process regression with random Fourier features, trained by gradient descent on its
marginal likelihood, in aotc's model.py convention: randomness, linear algebra and complex
numbers in one compiled program.

    aotc compile models/gp_regression.py --target aarch64 -o gp.vmfb  # predict, nll_and_grad,
    aotc bundle models/gp_regression.py --target aarch64 -o dist/     # train_step, fit
    python models/gp_regression.py gp.vmfb    # (host artifact) trains and predicts with it

For the host (cpu, x86_64 presets) IREE 3.13's data tiling rejects the gradient of a Cholesky
larger than 8x8; aotc then compiles the module without data tiling (aotc.tools.compile).

The RBF kernel k(x, x') = s^2 exp(-|x - x'|^2 / (2 l^2)) is approximated by FEATURES random
frequencies w ~ N(0, I) / l drawn with aotc.random from a key (bit for bit jax.random's):
z = exp(i X w^T) is complex64, and the real features are phi = s / sqrt(D) [Re z, Im z]. The
Gram matrix Phi^T Phi is assembled from the two complex products Z^H Z and Z^T Z, and the
posterior weights are one complex vector, so the prediction is Re(Z* conj(w)). With
A = Phi^T Phi + sigma^2 I = L L^T (aotc.numpy.linalg.cholesky), cho_solve gives the posterior
mean weights, solve_triangular the predictive variance, and log|A| = 2 sum log diag L the
negative log marginal likelihood (Woodbury). The hyperparameters (log lengthscale, log signal,
log noise) are trained by Adam steps on aotc.grad of that NLL, written in aotc.numpy.
"""

import math
import sys

import numpy as np

import aotc
import aotc.numpy as anp
import aotc.random
import aotc.scipy.linalg

INPUTS = 2  # input dimension d
FEATURES = 64  # random frequencies D (the posterior is over 2 D real weights)
TRAIN = 128  # training points N (reverse mode needs static shapes)
FIT_STEPS = 25  # Adam steps that `fit` takes in one call
ADAM = {"learning_rate": 0.05, "b1": 0.9, "b2": 0.999, "eps": 1e-8}
NAMES = ("log_lengthscale", "log_noise", "log_signal")

PARAMS_SPEC = {k: aotc.ShapeSpec((), "float32") for k in NAMES}
OPT_STATE_SPEC = {"m": PARAMS_SPEC, "v": PARAMS_SPEC, "step": aotc.ShapeSpec((), "int32")}
KEY = aotc.ShapeSpec((2,), "uint32")
X_TRAIN = aotc.ShapeSpec((TRAIN, INPUTS), "float32")
Y_TRAIN = aotc.ShapeSpec((TRAIN,), "float32")
X_TEST = aotc.ShapeSpec((None, INPUTS), "float32")


def init_params(lengthscale: float = 1.0, signal: float = 1.0, noise: float = 0.3) -> dict:
    """Hyperparameters on the log scale, float32 scalars."""
    values = {"log_lengthscale": lengthscale, "log_noise": noise, "log_signal": signal}
    return {k: np.float32(math.log(v)) for k, v in values.items()}


def init_opt_state() -> dict:
    """Adam's moments (zero) and step count."""
    zeros = {k: np.float32(0) for k in NAMES}
    return {"m": zeros, "v": dict(zeros), "step": np.int32(0)}


def example_data(n: int = TRAIN, seed: int = 0, noise: float = 0.1):
    """(X, y): n points in [-3, 3]^d and a smooth function of them plus Gaussian noise."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-3, 3, (n, INPUTS)).astype(np.float32)
    return x, (target_function(x) + noise * rng.standard_normal(n)).astype(np.float32)


def target_function(x: np.ndarray) -> np.ndarray:
    return np.sin(1.5 * x[:, 0]) * np.cos(0.7 * x[:, -1]) + 0.3 * x[:, 0]


def test_points(n: int = 16, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-3, 3, (n, INPUTS)).astype(np.float32)


# ---- the model ---------------------------------------------------------------------------------


def frequencies(params, key):
    """(D, d) frequencies of the RBF kernel's spectral density: N(0, I) / lengthscale."""
    return aotc.random.normal(key, (FEATURES, INPUTS)) / anp.exp(params["log_lengthscale"])


def fourier(params, key, x):
    """Complex features s / sqrt(D) exp(i x w^T): (n, D) complex64."""
    scale = anp.exp(params["log_signal"]) / math.sqrt(FEATURES)
    return scale * anp.exp(1j * (x @ frequencies(params, key).T))


def real_features(z):
    """phi = [Re z, Im z]: (n, 2 D) real features."""
    return anp.concatenate([anp.real(z), anp.imag(z)], axis=-1)


def gram(z):
    """Phi^T Phi from Z^H Z = (C^T C + S^T S) + i (C^T S - S^T C) and
    Z^T Z = (C^T C - S^T S) + i (C^T S + S^T C), with Z = C + i S."""
    hermitian, plain = anp.conj(z).T @ z, z.T @ z
    plus, minus = (hermitian + plain) / 2, (plain - hermitian) / 2
    cc, ss = anp.real(plus), -anp.real(minus)
    cs, sc = anp.imag(plus), anp.imag(minus)
    return anp.concatenate([anp.concatenate([cc, cs], axis=1),
                            anp.concatenate([sc, ss], axis=1)], axis=0)


def posterior(params, key, x, y):
    """(L, complex posterior mean weights w = w_c + i w_s, Phi^T y, noise variance, Z)."""
    z = fourier(params, key, x)
    noise = anp.exp(2 * params["log_noise"])
    a = gram(z) + noise * anp.eye(2 * FEATURES, dtype=anp.float32)
    low = anp.linalg.cholesky(a)
    projected = anp.conj(z).T @ y.astype(anp.complex64)  # Z^H y = C^T y - i S^T y
    phi_y = anp.concatenate([anp.real(projected), -anp.imag(projected)])
    mean = aotc.scipy.linalg.cho_solve((low, True), phi_y)
    weights = mean[:FEATURES] + 1j * mean[FEATURES:]
    return low, weights, phi_y, noise, mean


def nll(params, key, x, y):
    """Negative log marginal likelihood of y under the RFF model, via Woodbury:
    y^T K^-1 y = (y^T y - b^T A^-1 b) / sigma^2, log|K| = log|A| + (N - 2D) log sigma^2."""
    low, _, phi_y, noise, mean = posterior(params, key, x, y)
    n, m = y.shape[0], 2 * FEATURES
    fit = (anp.sum(y * y) - anp.sum(phi_y * mean)) / noise
    logdet = 2 * anp.sum(anp.log(anp.diagonal(low))) + (n - m) * anp.log(noise)
    return 0.5 * (fit + logdet + n * math.log(2 * math.pi))


def adam(params, opt_state, grads):
    """One Adam step (optax.adam's update with bias correction)."""
    step = opt_state["step"] + 1
    t = step.astype(anp.float32)
    b1, b2 = ADAM["b1"], ADAM["b2"]
    m = {k: b1 * opt_state["m"][k] + (1 - b1) * grads[k] for k in NAMES}
    v = {k: b2 * opt_state["v"][k] + (1 - b2) * grads[k] ** 2 for k in NAMES}
    new = {k: params[k] - ADAM["learning_rate"] * (m[k] / (1 - b1 ** t))
           / (anp.sqrt(v[k] / (1 - b2 ** t)) + ADAM["eps"]) for k in NAMES}
    return new, {"m": m, "v": v, "step": step}


@aotc.export(params=PARAMS_SPEC, key=KEY, x=X_TRAIN, y=Y_TRAIN, x_test=X_TEST)
def predict(params, key, x, y, x_test):
    """Predictive mean and variance (of the latent function) at x_test: (t,) and (t,)."""
    low, weights, _, noise, _ = posterior(params, key, x, y)
    z_test = fourier(params, key, x_test)
    # Re(z* conj(w)) = C w_c + S w_s; a sum, not z_test @ w: a (None, D) @ (D,) product does not
    # compile in aotc today (its reshape to (?, 1) is static-only in IREE)
    mean = anp.sum(anp.real(z_test * anp.conj(weights)), axis=-1)
    # L^-1 once (static size), so the test batch may be dynamic: v = L^-1 phi*^T
    low_inv = aotc.scipy.linalg.solve_triangular(low, anp.eye(2 * FEATURES, dtype=anp.float32),
                                                 lower=True)
    v = low_inv @ real_features(z_test).T
    return {"mean": mean, "variance": noise * anp.sum(v * v, axis=0)}


@aotc.export(params=PARAMS_SPEC, key=KEY, x=X_TRAIN, y=Y_TRAIN)
def nll_and_grad(params, key, x, y):
    """(NLL, its gradient with respect to params)."""
    return aotc.value_and_grad(nll)(params, key, x, y)


@aotc.export(params=PARAMS_SPEC, opt_state=OPT_STATE_SPEC, key=KEY, x=X_TRAIN, y=Y_TRAIN)
def train_step(params, opt_state, key, x, y):
    """One Adam step on the NLL: (params, opt_state, key, x, y) -> (params, opt_state, NLL)."""
    value, grads = aotc.value_and_grad(nll)(params, key, x, y)
    params, opt_state = adam(params, opt_state, grads)
    return params, opt_state, value


@aotc.export(params=PARAMS_SPEC, opt_state=OPT_STATE_SPEC, key=KEY, x=X_TRAIN, y=Y_TRAIN)
def fit(params, opt_state, key, x, y):
    """FIT_STEPS Adam steps in one call (an aotc.lax.fori_loop): -> (params, opt_state, NLL)."""

    def step(_, carry):
        params, opt_state = carry
        return adam(params, opt_state, aotc.grad(nll)(params, key, x, y))

    params, opt_state = aotc.lax.fori_loop(0, FIT_STEPS, step, (params, opt_state))
    return params, opt_state, nll(params, key, x, y)


# ---- NumPy oracle: the exact GP ----------------------------------------------------------------


def exact_gp(params: dict, x: np.ndarray, y: np.ndarray, x_test: np.ndarray):
    """Exact-GP predictive mean and variance and NLL with the RBF kernel, in float64."""
    ell, s2, noise = (float(np.exp(params["log_lengthscale"])),
                      float(np.exp(2 * params["log_signal"])),
                      float(np.exp(2 * params["log_noise"])))

    def kernel(a, b):
        d2 = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
        return s2 * np.exp(-d2 / (2 * ell ** 2))

    x, y, x_test = (np.asarray(a, np.float64) for a in (x, y, x_test))
    low = np.linalg.cholesky(kernel(x, x) + noise * np.eye(len(x)))
    alpha = np.linalg.solve(low.T, np.linalg.solve(low, y))
    cross = kernel(x_test, x)
    v = np.linalg.solve(low, cross.T)
    value = 0.5 * y @ alpha + np.log(np.diag(low)).sum() + 0.5 * len(x) * np.log(2 * np.pi)
    return cross @ alpha, s2 - (v * v).sum(0), value


def main(argv: list[str]) -> int:
    """Train a compiled gp.vmfb with aotc_runtime and compare it with the exact GP."""
    import aotc_runtime

    path = argv[0] if argv else "gp.vmfb"
    m = aotc_runtime.load(path)
    key = np.array([0, 42], np.uint32)
    x, y = example_data()
    x_test = test_points()
    params, opt_state = init_params(), init_opt_state()
    before = float(m.nll_and_grad(params, key, x, y)[0])
    params, opt_state, after = m.fit(params, opt_state, key, x, y)
    for _ in range(FIT_STEPS):
        params, opt_state, after = m.train_step(params, opt_state, key, x, y)
    out = m.predict(params, key, x, y, x_test)
    mean, _, _ = exact_gp(params, x, y, x_test)
    rmse = float(np.sqrt(np.mean((out["mean"] - target_function(x_test)) ** 2)))
    gap = float(np.max(np.abs(out["mean"] - mean)))
    hyper = {k.removeprefix("log_"): round(float(np.exp(v)), 3) for k, v in params.items()}
    print(f"NLL {before:.3f} -> {float(after):.3f} after {int(opt_state['step'])} Adam steps; "
          f"{hyper}")
    print(f"test RMSE vs the true function {rmse:.3f}; max |RFF - exact GP| mean {gap:.3f}")
    return 0 if float(after) < before and rmse < 0.2 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
