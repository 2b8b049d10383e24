"""Shared test helpers: run a function through the interpreter and IREE and compare to numpy."""

import numpy as np

import aotc
from aotc.frontend.core import tree


def interpret_fn(fn, *args):
    """Trace fn on args and evaluate it with the numpy reference interpreter (pytree out)."""
    traced = aotc.lower(fn, *args)
    leaves = tree.leaves(args)
    outs = aotc.interpret(traced.module, traced.name, *[np.asarray(a) for a in leaves])
    return tree.unflatten(traced.out_tree, outs)


def assert_tree_close(actual, expected, rtol=1e-5, atol=1e-6, check_dtype=True):
    actual_leaves, actual_def = tree.flatten(actual)
    expected_leaves, expected_def = tree.flatten(expected)
    assert actual_def == expected_def, f"structure {actual_def} != {expected_def}"
    for a, e in zip(actual_leaves, expected_leaves):
        a, e = np.asarray(a), np.asarray(e)
        assert a.shape == e.shape, f"shape {a.shape} != {e.shape}"
        if check_dtype:
            assert a.dtype == e.dtype, f"dtype {a.dtype} != {e.dtype}"
        if a.dtype.kind in "biu":
            np.testing.assert_array_equal(a, e)
        else:
            np.testing.assert_allclose(a.astype(np.float64), e.astype(np.float64), rtol=rtol,
                                       atol=atol, equal_nan=True)


def check(fn, reference, *args, rtol=1e-5, atol=1e-6, jit=True, check_dtype=True):
    """fn through the interpreter (and IREE when jit) must match reference(*args) from numpy."""
    expected = reference(*args)
    assert_tree_close(interpret_fn(fn, *args), expected, rtol, atol, check_dtype)
    if jit:
        assert_tree_close(aotc.jit(fn)(*args), expected, rtol, atol, check_dtype)
