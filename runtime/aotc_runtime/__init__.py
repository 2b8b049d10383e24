"""aotc_runtime: load aotc artifacts (.vmfb) and run them, numpy in, numpy out.

Depends only on numpy and iree-base-runtime; it never imports the compiler, so a device
needs only this package (see the README for its footprint).

    import aotc_runtime
    m = aotc_runtime.load("mlp.vmfb")
    print(m.functions, m.signature("predict"))
    logits = m.predict(params, x)
    m = aotc_runtime.load("mlp.vmfb", weights="retrained.irpa")   # external weights
"""

from aotc_runtime.artifact import FORMAT_VERSION
from aotc_runtime.errors import AotcError, ArtifactError, InputError, WeightsError
from aotc_runtime.module import (
    ArtifactInfo,
    ExportedFunction,
    Function,
    Module,
    inspect,
    load,
    load_bytes,
)
from aotc_runtime.signature import ArraySpec, Signature
from aotc_runtime.weights import save_weights

__version__ = "0.1.0"
__all__ = [
    "FORMAT_VERSION", "AotcError", "ArraySpec", "ArtifactError", "ArtifactInfo",
    "ExportedFunction", "Function", "InputError", "Module", "Signature", "WeightsError",
    "inspect", "load", "load_bytes", "save_weights",
]
