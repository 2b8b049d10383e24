"""`import aotc.lax`: see aotc.frontend.lax. Works eagerly outside a trace too."""

from aotc.frontend.lax import *
from aotc.frontend.lax import __getattr__
from aotc.frontend.trace.eager import wrap_namespace as _wrap_namespace

_wrap_namespace(globals())
