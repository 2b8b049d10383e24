"""Pytrees: nested tuples, lists, dicts, namedtuples and None, plus user-registered nodes.

    leaves, treedef = aotc.tree.flatten({"w": w, "b": (b1, b2)})
    tree = aotc.tree.unflatten(treedef, leaves)
    aotc.tree.map(lambda x: x * 2, params)
"""

import builtins
import dataclasses
import functools
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

# ---- keys: one step of a path from the root to a leaf (JAX's key classes) --------------------


@dataclasses.dataclass(frozen=True)
class SequenceKey:
    """The index of a tuple's or list's child: `[0]`."""

    idx: int

    def __str__(self) -> str:
        return f"[{self.idx!r}]"


@dataclasses.dataclass(frozen=True)
class DictKey:
    """The key of a dict's child: `['w']`."""

    key: Any

    def __str__(self) -> str:
        return f"[{self.key!r}]"


@dataclasses.dataclass(frozen=True)
class GetAttrKey:
    """The attribute of a namedtuple's or dataclass's child: `.name`."""

    name: str

    def __str__(self) -> str:
        return f".{self.name}"


@dataclasses.dataclass(frozen=True)
class FlattenedIndexKey:
    """The position of a child of a node registered without keys: `[<flat index 0>]`."""

    key: int

    def __str__(self) -> str:
        return f"[<flat index {self.key}>]"


KeyEntry = SequenceKey | DictKey | GetAttrKey | FlattenedIndexKey | Any
KeyPath = tuple[KeyEntry, ...]


def keystr(keys: KeyPath, *, simple: bool = False, separator: str = "") -> str:
    """A key path as text: `['w'][0].x`, or with simple=True the bare keys joined by separator.

    Example:
        >>> keystr((DictKey("w"), SequenceKey(0)))   # "['w'][0]"
    """
    if not simple:
        return separator.join(str(k) for k in keys)
    bare = {SequenceKey: "idx", DictKey: "key", GetAttrKey: "name", FlattenedIndexKey: "key"}
    return separator.join(str(getattr(k, bare[type(k)])) if type(k) in bare else str(k)
                          for k in keys)


# ---- the registry of node types -----------------------------------------------------------


class _Node(NamedTuple):
    flatten: Callable  # x -> (children, aux)
    unflatten: Callable  # (aux, children) -> x
    flatten_with_keys: Callable | None  # x -> (((key, child), ...), aux)


_REGISTRY: dict[type, _Node] = {}
_BUILTIN = (tuple, list, dict, type(None))


class TreeDef(NamedTuple):
    """The structure of a pytree: hashable, comparable, printable."""

    kind: Any  # None for a leaf, else the node type
    aux: Any  # static data: dict keys, namedtuple class, user aux data
    children: tuple

    @property
    def num_leaves(self) -> int:
        return builtins.sum(1 for td in _preorder(self) if td.kind is None)

    @property
    def num_nodes(self) -> int:
        return builtins.sum(1 for _ in _preorder(self))

    def unflatten(self, leaves: Iterable) -> Any:
        return unflatten(self, leaves)

    def flatten_up_to(self, tree) -> list:
        return flatten_up_to(self, tree)

    def __repr__(self) -> str:
        def node(td, inner):
            if td.kind is dict:
                return "{" + ", ".join(f"{k!r}: {c}" for k, c in zip(td.aux, inner)) + "}"
            if td.kind is tuple:
                return f"({', '.join(inner)}{',' if len(inner) == 1 else ''})"
            if td.kind is list:
                return f"[{', '.join(inner)}]"
            if td.kind is type(None):
                return "None"
            return f"{getattr(td.kind, '__name__', td.kind)}({', '.join(inner)})"

        return _fold(self, lambda: "*", node)


LEAF = TreeDef(None, None, ())


def _preorder(treedef: TreeDef):
    stack = [treedef]
    while stack:
        td = stack.pop()
        yield td
        stack.extend(reversed(td.children))


