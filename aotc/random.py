"""`import aotc.random`: see aotc.frontend.random. Works eagerly outside a trace too."""

from aotc.frontend.random import *
from aotc.frontend.random import __getattr__
from aotc.frontend.trace.eager import wrap_namespace as _wrap_namespace

_wrap_namespace(globals())
