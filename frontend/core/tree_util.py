"""jax.tree_util's registration helpers and small utilities, on top of `tree`.

    @aotc.tree_util.register_dataclass
    @dataclasses.dataclass
    class Layer:
        w: object
        b: object
        name: str = aotc.tree.static(default="dense")
"""

import dataclasses
import functools
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from aotc.frontend.core import tree
from aotc.frontend.core.tree import LEAF, GetAttrKey, TreeDef


def register_pytree_node(nodetype: type, flatten_func: Callable, unflatten_func: Callable,
                         flatten_with_keys_func: Callable | None = None) -> None:
    """jax.tree_util.register_pytree_node: flatten_func(x) -> (children, aux),
    unflatten_func(aux, children) -> x.

    Example:
        >>> register_pytree_node(Box, lambda b: ((b.lo, b.hi), None), lambda _, c: Box(*c))
    """
    tree.register(nodetype, flatten_func, unflatten_func, flatten_with_keys_func)


def register_pytree_with_keys(nodetype: type, flatten_with_keys: Callable,
                              unflatten_func: Callable,
                              flatten_func: Callable | None = None) -> None:
    """Register a node by flatten_with_keys(x) -> (((key, child), ...), aux).

    Example:
        >>> register_pytree_with_keys(Box, lambda b: (((GetAttrKey("lo"), b.lo),), None), unflat)
    """
    if flatten_func is None:
        def flatten_func(x):
            pairs, aux = flatten_with_keys(x)
            return [child for _, child in pairs], aux
    tree.register(nodetype, flatten_func, unflatten_func, flatten_with_keys)


def register_pytree_node_class(cls: type) -> type:
    """Class decorator: cls.tree_flatten() -> (children, aux), cls.tree_unflatten(aux, children).

    Example:
        >>> @register_pytree_node_class
        ... class Box: ...
    """
    tree.register(cls, lambda x: x.tree_flatten(), cls.tree_unflatten)
    return cls


def register_pytree_with_keys_class(cls: type) -> type:
    """Class decorator: cls.tree_flatten_with_keys() and cls.tree_unflatten(aux, children)."""
    flatten = getattr(cls, "tree_flatten", None)
    register_pytree_with_keys(cls, lambda x: x.tree_flatten_with_keys(), cls.tree_unflatten,
                              None if flatten is None else (lambda x: x.tree_flatten()))
    return cls


def register_dataclass(nodetype: type, data_fields: Sequence[str] | None = None,
                       meta_fields: Sequence[str] | None = None,
                       drop_fields: Sequence[str] = ()) -> type:
    """Register a dataclass: data fields are children, meta fields static aux data. Without
    field lists, fields with metadata static=True (aotc.tree.static) are meta, the rest data.

    Example:
        >>> @register_dataclass
        ... @dataclasses.dataclass
        ... class Layer:
        ...     w: object
        ...     name: str = static(default="dense")
    """
    if data_fields is None and meta_fields is None:
        if not dataclasses.is_dataclass(nodetype):
            raise TypeError(f"register_dataclass: {nodetype.__name__} is not a dataclass; pass "
                            "data_fields and meta_fields")
        fields = [f for f in dataclasses.fields(nodetype) if f.init and f.name not in drop_fields]
        meta_fields = [f.name for f in fields if f.metadata.get("static", False)]
        data_fields = [f.name for f in fields if not f.metadata.get("static", False)]
    elif data_fields is None or meta_fields is None:
        raise TypeError("register_dataclass: pass both data_fields and meta_fields, or neither")
    data_fields, meta_fields = tuple(data_fields), tuple(meta_fields)

    def flatten_with_keys(x):
        pairs = [(GetAttrKey(name), getattr(x, name)) for name in data_fields]
        return pairs, tuple(getattr(x, name) for name in meta_fields)

    def flatten(x):
        return ([getattr(x, name) for name in data_fields],
                tuple(getattr(x, name) for name in meta_fields))

    def unflatten(aux, children):
        return nodetype(**dict(zip(data_fields, children)), **dict(zip(meta_fields, aux)))

    tree.register(nodetype, flatten, unflatten, flatten_with_keys)
    return nodetype


def register_static(cls: type) -> type:
    """Register cls as a node without children: its values are static (part of the TreeDef)."""
    tree.register(cls, lambda x: ((), x), lambda aux, _: aux, lambda x: ((), x))
    return cls


def static(**kwargs) -> Any:
    """dataclasses.field(...) marked static=True, for register_dataclass (jax.tree.static)."""
    metadata = {**kwargs.pop("metadata", {}), "static": True}
    return dataclasses.field(metadata=metadata, **kwargs)


class Partial(functools.partial):
    """functools.partial as a pytree: the function is static, args and keywords are children.

    Example:
        >>> add_one = Partial(anp.add, 1.0)
        >>> aotc.jit(lambda f, x: f(x))(add_one, x)
    """

    def __new__(cls, func, *args, **kw):
        if isinstance(func, functools.partial):  # keep the function static, like JAX
            original, func = func, func.func
            args, kw = original.args + args, {**original.keywords, **kw}
        return super().__new__(cls, func, *args, **kw)


tree.register(Partial, lambda p: ((p.args, p.keywords), p.func),
              lambda func, children: Partial(func, *children[0], **children[1]))


def all_leaves(iterable: Iterable, is_leaf: Callable | None = None) -> bool:
    """True when every element of iterable is a leaf."""
    return all(tree.structure(x, is_leaf) == LEAF for x in iterable)


def flatten_one_level(x) -> tuple[list, Any]:
    """(children, aux) of one node; a ValueError for a leaf."""
    node = tree._children(x)
    if node is None:
        raise ValueError(f"can't tree-flatten type: {type(x)}")
    return list(node[2]), node[1]


def flatten_one_level_with_keys(x) -> tuple[list, Any]:
    """([(key, child), ...], aux) of one node; a ValueError for a leaf."""
    node = tree._children(x, with_keys=True)
    if node is None:
        raise ValueError(f"can't tree-flatten type: {type(x)}")
    return list(zip(node[3], node[2])), node[1]


def is_tree_node(typ: type) -> bool:
    """Whether values of type typ are pytree nodes (not leaves)."""
    return typ is type(None) or typ in tree._REGISTRY or issubclass(typ, (tuple, list, dict))


def treedef_children(treedef: TreeDef) -> list[TreeDef]:
    return list(treedef.children)


def treedef_is_leaf(treedef: TreeDef) -> bool:
    return treedef.kind is None


def treedef_tuple(treedefs: Iterable[TreeDef]) -> TreeDef:
    return TreeDef(tuple, None, tuple(treedefs))
