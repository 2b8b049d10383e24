"""Type promotion against the jax.numpy oracle: anp.promote_types, anp.result_type, traced results.

aotc's rule: inputs of at most 32 bits promote as in JAX without x64 (Python scalars are weakly
typed, 64-bit numpy arrays become 32-bit); explicit int64/uint64/float64 dtypes are kept and
promote as in JAX with x64, which a subprocess with `jax_enable_x64` computes.
"""

import itertools
import json
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest

import aotc
import aotc.numpy as anp
from aotc.frontend.core import dtypes, tree

SMALL = [np.dtype(t) for t in (np.bool_, np.uint8, np.uint16, np.uint32, np.int8, np.int16,
                               np.int32, np.float16, np.float32)] + [np.dtype(ml_dtypes.bfloat16)]
WIDE = [np.dtype(t) for t in (np.int64, np.uint64, np.float64)]
ALL = SMALL + WIDE
SCALARS = [2, 2.5, True]


def _is_wide(*dts) -> bool:
    return any(np.dtype(d) in WIDE for d in dts)


# ---- jax.numpy with x64, in a subprocess (x64 is a process-wide switch) --------------------------

_X64_SCRIPT = textwrap.dedent("""
    import itertools, json, sys
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import numpy as np
    names = json.loads(sys.argv[1])
    scalars = json.loads(sys.argv[2])
    out = {"promote": {}, "scalar": {}, "add": {}}
    for a, b in itertools.product(names, names):
        out["promote"][f"{a},{b}"] = str(jnp.promote_types(a, b))
        s = jax.eval_shape(jnp.add, jax.ShapeDtypeStruct((2,), a), jax.ShapeDtypeStruct((2,), b))
        out["add"][f"{a},{b}"] = [str(s.dtype), bool(s.weak_type)]
    for a in names:
        for v in scalars:
            s = jax.eval_shape(lambda x: x * v, jax.ShapeDtypeStruct((2,), a))
            out["scalar"][f"{a},{v!r}"] = [str(s.dtype), bool(s.weak_type)]
    print(json.dumps(out))
""")


@pytest.fixture(scope="module")
def x64():
    """jax.numpy's promotions with jax_enable_x64, for every pair of aotc dtypes."""
    names = [d.name for d in ALL]
    run = subprocess.run([sys.executable, "-c", _X64_SCRIPT, json.dumps(names),
                          json.dumps(SCALARS)], capture_output=True, text=True, check=True)
    return json.loads(run.stdout.strip().splitlines()[-1])


# ---- anp.promote_types and anp.result_type -------------------------------------------------------


@pytest.mark.parametrize("a", ALL, ids=str)
def test_promote_types_matches_jax_for_every_pair(a, x64):
    for b in ALL:
        expected = (x64["promote"][f"{a.name},{b.name}"] if _is_wide(a, b)
                    else jnp.promote_types(a, b))
        assert anp.promote_types(a, b) == np.dtype(expected), f"promote_types({a}, {b})"


@pytest.mark.parametrize("a", ALL, ids=str)
def test_result_type_with_python_scalars_matches_jax(a, x64):
    for value in SCALARS:
        if _is_wide(a):
            expected = x64["scalar"][f"{a.name},{value!r}"][0]
        else:
            expected = jnp.result_type(a, value)
        assert anp.result_type(a, value) == np.dtype(expected), f"result_type({a}, {value!r})"
        assert anp.result_type(value, a) == np.dtype(expected), f"result_type({value!r}, {a})"


@pytest.mark.parametrize("args", [(2,), (2.5,), (True,), (2, 2.5), (True, 2), (True, 2.5),
                                  (2, np.int8), (2.5, np.int8, np.uint8), (np.int8, np.uint8),
                                  (np.float16, ml_dtypes.bfloat16), (np.uint32, np.int8),
                                  (np.uint16, np.int16, np.float16)], ids=str)
def test_result_type_of_several_arguments_matches_jax(args):
    assert anp.result_type(*args) == jnp.result_type(*args)


def test_numpy_arrays_are_canonicalized_to_32_bits_like_jax():
    for array in (np.arange(3), np.ones(2), np.ones(2, np.uint64), np.ones(2, np.float32)):
        assert anp.result_type(array) == jnp.result_type(array), array.dtype
    assert anp.result_type(np.arange(3), 2.5) == jnp.result_type(np.arange(3), 2.5)
    # explicit 64-bit dtypes (not arrays) are kept
    assert anp.result_type(np.int64, np.int8) == np.int64
    assert anp.result_type(np.float64, 2.5) == np.float64


# ---- traced results ---------------------------------------------------------------------------

