"""`import aotc.lax`: see aotc.frontend.lax. Works eagerly outside a trace too."""

from aotc.frontend.lax import *
from aotc.frontend.lax import __getattr__
from aotc.frontend.sharding.collectives import (
    all_gather,
    all_to_all,
    axis_index,
    pmax,
    pmean,
    pmin,
    ppermute,
    psum,
    psum_scatter,
)
from aotc.frontend.trace.eager import wrap_namespace as _wrap_namespace

_wrap_namespace(globals())
