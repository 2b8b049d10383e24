"""The numpy reference interpreter on StableHLO text: what other tools export, aotc can evaluate."""

import numpy as np
import pytest

import aotc
import aotc.numpy as anp
from aotc.frontend.core import registry
from aotc.frontend.core.ir import ir, new_context

POLYNOMIAL = """
module {
  func.func @main(%x: tensor<3xf32>, %y: tensor<3xf32>) -> (tensor<3xf32>, tensor<3xi1>) {
    %one = stablehlo.constant dense<1.0> : tensor<3xf32>
    %0 = stablehlo.multiply %x, %y : tensor<3xf32>
    %1 = stablehlo.add %0, %one : tensor<3xf32>
    %2 = stablehlo.sine %1 : tensor<3xf32>
    %3 = stablehlo.compare GT, %2, %x, FLOAT : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xi1>
    return %2, %3 : tensor<3xf32>, tensor<3xi1>
  }
}
"""
X = np.array([0.5, -1.0, 2.0], np.float32)
Y = np.array([3.0, 0.25, -0.5], np.float32)


def test_hand_written_module_text():
    value, flag = aotc.interpret(POLYNOMIAL, "main", X, Y)
    expected = np.sin(X * Y + np.float32(1))
    assert value.dtype == np.float32 and flag.dtype == np.bool_
    np.testing.assert_allclose(value, expected, rtol=1e-6)
    np.testing.assert_array_equal(flag, expected > X)


def test_a_parsed_module_and_its_text_give_the_same_results():
    with new_context():
        module = ir.Module.parse(POLYNOMIAL)
        from_module = aotc.interpret(module, "main", X, Y)
    from_text = aotc.interpret(POLYNOMIAL, "main", X, Y)
    for a, b in zip(from_module, from_text, strict=True):
        np.testing.assert_array_equal(a, b)


def test_results_take_the_ir_dtype_so_integers_wrap():
    text = """
    func.func @main(%a: tensor<2xi8>) -> tensor<2xi8> {
      %one = stablehlo.constant dense<1> : tensor<2xi8>
      %0 = stablehlo.add %a, %one : tensor<2xi8>
      return %0 : tensor<2xi8>
    }"""
    (out,) = aotc.interpret(text, "main", np.array([127, -5], np.int8))
    assert out.dtype == np.int8
    np.testing.assert_array_equal(out, [-128, -4])


# ---- float64 evaluation of float32 IR ----------------------------------------------------------

CANCELLATION = """
func.func @main(%x: tensor<2xf32>, %n: tensor<2xi32>) -> (tensor<2xf32>, tensor<2xi32>) {
  %one = stablehlo.constant dense<1.0> : tensor<2xf32>
  %scale = stablehlo.constant dense<1.0e10> : tensor<2xf32>
  %0 = stablehlo.subtract %x, %one : tensor<2xf32>
  %1 = stablehlo.multiply %0, %scale : tensor<2xf32>
  %2 = stablehlo.add %n, %n : tensor<2xi32>
  return %1, %2 : tensor<2xf32>, tensor<2xi32>
}
"""


def test_float64_inputs_evaluate_float32_ir_in_float64():
    x = np.array([1 + 1e-10, 1 + 3e-10])
    n = np.array([2, -3], np.int32)
    scaled, doubled = aotc.interpret(CANCELLATION, "main", x, n)
    assert scaled.dtype == np.float64  # float values follow the inputs' precision
    # float32 cannot tell 1 + 1e-10 from 1; float64 keeps ~6 significant digits of the difference
    np.testing.assert_allclose(scaled, (x - 1) * 1e10, rtol=1e-12)
    np.testing.assert_allclose(scaled, [1.0, 3.0], rtol=1e-5)
    assert doubled.dtype == np.int32  # integers keep the IR's dtype
    np.testing.assert_array_equal(doubled, [4, -6])
    scaled32, _ = aotc.interpret(CANCELLATION, "main", x.astype(np.float32), n)
    assert scaled32.dtype == np.float32
    np.testing.assert_array_equal(scaled32, [0.0, 0.0])


def test_float64_evaluation_of_a_traced_function():
    def f(x):
        return anp.exp(anp.log1p(x) * 3.0) - (1.0 + x) ** 3

    x64 = np.array([1e-3, 0.5, 2.0])
    traced = aotc.lower(f, aotc.ShapeSpec((3,), "float32"))
    (out,) = aotc.interpret(traced.module, traced.name, x64)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, 0.0, atol=1e-12)  # float32 rounding alone leaves ~1e-6
    (out32,) = aotc.interpret(traced.module, traced.name, x64.astype(np.float32))
    assert np.abs(out32).max() > 1e-7