def _fold(treedef: TreeDef, leaf: Callable, node: Callable):
    """Post-order over a TreeDef without recursion: leaf() per leaf (left to right),
    node(td, child_results) per node."""
    frames = [(treedef, [])]
    pending = [iter(treedef.children)]
    while True:
        child = next(pending[-1], None)
        if child is None:
            td, results = frames.pop()
            pending.pop()
            value = leaf() if td.kind is None else node(td, results)
            if not frames:
                return value
            frames[-1][1].append(value)
        else:
            frames.append((child, []))
            pending.append(iter(child.children))


def register(node_type: type, flatten_fn: Callable, unflatten_fn: Callable,
             flatten_with_keys_fn: Callable | None = None) -> None:
    """Register a pytree node: flatten_fn(x) -> (children, aux); unflatten_fn(aux, children) -> x;
    optionally flatten_with_keys_fn(x) -> (((key, child), ...), aux) for key paths.

    Example:
        aotc.tree.register(Point, lambda p: ((p.x, p.y), None), lambda aux, c: Point(*c))
    """
    if node_type in _REGISTRY or node_type in _BUILTIN:
        raise ValueError(f"{node_type.__name__} is already a pytree node")
    _REGISTRY[node_type] = _Node(flatten_fn, unflatten_fn, flatten_with_keys_fn)


def _is_namedtuple(x) -> bool:
    return isinstance(x, tuple) and hasattr(type(x), "_fields")


def _children(x, with_keys: bool = False):
    """(kind, aux, children, keys) of a node (keys None unless with_keys), or None for a leaf."""
    kind = type(x)
    if x is None:
        return kind, None, (), ()
    if kind in _REGISTRY:
        entry = _REGISTRY[kind]
        if with_keys and entry.flatten_with_keys is not None:
            pairs, aux = entry.flatten_with_keys(x)
            pairs = tuple(pairs)
            return kind, aux, tuple(c for _, c in pairs), tuple(k for k, _ in pairs)
        children, aux = entry.flatten(x)
        children = tuple(children)
        keys = tuple(FlattenedIndexKey(i) for i in range(len(children))) if with_keys else None
        return kind, aux, children, keys
    if _is_namedtuple(x):
        keys = tuple(GetAttrKey(f) for f in kind._fields) if with_keys else None
        return kind, kind, tuple(x), keys
    if isinstance(x, (tuple, list)):
        keys = tuple(SequenceKey(i) for i in range(len(x))) if with_keys else None
        return (tuple if isinstance(x, tuple) else list), None, tuple(x), keys
    if isinstance(x, dict):
        names = tuple(sorted(x))
        keys = tuple(DictKey(k) for k in names) if with_keys else None
        return dict, names, tuple(x[k] for k in names), keys
    return None


def _node(x, is_leaf: Callable | None, with_keys: bool = False):
    if is_leaf is not None and is_leaf(x):
        return None
    return _children(x, with_keys)


def _flatten(tree, is_leaf: Callable | None, with_paths: bool):
    """(leaves, paths or None, treedef), walking with an explicit stack (no recursion limit)."""
    leaves: list = []
    paths: list | None = [] if with_paths else None
    root = _node(tree, is_leaf, with_paths)
    if root is None:
        return [tree], ([()] if with_paths else None), LEAF
    # frame: [kind, aux, children, keys, built child treedefs, path]
    frames = [[*root, [], ()]]
    while True:
        frame = frames[-1]
        kind, aux, children, keys, built, path = frame
        if len(built) == len(children):
            frames.pop()
            treedef = TreeDef(kind, aux, tuple(built))
            if not frames:
                return leaves, paths, treedef
            frames[-1][4].append(treedef)
            continue
        i = len(built)
        child = children[i]
        child_path = (*path, keys[i]) if with_paths else ()
        node = _node(child, is_leaf, with_paths)
        if node is None:
            leaves.append(child)
            if with_paths:
                paths.append(child_path)
            built.append(LEAF)
        else:
            frames.append([*node, [], child_path])


def flatten(tree, is_leaf: Callable | None = None) -> tuple[list, TreeDef]:
    """Leaves in a fixed order (dicts by sorted key) and the tree's structure.

    Example:
        >>> leaves, treedef = aotc.tree.flatten({"b": 1, "a": (2, None)})   # [2, 1]
    """
    leaves, _, treedef = _flatten(tree, is_leaf, False)
    return leaves, treedef