# The promotions every JAX user relies on, spelled out.
EXAMPLES = [
    ("f16 * 2.0", lambda m, x: x * 2.0, np.float16, np.float16, False),
    ("i8 + 1", lambda m, x: x + 1, np.int8, np.int8, False),
    ("i32 + 1.5", lambda m, x: x + 1.5, np.int32, np.float32, True),
    ("i8 / 2", lambda m, x: x / 2, np.int8, np.float32, False),
    ("u8 + True", lambda m, x: x + True, np.uint8, np.uint8, False),
    ("sqrt(i32)", lambda m, x: m.sqrt(x), np.int32, np.float32, False),
    ("u8 > 1", lambda m, x: x > 1, np.uint8, np.bool_, False),
    ("2.0 ** i8", lambda m, x: 2.0**x, np.int8, np.float32, False),
    ("full(3, 2)", lambda m, x: m.full(3, 2), np.int8, np.int32, True),
]


@pytest.mark.parametrize("fn,dtype,result,weak", [pytest.param(*e[1:], id=e[0]) for e in EXAMPLES])
def test_weak_python_scalars_adapt_to_the_array(fn, dtype, result, weak):
    reference = jax.eval_shape(lambda x: fn(jnp, x), jax.ShapeDtypeStruct((3,), dtype))
    assert (reference.dtype, reference.weak_type) == (np.dtype(result), weak)
    traced = aotc.lower(lambda x: fn(anp, x), aotc.ShapeSpec((3,), dtype))
    out = aotc.interpret(traced.module, traced.name, np.ones(3, dtype))[0]
    assert (out.dtype, traced.out_weak[0]) == (np.dtype(result), weak)


@pytest.mark.parametrize("fn", [lambda x, y: x * 2.0, lambda x, y: x + 1, lambda x, y: x + y,
                                lambda x, y: y - x, lambda x, y: x * y + 1.5],
                         ids=["x*2.0", "x+1", "x+y", "y-x", "x*y+1.5"])
@pytest.mark.parametrize("a,b", [(np.float16, np.float16), (np.int8, np.uint8),
                                 (ml_dtypes.bfloat16, np.int16), (np.int8, np.float32)], ids=str)
def test_weak_arrays_of_any_width_promote_like_jax(fn, a, b):
    """Weak values keep their widths among themselves and give way to strong ones."""
    specs = aotc.ShapeSpec((2,), a, weak_type=True), aotc.ShapeSpec((2,), b, weak_type=True)
    traced = aotc.lower(fn, *specs)
    expected = jax.eval_shape(fn, *[jax.ShapeDtypeStruct(s.shape, s.dtype, weak_type=True)
                                    for s in specs])
    assert (_result_dtypes(traced)[0], traced.out_weak[0]) == (expected.dtype,
                                                               expected.weak_type)


@pytest.mark.parametrize("a,b,result", [(np.uint8, np.int8, np.int16),
                                        (ml_dtypes.bfloat16, np.float16, np.float32),
                                        (np.int32, np.float16, np.float16),
                                        (np.uint32, np.int32, np.int32),
                                        (np.bool_, np.int8, np.int8),
                                        (np.int64, np.uint64, np.float64)])
def test_array_pairs_promote_like_jax(a, b, result):
    traced = aotc.lower(lambda x, y: x + y, aotc.ShapeSpec((2,), a), aotc.ShapeSpec((2,), b))
    out = aotc.interpret(traced.module, traced.name, np.ones(2, a), np.ones(2, b))[0]
    assert out.dtype == np.dtype(result)


# Each op is traced once over every pair of dtypes (and weak flags), and compared with
# jax.eval_shape of the same jax.numpy program.
def _binary(name):
    return lambda m, x, y: getattr(m, name)(x, y)


OPS = {
    "add": _binary("add"), "multiply": _binary("multiply"), "maximum": _binary("maximum"),
    "divide": _binary("divide"), "arctan2": _binary("arctan2"), "power": _binary("power"),
    "floor_divide": _binary("floor_divide"), "equal": _binary("equal"),
    "where": lambda m, x, y: m.where(True, x, y),
    "concatenate": lambda m, x, y: m.concatenate([x, y]),
    "matmul": lambda m, x, y: m.matmul(x, y), "stack": lambda m, x, y: m.stack([x, y]),
}
_NO_BOOL = {"power", "floor_divide", "arctan2"}  # jax.numpy refuses bools here
_STRONG_ONLY = {"where", "matmul", "power"}  # jax.numpy's own weak-type quirks
# Weak types come from Python scalars: int32 and float32 (weak float16 etc. are JAX internals).
_CAN_BE_WEAK = (dtypes.int32, dtypes.float32)
_BOOL_NAME = np.dtype(np.bool_).name


