"""`aotc.numpy.fft`: JAX's jax.numpy.fft, portable (see aotc.frontend.fft)."""

from aotc.frontend.fft.transforms import *
from aotc.frontend.trace.eager import wrap_namespace as _wrap_namespace

_wrap_namespace(globals())
