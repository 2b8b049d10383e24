"""aotc: JAX-style NumPy programs compiled ahead of time by IREE into small, portable artifacts.

    import aotc, aotc.numpy as anp
    fast = aotc.jit(lambda x: anp.tanh(x) * 2)
    print(aotc.lower(lambda x: anp.tanh(x) * 2, aotc.ShapeSpec((None, 4))))
"""

from aotc import lax, nn, numpy, tree
from aotc.frontend import tracer_methods as _tracer_methods  # installs Tracer operators
from aotc.frontend.api import ShapeSpec, jit, lower
from aotc.frontend.errors import (
    AotcError,
    ArtifactError,
    CompileError,
    ConcretizationError,
    InputError,
    MissingRuleError,
    TracingError,
)
from aotc.frontend.interpreter import interpret
from aotc.frontend.transforms import (
    checkpoint,
    custom_jvp,
    custom_vjp,
    differentiate,
    grad,
    hessian,
    jacfwd,
    jacrev,
    jvp,
    remat,
    stop_gradient,
    value_and_grad,
    vjp,
)
from aotc.frontend.vmap_api import vectorize, vmap
from aotc.tools.export import compile_function as compile
from aotc.tools.export import export
from aotc.tools.params import Param

__version__ = "0.1.0"
del _tracer_methods

__all__ = [
    "AotcError", "ArtifactError", "CompileError", "ConcretizationError", "InputError",
    "MissingRuleError", "Param", "ShapeSpec", "TracingError", "checkpoint", "compile",
    "custom_jvp", "custom_vjp", "differentiate",
    "export", "grad", "hessian", "interpret", "remat", "stop_gradient",
    "jacfwd", "jacrev", "jit", "jvp", "lax", "lower", "nn", "numpy", "tree", "value_and_grad",
    "vectorize", "vjp", "vmap",
]
