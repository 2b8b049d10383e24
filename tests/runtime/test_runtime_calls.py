"""aotc_runtime: loading an artifact, signatures, pytree calls, input checks, threads."""

import json
import threading

import iree.runtime as rt
import numpy as np
import pytest
import runtime_reference as ref
from sample_model import W

import aotc_runtime
from aotc_runtime import InputError


@pytest.fixture(scope="module")
def m(sample_artifact):
    return aotc_runtime.load(sample_artifact)


def test_functions_signatures_and_metadata(m):
    assert m.functions == ["combine", "predict", "stats"]
    assert m.name == "sample_model" and m.target == "cpu" and m.format_version == 1
    assert repr(m.signature("predict")) == (
        "predict(params: {'b': float32[3], 'w': float32[4, 3]}, x: float32[?, 4]) "
        "-> float32[?, 3]")
    sig = m.signature("stats")
    assert sig.arg_names == ("x", "k")
    assert [(n, str(s)) for n, s in sig.result_leaves()] == [
        ("count", "int32[]"), ("pair/lo", "float32[]"), ("pair/hi", "float32[]"),
        ("sum", "float32[3]")]
    assert str(m.signature("combine")) == (
        "combine(xs: [float32[n, m], float32[n, m]], scale: float32[]) "
        "-> (float32[?, ?], int32[?, ?])")
    with pytest.raises(KeyError, match="no function 'nope'"):
        m.signature("nope")
    with pytest.raises(AttributeError, match="nope"):
        _ = m.nope


def test_reflection_metadata_is_readable_by_iree_itself(sample_artifact):
    with open(sample_artifact, "rb") as f:
        vm_module = rt.VmModule.copy_buffer(rt.VmInstance(), f.read())
    reflection = dict(vm_module.lookup_function("predict").reflection)
    assert reflection["aotc.format"] == "1"
    assert reflection["aotc.target"] == "cpu" and reflection["aotc.driver"] == "local-task"
    assert reflection["aotc.version"] == aotc_runtime.__version__
    signature = json.loads(reflection["aotc.signature"])
    assert [a["name"] for a in signature["args"]] == ["params", "x"]
    assert signature["args"][1]["tree"] == {"kind": "array", "shape": [None, 4],
                                            "dtype": "float32"}


