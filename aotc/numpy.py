"""`import aotc.numpy as anp`: see aotc.frontend.numpy. Works eagerly outside a trace too."""

from aotc.frontend.eager import wrap_namespace as _wrap_namespace
from aotc.frontend.numpy import *  # noqa: F401,F403
from aotc.frontend.numpy import __getattr__, result_type, shape, ndim, size  # noqa: F401

_wrap_namespace(globals())
