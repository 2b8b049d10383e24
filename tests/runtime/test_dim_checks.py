"""Named dynamic dims at run time: the artifact records them and every call is checked before
IREE runs (IREE 3.13 checks no dims between arguments: a mismatch read past a buffer's end)."""

import numpy as np
import pytest

import aotc
import aotc_runtime
from aotc import ShapeSpec as S
from aotc_runtime import InputError
from aotc_runtime.signature import Signature


def _signature(*shapes):
    arrays = [{"kind": "array", "shape": list(s), "dtype": "float32"} for s in shapes]
    return Signature({"name": "f", "args": [{"name": n, "tree": t}
                                            for n, t in zip("xyz", arrays)],
                      "results": {"kind": "tuple", "children": []}})


def test_old_artifacts_with_null_dims_take_any_sizes():
    sig = _signature([None, 3], [None])
    assert str(sig) == "f(x: float32[?, 3], y: float32[?]) -> ()"
    flat = sig.bind((np.ones((5, 3), np.float32), np.ones(2, np.float32)), {})
    assert [a.shape for a in flat] == [(5, 3), (2,)]


def test_named_dims_must_have_one_size_in_a_call():
    sig = _signature(["batch", 3], ["batch"], [2, "batch"])
    assert str(sig) == "f(x: float32[batch, 3], y: float32[batch], z: float32[2, batch]) -> ()"
    sig.bind((np.ones((4, 3), np.float32), np.ones(4, np.float32), np.ones((2, 4), np.float32)),
             {})
    with pytest.raises(InputError) as info:
        sig.bind((np.ones((4, 3), np.float32), np.ones(4, np.float32),
                  np.ones((2, 5), np.float32)), {})
    assert str(info.value) == ("f(): x dim 0 ('batch') is 4 but z dim 1 ('batch') is 5; dims "
                               "named 'batch' must have one size in a call")


@pytest.fixture(scope="module")
def subtract():
    def sub(a, b):
        return a - b

    return aotc_runtime.load_bytes(aotc.compile(sub, S(("n",)), S(("n",)))).sub


def test_compiled_function_checks_named_dims_before_the_call(subtract):
    assert str(subtract.signature).startswith("sub(a: float32[n], b: float32[n])")
    a, b = np.arange(5, dtype=np.float32), np.ones(5, np.float32)
    np.testing.assert_array_equal(subtract(a, b), a - b)
    with pytest.raises(InputError, match=r"sub\(\): a dim 0 \('n'\) is 5 but b dim 0 \('n'\) is 3"):
        subtract(a, np.ones(3, np.float32))
    with pytest.raises(InputError, match=r"is 1000000 but b dim 0 \('n'\) is 1"):
        subtract(np.ones(10**6, np.float32), np.ones(1, np.float32))


def test_two_bare_none_dims_do_not_compile():
    with pytest.raises(aotc.TracingError, match=r"a dim 0 and b dim 0 can differ"):
        aotc.compile(lambda a, b: a - b, S((None,)), S((None,)))


def test_sample_model_combine_rejects_mismatched_lists(sample_artifact):
    m = aotc_runtime.load(sample_artifact)
    with pytest.raises(InputError, match=r"combine\(\): xs\[0\] dim 0 \('n'\) is 2 but xs\[1\] "
                                         r"dim 0 \('n'\) is 3"):
        m.combine([np.ones((2, 2), np.float32), np.ones((3, 5), np.float32)], 1.0)
    a, b = np.ones((2, 3), np.float32), np.full((2, 3), 4.0, np.float32)
    scaled, diff = m.combine([a, b], 2.0)
    np.testing.assert_array_equal(scaled, np.full((2, 3), 3.0, np.float32))
    np.testing.assert_array_equal(diff, np.full((2, 3), 3, np.int32))


def test_jit_refuses_mismatched_sizes_before_compiling():
    with pytest.raises(aotc.TracingError):
        aotc.jit(lambda a, b: a - b)(np.ones(5, np.float32), np.ones(3, np.float32))