def _pairs(op):
    """(key, dtype a, weak a, dtype b, weak b) for every small-dtype pair and weak flag."""
    flags = [(False, False)]
    if op not in _STRONG_ONLY:
        flags += [(True, False), (False, True), (True, True)]
    out = []
    for a, b in itertools.product(SMALL, SMALL):
        if op in _NO_BOOL and _BOOL_NAME in (a.name, b.name):
            continue
        for wa, wb in flags:
            if (wa and a not in _CAN_BE_WEAK) or (wb and b not in _CAN_BE_WEAK):
                continue
            out.append((f"{a.name}{'~' * wa},{b.name}{'~' * wb}", a, wa, b, wb))
    return out


@pytest.mark.parametrize("op", OPS)
def test_traced_result_dtypes_and_weak_types_match_jax(op):
    pairs = _pairs(op)
    shape = (2, 2)
    specs = {k: (aotc.ShapeSpec(shape, a, wa), aotc.ShapeSpec(shape, b, wb))
             for k, a, wa, b, wb in pairs}
    structs = {k: (jax.ShapeDtypeStruct(shape, a, weak_type=wa),
                   jax.ShapeDtypeStruct(shape, b, weak_type=wb)) for k, a, wa, b, wb in pairs}
    traced = aotc.lower(lambda d: {k: OPS[op](anp, *xy) for k, xy in d.items()}, specs)
    expected = jax.eval_shape(lambda d: {k: OPS[op](jnp, *xy) for k, xy in d.items()}, structs)
    results = tree.unflatten(traced.out_tree, list(zip(_result_dtypes(traced), traced.out_weak)))
    mismatches = []
    for key, want in expected.items():
        dtype, weak = results[key]
        if dtype != want.dtype or (weak != want.weak_type and dtype != dtypes.bool_):
            mismatches.append(f"{key}: aotc {dtype}{'~' * weak}, jax {want.dtype}"
                              f"{'~' * want.weak_type}")
    assert not mismatches, f"{op} ('~' = weak): " + "; ".join(mismatches)


@pytest.mark.parametrize("op", ["add", "multiply", "divide", "maximum", "equal", "power"])
def test_traced_results_with_python_scalars_match_jax(op):
    cases = {f"{d.name},{v!r},{side}": (d, v, side) for d in SMALL for v in SCALARS
             for side in ("left", "right")
             if not (op == "power" and (d == dtypes.bool_ or isinstance(v, bool)))}

    def program(m):
        def run(arrays):
            return {k: OPS[op](m, arrays[k], v) if side == "left" else OPS[op](m, v, arrays[k])
                    for k, (_, v, side) in cases.items()}
        return run

    traced = aotc.lower(program(anp), {k: aotc.ShapeSpec((2,), d) for k, (d, _, _) in
                                       cases.items()})
    expected = jax.eval_shape(program(jnp), {k: jax.ShapeDtypeStruct((2,), d) for k, (d, _, _)
                                             in cases.items()})
    results = tree.unflatten(traced.out_tree, list(zip(_result_dtypes(traced), traced.out_weak)))
    mismatches = [f"{k}: aotc {results[k]}, jax {(want.dtype, want.weak_type)}"
                  for k, want in expected.items()
                  if results[k][0] != want.dtype or (results[k][1] != want.weak_type
                                                     and want.dtype != dtypes.bool_)]
    assert not mismatches, f"{op}: " + "; ".join(mismatches)


def test_explicit_64_bit_dtypes_promote_like_jax_with_x64(x64):
    names = [d.name for d in ALL]
    for a, b in itertools.product(names, names):
        if not _is_wide(a, b):
            continue
        traced = aotc.lower(lambda x, y: x + y, aotc.ShapeSpec((2,), a), aotc.ShapeSpec((2,), b))
        (dtype,) = _result_dtypes(traced)
        want_dtype, want_weak = x64["add"][f"{a},{b}"]
        assert (dtype.name, traced.out_weak[0]) == (want_dtype, want_weak), f"{a} + {b}"
    for a in WIDE:
        for value in SCALARS:
            traced = aotc.lower(lambda x, v=value: x * v, aotc.ShapeSpec((2,), a))
            want_dtype, want_weak = x64["scalar"][f"{a.name},{value!r}"]
            assert (_result_dtypes(traced)[0].name, traced.out_weak[0]) == (want_dtype,
                                                                             want_weak), a


def _result_dtypes(traced) -> list:
    """The dtypes of the traced function's results, read from its MLIR signature."""
    from aotc.frontend.core.ir import ir

    with traced.module.context:
        fn = next(op for op in traced.module.body.operations
                  if op.operation.name == "func.func"
                  and ir.StringAttr(op.attributes["sym_name"]).value == traced.name)
        results = ir.FunctionType(ir.TypeAttr(fn.attributes["function_type"]).value).results
        return [dtypes.from_mlir(ir.RankedTensorType(t).element_type) for t in results]
