"""`aotc.scipy.linalg`: JAX's jax.scipy.linalg, portable (see aotc.frontend.linalg)."""

from aotc.frontend.linalg.scipy_api import *
from aotc.frontend.linalg.spectral import *
from aotc.frontend.linalg.spectral import scipy_eigh as eigh
from aotc.frontend.linalg.spectral import scipy_svd as svd
from aotc.frontend.trace.eager import wrap_namespace as _wrap_namespace

_wrap_namespace(globals())
