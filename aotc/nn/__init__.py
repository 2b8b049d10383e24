"""`import aotc.nn`: see aotc.frontend.nn. Works eagerly outside a trace too."""

from aotc.frontend.nn import *
from aotc.frontend.nn import __getattr__
from aotc.frontend.trace.eager import wrap_namespace as _wrap_namespace

_wrap_namespace(globals())

from aotc.nn import initializers  # noqa: E402 (aotc.nn.initializers, as jax.nn.initializers)