def flatten_with_path(tree, is_leaf: Callable | None = None) -> tuple[list, TreeDef]:
    """[(key path, leaf), ...] and the tree's structure.

    Example:
        >>> aotc.tree.flatten_with_path({"a": [1]})[0]   # [((DictKey('a'), SequenceKey(0)), 1)]
    """
    leaves, paths, treedef = _flatten(tree, is_leaf, True)
    return list(zip(paths, leaves)), treedef


def leaves_with_path(tree, is_leaf: Callable | None = None) -> list:
    """[(key path, leaf), ...] in flatten order."""
    return flatten_with_path(tree, is_leaf)[0]


def _build(treedef: TreeDef, aux, children: list):
    kind = treedef.kind
    if kind is type(None):
        return None
    if kind is dict:
        return dict(zip(aux, children))
    if kind is tuple:
        return tuple(children)
    if kind is list:
        return children
    if kind in _REGISTRY:
        return _REGISTRY[kind].unflatten(aux, children)
    return kind(*children)  # namedtuple


def unflatten(treedef: TreeDef, leaves) -> Any:
    """Rebuild a pytree of `treedef` from its leaves.

    Example:
        >>> aotc.tree.unflatten(aotc.tree.structure((1, [2])), ["a", "b"])   # ("a", ["b"])
    """
    leaves = list(leaves)
    if len(leaves) != treedef.num_leaves:
        raise ValueError(f"tree {treedef!r} has {treedef.num_leaves} leaves, got {len(leaves)}")
    it = iter(leaves)
    return _fold(treedef, lambda: next(it), lambda td, children: _build(td, td.aux, children))


def flatten_up_to(treedef: TreeDef, tree) -> list:
    """The subtrees of `tree` at the leaves of `treedef`, a prefix of tree's structure."""
    out: list = []
    stack = [(treedef, tree)]
    while stack:
        td, x = stack.pop()
        if td.kind is None:
            out.append(x)
            continue
        node = _children(x)
        if node is None or node[0] is not td.kind or node[1] != td.aux or len(
                node[2]) != len(td.children):
            raise ValueError(f"tree structures differ: expected {td!r}, got "
                             f"{structure(x)!r}")
        stack.extend(reversed(list(zip(td.children, node[2]))))
    return out


def leaves(tree, is_leaf: Callable | None = None) -> list:
    """The leaves of a pytree, in flatten order."""
    return flatten(tree, is_leaf)[0]


def structure(tree, is_leaf: Callable | None = None) -> TreeDef:
    """The TreeDef of a pytree."""
    return flatten(tree, is_leaf)[1]


def _rest_leaves(treedef: TreeDef, rest) -> list[list]:
    others = []
    for other in rest:
        try:
            others.append(flatten_up_to(treedef, other))
        except ValueError:
            raise ValueError(f"tree structures differ: {treedef!r} vs {structure(other)!r}"
                             ) from None
    return others


def map(fn: Callable, tree, *rest, is_leaf: Callable | None = None):
    """Apply fn to each leaf (and the matching subtrees of `rest`, which have tree's structure or
    tree's structure as a prefix).

    Example:
        >>> aotc.tree.map(lambda a, b: a + b, {"x": 1}, {"x": 10})   # {"x": 11}
    """
    flat, treedef = flatten(tree, is_leaf)
    others = _rest_leaves(treedef, rest)
    return unflatten(treedef, [fn(*xs) for xs in zip(flat, *others)])


def map_with_path(fn: Callable, tree, *rest, is_leaf: Callable | None = None):
    """Apply fn(path, leaf, *matching) to each leaf.

    Example:
        >>> aotc.tree.map_with_path(lambda p, x: keystr(p), {"a": 1})   # {"a": "['a']"}
    """
    pairs, treedef = flatten_with_path(tree, is_leaf)
    others = _rest_leaves(treedef, rest)
    return unflatten(treedef, [fn(path, x, *xs) for (path, x), *xs in zip(pairs, *others)])


class _Unspecified:
    def __repr__(self) -> str:
        return "<unspecified>"


_UNSPECIFIED = _Unspecified()


def reduce(function: Callable, tree, initializer=_UNSPECIFIED, is_leaf: Callable | None = None):
    """functools.reduce over the leaves.

    Example:
        >>> aotc.tree.reduce(operator.add, [1, (2, 3)])   # 6
    """
    if initializer is _UNSPECIFIED:
        return functools.reduce(function, leaves(tree, is_leaf))
    return functools.reduce(function, leaves(tree, is_leaf), initializer)


