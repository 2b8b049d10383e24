"""The corpus: real programs written with JAX (jax.numpy, jax.lax, jax.nn, jax.scipy.special),
Flax (flax.linen) and Optax, each a function and a maker of small example arguments.

Every program is exported by JAX itself (`jax.jit(f).lower(*args).as_text()`) at test time and
then differentiated and vectorized by aotc (tests/corpus/test_corpus.py). The Flax programs
are in corpus_flax.py; PROGRAMS below holds both lists.

A Program's arguments are pytrees (Flax parameter dicts, Optax states); the harness flattens them
into the leaves JAX's export takes. `make(rng)` draws one example; the vmap check calls it with
three different generators for the mapped leaves (so each lane is a valid input, e.g. a
probability vector), and `unbatched` names the top-level arguments that are shared by the lanes
(parameters). Integer leaves are shared too unless `batch_ints` (batched indices, starts).
"""

from collections.abc import Callable
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import jax.scipy.special as jss
import numpy as np
import optax

F32 = np.float32


@dataclass(frozen=True)
class Program:
    """One corpus program.

    name, family: ids in the test names and in the report table.
    fn: the JAX function; make(rng) -> tuple of arguments (pytrees of numpy arrays).
    unbatched: top-level argument indices not mapped by vmap; batch_ints: map integer leaves.
    no_grad: top-level argument indices that get no gradient/tangent (float labels, masks).
    reference: a JAX function with the same math that jax.grad/jax.jvp accept, when fn itself
        is refused by JAX's reverse mode (while_loop); None: fn.
    max_steps: passed to aotc.differentiate for programs with uncounted while loops.
    undefined: transform -> reason, for transforms that are mathematically not defined here.
    xfail: (transform, backend) -> reason: a known aotc/IREE failure (strict xfail); backend
        "*" means both.
    compile_alone: why IREE compiles this program's functions in a module of their own (outside
        its chunk); "": with its chunk. For programs IREE compiles only on the retry of
        tools/iree_workarounds.py (the stream partitioning's "circular dependency"): a retry
        compiles the whole module again, so a whole chunk would be compiled twice.
    """

    name: str
    family: str
    fn: Callable
    make: Callable
    unbatched: tuple = ()
    batch_ints: bool = False
    no_grad: tuple = ()
    reference: Callable | None = None
    max_steps: int | None = None
    undefined: dict = field(default_factory=dict)
    xfail: dict = field(default_factory=dict)
    compile_alone: str = ""


_PARTITION_RETRY = ("IREE 3.13 partitions JAX's series while loops only on the retry without "
                    "multi-use fusion (tools/iree_workarounds.py), which recompiles the module")