# ---- calls between functions --------------------------------------------------------------------

CALLS = """
module {
  func.func @main(%x: tensor<3xf32>) -> tensor<3xf32> {
    %0 = func.call @affine(%x) : (tensor<3xf32>) -> tensor<3xf32>
    %1 = func.call @affine(%0) : (tensor<3xf32>) -> tensor<3xf32>
    %2, %3 = func.call @pair(%1) : (tensor<3xf32>) -> (tensor<3xf32>, tensor<3xf32>)
    %4 = stablehlo.subtract %2, %3 : tensor<3xf32>
    return %4 : tensor<3xf32>
  }
  func.func private @affine(%x: tensor<3xf32>) -> tensor<3xf32> {
    %two = stablehlo.constant dense<2.0> : tensor<3xf32>
    %0 = stablehlo.multiply %x, %two : tensor<3xf32>
    %1 = func.call @plus_one(%0) : (tensor<3xf32>) -> tensor<3xf32>
    return %1 : tensor<3xf32>
  }
  func.func private @plus_one(%x: tensor<3xf32>) -> tensor<3xf32> {
    %one = stablehlo.constant dense<1.0> : tensor<3xf32>
    %0 = stablehlo.add %x, %one : tensor<3xf32>
    return %0 : tensor<3xf32>
  }
  func.func private @pair(%x: tensor<3xf32>) -> (tensor<3xf32>, tensor<3xf32>) {
    %0 = stablehlo.multiply %x, %x : tensor<3xf32>
    return %0, %x : tensor<3xf32>, tensor<3xf32>
  }
}
"""


def test_func_call_between_functions():
    (out,) = aotc.interpret(CALLS, "main", X)
    inner = 2 * (2 * X + 1) + 1
    np.testing.assert_allclose(out, inner * inner - inner, rtol=1e-6)
    (helper,) = aotc.interpret(CALLS, "affine", X)  # any function of the module can be run
    np.testing.assert_allclose(helper, 2 * X + 1, rtol=1e-6)


# ---- errors ------------------------------------------------------------------------------------


def test_unknown_function_names_the_functions_there_are():
    with pytest.raises(aotc.TracingError, match="no function 'mian'") as err:
        aotc.interpret(CALLS, "mian", X)
    for name in ("main", "affine", "plus_one", "pair"):
        assert name in str(err.value)


def test_wrong_number_of_arguments():
    with pytest.raises(aotc.TracingError, match="takes 2 arguments, got 1"):
        aotc.interpret(POLYNOMIAL, "main", X)


def test_not_a_module():
    with pytest.raises(TypeError, match=r"ir\.Module or MLIR text"):
        aotc.interpret(42, "main")


_UNREGISTERED = ("stablehlo.reduce_precision",)  # unary float ops aotc has no rules for


def test_unregistered_op_is_a_missing_rule_error_naming_the_op():
    op = next(name for name in _UNREGISTERED if name not in registry.IMPL)
    text = f"""
    func.func @main(%a: tensor<3xf32>) -> tensor<3xf32> {{
      %0 = stablehlo.add %a, %a : tensor<3xf32>
      %1 = "{op}"(%0) {{exponent_bits = 5 : i32, mantissa_bits = 10 : i32}}
          : (tensor<3xf32>) -> tensor<3xf32>
      return %1 : tensor<3xf32>
    }}"""
    with pytest.raises(aotc.MissingRuleError) as err:
        aotc.interpret(text, "main", np.arange(3, dtype=np.float32))
    assert err.value.op == op and err.value.transform == "interpret"
    message = str(err.value)
    assert f"'{op}'" in message and ":4:" in message  # the op and its line in the text


def test_text_and_argument_errors_are_aotc_errors():
    text = ("func.func @main(%x: tensor<3x?xf32>) -> tensor<3x?xf32> {\n"
            "  %0 = stablehlo.add %x, %x : tensor<3x?xf32>\n  return %0 : tensor<3x?xf32>\n}")
    np.testing.assert_array_equal(aotc.interpret(text, "main", np.ones((3, 5), np.float32))[0],
                                  np.full((3, 5), 2, np.float32))
    with pytest.raises(aotc.TracingError, match=r"argument 0 of @main has shape \(4, 5\), but the "
                                           r"function takes tensor<3x\?xf32>"):
        aotc.interpret(text, "main", np.ones((4, 5), np.float32))
    with pytest.raises(aotc.TracingError, match=r"has shape \(3,\)"):
        aotc.interpret(text, "main", np.ones(3, np.float32))
    with pytest.raises(aotc.TracingError, match="could not parse the MLIR text"):
        aotc.interpret(text.replace("stablehlo.add", "stablehlo.bogus"), "main")