@pytest.mark.parametrize("n", [1, 5, 64])
def test_results_match_numpy_at_any_batch_size(m, n):
    x = ref.batch(n)
    np.testing.assert_allclose(m.predict(ref.PARAMS, x), ref.predict(ref.PARAMS, x), rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(m.predict(x=x, params=ref.PARAMS), ref.predict(ref.PARAMS, x),
                               rtol=1e-5, atol=1e-6)


def test_pytree_results_keep_their_structure(m):
    x = ref.batch(6)
    out = m.stats(x, np.int32(4))
    expected = ref.stats(x, 4)
    assert sorted(out) == ["count", "none", "pair", "sum"]
    assert out["none"] is None
    assert type(out["pair"]).__name__ == "Pair" and out["pair"]._fields == ("lo", "hi")
    assert out["count"].dtype == np.int32 and out["count"].shape == () and out["count"] == 5
    np.testing.assert_allclose(out["sum"], expected["sum"], rtol=1e-5)
    np.testing.assert_allclose([out["pair"].lo, out["pair"].hi], [expected["lo"], expected["hi"]],
                               rtol=1e-5)
    a, b = ref.batch(3, seed=2)[:, :3], ref.batch(3, seed=3)[:, :3]
    scaled, diff = m.combine([a, b], np.float32(3))
    np.testing.assert_allclose(scaled, a * 3 + 1, rtol=1e-6)
    np.testing.assert_array_equal(diff, (b - a).astype(np.int32))


def test_python_literals_take_the_declared_dtype(m):
    out = m.stats([[1, 2, 3, 4]], 2)  # nested lists and ints become float32 / int32
    assert out["count"] == 3 and out["sum"].dtype == np.float32
    expected = ref.stats(np.array([[1, 2, 3, 4]], np.float32), 2)
    np.testing.assert_allclose(out["sum"], expected["sum"], rtol=1e-5)
    np.testing.assert_allclose([out["pair"].lo, out["pair"].hi], [expected["lo"], expected["hi"]],
                               rtol=1e-5)
    scaled, _ = m.combine(([[1.0]], [[2.0]]), 2)  # an int literal for a float32 argument is fine
    assert scaled.tolist() == [[3.0]]


BAD_CALLS = [
    # (call, substrings the InputError must contain)
    (lambda m: m.predict(ref.PARAMS), ["predict()", "missing", "'x'"]),
    (lambda m: m.predict(ref.PARAMS, ref.batch(2), 3), ["predict()", "takes 2", "got 3"]),
    (lambda m: m.predict(ref.PARAMS, y=ref.batch(2)), ["unexpected argument 'y'"]),
    (lambda m: m.predict(ref.PARAMS, ref.batch(2), params=ref.PARAMS), ["params given twice"]),
    (lambda m: m.predict({"w": ref.PARAMS["w"]}, ref.batch(2)),
     ["argument params", "missing ['b']"]),
    (lambda m: m.predict({**ref.PARAMS, "c": 1}, ref.batch(2)), ["unexpected ['c']"]),
    (lambda m: m.predict([ref.PARAMS["w"], ref.PARAMS["b"]], ref.batch(2)),
     ["argument params", "expects a dict", "got a list"]),
    (lambda m: m.predict(ref.PARAMS, ref.batch(2).astype(np.float64)),
     ["predict(): argument x", "expects float32[?, 4]", "got float64[2, 4]", "astype"]),
    (lambda m: m.predict(ref.PARAMS, np.ones((2, 5), np.float32)),
     ["argument x", "expects float32[?, 4]", "got float32[2, 5]"]),
    (lambda m: m.predict(ref.PARAMS, np.ones(4, np.float32)),
     ["argument x", "expects float32[?, 4]", "got float32[4]"]),
    (lambda m: m.predict({**ref.PARAMS, "w": np.ones((3, 4), np.float32)}, ref.batch(2)),
     ["argument params['w']", "expects float32[4, 3]", "got float32[3, 4]"]),
    (lambda m: m.stats(ref.batch(2), 2.5), ["stats(): argument k", "int32[]", "float 2.5"]),
    (lambda m: m.stats(ref.batch(2), np.int64(2)), ["argument k", "got int64[]"]),
    (lambda m: m.combine([ref.batch(2)], 1.0), ["argument xs", "list of 2 items, got 1"]),
    (lambda m: m.combine([ref.batch(2), "x"], 1.0), ["argument xs[1]", "expects float32[n, m]"]),
    # Python literals must fit the declared dtype: no wrapping, no overflow, no rounding of ints
    (lambda m: m.stats(ref.batch(2), 2**31), ["argument k", "2147483648 does not fit int32"]),
    (lambda m: m.stats(ref.batch(2), -2**31 - 1), ["-2147483649 does not fit int32"]),
    (lambda m: m.stats(ref.batch(2), 2**70), ["does not fit int32"]),
    (lambda m: m.stats([[1.0, 2.0, 3.0, 1e39]], 1), ["argument x", "1e+39 does not fit float32"]),
    (lambda m: m.stats([[1, 2, 3, 2**24 + 1]], 1), ["16777217 does not fit float32"]),
    (lambda m: m.combine([[[2**31 + 1, 0]], [[1, 2]]], 1.0),
     ["argument xs[0]", "2147483649 does not fit float32"]),
    # numpy data inside lists is checked like an array: float64 is not silently narrowed
    (lambda m: m.predict(ref.PARAMS, [ref.batch(1)[0].astype(np.float64)] * 2),
     ["argument x", "expects float32[?, 4]", "got float64[2, 4]", "astype"]),
    (lambda m: m.combine([[np.float64(1.0)], [np.float64(2.0)]], 1.0),
     ["argument xs[0]", "got float64[1]"]),
    (lambda m: m.stats(ref.batch(2), np.float64(2.0)), ["argument k", "got float64[]"]),
]


@pytest.mark.parametrize("call,words", BAD_CALLS)
def test_bad_inputs_raise_input_error_naming_what_differs(m, call, words):
    with pytest.raises(InputError) as err:
        call(m)
    for word in words:
        assert word in str(err.value), (word, str(err.value))


def test_big_endian_arrays_are_converted_not_refused(m):
    x = ref.batch(3)
    params = {k: v.astype(v.dtype.newbyteorder(">")) for k, v in ref.PARAMS.items()}
    out = m.predict(params, x.astype(">f4"))
    np.testing.assert_allclose(out, ref.predict(ref.PARAMS, x), rtol=1e-5, atol=1e-6)
    assert m.stats(x, np.array(4, ">i4"))["count"] == 5
    with pytest.raises(InputError, match=r"expects float32\[\?, 4\], got float64\[3, 4\]"):
        m.predict(ref.PARAMS, x.astype(">f8"))  # another dtype, whatever its byte order


def test_literals_that_fit_are_exact(m):
    out = m.stats([[1, 2, 3, 2**24]], 2**31 - 1)
    assert out["count"] == -(2**31)  # the program's own int32 wrap of k + 1, not the input's
    np.testing.assert_allclose(out["sum"], (np.array([[1, 2, 3, 2**24]]) @ W).sum(axis=0),
                               rtol=1e-6)


def test_calls_from_eight_threads_match_serial_calls(m):
    inputs = [ref.batch(1 + i % 5, seed=i) for i in range(8)]
    serial = [m.predict(ref.PARAMS, x) for x in inputs]
    failures = []

    def worker(i):
        try:
            for _ in range(200):
                out = m.predict(ref.PARAMS, inputs[i])
                if not np.array_equal(out, serial[i]):
                    failures.append((i, "differs"))
                    return
        except Exception as exc:  # noqa: BLE001 (reported below, with the thread)
            failures.append((i, repr(exc)))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


def test_devices_by_name_or_object(sample_artifact):
    x = ref.batch(3)
    expected = ref.predict(ref.PARAMS, x)
    for device in ("local-sync", rt.get_device("local-task")):
        m = aotc_runtime.load(sample_artifact, device=device)
        np.testing.assert_allclose(m.predict(ref.PARAMS, x), expected, rtol=1e-5, atol=1e-6)
        m.close()
        with pytest.raises(aotc_runtime.ArtifactError, match="closed"):
            m.predict(ref.PARAMS, x)
    with pytest.raises(aotc_runtime.ArtifactError, match="no-such-driver"):
        aotc_runtime.load(sample_artifact, device="no-such-driver")


def test_results_are_plain_numpy_arrays_that_own_their_memory(m):
    out = m.predict(ref.PARAMS, ref.batch(2))
    assert type(out) is np.ndarray and out.flags.owndata and out.flags.writeable
