"""aotc: JAX-style NumPy programs compiled ahead of time by IREE into small, portable artifacts.

    import aotc, aotc.numpy as anp
    fast = aotc.jit(lambda x: anp.tanh(x) * 2)
    print(aotc.lower(lambda x: anp.tanh(x) * 2, aotc.ShapeSpec((None, 4))))
"""

from aotc import debug, lax, nn, numpy, ops, random, sharding, tree, tree_util
from aotc.frontend.core.errors import (
    AotcError,
    ArtifactError,
    CompileError,
    ConcretizationError,
    InputError,
    MissingRuleError,
    TracingError,
)
from aotc.frontend.core.version import VERSION
from aotc.frontend.numpy import methods as _tracer_methods  # installs Tracer operators
from aotc.frontend.sharding import pmap, shard_map
from aotc.frontend.trace.eager import Array
from aotc.frontend.trace.lower import ShapeDtypeStruct, ShapeSpec, eval_shape, lower
from aotc.frontend.trace.staging import stop_gradient
from aotc.frontend.transforms.autodiff import (
    grad,
    hessian,
    jacfwd,
    jacobian,
    jacrev,
    jvp,
    linear_transpose,
    linearize,
    value_and_grad,
    vjp,
)
from aotc.frontend.transforms.custom import checkpoint, custom_jvp, custom_vjp, remat
from aotc.frontend.transforms.imported import differentiate, vectorize
from aotc.frontend.transforms.vmap import vmap
from aotc.passes.interpreter import interpret
from aotc.tools.export import compile_function as compile
from aotc.tools.export import export
from aotc.tools.jit import block_until_ready, jit
from aotc.tools.params import Param

__version__ = VERSION
del _tracer_methods

__all__ = [
    "AotcError", "Array", "ArtifactError", "CompileError", "ConcretizationError", "InputError",
    "MissingRuleError", "Param", "ShapeSpec", "TracingError", "checkpoint", "compile",
    "custom_jvp", "custom_vjp", "differentiate",
    "export", "grad", "hessian", "interpret", "remat", "stop_gradient",
    "jacfwd", "jacrev", "jit", "jvp", "lax", "lower", "nn", "numpy", "ops", "random", "tree",
    "value_and_grad", "vectorize", "vjp", "vmap",
    "ShapeDtypeStruct", "block_until_ready", "eval_shape", "jacobian", "linear_transpose",
    "linearize", "pmap", "shard_map", "sharding",
]
