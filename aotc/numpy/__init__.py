"""`import aotc.numpy as anp`: see aotc.frontend.numpy. Works eagerly outside a trace too."""

from aotc.frontend.numpy import *
from aotc.frontend.numpy import __getattr__, ndim, result_type, shape, size

# jnp.bool and jnp.floating, bound here only: in aotc.frontend.numpy they would shadow the
# builtin bool and the submodule floating.
from aotc.frontend.numpy.dtypes_api import bool, floating
from aotc.frontend.trace.eager import wrap_namespace as _wrap_namespace

_wrap_namespace(globals())

# vmap-based functions (a layer above frontend/numpy); each is eager-capable on its own.
from aotc.frontend.transforms.numpy_maps import *  # noqa: E402
from aotc.numpy import fft, linalg  # noqa: E402
