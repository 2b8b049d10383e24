"""aotc.nn.initializers: JAX's parameter initializers, drawn with aotc.random.

Each factory returns `init(key, shape, dtype=...)` as in `jax.nn.initializers`, and equal keys
give JAX's bits (up to the last-place differences of aotc.random's transcendental samplers);
`orthogonal` runs aotc's Householder QR (jnp's is LAPACK's), so it matches JAX to ~1e-6.
The init functions also run eagerly outside a trace.

    import aotc.nn.initializers as init
    w = init.glorot_uniform()(key, (784, 128))
"""

import math
from collections.abc import Sequence

import numpy as np

from aotc.frontend import lax, random
from aotc.frontend import numpy as anp
from aotc.frontend.core.errors import TracingError
from aotc.frontend.core.missing import missing_attribute
from aotc.frontend.core.source import caller_site
from aotc.frontend.linalg.factor import qr
from aotc.frontend.random.keys import float_dtype, shape_arg
from aotc.frontend.trace.eager import eager
from aotc.frontend.trace.tracer import Tracer

__all__ = [
    "constant", "delta_orthogonal", "glorot_normal", "glorot_uniform", "he_normal", "he_uniform",
    "kaiming_normal", "kaiming_uniform", "lecun_normal", "lecun_uniform", "normal", "ones",
    "orthogonal", "truncated_normal", "uniform", "variance_scaling", "xavier_normal",
    "xavier_uniform", "zeros",
]


def _dtype(name: str, dtype) -> np.dtype:
    return float_dtype(f"initializers.{name}", dtype)


def _scalar(value, dtype) -> Tracer:
    """jnp.array(value, dtype): a constant of the draw's dtype."""
    return anp.asarray(value, dtype) if isinstance(value, Tracer) else \
        anp.asarray(np.array(value, dtype))


@eager
def zeros(key, shape, dtype=None) -> Tracer:
    """An array of zeros (the key is ignored), as jax.nn.initializers.zeros.

    Example:
        >>> init.zeros(key, (2, 3))
    """
    return anp.zeros(shape_arg("initializers.zeros", shape), _dtype("zeros", dtype))


@eager
def ones(key, shape, dtype=None) -> Tracer:
    """An array of ones (the key is ignored), as jax.nn.initializers.ones.

    Example:
        >>> init.ones(key, (2, 3))
    """
    return anp.ones(shape_arg("initializers.ones", shape), _dtype("ones", dtype))


def constant(value, dtype=None):
    """An initializer filling arrays with `value`, as jax.nn.initializers.constant.

    Example:
        >>> init.constant(-7.0)(key, (2, 3))
    """
    default = dtype

    @eager
    def init(key, shape, dtype=default):
        return anp.full(shape_arg("initializers.constant", shape), value, _dtype("constant",
                                                                                   dtype))

    return init


def uniform(scale=1e-2, dtype=None):
    """An initializer drawing uniformly from [0, scale), as jax.nn.initializers.uniform.

    Example:
        >>> init.uniform(10.0)(key, (2, 3))
    """
    default = dtype

    @eager
    def init(key, shape, dtype=default):
        dtype = _dtype("uniform", dtype)
        return anp.multiply(random.uniform(key, shape, dtype), _scalar(scale, dtype))

    return init


def normal(stddev=1e-2, dtype=None):
    """An initializer drawing normals of standard deviation stddev, as jax.nn.initializers.normal.

    Example:
        >>> init.normal(2.0)(key, (2, 3))
    """
    default = dtype

    @eager
    def init(key, shape, dtype=default):
        dtype = _dtype("normal", dtype)
        return anp.multiply(random.normal(key, shape, dtype), _scalar(stddev, dtype))

    return init


def truncated_normal(stddev=1e-2, dtype=None, lower=-2.0, upper=2.0):
    """An initializer drawing normals truncated to (lower, upper), times stddev, as
    jax.nn.initializers.truncated_normal.

    Example:
        >>> init.truncated_normal(0.5)(key, (2, 3))
    """
    default = dtype

    @eager
    def init(key, shape, dtype=default):
        dtype = _dtype("truncated_normal", dtype)
        return anp.multiply(random.truncated_normal(key, lower, upper, shape, dtype),
                            _scalar(stddev, dtype))

    return init


