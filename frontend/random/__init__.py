"""aotc.random: JAX's threefry2x32 random numbers, bit-exact, in portable StableHLO.

Keys are plain uint32[2] arrays, what `jax.random.PRNGKey` returns; `key(seed)` gives the same
words as JAX's typed `jax.random.key(seed)` carries (`key_data` / `wrap_key_data` are checks).
Every sampler is JAX's algorithm with JAX's default configuration (threefry2x32,
`jax_threefry_partitionable=True`, no x64): equal keys give equal bits, and equal floats up
to the last-ulp differences of transcendental functions (erf_inv, log, ...) between IREE, the
interpreter and XLA.

Keys are ordinary arrays to every transform: vmap over keys, draw inside lax.scan or
fori_loop, pass keys to compiled artifacts as uint32[2] inputs, and differentiate
reparameterized samples (`mu + sigma * random.normal(key, shape)`).

    import aotc.random as random
    key = random.PRNGKey(0)
    key, sub = random.split(key)
    x = random.normal(sub, (3, 4))

Dropout is the Flax pattern (jax.nn has none):

    keep = random.bernoulli(key, 1.0 - rate, x.shape)
    y = anp.where(keep, x / (1.0 - rate), 0)
"""

from aotc.frontend.core.missing import missing_attribute
from aotc.frontend.random.counts import binomial, geometric, multinomial, poisson
from aotc.frontend.random.discrete import (
    categorical,
    choice,
    permutation,
    randint,
    shuffle,
)
from aotc.frontend.random.distributions import (
    bernoulli,
    cauchy,
    exponential,
    gumbel,
    laplace,
    logistic,
    multivariate_normal,
    normal,
    rademacher,
    truncated_normal,
    uniform,
)
from aotc.frontend.random.gamma import beta, dirichlet, gamma, loggamma
from aotc.frontend.random.keys import (
    PRNGKey,
    bits,
    fold_in,
    key,
    key_data,
    split,
    wrap_key_data,
)
from aotc.frontend.random.transformed import (
    ball,
    chisquare,
    double_sided_maxwell,
    f,
    generalized_normal,
    lognormal,
    maxwell,
    pareto,
    rayleigh,
    t,
    triangular,
    wald,
    weibull_min,
)

__all__ = [
    "ball", "bernoulli", "beta", "binomial", "bits", "categorical", "cauchy", "chisquare",
    "choice", "dirichlet", "double_sided_maxwell", "exponential", "f", "fold_in", "gamma",
    "generalized_normal", "geometric", "gumbel", "key", "key_data", "laplace", "loggamma",
    "logistic", "lognormal", "maxwell", "multinomial", "multivariate_normal", "normal",
    "pareto", "permutation", "poisson", "PRNGKey", "rademacher", "randint", "rayleigh",
    "shuffle", "split", "t", "triangular", "truncated_normal", "uniform", "wald",
    "weibull_min", "wrap_key_data",
]


def __getattr__(name):
    """A missing name is an AttributeError (so hasattr works) that says what to use instead."""
    raise missing_attribute("aotc.random", name, __all__, "jax.random")
