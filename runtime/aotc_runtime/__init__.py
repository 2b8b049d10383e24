"""aotc_runtime: load aotc artifacts (.vmfb) and run them, numpy in, numpy out.

Depends only on numpy and iree-base-runtime; it never imports the compiler, so a device
needs only this package (see the README for its footprint).

    import aotc_runtime
    m = aotc_runtime.load("mlp.vmfb")
    print(m.functions, m.signature("predict"))
    logits = m.predict(params, x)
    m = aotc_runtime.load("mlp.vmfb", weights="retrained.irpa")   # external weights

Trust model: `load` and `load_bytes` check an artifact's SHA-256 seal before IREE parses a
byte, its target against this machine (driver, architecture, CPU features) and its weights
(name, shape, dtype, and the SHA-256 the artifact records), so a corrupt or mismatched file
raises an AotcError instead of crashing. `load_bytes(..., require_aotc=False)` skips the seal
for plain IREE modules: only for bytes you compiled yourself or trust.
"""

from aotc_runtime.artifact import FORMAT_VERSION
from aotc_runtime.errors import AotcError, ArtifactError, ExecutionError, InputError, WeightsError
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
from aotc_runtime.weights import file_digest, save_weights

__version__ = "0.1.0"
__all__ = [
    "FORMAT_VERSION", "AotcError", "ArraySpec", "ArtifactError", "ArtifactInfo",
    "ExecutionError", "ExportedFunction", "Function", "InputError", "Module", "Signature",
    "WeightsError", "file_digest", "inspect", "load", "load_bytes", "save_weights",
]