def _axes_size(shape: tuple, axes) -> int:
    if isinstance(axes, int):
        return shape[axes]
    return math.prod(shape[i] for i in axes)


def compute_fans(shape: tuple, in_axis=-2, out_axis=-1, batch_axis=()) -> tuple[float, float]:
    """(fan_in, fan_out) of a weight shape, as JAX's _compute_fans: axes outside in_axis,
    out_axis and batch_axis form the receptive field (a convolution's spatial dims)."""
    if isinstance(in_axis, int) and in_axis == -2 and len(shape) <= 1:
        raise TracingError(f"{caller_site()}: initializers: cannot compute fan-in and fan-out of "
                           f"a {len(shape)}-D shape with the default in_axis; give in_axis")
    in_size = _axes_size(shape, in_axis)
    out_size = _axes_size(shape, out_axis)
    batch_size = _axes_size(shape, batch_axis)
    receptive_field = math.prod(shape) / in_size / out_size / batch_size
    return in_size * receptive_field, out_size * receptive_field


def variance_scaling(scale, mode: str, distribution: str, in_axis: int | Sequence[int] = -2,
                     out_axis: int | Sequence[int] = -1, batch_axis: int | Sequence[int] = (),
                     dtype=None):
    """An initializer with variance scale / n, n the fan-in, fan-out, their mean ('fan_avg') or
    geometric mean ('fan_geo_avg'); distribution 'truncated_normal' (truncated at two standard
    deviations, rescaled), 'normal' or 'uniform', as jax.nn.initializers.variance_scaling.

    Example:
        >>> init.variance_scaling(2.0, "fan_in", "normal")(key, (3, 3, 16, 32))
    """
    if mode not in ("fan_in", "fan_out", "fan_avg", "fan_geo_avg"):
        raise TracingError(f"{caller_site()}: variance_scaling: mode={mode!r}; use 'fan_in', "
                           "'fan_out', 'fan_avg' or 'fan_geo_avg'")
    if distribution not in ("truncated_normal", "normal", "uniform"):
        raise TracingError(f"{caller_site()}: variance_scaling: distribution={distribution!r}; "
                           "use 'truncated_normal', 'normal' or 'uniform'")
    default = dtype

    @eager
    def init(key, shape, dtype=default):
        shape = shape_arg("initializers.variance_scaling", shape)
        dtype = _dtype("variance_scaling", dtype)
        fan_in, fan_out = compute_fans(shape, in_axis, out_axis, batch_axis)
        denominator = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2,
                       "fan_geo_avg": (fan_in * fan_out) ** 0.5}[mode]
        variance = _scalar(scale / denominator, dtype)
        if distribution == "truncated_normal":
            # the standard deviation of a standard normal truncated to (-2, 2)
            stddev = anp.divide(anp.sqrt(variance), _scalar(0.87962566103423978, dtype))
            return anp.multiply(random.truncated_normal(key, -2, 2, shape, dtype), stddev)
        if distribution == "normal":
            return anp.multiply(random.normal(key, shape, dtype), anp.sqrt(variance))
        return anp.multiply(random.uniform(key, shape, dtype, -1),
                            anp.sqrt(anp.multiply(3, variance)))

    return init


def _specialize(name: str, scale: float, mode: str, distribution: str, alias_of: str = ""):
    def factory(in_axis: int | Sequence[int] = -2, out_axis: int | Sequence[int] = -1,
                batch_axis: int | Sequence[int] = (), dtype=None):
        return variance_scaling(scale, mode, distribution, in_axis, out_axis, batch_axis, dtype)

    factory.__name__ = factory.__qualname__ = name
    factory.__doc__ = (f"variance_scaling({scale}, {mode!r}, {distribution!r}), as "
                       f"jax.nn.initializers.{alias_of or name}.\n\n    Example:\n"
                       f"        >>> init.{name}()(key, (64, 32))\n    ")
    return factory


