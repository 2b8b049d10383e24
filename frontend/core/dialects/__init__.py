"""Empty Python modules for the dialects the IREE wheel ships no bindings for (stablehlo, chlo).

The MLIR bindings import a module per dialect whenever they wrap an op, and retry a failed
import every time: without these, tracing spent ~2/3 of its time in failed imports of
iree.compiler.dialects.stablehlo. Found once here, the lookup is cached and ops stay generic.
"""
