"""StableHLO op builders, grouped by family. Importing this package registers every op.

Other layers call `from aotc.frontend import ops` and then `ops.ew.add(x, y)`,
`ops.shape.reshape(x, shape)`, `ops.linalg.dot_general(...)`, ...
"""

from aotc.frontend.ops import (
    control,
    conv,
    debug,
    elementwise,
    fft,
    indexing,
    linalg,
    loops,
    reduce_window_jvp,
    reduction,
    shape,
    sort,
    special,
    spmd,
)

ew = elementwise

__all__ = ["control", "conv", "debug", "elementwise", "ew", "fft", "indexing", "linalg", "loops",
           "reduce_window_jvp", "reduction", "shape", "sort", "special", "spmd"]