glorot_uniform = _specialize("glorot_uniform", 1.0, "fan_avg", "uniform")
glorot_normal = _specialize("glorot_normal", 1.0, "fan_avg", "truncated_normal")
lecun_uniform = _specialize("lecun_uniform", 1.0, "fan_in", "uniform")
lecun_normal = _specialize("lecun_normal", 1.0, "fan_in", "truncated_normal")
he_uniform = _specialize("he_uniform", 2.0, "fan_in", "uniform")
he_normal = _specialize("he_normal", 2.0, "fan_in", "truncated_normal")
xavier_uniform, xavier_normal = glorot_uniform, glorot_normal
kaiming_uniform, kaiming_normal = he_uniform, he_normal


def orthogonal_matrix(key: Tracer, n: int, m: int, dtype) -> Tracer:
    """A uniformly random (semi-)orthogonal n x m matrix, as jax.random.orthogonal: the Q of a
    normal matrix's QR with each column's sign fixed by R's diagonal (Mezzadri 2007)."""
    z = random.normal(key, (max(n, m), min(n, m)), dtype)
    q, r = qr(z)
    signs = anp.sign(anp.diagonal(r, axis1=-2, axis2=-1))
    x = anp.multiply(q, anp.expand_dims(signs, -2))
    return anp.swapaxes(x, -1, -2) if n < m else x


def orthogonal(scale=1.0, column_axis: int = -1, dtype=None):
    """An initializer of (semi-)orthogonal matrices: the columns along column_axis orthonormal
    (or the rows, if fewer), times scale, as jax.nn.initializers.orthogonal.

    Example:
        >>> init.orthogonal()(key, (4, 4))
    """
    default = dtype

    @eager
    def init(key, shape, dtype=default):
        shape = shape_arg("initializers.orthogonal", shape)
        dtype = _dtype("orthogonal", dtype)
        if len(shape) < 2:
            raise TracingError(f"{caller_site()}: orthogonal initializer needs a shape with at "
                               f"least 2 dims, got {shape}")
        if 0 in shape:
            return anp.zeros(shape, dtype)
        n_cols = shape[column_axis]
        n_rows = math.prod(shape) // n_cols
        q = orthogonal_matrix(key, n_rows, n_cols, dtype)
        q = anp.reshape(q, (*np.delete(shape, column_axis).tolist(), n_cols))
        return anp.multiply(_scalar(scale, dtype), anp.moveaxis(q, -1, column_axis))

    return init


def delta_orthogonal(scale=1.0, column_axis: int = -1, dtype=None):
    """An initializer of 3-D, 4-D or 5-D convolution kernels that are zero but for an
    orthogonal matrix at the spatial center, as jax.nn.initializers.delta_orthogonal.

    Example:
        >>> init.delta_orthogonal()(key, (3, 3, 4, 4))
    """
    default = dtype

    @eager
    def init(key, shape, dtype=default):
        shape = shape_arg("initializers.delta_orthogonal", shape)
        dtype = _dtype("delta_orthogonal", dtype)
        if len(shape) not in (3, 4, 5):
            raise TracingError(f"{caller_site()}: delta_orthogonal initializer needs a 3-D, 4-D "
                               f"or 5-D shape, got {shape}")
        if shape[-1] < shape[-2]:
            raise TracingError(f"{caller_site()}: delta_orthogonal: fan_in (shape[-2] = "
                               f"{shape[-2]}) must be at most fan_out (shape[-1] = {shape[-1]})")
        matrix = orthogonal(scale, column_axis, dtype).__wrapped__(key, shape[-2:], dtype)
        spatial = shape[:-2]
        center = anp.reshape(matrix, (1,) * len(spatial) + shape[-2:])
        pads = [((k - 1) // 2, k - 1 - (k - 1) // 2, 0) for k in spatial] + [(0, 0, 0)] * 2
        return lax.pad(center, np.array(0, dtype), pads)

    return init


def __getattr__(name):
    """A missing name is an AttributeError (so hasattr works) that says what to use instead."""
    raise missing_attribute("aotc.nn.initializers", name, __all__, "jax.nn.initializers")

