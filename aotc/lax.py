"""`import aotc.lax`: see aotc.frontend.lax. Works eagerly outside a trace too."""

from aotc.frontend.eager import wrap_namespace as _wrap_namespace
from aotc.frontend.lax import *

_wrap_namespace(globals())
