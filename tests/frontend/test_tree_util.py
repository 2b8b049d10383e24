"""aotc.tree and aotc.tree_util against jax.tree / jax.tree_util, and registered nodes through
aotc.jit, grad and vmap."""

import dataclasses
import operator
from collections import namedtuple

import jax
import jax.tree_util as jtu
import numpy as np
import pytest

import aotc
import aotc.numpy as anp
import aotc.tree_util as atu

Point = namedtuple("Point", ["x", "y"])

TREES = {
    "nested": {"b": [1, (2, None)], "a": Point(3, {"z": 4, "y": 5})},
    "none": None,
    "leaf": 7,
    "empty": ((), [], {}),
    "list_of_dicts": [{"w": 1, "b": 2}, {"w": 3, "b": 4}],
}


class _Pair:
    def __init__(self, a, b):
        self.a, self.b = a, b

    def __eq__(self, other):
        return type(other) is type(self) and (self.a, self.b) == (other.a, other.b)


class OursPair(_Pair):
    pass


class TheirsPair(_Pair):
    pass


atu.register_pytree_node(OursPair, lambda p: ((p.a, p.b), "aux"), lambda _, c: OursPair(*c))
jtu.register_pytree_node(TheirsPair, lambda p: ((p.a, p.b), "aux"), lambda _, c: TheirsPair(*c))


@pytest.mark.parametrize("name", sorted(TREES))
def test_flatten_leaves_paths_and_map_match_jax(name):
    value = TREES[name]
    leaves, treedef = aotc.tree.flatten(value)
    assert leaves == jax.tree.leaves(value)
    assert aotc.tree.unflatten(treedef, leaves) == value
    assert treedef.num_leaves == jax.tree.structure(value).num_leaves
    assert treedef.num_nodes == jax.tree.structure(value).num_nodes
    ours = [(atu.keystr(p), x) for p, x in aotc.tree.leaves_with_path(value)]
    theirs = [(jtu.keystr(p), x) for p, x in jax.tree.leaves_with_path(value)]
    assert ours == theirs
    assert aotc.tree.map(lambda x: x * 2, value) == jax.tree.map(lambda x: x * 2, value)
    assert (aotc.tree.map_with_path(lambda p, x: atu.keystr(p, simple=True, separator="/"), value)
            == jax.tree.map_with_path(lambda p, x: jtu.keystr(p, simple=True, separator="/"),
                                      value))


def test_registered_class_paths_and_round_trip():
    value = {"p": OursPair(1, [2, 3])}
    pairs, treedef = atu.tree_flatten_with_path(value)
    assert [(atu.keystr(p), x) for p, x in pairs] == [
        ("['p'][<flat index 0>]", 1), ("['p'][<flat index 1>][0]", 2),
        ("['p'][<flat index 1>][1]", 3)]
    theirs = jtu.tree_flatten_with_path({"p": TheirsPair(1, [2, 3])})[0]
    assert [jtu.keystr(p) for p, _ in theirs] == [atu.keystr(p) for p, _ in pairs]
    assert atu.tree_unflatten(treedef, [4, 5, 6]) == {"p": OursPair(4, [5, 6])}


def test_map_with_prefix_rest_reduce_all_and_is_leaf():
    value = {"a": [1, 2], "b": 3}
    rest = {"a": [10, 20], "b": (30, 40)}
    assert aotc.tree.map(lambda x, y: (x, y), value, rest) == jax.tree.map(
        lambda x, y: (x, y), value, rest)
    with pytest.raises(ValueError, match="structures differ"):
        aotc.tree.map(lambda x, y: x, value, {"a": 1, "b": 2})
    assert aotc.tree.reduce(operator.add, value) == jax.tree.reduce(operator.add, value) == 6
    assert aotc.tree.reduce(operator.add, value, 100) == 106
    assert aotc.tree.reduce_associative(operator.add, [1, 2, 3, 4, 5]) == 15
    assert aotc.tree.reduce_associative(operator.add, [], identity=0) == 0
    assert aotc.tree.all(value) and not aotc.tree.all([1, 0])
    is_list = lambda x: isinstance(x, list)
    assert aotc.tree.leaves(value, is_leaf=is_list) == jax.tree.leaves(value, is_leaf=is_list)
    assert atu.all_leaves([1, 2.0]) and not atu.all_leaves([1, (2,)])


