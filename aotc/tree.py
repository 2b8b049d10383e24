"""`aotc.tree`: pytree utilities under jax.tree's names, see aotc.frontend.core.tree."""

from aotc.frontend.core.tree import (
    TreeDef,
    all,
    broadcast,
    flatten,
    flatten_with_path,
    leaves,
    leaves_with_path,
    map,
    map_with_path,
    reduce,
    reduce_associative,
    register,
    structure,
    transpose,
    unflatten,
)
from aotc.frontend.core.tree_util import static

__all__ = [
    "TreeDef", "all", "broadcast", "flatten", "flatten_with_path", "leaves", "leaves_with_path",
    "map", "map_with_path", "reduce", "reduce_associative", "register", "static", "structure",
    "transpose", "unflatten",
]
