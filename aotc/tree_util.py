"""`aotc.tree_util`: jax.tree_util's names, on aotc.frontend.core.tree.

    from aotc.tree_util import tree_map, register_pytree_node_class
"""

from aotc.frontend.core.tree import (
    DictKey,
    FlattenedIndexKey,
    GetAttrKey,
    KeyEntry,
    KeyPath,
    SequenceKey,
    keystr,
)
from aotc.frontend.core.tree import TreeDef as PyTreeDef
from aotc.frontend.core.tree import all as tree_all
from aotc.frontend.core.tree import broadcast as tree_broadcast
from aotc.frontend.core.tree import flatten as tree_flatten
from aotc.frontend.core.tree import flatten_with_path as tree_flatten_with_path
from aotc.frontend.core.tree import leaves as tree_leaves
from aotc.frontend.core.tree import leaves_with_path as tree_leaves_with_path
from aotc.frontend.core.tree import map as tree_map
from aotc.frontend.core.tree import map_with_path as tree_map_with_path
from aotc.frontend.core.tree import reduce as tree_reduce
from aotc.frontend.core.tree import reduce_associative as tree_reduce_associative
from aotc.frontend.core.tree import structure as tree_structure
from aotc.frontend.core.tree import transpose as tree_transpose
from aotc.frontend.core.tree import unflatten as tree_unflatten
from aotc.frontend.core.tree_util import (
    Partial,
    all_leaves,
    flatten_one_level,
    flatten_one_level_with_keys,
    is_tree_node,
    register_dataclass,
    register_pytree_node,
    register_pytree_node_class,
    register_pytree_with_keys,
    register_pytree_with_keys_class,
    register_static,
    treedef_children,
    treedef_is_leaf,
    treedef_tuple,
)

__all__ = [
    "DictKey", "FlattenedIndexKey", "GetAttrKey", "KeyEntry", "KeyPath", "Partial", "PyTreeDef",
    "SequenceKey", "all_leaves", "flatten_one_level", "flatten_one_level_with_keys",
    "is_tree_node", "keystr", "register_dataclass", "register_pytree_node",
    "register_pytree_node_class", "register_pytree_with_keys", "register_pytree_with_keys_class",
    "register_static", "tree_all", "tree_broadcast", "tree_flatten", "tree_flatten_with_path",
    "tree_leaves", "tree_leaves_with_path", "tree_map", "tree_map_with_path", "tree_reduce",
    "tree_reduce_associative", "tree_structure", "tree_transpose", "tree_unflatten",
    "treedef_children", "treedef_is_leaf", "treedef_tuple",
]