def test_transpose_broadcast_and_treedef_helpers():
    value = [{"w": 1, "b": 2}, {"w": 3, "b": 4}]
    outer, inner = aotc.tree.structure([0, 0]), aotc.tree.structure({"w": 0, "b": 0})
    assert aotc.tree.transpose(outer, inner, value) == jax.tree.transpose(
        jax.tree.structure([0, 0]), jax.tree.structure({"w": 0, "b": 0}), value)
    assert aotc.tree.transpose(outer, None, value) == {"w": [1, 3], "b": [2, 4]}
    prefix, full = (1, {"a": 2}), ((3, 4), {"a": [5, None, 6]})
    assert aotc.tree.broadcast(prefix, full) == jax.tree.broadcast(prefix, full)
    td = atu.treedef_tuple([inner, aotc.tree.structure(1)])
    assert td == aotc.tree.structure(({"w": 0, "b": 0}, 1))
    assert atu.treedef_is_leaf(aotc.tree.structure(1)) and atu.treedef_children(td)[1].kind is None
    assert atu.flatten_one_level({"b": 1, "a": 2}) == ([2, 1], ("a", "b"))
    with pytest.raises(ValueError):
        atu.flatten_one_level(1.0)
    assert atu.is_tree_node(dict) and atu.is_tree_node(Point) and not atu.is_tree_node(float)


def test_deep_trees_do_not_hit_the_recursion_limit():
    deep = 1
    for _ in range(5000):
        deep = [deep]
    leaves, treedef = aotc.tree.flatten(deep)
    assert leaves == [1] and treedef.num_leaves == 1
    rebuilt = aotc.tree.unflatten(treedef, [2])
    assert aotc.tree.leaves(rebuilt) == [2]
    assert len(aotc.tree.leaves_with_path(deep)[0][0]) == 5000


@atu.register_dataclass
@dataclasses.dataclass
class Layer:
    w: object
    b: object
    name: str = aotc.tree.static(default="dense")


@atu.register_pytree_node_class
class Scaled:
    def __init__(self, value, scale):
        self.value, self.scale = value, scale

    def tree_flatten(self):
        return (self.value,), self.scale

    @classmethod
    def tree_unflatten(cls, scale, children):
        return cls(children[0], scale)


def test_dataclass_and_node_class_match_jax_and_work_through_transforms():
    @jtu.register_dataclass
    @dataclasses.dataclass
    class JaxLayer:
        w: object
        b: object
        name: str = jax.tree.static(default="dense")

    ours = aotc.tree.flatten_with_path(Layer(1.0, 2.0, "x"))
    theirs = jax.tree.flatten_with_path(JaxLayer(1.0, 2.0, "x"))
    assert [(atu.keystr(p), x) for p, x in ours[0]] == [(jtu.keystr(p), x) for p, x in theirs[0]]
    assert aotc.tree.unflatten(ours[1], [3.0, 4.0]) == Layer(3.0, 4.0, "x")

    x = np.arange(3, dtype=np.float32)
    layer = Layer(np.full(3, 2.0, np.float32), np.ones(3, np.float32))

    def loss(layer, s):
        return anp.sum((layer.w * x + layer.b) * s.scale * s.value)

    s = Scaled(np.ones(3, np.float32), 3.0)
    grads = aotc.grad(loss)(layer, s)
    assert isinstance(grads, Layer) and grads.name == "dense"
    np.testing.assert_allclose(grads.w, x * 3.0, rtol=1e-6)
    np.testing.assert_allclose(grads.b, np.full(3, 3.0), rtol=1e-6)
    np.testing.assert_allclose(aotc.jit(loss)(layer, s), np.sum((2 * x + 1) * 3.0), rtol=1e-6)
    out = aotc.vmap(lambda lay: Scaled(lay.w + lay.b, 2.0))(layer)
    assert isinstance(out, Scaled) and out.scale == 2.0
    np.testing.assert_allclose(out.value, np.full(3, 3.0))


def test_partial_is_a_pytree_through_jit():
    add = atu.Partial(anp.add, np.float32(1.0))
    leaves, _ = aotc.tree.flatten(add)
    assert leaves == jax.tree.leaves(jtu.Partial(np.add, np.float32(1.0)))
    np.testing.assert_allclose(aotc.jit(lambda f, x: f(x))(add, np.ones(2, np.float32)), [2, 2])


def test_facades_cover_jax_names():
    tree_names = {n for n in dir(jax.tree) if not n.startswith("_")}
    util_names = {n for n in dir(jtu) if not n.startswith("_")} - {"default_registry"}
    assert tree_names - set(dir(aotc.tree)) == set()
    assert util_names - set(dir(atu)) == set()
