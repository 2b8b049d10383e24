"""Named dynamic dims (aotc.passes.dims): tracing refuses to combine dynamic dims that may differ
at run time, unless one name declares them equal. Trace-level only (the numpy interpreter runs
the programs); the runtime checks are in tests/runtime/test_dim_checks.py."""

import numpy as np
import pytest

import aotc
import aotc.numpy as anp
from aotc import ShapeSpec as S
from aotc import TracingError

HERE = __file__


def _fails(fn, *specs, names=()):
    """The TracingError of lowering fn, checked to name this file's line and every name given."""
    with pytest.raises(TracingError) as info:
        aotc.lower(fn, *specs)
    message = str(info.value)
    assert f"{HERE}:" in message and "\n" not in message
    for name in names:
        assert name in message, message
    return message


def _run(fn, specs, *args):
    traced = aotc.lower(fn, *specs)
    return aotc.interpret(traced.module, traced.name, *args)


def test_two_bare_none_dims_cannot_be_subtracted():
    message = _fails(lambda a, b: a - b, S((None,)), S((None,)),
                     names=["subtract", "a dim 0", "b dim 0", "one name"])
    line = message.split(f"{HERE}:")[1].split(":")[0]
    assert "lambda a, b: a - b" in open(HERE).read().splitlines()[int(line) - 1]


def test_two_different_names_cannot_be_combined():
    _fails(lambda x, y: x * y, S(("batch", 3)), S(("time", 3)),
           names=["'batch' (x dim 0)", "'time' (y dim 0)"])


def test_one_name_declares_dims_equal():
    a, b = np.arange(5.0), np.ones(5)
    (out,) = _run(lambda a, b: a - b, [S(("n",)), S(("n",))], a, b)
    np.testing.assert_array_equal(out, a - b)


def test_a_static_one_broadcasts_against_a_symbol():
    x, y = np.arange(6.0).reshape(3, 2), np.array([[10.0, 20.0]])
    (out,) = _run(lambda x, y: x + y, [S(("n", 2)), S((1, 2))], x, y)
    np.testing.assert_array_equal(out, x + y)


def test_rows_of_another_dynamic_size_are_refused():
    _fails(lambda x, y: x + y[:, None], S((None, 4)), S((None,)), names=["x dim 0", "y dim 0"])


def test_contraction_over_different_dynamic_dims_is_refused():
    _fails(lambda x, y: x @ y, S((3, None)), S((None, 2)), names=["dot_general", "x dim 1",
                                                                  "y dim 0"])
    x, y = np.ones((3, 4)), np.ones((4, 2))
    (out,) = _run(lambda x, y: x @ y, [S((3, "k")), S(("k", 2))], x, y)
    np.testing.assert_array_equal(out, x @ y)


def test_concatenate_needs_equal_other_dims():
    _fails(lambda x, y: anp.concatenate([x, y], axis=1), S((None, 2)), S((None, 3)),
           names=["concatenate", "x dim 0", "y dim 0"])


def test_select_and_compare_need_equal_dims():
    _fails(lambda x, y: anp.where(x > 0, x, y), S((None,)), S((None,)), names=["x dim 0"])


def test_one_dynamic_dim_combined_with_itself_keeps_working():
    def normalize(x):
        centered = x - x.mean(axis=0)
        scaled = centered / (anp.abs(centered).max(axis=1, keepdims=True) + 1)
        flat = scaled.reshape(-1) + (anp.argmax(x, axis=1)[:, None] + 0 * x).reshape(-1)
        return flat  # two reshapes of n x 4 elements: the same dynamic size

    x = np.random.default_rng(0).standard_normal((5, 4))
    (out,) = _run(normalize, [S((None, 4))], x)
    centered = x - x.mean(axis=0)
    expected = centered / (np.abs(centered).max(axis=1, keepdims=True) + 1)
    np.testing.assert_allclose(out, (expected + np.argmax(x, axis=1)[:, None]).ravel(),
                               rtol=1e-12)


def test_grad_and_vmap_over_a_named_batch():
    def loss(w, x, y):
        return anp.sum((x @ w - y) ** 2)

    w, x, y = np.ones((3, 2)), np.arange(12.0).reshape(4, 3), np.ones((4, 2))
    (g,) = _run(aotc.grad(loss), [S((3, 2)), S(("b", 3)), S(("b", 2))], w, x, y)
    np.testing.assert_allclose(g, 2 * x.T @ (x @ w - y))
    _fails(aotc.grad(loss), S((3, 2)), S((None, 3)), S((None, 2)),
           names=["x dim 0", "y dim 0"])  # grad(loss) has loss's signature


def test_shape_spec_names():
    spec = S(("batch", 784))
    assert spec.shape == (None, 784) and spec.dims == ("batch", 784)
    assert repr(spec) == "ShapeSpec(('batch', 784), float32)"
    with pytest.raises(TracingError, match="identifier"):
        S(("two words", 3))
