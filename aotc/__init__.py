"""aotc: JAX-style NumPy programs compiled ahead of time by IREE into small, portable artifacts.

    import aotc, aotc.numpy as anp
    fast = aotc.jit(lambda x: anp.tanh(x) * 2)
    print(aotc.lower(lambda x: anp.tanh(x) * 2, aotc.ShapeSpec((None, 4))))
"""

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
from aotc import lax, nn, numpy, tree  # noqa: E402

__version__ = "0.1.0"
del _tracer_methods

__all__ = [
    "AotcError", "ArtifactError", "CompileError", "ConcretizationError", "InputError",
    "MissingRuleError", "ShapeSpec", "TracingError", "interpret", "jit", "lax", "lower", "nn", "numpy",
    "tree",
]
