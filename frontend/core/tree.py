"""Pytrees: nested tuples, lists, dicts, namedtuples and None, plus user-registered nodes.

    leaves, treedef = aotc.tree.flatten({"w": w, "b": (b1, b2)})
    tree = aotc.tree.unflatten(treedef, leaves)
    aotc.tree.map(lambda x: x * 2, params)
"""

from collections.abc import Callable
from typing import Any, NamedTuple

_REGISTRY: dict[type, tuple[Callable, Callable]] = {}


class TreeDef(NamedTuple):
    """The structure of a pytree: hashable, comparable, printable."""

    kind: Any  # None for a leaf, else the node type
    aux: Any  # static data: dict keys, namedtuple class, user aux data
    children: tuple

    @property
    def num_leaves(self) -> int:
        if self.kind is None:
            return 1
        return sum(child.num_leaves for child in self.children)

    def __repr__(self) -> str:
        if self.kind is None:
            return "*"
        inner = ", ".join(repr(c) for c in self.children)
        if self.kind is dict:
            return "{" + ", ".join(f"{k!r}: {c!r}" for k, c in zip(self.aux, self.children)) + "}"
        if self.kind is tuple:
            return f"({inner}{',' if len(self.children) == 1 else ''})"
        if self.kind is list:
            return f"[{inner}]"
        if self.kind is type(None):
            return "None"
        return f"{getattr(self.kind, '__name__', self.kind)}({inner})"


LEAF = TreeDef(None, None, ())


def register(node_type: type, flatten_fn: Callable, unflatten_fn: Callable) -> None:
    """Register a pytree node: flatten_fn(x) -> (children, aux); unflatten_fn(aux, children) -> x.

    Example:
        aotc.tree.register(Point, lambda p: ((p.x, p.y), None), lambda aux, c: Point(*c))
    """
    if node_type in _REGISTRY or node_type in (tuple, list, dict, type(None)):
        raise ValueError(f"{node_type.__name__} is already a pytree node")
    _REGISTRY[node_type] = (flatten_fn, unflatten_fn)


def _is_namedtuple(x) -> bool:
    return isinstance(x, tuple) and hasattr(type(x), "_fields")


def _children(x):
    """(kind, aux, children) of a node, or None for a leaf."""
    if x is None:
        return type(None), None, ()
    if type(x) in _REGISTRY:
        children, aux = _REGISTRY[type(x)][0](x)
        return type(x), aux, tuple(children)
    if _is_namedtuple(x):
        return type(x), type(x), tuple(x)
    if isinstance(x, tuple):
        return tuple, None, x
    if isinstance(x, list):
        return list, None, tuple(x)
    if isinstance(x, dict):
        keys = tuple(sorted(x))
        return dict, keys, tuple(x[k] for k in keys)
    return None


def flatten(tree) -> tuple[list, TreeDef]:
    """Leaves in a fixed order (dicts by sorted key) and the tree's structure."""
    leaves: list = []

    def walk(x) -> TreeDef:
        node = _children(x)
        if node is None:
            leaves.append(x)
            return LEAF
        kind, aux, children = node
        return TreeDef(kind, aux, tuple(walk(c) for c in children))

    return leaves, walk(tree)


def unflatten(treedef: TreeDef, leaves) -> Any:
    """Rebuild a pytree of `treedef` from its leaves."""
    it = iter(leaves)

    def build(td: TreeDef):
        if td.kind is None:
            return next(it)
        children = [build(c) for c in td.children]
        if td.kind is type(None):
            return None
        if td.kind is dict:
            return dict(zip(td.aux, children))
        if td.kind is tuple:
            return tuple(children)
        if td.kind is list:
            return children
        if td.kind in _REGISTRY:
            return _REGISTRY[td.kind][1](td.aux, children)
        return td.kind(*children)  # namedtuple

    leaves = list(leaves)
    if len(leaves) != treedef.num_leaves:
        raise ValueError(f"tree {treedef!r} has {treedef.num_leaves} leaves, got {len(leaves)}")
    return build(treedef)


def leaves(tree) -> list:
    return flatten(tree)[0]


def structure(tree) -> TreeDef:
    return flatten(tree)[1]


def map(fn: Callable, tree, *rest):
    """Apply fn to each leaf (and the matching leaves of `rest`, which share tree's structure)."""
    flat, treedef = flatten(tree)
    others = []
    for other in rest:
        other_flat, other_def = flatten(other)
        if other_def != treedef:
            raise ValueError(f"tree structures differ: {treedef!r} vs {other_def!r}")
        others.append(other_flat)
    return unflatten(treedef, [fn(*xs) for xs in zip(flat, *others)])


def leaf_paths(treedef: TreeDef, prefix: str = "") -> list[str]:
    """Names like "[0]['w'].field" of a tree's leaves, in flatten order, for messages."""
    if treedef.kind is None:
        return [prefix]
    if treedef.kind is dict:
        keys = [f"[{k!r}]" for k in treedef.aux]
    elif hasattr(treedef.kind, "_fields"):
        keys = [f".{name}" for name in treedef.kind._fields]
    else:
        keys = [f"[{i}]" for i in range(len(treedef.children))]
    return [path for key, child in zip(keys, treedef.children)
            for path in leaf_paths(child, prefix + key)]


def broadcast_prefix(prefix, full) -> list:
    """One value per leaf of `full`: `prefix` is a tree whose leaves (or None) stand for whole
    subtrees of `full` (JAX's in_axes rule)."""
    if prefix is None or not isinstance(prefix, (tuple, list, dict)):
        return [prefix] * len(leaves(full))
    if isinstance(prefix, dict):
        if not isinstance(full, dict) or set(prefix) != set(full):
            raise ValueError(f"axes {prefix!r} do not match the structure of {structure(full)!r}")
        return [a for k in sorted(full) for a in broadcast_prefix(prefix[k], full[k])]
    if not isinstance(full, (tuple, list)) or len(prefix) != len(full):
        raise ValueError(f"axes {prefix!r} do not match the structure of {structure(full)!r}")
    return [a for p, f in zip(prefix, full) for a in broadcast_prefix(p, f)]