def normal(rng, *shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(F32)


def positive(rng, *shape, low=0.5, high=4.0):
    return rng.uniform(low, high, shape).astype(F32)


def _x(shape=(3, 5), scale=1.0):
    return lambda rng: (normal(rng, *shape, scale=scale),)


# ---- jax.nn -------------------------------------------------------------------------------------

def _key(rng):
    """The raw data of a threefry PRNG key (two uint32 words)."""
    return (rng.integers(0, 2**32, 2, dtype=np.uint64).astype(np.uint32),)


_KEY_ONLY = dict.fromkeys(("grad", "jvp"), "the outputs are functions of an integer PRNG key "
                          "only: there is nothing to differentiate")


def _stack(*outs):
    return jnp.stack(outs)


NN = [
    Program("nn_relu_family", "jax.nn", lambda x: _stack(
        jax.nn.relu(x), jax.nn.relu6(x * 4), jax.nn.leaky_relu(x, 0.1), jax.nn.hard_tanh(x),
        jax.nn.hard_sigmoid(x * 2), jax.nn.hard_silu(x * 2), jax.nn.hard_swish(x)), _x()),
    Program("nn_smooth", "jax.nn", lambda x: _stack(
        jax.nn.sigmoid(x), jax.nn.softplus(x), jax.nn.soft_sign(x), jax.nn.silu(x),
        jax.nn.swish(x), jax.nn.log_sigmoid(x), jax.nn.mish(x), jax.nn.squareplus(x),
        jax.nn.tanh(x), jax.nn.identity(x)), _x(scale=2.0)),
    Program("nn_elu_family", "jax.nn", lambda x: _stack(
        jax.nn.elu(x), jax.nn.celu(x, 0.7), jax.nn.selu(x)), _x(scale=2.0)),
    Program("nn_gelu", "jax.nn", lambda x: (jax.nn.gelu(x, approximate=True),
                                            jax.nn.gelu(x, approximate=False)), _x(scale=2.0)),
    Program("nn_glu_sparse", "jax.nn", lambda x: (
        jax.nn.glu(x, axis=-1), jax.nn.sparse_plus(x * 0.7), jax.nn.sparse_sigmoid(x * 0.7)),
        _x((3, 6), scale=2.0)),
    Program("nn_log1mexp", "jax.nn", lambda x: jax.nn.log1mexp(x),
            lambda rng: (positive(rng, 4, 3, low=0.05, high=3.0),)),
    Program("nn_softmax", "jax.nn", lambda x: (
        jax.nn.softmax(x, axis=-1), jax.nn.log_softmax(x, axis=0),
        jax.nn.softmax(x, where=x > -1.0)), _x((4, 5), scale=2.0)),
    Program("nn_logsumexp", "jax.nn", lambda x, b: (
        jax.nn.logsumexp(x, axis=1), jax.nn.logsumexp(x, b=b, axis=0, keepdims=True),
        jax.nn.logmeanexp(x, axis=-1)),
        lambda rng: (normal(rng, 4, 5, scale=3.0), positive(rng, 4, 5))),
    Program("nn_one_hot", "jax.nn", lambda x, labels: (
        jnp.sum(jax.nn.one_hot(labels, 5) * x, axis=-1), jax.nn.one_hot(labels, 5, axis=0) @ x),
        lambda rng: (normal(rng, 4, 5), rng.integers(0, 5, 4).astype(np.int32))),
    Program("nn_standardize", "jax.nn", lambda x: (
        jax.nn.standardize(x, axis=-1), jax.nn.standardize(x, axis=0, epsilon=1e-3)),
        _x((4, 6), scale=2.0)),
    Program("nn_initializers", "jax.nn", lambda key: (
        jax.nn.initializers.glorot_normal()(jax.random.wrap_key_data(key), (4, 3)),
        jax.nn.initializers.he_uniform()(jax.random.wrap_key_data(key), (3, 2)),
        jax.nn.initializers.truncated_normal(0.5)(jax.random.wrap_key_data(key), (5,))),
        _key, batch_ints=True, undefined=_KEY_ONLY),
    Program("nn_initializer_orthogonal", "jax.nn", lambda key: jax.nn.initializers.orthogonal()(
        jax.random.wrap_key_data(key), (3, 3)), _key, batch_ints=True, undefined=_KEY_ONLY),
    Program("nn_dot_product_attention", "jax.nn", lambda q, k, v, mask: (
        jax.nn.dot_product_attention(q, k, v, mask=mask, implementation="xla")),
        lambda rng: (normal(rng, 1, 4, 2, 8), normal(rng, 1, 5, 2, 8), normal(rng, 1, 5, 2, 8),
                     np.tril(np.ones((1, 2, 4, 5), bool), k=1)), no_grad=(3,)),
]


# ---- jax.scipy.special --------------------------------------------------------------------------

def _probs(rng, *shape):
    return rng.uniform(0.05, 0.95, shape).astype(F32)


SPECIAL = [
    Program("special_erf", "jax.scipy.special", lambda x, p: (
        jss.erf(x), jss.erfc(x), jss.erfinv(p * 2 - 1)),
        lambda rng: (normal(rng, 6), _probs(rng, 6))),
    Program("special_gamma", "jax.scipy.special", lambda x: (
        jss.gammaln(x), jss.digamma(x), jss.gamma(x), jss.loggamma(x)),
        lambda rng: (positive(rng, 6, low=0.3, high=5.0),)),
    Program("special_beta", "jax.scipy.special", lambda a, b: (
        jss.betaln(a, b), jss.multigammaln(a + 2.0, 2), jss.polygamma(1, a)),
        lambda rng: (positive(rng, 5), positive(rng, 5))),
    Program("special_logsumexp", "jax.scipy.special", lambda x, b: (
        jss.logsumexp(x, axis=-1), jss.logsumexp(x, b=b), jss.softmax(x, axis=0),
        jss.log_softmax(x, axis=-1)),
        lambda rng: (normal(rng, 3, 4, scale=3.0), positive(rng, 3, 4))),
    Program("special_xlogy", "jax.scipy.special", lambda x, y: (
        jss.xlogy(x, y), jss.xlog1py(x, y), jss.entr(y), jss.rel_entr(y, x),
        jss.kl_div(y, x)), lambda rng: (positive(rng, 6), positive(rng, 6))),
    Program("special_expit_logit", "jax.scipy.special", lambda x, p: (
        jss.expit(x), jss.logit(p)), lambda rng: (normal(rng, 6, scale=3.0), _probs(rng, 6))),
    Program("special_ndtr", "jax.scipy.special", lambda x, p: (
        jss.ndtr(x), jss.log_ndtr(x), jss.ndtri(p)),
        lambda rng: (normal(rng, 6, scale=2.0), _probs(rng, 6))),
    Program("special_bessel", "jax.scipy.special", lambda x: (
        jss.i0e(x), jss.i1e(x), jss.i0(x * 0.5), jss.i1(x * 0.5)), _x((6,), scale=3.0)),
    Program("special_incomplete_gamma_beta", "jax.scipy.special", lambda a, x, p: (
        jss.gammainc(a, x), jss.gammaincc(a, x), jss.betainc(a, a + 1.0, p), jss.beta(a, x)),
        lambda rng: (positive(rng, 4), positive(rng, 4), _probs(rng, 4)), no_grad=(0,),
        max_steps=30, compile_alone=_PARTITION_RETRY),
    Program("special_exp1", "jax.scipy.special", jss.exp1,
            lambda rng: (positive(rng, 4, low=0.3, high=3.0),), max_steps=30,
            compile_alone=_PARTITION_RETRY),
    Program("special_closed_forms", "jax.scipy.special", lambda x, lam: (
        jss.erfcx(x), jss.dawsn(x), jss.poch(x, 2.5), jss.boxcox(x, lam), jss.boxcox1p(x, lam),
        jss.owens_t(x, lam), jss.sici(x)[0], jss.fresnel(x)[1]),
        lambda rng: (positive(rng, 5, low=0.2, high=2.0), positive(rng, 5, low=0.1, high=1.0))),
    # JAX's own grad of spence is NaN at x = 1.5 (its JVP is finite there): jnp.piecewise
    # evaluates log(1 - x) on a discarded branch; aotc's grad matches, NaN included
    Program("special_spence", "jax.scipy.special", jss.spence,
            lambda rng: (np.array([0.3, 0.8, 1.5, *rng.uniform(2.0, 3.0, 2)], F32),)),
    Program("special_series_nan_grads", "jax.scipy.special", lambda x: (
        jss.expi(x), jss.expn(2, x), jss.hyp1f1(1.5, 2.0, x)),
        lambda rng: (positive(rng, 4, low=0.2, high=2.0),), max_steps=20,
        xfail={("grad", "*"): (
            "NaN gradients of expi and expn, as JAX's own reverse mode of the exported primal "
            "gives (JAX's grad is finite only through their custom_jvp rules, which the export "
            "drops): expn's series adds jnp.where(pk != 0, yk / pk, 0) with pk = 0 at its "
            "first step (n = 2), and expi evaluates exp1(-x) on x > 0 in a discarded "
            "piecewise branch; reverse mode multiplies their zero cotangents by inf or NaN")}),
    Program("special_zeta", "jax.scipy.special", lambda s, q: jss.zeta(s + 1.5, q),
            lambda rng: (positive(rng, 4, low=0.0, high=3.0), positive(rng, 4))),
]


# ---- Optax losses -------------------------------------------------------------------------------

def _onehot_probs(rng, n, k):
    p = rng.uniform(0.0, 1.0, (n, k)).astype(F32)
    return p / p.sum(-1, keepdims=True)


LOSSES = [
    Program("optax_softmax_cross_entropy", "optax.losses",
            lambda logits, labels: optax.losses.softmax_cross_entropy(logits, labels),
            lambda rng: (normal(rng, 4, 5, scale=2.0), _onehot_probs(rng, 4, 5)), no_grad=(1,)),
    Program("optax_integer_cross_entropy", "optax.losses",
            lambda logits, labels: optax.losses.softmax_cross_entropy_with_integer_labels(
                logits, labels), lambda rng: (normal(rng, 4, 5, scale=2.0),
                                              rng.integers(0, 5, 4).astype(np.int32))),
    Program("optax_l2_squared", "optax.losses", lambda p, t: (
        optax.losses.l2_loss(p, t), optax.losses.squared_error(p, t).mean(-1)),
        lambda rng: (normal(rng, 4, 3), normal(rng, 4, 3))),
    Program("optax_huber_log_cosh", "optax.losses", lambda p, t: (
        optax.losses.huber_loss(p, t, delta=0.7), optax.losses.log_cosh(p, t)),
        lambda rng: (normal(rng, 4, 3, scale=2.0), normal(rng, 4, 3))),
    Program("optax_sigmoid_bce", "optax.losses", lambda logits, labels: (
        optax.losses.sigmoid_binary_cross_entropy(logits, labels),
        optax.losses.sigmoid_focal_loss(logits, labels, gamma=2.0)),
        lambda rng: (normal(rng, 4, 3, scale=2.0), _probs(rng, 4, 3)), no_grad=(1,)),
    Program("optax_cosine_hinge", "optax.losses", lambda a, b, y: (
        optax.losses.cosine_similarity(a, b), optax.losses.hinge_loss(a[:, 0], y),
        optax.losses.kl_divergence(jax.nn.log_softmax(a), jax.nn.softmax(b))),
        lambda rng: (normal(rng, 4, 3), normal(rng, 4, 3),
                     np.sign(normal(rng, 4)).astype(F32)), no_grad=(2,)),
]


# ---- Optax optimizers: one update step as a function of (params, grads, state) -----------------

def _optimizer_step(make_tx):
    """fn(params, grads, state) -> (new params, new state) of one step of make_tx()."""
    def step(params, grads, state):
        updates, state = make_tx().update(grads, state, params)
        return optax.apply_updates(params, updates), state
    return step


def _optimizer_args(make_tx, steps=2):
    """Params and grads of a small two-leaf model, and the state after `steps` updates (so the
    moments are nonzero)."""
    def make(rng):
        params = {"w": normal(rng, 4, 3), "b": normal(rng, 3)}
        tx, state = make_tx(), None
        state = tx.init(params)
        for _ in range(steps):
            grads = {"w": normal(rng, 4, 3), "b": normal(rng, 3)}
            _, state = _optimizer_step(make_tx)(params, grads, state)
        grads = {"w": normal(rng, 4, 3), "b": normal(rng, 3)}
        return params, grads, jax.tree.map(np.asarray, state)
    return make


def _optimizer(name, make_tx, **kw):
    return Program(f"optax_{name}", "optax.optimizers", _optimizer_step(make_tx),
                   _optimizer_args(make_tx), **kw)


OPTIMIZERS = [
    _optimizer("sgd_momentum", lambda: optax.sgd(0.1, momentum=0.9, nesterov=True)),
    _optimizer("adam", lambda: optax.adam(1e-2)),
    _optimizer("adamw", lambda: optax.adamw(1e-2, weight_decay=1e-2)),
    _optimizer("lamb", lambda: optax.lamb(1e-2)),
    _optimizer("clip_adam_chain", lambda: optax.chain(optax.clip_by_global_norm(1.0),
                                                      optax.scale_by_adam(),
                                                      optax.scale_by_learning_rate(1e-2))),
    _optimizer("rmsprop_clip", lambda: optax.chain(optax.clip(0.5), optax.rmsprop(1e-2))),
]


# ---- sorting and cumulative ops -----------------------------------------------------------------

SORTING = [
    Program("sort", "sort/cumulative", lambda x: (jnp.sort(x, axis=-1), jnp.sort(x, axis=0)),
            _x((4, 5))),
    Program("sort_key_value", "sort/cumulative", lambda k, v: jax.lax.sort(
        (k, v), dimension=0, num_keys=1)[1], lambda rng: (normal(rng, 6), normal(rng, 6))),
    Program("argsort_take", "sort/cumulative", lambda x, w: jnp.take_along_axis(
        w, jnp.argsort(x, axis=-1), axis=-1), lambda rng: (normal(rng, 3, 5), normal(rng, 3, 5))),
    Program("top_k", "sort/cumulative", lambda x: jax.lax.top_k(x, 3), _x((4, 6))),
    Program("cumsum_cumprod", "sort/cumulative", lambda x: (
        jnp.cumsum(x, axis=1), jnp.cumprod(x, axis=0), jnp.cumsum(x[::-1], axis=0)),
        _x((4, 5))),
    Program("cummax_cummin", "sort/cumulative", lambda x: (
        jax.lax.cummax(x, axis=1), jax.lax.cummin(x, axis=0)), _x((3, 6))),
    Program("cumlogsumexp", "sort/cumulative", lambda x: jax.lax.cumlogsumexp(x, axis=1),
            _x((3, 6))),
    Program("median_quantile", "sort/cumulative", lambda x: (
        jnp.median(x, axis=-1), jnp.quantile(x, 0.3, axis=0)), _x((5, 4))),
]


# ---- gather, scatter, segment ops ---------------------------------------------------------------

def _idx(rng, n, high):
    return rng.integers(0, high, n).astype(np.int32)


def _unique_idx(rng, n, high):
    return rng.permutation(high)[:n].astype(np.int32)


def _masked_segment_prod(x, segments):
    """segment_prod written as products of masked copies: JAX differentiates this, not
    segment_prod (its scatter-multiply JVP needs unique indices)."""
    return jnp.stack([jnp.prod(jnp.where(segments == j, x, 1.0)) for j in range(4)])


def _scatter_args(rng):
    return normal(rng, 6, 3), _idx(rng, 4, 6), normal(rng, 4, 3)

GATHER_SCATTER = [
    Program("gather_fancy", "gather/scatter", lambda x, i, j: (x[i], x[i, j], x[:, j[:2]]),
            lambda rng: (normal(rng, 5, 4), _idx(rng, 3, 5), _idx(rng, 3, 4)), batch_ints=True),
    Program("gather_take_along", "gather/scatter", lambda x, i: (
        jnp.take_along_axis(x, i, axis=1), jnp.take(x, i[0], axis=0, mode="clip")),
        lambda rng: (normal(rng, 4, 5), rng.integers(0, 5, (4, 2)).astype(np.int32)),
        batch_ints=True),
    Program("scatter_set", "gather/scatter", lambda x, i, u: x.at[i].set(u),
            lambda rng: (normal(rng, 6, 3), _unique_idx(rng, 4, 6), normal(rng, 4, 3)),
            batch_ints=True),
    Program("scatter_add", "gather/scatter", lambda x, i, u: x.at[i].add(u * 2.0),
            _scatter_args, batch_ints=True),
    Program("scatter_mul", "gather/scatter", lambda x, i, u: x.at[i].multiply(
        u, unique_indices=True), lambda rng: (normal(rng, 6, 3), _unique_idx(rng, 4, 6),
                                              normal(rng, 4, 3)), batch_ints=True),
    Program("scatter_min", "gather/scatter", lambda x, i, u: x.at[i].min(u), _scatter_args),
    Program("scatter_max", "gather/scatter", lambda x, i, u: x.at[i].max(u), _scatter_args),
    Program("segment_sum", "gather/scatter", lambda x, s: jax.ops.segment_sum(x, s, 5),
            lambda rng: (normal(rng, 7, 2), _idx(rng, 7, 5)), batch_ints=True),
    Program("segment_max_min", "gather/scatter", lambda x, s: (
        jax.ops.segment_max(x, s, 4, indices_are_sorted=True),
        jax.ops.segment_min(x, s, 4)),
        lambda rng: (normal(rng, 8), np.array([0, 0, 1, 1, 1, 2, 3, 3], np.int32))),
    Program("segment_prod", "gather/scatter", lambda x, s: jax.ops.segment_prod(x, s, 4),
            lambda rng: (normal(rng, 8), np.array([0, 0, 1, 1, 1, 2, 3, 3], np.int32)),
            reference=_masked_segment_prod),
    Program("batched_scatter_add", "gather/scatter", jax.vmap(lambda x, i, u: x.at[i].add(u)),
            lambda rng: (normal(rng, 3, 6), rng.integers(0, 6, (3, 4)).astype(np.int32),
                         normal(rng, 3, 4)), batch_ints=True),
    Program("batched_scatter_out_of_range", "gather/scatter",
            jax.vmap(lambda x, i, u: x.at[i].add(u)),  # indices 6..8 are dropped (JAX's mode)
            lambda rng: (normal(rng, 3, 6), rng.integers(0, 9, (3, 4)).astype(np.int32),
                         normal(rng, 3, 4)), batch_ints=True),
    Program("scatter_out_of_range_vmapped", "gather/scatter",  # aotc's batching rule
            lambda x, i, u: x.at[i].add(u), lambda rng: (
                normal(rng, 5), rng.integers(0, 8, 4).astype(np.int32), normal(rng, 4)),
            batch_ints=True),
    Program("batched_gather", "gather/scatter", jax.vmap(lambda x, i: x[i] * 2.0),
            lambda rng: (normal(rng, 3, 6), rng.integers(0, 6, (3, 4)).astype(np.int32)),
            batch_ints=True),
]


# ---- dynamic_slice / dynamic_update_slice -------------------------------------------------------

def _sliding_sums(x):
    def body(i, acc):
        return acc + jax.lax.dynamic_slice_in_dim(x, i, 3) * (i + 1.0)
    return jax.lax.fori_loop(0, x.shape[0] - 2, body, jnp.zeros(3, x.dtype))


DYNAMIC = [
    Program("dynamic_slice", "dynamic_slice", lambda x, i: jax.lax.dynamic_slice(
        x, (i, i // 2), (3, 2)), lambda rng: (normal(rng, 6, 5), np.int32(rng.integers(0, 8))),
        batch_ints=True),
    Program("dynamic_update_slice", "dynamic_slice", lambda x, u, i: jax.lax.dynamic_update_slice(
        x, u * 3.0, (i, 1)), lambda rng: (normal(rng, 6, 4), normal(rng, 2, 3),
                                          np.int32(rng.integers(0, 6))), batch_ints=True),
    Program("sliding_window_loop", "dynamic_slice", _sliding_sums, _x((7,))),
]


# ---- mixed precision ----------------------------------------------------------------------------

def _mixed_mlp(dtype):
    def mlp(w1, b1, w2, x):
        h = jnp.dot(x.astype(dtype), w1.astype(dtype), preferred_element_type=jnp.float32) + b1
        h = jax.nn.gelu(h)
        return jnp.dot(h.astype(dtype), w2.astype(dtype), preferred_element_type=jnp.float32)
    return mlp


def _mlp_args(rng):
    return (normal(rng, 5, 8, scale=0.4), normal(rng, 8), normal(rng, 8, 3, scale=0.4),
            normal(rng, 4, 5))


def _mixed_conv(x, w):
    return jax.lax.conv_general_dilated(
        x.astype(jnp.bfloat16), w.astype(jnp.bfloat16), (1, 1), "SAME",
        dimension_numbers=("NHWC", "HWIO", "NHWC"), preferred_element_type=jnp.float32)


MIXED = [
    Program("mixed_bf16_mlp", "mixed precision", _mixed_mlp(jnp.bfloat16), _mlp_args,
            unbatched=(0, 1, 2)),
    Program("mixed_f16_mlp", "mixed precision", _mixed_mlp(jnp.float16), _mlp_args,
            unbatched=(0, 1, 2)),
    Program("mixed_bf16_conv", "mixed precision", _mixed_conv,
            lambda rng: (normal(rng, 1, 5, 5, 2), normal(rng, 3, 3, 2, 3, scale=0.5)),
            unbatched=(1,)),
]


# ---- loops and control flow ---------------------------------------------------------------------

def _newton_sqrt(a):
    return jax.lax.while_loop(lambda c: jnp.abs(c * c - a) > 1e-5 * a,
                              lambda c: 0.5 * (c + a / c), a)


def _newton_sqrt_fixed(a):  # the same iteration, counted (JAX's reverse mode accepts it)
    return jax.lax.fori_loop(0, 12, lambda i, c: jnp.where(
        jnp.abs(c * c - a) > 1e-5 * a, 0.5 * (c + a / c), c), a)


def _geometric(x, limit):  # the trip count depends on both the data and the limit
    def body(c):
        value, k = c
        return value * 1.3 + 0.1, k + 1
    return jax.lax.while_loop(lambda c: (c[0] < limit) & (c[1] < 20), body, (x, 0))


def _geometric_fixed(x, limit):
    def body(i, c):
        value, k = c
        go = (value < limit) & (k < 20)
        return jnp.where(go, value * 1.3 + 0.1, value), jnp.where(go, k + 1, k)
    return jax.lax.fori_loop(0, 20, body, (x, 0))


def _power_iteration(a, v):
    def body(i, v):
        w = a @ v
        return w / jnp.linalg.norm(w)
    v = jax.lax.fori_loop(0, 6, body, v)
    return v, v @ a @ v


def _ema_scan(x, decay):
    def step(c, xt):
        c = decay * c + (1 - decay) * xt
        return c, jnp.tanh(c)
    return jax.lax.scan(step, jnp.zeros_like(x[0]), x)


def _branches(x, k):
    y = jax.lax.cond(x.sum() > 0, lambda v: jnp.sin(v) * 2, lambda v: jnp.cos(v) - v, x)
    return jax.lax.switch(k, [jnp.tanh, lambda v: v ** 2, jnp.exp], y)


LOOPS = [
    Program("while_newton_sqrt", "loops", _newton_sqrt, lambda rng: (positive(rng),),
            reference=_newton_sqrt_fixed, max_steps=30),
    Program("while_data_dependent_trips", "loops", _geometric,
            lambda rng: (positive(rng, low=0.1, high=1.0), positive(rng, low=2.0, high=9.0)),
            reference=_geometric_fixed, max_steps=25),
    Program("fori_power_iteration", "loops", _power_iteration,
            lambda rng: ((lambda m: (m + m.T).astype(F32))(normal(rng, 4, 4)),
                         normal(rng, 4))),
    Program("scan_ema", "loops", _ema_scan,
            lambda rng: (normal(rng, 6, 3), F32(rng.uniform(0.5, 0.9)))),
    Program("cond_switch", "loops", _branches,
            lambda rng: (normal(rng, 5), np.int32(rng.integers(0, 3))), batch_ints=True),
]
