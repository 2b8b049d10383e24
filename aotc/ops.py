"""`import aotc.ops`: jax.ops's segment reductions; see aotc.frontend.numpy.segments. Works
eagerly outside a trace too."""

from aotc.frontend.numpy.segments import *
from aotc.frontend.trace.eager import wrap_namespace as _wrap_namespace

_wrap_namespace(globals())
