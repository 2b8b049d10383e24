"""aotc.numpy's names about dtypes and arrays (frontend/numpy/dtypes_api.py) against jax.numpy:
dtype classes and predicates, array predicates, einsum_path, printing options and host I/O.

One table of calls is written once against a module `m` and run with `m = anp` and
`m = jax.numpy`; its results must agree in value and dtype.
"""

import io
import os
import tempfile

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest

import aotc
import aotc.numpy as anp
from aotc.frontend.core.errors import ConcretizationError

jax.config.update("jax_platforms", "cpu")

X = np.array([[0.5, np.nan, -2.0], [1.0, 3.0, np.inf]], np.float32)
INTS = np.array([1, 0, 3], np.int32)
A, B, C = (np.ones(s, np.float32) for s in ((2, 30), (30, 4), (4, 50)))


def _args():
    return [X, INTS]


def _host_only(m, name, *args, **kwargs):
    """m.name(...), or numpy's under JAX's default dtype rules where jnp refuses the name for
    being impure (fromiter, fromfile)."""
    try:
        return getattr(m, name)(*args, **kwargs)
    except NotImplementedError:
        out = getattr(np, name)(*args, **kwargs)
        return out.astype({np.float64: np.float32, np.int64: np.int32}.get(out.dtype.type,
                                                                           out.dtype))


def _table(m, x, i):
    """Every name of dtypes_api on a float array with NaN and inf, and an int vector."""
    host = np.asarray(x)
    with tempfile.TemporaryDirectory() as tmp:
        m.save(os.path.join(tmp, "x.npy"), x)
        loaded = m.load(os.path.join(tmp, "x.npy"))
        m.savez(os.path.join(tmp, "xi.npz"), x, i=i)
        with m.load(os.path.join(tmp, "xi.npz")) as npz:
            loaded_npz = (npz["arr_0"], npz["i"])
        np.arange(5, dtype=np.int16).tofile(os.path.join(tmp, "i.bin"))
        from_file = _host_only(m, "fromfile", os.path.join(tmp, "i.bin"), dtype=np.int16)
    saved_options = m.get_printoptions()
    m.set_printoptions(precision=2)
    short = m.array_str(host)
    m.set_printoptions(**saved_options)
    with m.printoptions(precision=1, suppress=True):
        shorter = m.array_repr(host)
    return {
        # dtype classes and predicates
        "aliases": [np.dtype(t) for t in (m.double, m.single, m.float_, m.int_, m.uint, m.bool)],
        "issubdtype": [m.issubdtype(m.bfloat16, m.floating), m.issubdtype(m.int_, m.signedinteger),
                       m.issubdtype(m.uint, m.unsignedinteger), m.issubdtype(m.int32, m.inexact),
                       m.issubdtype(m.float16, m.number), m.issubdtype(m.bool, m.integer),
                       m.issubdtype(m.single, m.generic), m.issubdtype(m.int8, m.flexible),
                       m.issubdtype(m.float32, m.character), m.issubdtype(x.dtype, m.floating),
                       m.issubdtype("bfloat16", m.bfloat16), m.issubdtype(m.float32, "bfloat16"),
                       m.issubdtype(m.bfloat16, m.integer), m.issubdtype(m.bfloat16, m.inexact)],
        "isdtype": [m.isdtype(m.bfloat16, "real floating"), m.isdtype(m.int8, "signed integer"),
                    m.isdtype(m.uint16, ("bool", "unsigned integer")),
                    m.isdtype(m.bool, "integral"), m.isdtype(i.dtype, "numeric"),
                    m.isdtype(m.float32, m.float32), m.isdtype(m.float16, "complex floating"),
                    m.isdtype(m.bfloat16, "numeric"), m.isdtype(m.int32, (m.float32, "bool"))],
        "can_cast": [m.can_cast(m.int8, m.float32), m.can_cast(m.float32, m.int32),
                     m.can_cast(m.float32, m.int32, "unsafe"), m.can_cast(m.int32, m.int64)],
        # array predicates
        "isscalar": [m.isscalar(1.0), m.isscalar(np.float32(2)), m.isscalar(x), m.isscalar(x[0, 0]),
                     m.isscalar(host[0, 0]), m.isscalar([1]), m.isscalar("s")],
        "iterable": [m.iterable(x), m.iterable(3), m.iterable([1, 2])],
        "broadcast_shapes": [m.broadcast_shapes((3, 1), (4,)), m.broadcast_shapes(5, (2, 1)),
                             m.broadcast_shapes((2, 1, 3), (1, 4, 1), ()), m.broadcast_shapes()],
        "array_equal": m.array_equal(x, x), "array_equal_nan": m.array_equal(x, x, equal_nan=True),
        "array_equal_shape": m.array_equal(x, i), "array_equal_int": m.array_equal(i, i),
        "array_equal_mixed": m.array_equal(i, i.astype(np.float32)),
        "array_equal_int_nan": m.array_equal(i, i, equal_nan=True),
        "array_equiv": m.array_equiv(x[1], x), "array_equiv_int": m.array_equiv(i, i[None]),
        "array_equiv_no": m.array_equiv(x, i[:2]), "array_equiv_value": m.array_equiv(i, i + 1),
        "copy": m.copy(x), "copy_int": m.copy(i), "euler_gamma": m.euler_gamma,
        # einsum_path: aotc's greedy order where it is unambiguous
        "einsum_path": m.einsum_path("ij,jk,kl->il", A, B, C)[0],
        "einsum_path_2": m.einsum_path("ij,jk", A, B)[0],
        "einsum_path_1": m.einsum_path("ii->i", np.ones((3, 3)))[0],
        "einsum_path_4": m.einsum_path("ab,bc,cd,de->ae", np.ones((8, 2)), np.ones((2, 9)),
                                       np.ones((9, 3)), np.ones((3, 7)))[0],
        # printing (host, numpy's)
        "array_str": m.array_str(host), "array_repr": m.array_repr(host), "short": short,
        "shorter": shorter, "printoptions_restored": m.get_printoptions() == saved_options,
        # host I/O
        "load": loaded, "load_npz": loaded_npz, "fromfile": from_file,
        "frombuffer": m.frombuffer(np.arange(4.0).tobytes()),
        "frombuffer_u8": m.frombuffer(b"\x00\x01\x02\x03\x04", dtype=np.uint8, offset=1),
        "frombuffer_i64": m.frombuffer(np.arange(3, dtype=np.int64).tobytes(), dtype=np.int64,
                                       count=2),
        "fromstring": m.fromstring("1 2.5 3", sep=" "),
        "fromstring_int": m.fromstring("4,5", dtype=np.int32, sep=","),
        "fromiter": _host_only(m, "fromiter", (k * k for k in range(4)), dtype=float),
    }


