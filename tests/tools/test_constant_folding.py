"""Constant folding before IREE (aotc.tools.constant_folding): which ops fold, which are left to
the backend and why, and IREE's results on the folded program against the same program
compiled without the fold (bit for bit)."""

import numpy as np
import pytest
from iree.compiler import compile_str

import aotc
import aotc.numpy as anp
import aotc_runtime
from aotc.frontend.core.ir import ir, new_context
from aotc.tools.compile import compile_stablehlo
from aotc.tools.constant_folding import SMALL, fold_constants
from aotc.tools.targets import flags as target_flags

X = np.array([5, -7, 2**31 - 1, -(2**31)], np.int32)

# Every value here comes from constants and X; the results are x + (a folded value), so the
# program is not constant as a whole.
FOLDED = """
func.func @main(%x: tensor<4xi32>) -> (tensor<4xi32>, tensor<4xi8>, tensor<4xi1>, tensor<3xf32>,
                                       tensor<3xf16>, tensor<2xf32>, tensor<4xi32>) {
  %c = stablehlo.constant dense<[1, -2, 3, 2147483647]> : tensor<4xi32>
  %three = stablehlo.constant dense<3> : tensor<i32>
  %b = stablehlo.broadcast_in_dim %three, dims = [] : (tensor<i32>) -> tensor<4xi32>
  %m = stablehlo.multiply %c, %b : tensor<4xi32>
  %s = stablehlo.shift_left %m, %b : tensor<4xi32>
  %q = stablehlo.divide %s, %b : tensor<4xi32>
  %r = stablehlo.remainder %q, %b : tensor<4xi32>
  %u = stablehlo.shift_right_logical %m, %b : tensor<4xi32>
  %v = stablehlo.xor %r, %u : tensor<4xi32>
  %n = stablehlo.convert %v : (tensor<4xi32>) -> tensor<4xi8>
  %p = stablehlo.compare LT, %v, %b, SIGNED : (tensor<4xi32>, tensor<4xi32>) -> tensor<4xi1>
  %w = stablehlo.select %p, %v, %m : tensor<4xi1>, tensor<4xi32>
  %out0 = stablehlo.add %x, %w : tensor<4xi32>
  %f = stablehlo.constant dense<[0.1, -3.5, 1.0e30]> : tensor<3xf32>
  %g = stablehlo.constant dense<[7.0, 0.3, 1.0e10]> : tensor<3xf32>
  %fm = stablehlo.multiply %f, %g : tensor<3xf32>
  %fa = stablehlo.add %fm, %f : tensor<3xf32>
  %fd = stablehlo.divide %fa, %g : tensor<3xf32>
  %fi = stablehlo.convert %c : (tensor<4xi32>) -> tensor<4xf32>
  %fs = stablehlo.slice %fi [0:3] : (tensor<4xf32>) -> tensor<3xf32>
  %fn = stablehlo.negate %fs : tensor<3xf32>
  %out3 = stablehlo.subtract %fd, %fn : tensor<3xf32>
  %out4 = stablehlo.convert %out3 : (tensor<3xf32>) -> tensor<3xf16>
  %z = stablehlo.constant dense<0.0> : tensor<2xf32>
  %out5 = stablehlo.negate %z : tensor<2xf32>
  %io = stablehlo.iota dim = 0 : tensor<4xi32>
  %out6 = stablehlo.add %x, %io : tensor<4xi32>
  return %out0, %n, %p, %out3, %out4, %out5, %out6
      : tensor<4xi32>, tensor<4xi8>, tensor<4xi1>, tensor<3xf32>, tensor<3xf16>, tensor<2xf32>,
        tensor<4xi32>
}
"""

