"""Pytrees: flatten/unflatten/map, registered nodes, and pytrees through lower/jit."""

from collections import namedtuple

import numpy as np
import pytest

import aotc
import aotc.numpy as anp
from aotc import tree

Point = namedtuple("Point", ["x", "y"])


class Box:
    def __init__(self, lo, hi):
        self.lo, self.hi = lo, hi


tree.register(Box, lambda b: ((b.lo, b.hi), None), lambda aux, children: Box(*children))


def test_flatten_orders_dict_keys_and_round_trips():
    value = {"b": (1, [2, None]), "a": Point(3, 4)}
    leaves, treedef = tree.flatten(value)
    assert leaves == [3, 4, 1, 2]
    assert tree.unflatten(treedef, leaves) == value
    assert repr(treedef) == "{'a': Point(*, *), 'b': (*, [*, None])}"


def test_map_over_several_trees_and_structure_mismatch():
    assert tree.map(lambda a, b: a + b, {"x": 1, "y": (2,)}, {"x": 10, "y": (20,)}) == {
        "x": 11, "y": (22,)}
    with pytest.raises(ValueError, match="structures differ"):
        tree.map(lambda a, b: a, {"x": 1}, {"y": 1})


def test_registered_node_flattens_and_rebuilds():
    leaves, treedef = tree.flatten(Box(1, (2, 3)))
    assert leaves == [1, 2, 3]
    rebuilt = tree.unflatten(treedef, [4, 5, 6])
    assert isinstance(rebuilt, Box) and rebuilt.lo == 4 and rebuilt.hi == (5, 6)
    with pytest.raises(ValueError, match="already a pytree node"):
        tree.register(Box, None, None)


def test_unflatten_checks_leaf_count():
    _, treedef = tree.flatten((1, 2))
    with pytest.raises(ValueError, match="2 leaves, got 3"):
        tree.unflatten(treedef, [1, 2, 3])


def test_pytrees_in_and_out_of_jit():
    def step(state, batch):
        p = state["point"]
        moved = Point(p.x + batch.lo, p.y * batch.hi)
        return {"point": moved, "norm": anp.sqrt(moved.x**2 + moved.y**2), "nothing": None}

    state = {"point": Point(np.float32(1.0), np.float32(2.0))}
    batch = Box(np.ones(3, np.float32), np.full(3, 2.0, np.float32))
    out = aotc.jit(step)(state, batch)
    assert isinstance(out["point"], Point) and out["nothing"] is None
    np.testing.assert_allclose(out["point"].x, [2, 2, 2])
    np.testing.assert_allclose(out["norm"], np.sqrt(4 + 16) * np.ones(3), rtol=1e-6)


def test_jit_compiles_once_per_abstract_signature(monkeypatch):
    from aotc.tools import jit as api

    compiled = []
    original = api._Compiled.__init__

    def counting(self, traced, *rest):
        compiled.append(traced.name)
        original(self, traced, *rest)

    monkeypatch.setattr(api._Compiled, "__init__", counting)
    f = aotc.jit(lambda x, s: x * s)
    f(np.ones(3, np.float32), 2.0)
    f(np.zeros(3, np.float32), 5.0)  # same shapes, dtypes, weak scalar: cached
    assert len(compiled) == 1
    np.testing.assert_array_equal(f(np.ones(3, np.float32), 5.0), [5, 5, 5])
    f(np.ones(4, np.float32), 2.0)  # new shape
    f(np.ones(3, np.int32), 2)  # new dtype
    assert len(compiled) == 3