def _check_same(ours, theirs, where="table"):
    if isinstance(ours, dict):
        assert ours.keys() == theirs.keys(), where
        for key in ours:
            _check_same(ours[key], theirs[key], f"{where}.{key}")
    elif isinstance(ours, (list, tuple)):
        assert len(ours) == len(theirs), where
        for k, (a, b) in enumerate(zip(ours, theirs)):
            _check_same(a, b, f"{where}[{k}]")
    elif isinstance(ours, (str, bool, int, float, np.dtype)):
        assert type(ours) is type(theirs) and ours == theirs, f"{where}: {ours!r} != {theirs!r}"
    else:
        ours, theirs = np.asarray(ours), np.asarray(theirs)
        assert ours.dtype == theirs.dtype, f"{where}: {ours.dtype} != {theirs.dtype}"
        np.testing.assert_array_equal(ours, theirs, err_msg=where)


def test_table_agrees_with_jax():
    _check_same(_table(anp, *_args()), _table(jnp, *[jnp.asarray(a) for a in _args()]))


def test_array_predicates_and_copy_trace_and_compile():
    def program(x, i):
        return {"eq": anp.array_equal(x, x, equal_nan=True), "eq_shape": anp.array_equal(x, i),
                "equiv": anp.array_equiv(x[1], x), "copy": anp.copy(i) * 2,
                "scalar": anp.isscalar(x[0, 0]) and not anp.isscalar(x)}

    out = aotc.jit(program)(X, INTS)
    assert bool(out["eq"]) and not bool(out["eq_shape"]) and not bool(out["equiv"])
    np.testing.assert_array_equal(out["copy"], INTS * 2)
    assert bool(out["scalar"])


def test_host_functions_refuse_traced_values():
    for name in ("array_repr", "array_str"):
        with pytest.raises(ConcretizationError, match=f"{name} needs a concrete array"):
            aotc.jit(lambda x, name=name: getattr(anp, name)(x))(X)


def test_load_restores_bfloat16_and_applies_default_dtypes():
    buffer = io.BytesIO()
    anp.save(buffer, np.arange(3).astype(ml_dtypes.bfloat16))
    buffer.seek(0)
    loaded = anp.load(buffer)
    assert loaded.dtype == ml_dtypes.bfloat16
    buffer = io.BytesIO()
    anp.save(buffer, np.arange(3.0))
    buffer.seek(0)
    loaded = anp.load(buffer)
    assert loaded.dtype == np.float32 and isinstance(loaded, np.ndarray)
    np.testing.assert_array_equal(anp.tanh(loaded), np.tanh(np.arange(3.0, dtype=np.float32)))


def test_dtype_predicates_reject_unknown_kinds_and_shapes():
    with pytest.raises(ValueError, match="unknown kind"):
        anp.isdtype(anp.float32, "real")
    with pytest.raises(ValueError, match="cannot be broadcast"):
        anp.broadcast_shapes((2,), (3,))
    assert anp.broadcast_shapes((None, 1), (4,)) == (None, 4)


def test_einsum_path_is_the_order_einsum_contracts_in():
    path, text = anp.einsum_path("ij,jk,kl->il", A, B, C)
    assert path == [(0, 1), (0, 1)] and "ij,jk->ik (8 elements)" in text
    np.testing.assert_allclose(anp.einsum("ij,jk,kl->il", A, B, C), A @ B @ C)
