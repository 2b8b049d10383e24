"""Loss functions written once for both aotc and JAX, for the autodiff parity tests.

Each function takes a namespace `m` (m.np, m.lax, m.nn: aotc's or JAX's) and float32 arrays;
it returns a float scalar. Data the functions use are numpy constants fixed here.
"""

from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

F32 = np.float32
_RNG = np.random.default_rng(42)
X = _RNG.standard_normal((8, 5)).astype(F32)
LABELS = _RNG.integers(0, 3, 8)
Y = np.eye(3, dtype=F32)[LABELS]
SIGNS = np.where(LABELS > 0, 1.0, -1.0).astype(F32)
SEQ = _RNG.standard_normal((5, 3)).astype(F32)
TARGET = _RNG.standard_normal(10).astype(F32)
DATA = _RNG.standard_normal(6).astype(F32)
W_FIXED = _RNG.standard_normal((5, 4)).astype(F32)
UPPER = np.triu(np.ones((4, 4), F32), 1)


def mlp_loss(m, w1, b1, w2, b2):
    h = m.np.tanh(X @ w1 + b1)
    logits = h @ w2 + b2
    return -m.np.mean(m.np.sum(Y * m.nn.log_softmax(logits), axis=-1))


def attention_block(m, wq, wk, wv, x):
    q, k, v = x @ wq, x @ wk, x @ wv
    scores = q @ m.np.transpose(k) / np.sqrt(np.float32(q.shape[-1]))
    out = m.nn.softmax(scores, axis=-1) @ v + x
    mean = m.np.mean(out, axis=-1, keepdims=True)
    centered = out - mean
    normed = centered * m.lax.rsqrt(m.np.mean(centered ** 2, axis=-1, keepdims=True) + 1e-5)
    return m.np.sum(m.nn.gelu(normed) ** 2)


def scan_rnn(m, w, u, h0):
    def step(h, x):
        h = m.np.tanh(h @ w + x @ u)
        return h, m.np.sum(h * h)

    h, ys = m.lax.scan(step, h0, SEQ)
    return m.np.sum(ys) + m.np.sum(h)


def piecewise_cond(m, x):
    return m.lax.cond(m.np.sum(x) > 0, lambda v: m.np.sum(m.np.sin(v) * v),
                      lambda v: 0.5 * m.np.sum(v ** 2), x)


def piecewise_cond_negative(m, x):
    return piecewise_cond(m, -m.np.abs(x) - 0.1)


def lennard_jones(m, pos):
    diff = pos[:, None, :] - pos[None, :, :]
    r2 = m.np.sum(diff ** 2, axis=-1) + np.eye(4, dtype=F32)
    inv6 = (1.0 / r2) ** 3
    return m.np.sum(UPPER * 4.0 * (inv6 ** 2 - inv6))


def rosenbrock(m, x):
    return m.np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def logistic_regression(m, w, b):
    return m.np.mean(-m.nn.log_sigmoid(SIGNS * (X @ w + b)))


def layer_norm(m, x, gain, bias):
    mean = m.np.mean(x, axis=-1, keepdims=True)
    var = m.np.var(x, axis=-1, keepdims=True)
    return m.np.sum(m.np.tanh((x - mean) / m.np.sqrt(var + 1e-5) * gain + bias))


def gelu_exact_mlp(m, w):
    return m.np.sum(m.np.tanh(m.nn.gelu(X @ w, approximate=False)))


def huber(m, pred):
    d = pred - TARGET
    return m.np.mean(m.np.where(m.np.abs(d) < 1.0, 0.5 * d * d, m.np.abs(d) - 0.5))


def newton_sqrt(m, x):
    y = m.lax.fori_loop(0, 5, lambda i, y: 0.5 * (y + x / y), x)
    return m.np.sum(y * m.np.arange(4.0, dtype=F32))


