"""aotc_runtime: load aotc artifacts and run them, numpy in, numpy out. Imports no compiler."""

from aotc_runtime.errors import AotcError, ArtifactError, InputError
from aotc_runtime.module import Function, Module, load_bytes

__version__ = "0.1.0"
__all__ = ["AotcError", "ArtifactError", "InputError", "Function", "Module", "load_bytes"]
