"""`import aotc.nn`: see aotc.frontend.nn. Works eagerly outside a trace too."""

from aotc.frontend.eager import wrap_namespace as _wrap_namespace
from aotc.frontend.nn import *

_wrap_namespace(globals())