def switch_branches(m, x):
    index = m.np.clip(m.np.floor(m.np.sum(x)).astype(np.int32), 0, 2)
    branches = [lambda v: m.np.sum(m.np.sin(v)), lambda v: m.np.sum(v ** 3),
                lambda v: m.np.sum(m.np.exp(v))]
    return m.lax.switch(index, branches, x)


def cosine_similarity(m, a, b):
    return m.np.dot(a, b) / (m.np.sqrt(m.np.sum(a * a)) * m.np.sqrt(m.np.sum(b * b)))


def kl_divergence(m, p_logits, q_logits):
    p = m.nn.softmax(p_logits)
    return m.np.sum(p * (m.nn.log_softmax(p_logits) - m.nn.log_softmax(q_logits)))


def gaussian_nll(m, mu, log_sigma):
    z = (DATA - mu) / m.np.exp(log_sigma)
    return m.np.sum(log_sigma + 0.5 * z * z)


def trig_mix(m, x, y):
    return m.np.sum(m.np.sin(m.np.cos(x)) * m.np.arctan2(y, 1.5 + x ** 2)
                    + m.np.sinh(0.3 * x) * m.np.expm1(0.2 * y) + m.np.log1p(x * x))


def quadratic_form(m, a, x):
    return x @ a @ x + m.nn.logsumexp(a)


def einsum_bilinear(m, u, w, v):
    return m.np.sum(m.np.einsum("bj,bj->b", m.np.einsum("bi,ij->bj", u, w), v) ** 2)


def reshape_chain(m, x):
    y = m.np.transpose(m.np.reshape(x, (6, 4)))
    z = m.np.concatenate([y[:, ::2], m.np.flip(y, 0)], axis=1)
    return m.np.sum(z ** 2 * m.np.arange(9.0, dtype=F32))


def clip_loss(m, x):
    return m.np.sum(m.np.clip(x, -0.5, 0.5) * x + m.np.maximum(x, 0.2) * m.np.minimum(x, 0.1))


def harmonic_chain(m, q):
    return 0.5 * m.np.sum((m.np.roll(q, -1) - q) ** 2) + 0.1 * m.np.sum(q ** 4)


def pendulum(m, params):
    def step(i, state):
        theta, omega = state
        omega = omega - 0.05 * (params[0] * m.np.sin(theta) + params[1] * omega)
        return theta + 0.05 * omega, omega

    theta, omega = m.lax.fori_loop(0, 20, step, (params[2], params[3]))
    return 0.5 * omega ** 2 + params[0] * (1.0 - m.np.cos(theta))


def scan_reverse(m, xs):
    carry, ys = m.lax.scan(lambda c, x: (c * x + 1.0, c * c), np.float32(1.0), xs, reverse=True)
    return carry + m.np.sum(ys)


def stencil(m, x):
    lap = x[2:] - 2.0 * x[1:-1] + x[:-2]
    return m.np.sum(lap ** 2) + m.np.sum(m.np.pad(x, (2, 1)) * m.np.linspace(0, 1, 13))


def max_relu(m, w):
    return m.np.sum(m.np.max(m.nn.relu(X @ w), axis=1)) + m.np.min(w)


def product_power(m, x):
    return m.np.prod(x) + m.np.sum(x ** x) + m.np.sum(m.np.sqrt(x) * m.np.log(x))


def softplus_std(m, x):
    return m.np.std(m.nn.softplus(x)) + m.np.sum(m.nn.silu(x) * m.nn.sigmoid(x))


def cumulative(m, x):
    return m.np.sum(m.np.cumsum(x) ** 2)


def cnn_loss(m, kernel, dense):
    images = X[:2, :4].reshape(2, 1, 2, 2).repeat(3, axis=2).repeat(3, axis=3)  # NCHW 6x6
    h = m.lax.conv(images, kernel, (1, 1), "SAME")
    h = m.nn.relu(h).reshape(2, -1) @ dense
    return m.np.mean(m.nn.logsumexp(h, axis=-1) - h[:, 0])