def reduce_associative(operation: Callable, tree, *, identity=_UNSPECIFIED,
                       is_leaf: Callable | None = None):
    """Reduce the leaves pairwise, as a balanced tree (operation must be associative).

    Example:
        >>> aotc.tree.reduce_associative(operator.add, [1, 2, 3])   # 6
    """
    values = leaves(tree, is_leaf)
    if not values:
        if identity is _UNSPECIFIED:
            raise TypeError("reduce_associative of a tree without leaves needs an identity")
        return identity
    while len(values) > 1:
        paired = [operation(a, b) for a, b in zip(values[::2], values[1::2])]
        values = paired + values[len(paired) * 2:]
    return values[0]


def all(tree, *, is_leaf: Callable | None = None) -> bool:
    """True when every leaf is truthy.

    Example:
        >>> aotc.tree.all({"a": True, "b": [1, 2]})   # True
    """
    return builtins.all(leaves(tree, is_leaf))


def transpose(outer_treedef: TreeDef, inner_treedef: TreeDef | None, pytree_to_transpose):
    """An outer tree of inner trees turned into an inner tree of outer trees.

    Example:
        >>> aotc.tree.transpose(structure([0, 0]), structure((0, 0)), [(1, 2), (3, 4)])
        ([1, 3], [2, 4])
    """
    outer = flatten_up_to(outer_treedef, pytree_to_transpose)
    if inner_treedef is None:
        inner_treedef = structure(outer[0]) if outer else LEAF
    inner = [flatten_up_to(inner_treedef, x) for x in outer]
    columns = [unflatten(outer_treedef, [row[i] for row in inner])
               for i in range(inner_treedef.num_leaves)]
    return unflatten(inner_treedef, columns)


def broadcast(prefix_tree, full_tree, is_leaf: Callable | None = None):
    """prefix_tree's leaves repeated over the matching subtrees of full_tree.

    Example:
        >>> aotc.tree.broadcast((1, 2), ((0, 0), 0))   # ((1, 1), 2)
    """
    prefix_leaves, prefix_def = flatten(prefix_tree, is_leaf)
    subtrees = flatten_up_to(prefix_def, full_tree)
    return unflatten(prefix_def, [map(lambda _, v=value: v, sub, is_leaf=is_leaf)
                                  for value, sub in zip(prefix_leaves, subtrees)])


def leaf_paths(treedef: TreeDef, prefix: str = "") -> list[str]:
    """Names like "[0]['w'].field" of a tree's leaves, in flatten order, for messages."""
    paths: list[str] = []
    stack = [(treedef, prefix)]
    while stack:
        td, path = stack.pop()
        if td.kind is None:
            paths.append(path)
            continue
        if td.kind is dict:
            keys = [f"[{k!r}]" for k in td.aux]
        elif hasattr(td.kind, "_fields"):
            keys = [f".{name}" for name in td.kind._fields]
        else:
            keys = [f"[{i}]" for i in range(len(td.children))]
        stack.extend(reversed([(c, path + k) for k, c in zip(keys, td.children)]))
    return paths


def broadcast_prefix(prefix, full) -> list:
    """One value per leaf of `full`: `prefix` is a tree whose leaves (or None) stand for whole
    subtrees of `full` (JAX's in_axes rule)."""
    out: list = []
    stack = [(prefix, full)]
    while stack:
        p, f = stack.pop()
        if p is None or not isinstance(p, (tuple, list, dict)):
            out.extend([p] * len(leaves(f)))
        elif isinstance(p, dict):
            if not isinstance(f, dict) or set(p) != set(f):
                raise ValueError(f"axes {prefix!r} do not match the structure of "
                                 f"{structure(full)!r}")
            stack.extend(reversed([(p[k], f[k]) for k in sorted(f)]))
        else:
            if not isinstance(f, (tuple, list)) or len(p) != len(f):
                raise ValueError(f"axes {prefix!r} do not match the structure of "
                                 f"{structure(full)!r}")
            stack.extend(reversed(list(zip(p, f))))
    return out