# Ops on constants that backends compute differently from numpy or from each other, or whose
# float rounding is the backend's: each must reach IREE as it is.
LEFT = {
    "divide by zero": ("tensor<2xi32>", """
  %a = stablehlo.constant dense<[7, -7]> : tensor<2xi32>
  %z = stablehlo.constant dense<[0, 1]> : tensor<2xi32>
  %r = stablehlo.divide %a, %z : tensor<2xi32>"""),
    "smallest by -1": ("tensor<2xi32>", """
  %a = stablehlo.constant dense<[-2147483648, 4]> : tensor<2xi32>
  %z = stablehlo.constant dense<[-1, 2]> : tensor<2xi32>
  %r = stablehlo.remainder %a, %z : tensor<2xi32>"""),
    "shift by the width": ("tensor<2xi32>", """
  %a = stablehlo.constant dense<[7, 7]> : tensor<2xi32>
  %z = stablehlo.constant dense<[32, 1]> : tensor<2xi32>
  %r = stablehlo.shift_left %a, %z : tensor<2xi32>"""),
    "float maximum": ("tensor<2xf32>", """
  %a = stablehlo.constant dense<[0.0, 1.0]> : tensor<2xf32>
  %z = stablehlo.constant dense<[-0.0, 2.0]> : tensor<2xf32>
  %r = stablehlo.maximum %a, %z : tensor<2xf32>"""),
    "float64 arithmetic": ("tensor<2xf64>", """
  %a = stablehlo.constant dense<[0.1, 0.2]> : tensor<2xf64>
  %r = stablehlo.multiply %a, %a : tensor<2xf64>"""),
    "float16 arithmetic": ("tensor<2xf16>", """
  %a = stablehlo.constant dense<[0.1, 0.2]> : tensor<2xf16>
  %r = stablehlo.add %a, %a : tensor<2xf16>"""),
    "transcendental": ("tensor<2xf32>", """
  %a = stablehlo.constant dense<[0.1, 0.2]> : tensor<2xf32>
  %r = stablehlo.exponential %a : tensor<2xf32>"""),
    "total order": ("tensor<2xi1>", """
  %a = stablehlo.constant dense<[0.0, 1.0]> : tensor<2xf32>
  %z = stablehlo.constant dense<[-0.0, 1.0]> : tensor<2xf32>
  %r = stablehlo.compare LT, %z, %a, TOTALORDER
      : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xi1>"""),
    "float to integer": ("tensor<2xi32>", """
  %a = stablehlo.constant dense<[3.0e10, -1.5]> : tensor<2xf32>
  %r = stablehlo.convert %a : (tensor<2xf32>) -> tensor<2xi32>"""),
    "large and not a splat": (f"tensor<{SMALL + 1}xi32>", f"""
  %r = stablehlo.iota dim = 0 : tensor<{SMALL + 1}xi32>"""),
}


def _module_text(result_type: str, body: str) -> str:
    return f"func.func @main() -> {result_type} {{{body}\n  return %r : {result_type}\n}}"


def _folded(text: str) -> tuple[int, str]:
    with new_context():
        module = ir.Module.parse(text)
        count = fold_constants(module)
        assert module.operation.verify()
        return count, str(module)


def _ops(text: str) -> list[str]:
    return sorted({line.split("=")[1].split()[0].strip('"') for line in text.splitlines()
                   if "= stablehlo." in line or '= "stablehlo.' in line})


def _run(vmfb: bytes, *args) -> list[np.ndarray]:
    module = aotc_runtime.load_bytes(vmfb, device="local-sync", require_aotc=False)
    out = module["main"](*args)
    return [np.asarray(o) for o in (out if isinstance(out, (list, tuple)) else [out])]


def _same_bits(got: list, want: list) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape
        assert g.tobytes() == w.tobytes(), (g, w)


def test_chains_of_constant_ops_fold_into_constants():
    count, text = _folded(FOLDED)
    assert count == 20  # every op but the three adds of x
    assert _ops(text) == ["stablehlo.add", "stablehlo.constant"]
    assert "dense<-0.000000e+00> : tensor<2xf32>" in text  # a splat, with its sign


def test_folded_program_computes_what_iree_computes_unfolded():
    """IREE's results on the folded program (compile_stablehlo folds) are bit-equal to IREE's
    on the program as written (compiled without aotc), whose constant ops IREE evaluates."""
    unfolded = compile_str(FOLDED, extra_args=target_flags("cpu"), input_type="stablehlo")
    folded = compile_stablehlo(FOLDED, "cpu", use_cache=False)
    want = _run(unfolded, X)
    _same_bits(_run(folded, X), want)
    assert want[5].tobytes() == np.array([-0.0, -0.0], np.float32).tobytes()


@pytest.mark.parametrize("name", sorted(LEFT))
def test_ops_backends_define_are_left_to_them(name):
    result_type, body = LEFT[name]
    text = _module_text(result_type, body)
    count, folded = _folded(text)
    assert count == 0
    assert _ops(folded) == _ops(text)


def test_splat_broadcasts_fold_at_any_size():
    text = _module_text("tensor<1000x1000xf32>", """
  %a = stablehlo.constant dense<2.5> : tensor<f32>
  %r = stablehlo.broadcast_in_dim %a, dims = [] : (tensor<f32>) -> tensor<1000x1000xf32>""")
    count, folded = _folded(text)
    assert count == 1
    assert "dense<2.500000e+00> : tensor<1000x1000xf32>" in folded


def test_constants_inside_loops_fold():
    def body(i, acc):
        mask = anp.left_shift(anp.int32(1), anp.int32(7)) - anp.int32(1)
        return acc + anp.bitwise_and(i * anp.int32(-1640531535), mask)

    loop = lambda x: aotc.lax.fori_loop(0, 9, body, x)
    with new_context():
        module = ir.Module.parse(aotc.jit(loop).lower(np.int32(3)).text_with_locations())
        assert fold_constants(module) >= 2
        text = str(module)
    assert "stablehlo.shift_left" not in text
    with np.errstate(over="ignore"):
        want = 3 + sum(int((np.int32(i) * np.int32(-1640531535)) & 127) for i in range(9))
    assert aotc.jit(loop)(np.int32(3)) == want