@dataclass(frozen=True)
class Fn:
    fn: object
    shapes: tuple
    lo: float = -1.0
    hi: float = 1.0
    needs: tuple = ()  # ops whose rules are still to come (JAX's export or aotc's trace)
    hessian: bool = False  # also compare the full aotc.hessian with jax.hessian


FUNCTIONS = {
    "mlp_loss": Fn(mlp_loss, ((5, 6), (6,), (6, 3), (3,))),
    "attention_block": Fn(attention_block, ((8, 8), (8, 8), (8, 8), (4, 8))),
    "scan_rnn": Fn(scan_rnn, ((3, 3), (3, 3), (3,))),
    "piecewise_cond": Fn(piecewise_cond, ((5,),), 0.1, 1.0),
    "piecewise_cond_negative": Fn(piecewise_cond_negative, ((5,),)),
    "lennard_jones": Fn(lennard_jones, ((4, 3),)),
    "rosenbrock": Fn(rosenbrock, ((5,),), hessian=True),
    "logistic_regression": Fn(logistic_regression, ((5,), ())),
    "layer_norm": Fn(layer_norm, ((4, 6), (6,), (6,))),
    "gelu_exact_mlp": Fn(gelu_exact_mlp, ((5, 4),)),
    "huber": Fn(huber, ((10,),), -2.0, 2.0),
    "newton_sqrt": Fn(newton_sqrt, ((4,),), 0.5, 2.0, hessian=True),
    "switch_branches": Fn(switch_branches, ((3,),), 0.1, 0.6),
    "cosine_similarity": Fn(cosine_similarity, ((6,), (6,))),
    "kl_divergence": Fn(kl_divergence, ((5,), (5,))),
    "gaussian_nll": Fn(gaussian_nll, ((6,), (6,))),
    "trig_mix": Fn(trig_mix, ((3, 4), (3, 4))),
    "quadratic_form": Fn(quadratic_form, ((4, 4), (4,))),
    "einsum_bilinear": Fn(einsum_bilinear, ((3, 4), (4, 5), (3, 5))),
    "reshape_chain": Fn(reshape_chain, ((2, 3, 4),)),
    "clip_loss": Fn(clip_loss, ((3, 4),)),
    "harmonic_chain": Fn(harmonic_chain, ((8,),)),
    "pendulum": Fn(pendulum, ((4,),), 0.2, 1.0, hessian=True),
    "scan_reverse": Fn(scan_reverse, ((5,),), 0.5, 1.2),
    "stencil": Fn(stencil, ((10,),)),
    "max_relu": Fn(max_relu, ((5, 4),)),
    "product_power": Fn(product_power, ((5,),), 0.5, 1.5),
    "softplus_std": Fn(softplus_std, ((3, 4),)),
    "cumulative": Fn(cumulative, ((6,),), needs=("stablehlo.reduce_window",)),
    "cnn_loss": Fn(cnn_loss, ((3, 1, 3, 3), (108, 4)), needs=("stablehlo.convolution",)),
}


def namespace(kind: str) -> SimpleNamespace:
    """m for aotc ('aotc') or JAX ('jax')."""
    if kind == "jax":
        import jax
        import jax.numpy as jnp

        return SimpleNamespace(np=jnp, lax=jax.lax, nn=jax.nn)
    import aotc

    return SimpleNamespace(np=aotc.numpy, lax=aotc.lax, nn=aotc.nn)


def inputs(name: str, seed: int = 0) -> list[np.ndarray]:
    spec = FUNCTIONS[name]
    rng = np.random.default_rng(seed + sum(map(ord, name)))
    if name == "lennard_jones":  # particles near a spread-out grid: no close pairs
        grid = np.array([[0, 0, 0], [1.2, 0, 0], [0, 1.2, 0], [0, 0, 1.2]])
        return [(grid + rng.uniform(-0.1, 0.1, (4, 3))).astype(F32)]
    return [rng.uniform(spec.lo, spec.hi, s).astype(F32) for s in spec.shapes]
