"""Every error kind aotc raises while tracing or compiling, with the message a user sees."""

import inspect

import numpy as np
import pytest

import aotc
import aotc.numpy as anp
from aotc.tools.compile import compile_stablehlo

X = np.ones((2, 3), np.float32)


def _line_of(marker: str) -> int:
    source = inspect.getsource(inspect.getmodule(_line_of)).splitlines()
    return next(i for i, line in enumerate(source, 1) if marker in line and "_line_of" not in line)


def branchy(x):
    if x.sum() > 0:  # MARK-if
        return x
    return -x


def test_python_if_on_traced_value_is_a_concretization_error():
    with pytest.raises(aotc.ConcretizationError) as err:
        aotc.lower(branchy, X)
    message = str(err.value)
    assert f"test_errors.py:{_line_of('MARK-if')}" in message
    assert "anp.where" in message and "aotc.lax.cond" in message


@pytest.mark.parametrize("convert", [int, float, bool, lambda t: np.asarray(t), lambda t: [0][t]])
def test_conversions_of_traced_values_are_refused(convert):
    with pytest.raises(aotc.ConcretizationError, match="traced array"):
        aotc.lower(lambda x: convert(x.sum()), X)


def test_shape_mismatch_names_both_shapes_and_the_user_line():
    def bad(x, y):
        return x + y  # MARK-add

    with pytest.raises(aotc.TracingError) as err:
        aotc.lower(bad, X, np.ones((4,), np.float32))
    message = str(err.value)
    assert "(2, 3)" in message and "(4,)" in message
    assert f"test_errors.py:{_line_of('MARK-add')}" in message


def test_matmul_mismatch_names_shapes():
    with pytest.raises(aotc.TracingError, match=r"\(2, 3\).*\(2, 3\)"):
        aotc.lower(lambda x: x @ x, X)


def test_unsupported_numpy_function_is_an_attribute_error_naming_it():
    with pytest.raises(AttributeError, match=r"aotc\.numpy\.polyfit .*not supported"):
        anp.polyfit  # noqa: B018


def test_unknown_attribute_is_attribute_error():
    with pytest.raises(AttributeError):
        anp.no_such_function  # noqa: B018


def test_errors_form_one_hierarchy():
    for cls in (aotc.TracingError, aotc.ConcretizationError, aotc.MissingRuleError,
                aotc.CompileError, aotc.ArtifactError, aotc.InputError):
        assert issubclass(cls, aotc.AotcError)
    assert issubclass(aotc.ConcretizationError, aotc.TracingError)


def test_every_traced_op_carries_the_user_location():
    def model(x):
        y = anp.sin(x)  # MARK-sin
        return y * 2.0  # MARK-mul

    text = aotc.lower(model, X).text_with_locations()
    for marker in ("MARK-sin", "MARK-mul"):
        assert f'test_errors.py":{_line_of(marker)}:' in text


def test_iree_failure_is_a_compile_error_with_diagnostics_and_user_location():
    text = """
    func.func @main(%arg0: tensor<4xf32>) -> tensor<4xf32> {
      %0 = stablehlo.custom_call @no_such_kernel(%arg0)
        : (tensor<4xf32>) -> tensor<4xf32> loc("model.py":12:3)
      return %0 : tensor<4xf32>
    }
    """
    with pytest.raises(aotc.CompileError) as err:
        compile_stablehlo(text)
    message = str(err.value)
    assert "IREE failed to compile" in message
    assert "model.py:12" in message


def test_unknown_compile_target_lists_valid_ones():
    with pytest.raises(aotc.CompileError, match=r"unknown target 'tpu'.*cpu"):
        compile_stablehlo("func.func @main() { return }", target="tpu")


def test_unsupported_argument_type_names_the_type():
    with pytest.raises(aotc.TracingError, match="str"):
        aotc.lower(lambda s: s, "hello")


def test_unsupported_dtype_names_the_supported_ones():
    with pytest.raises(TypeError, match=r"datetime64.*not supported.*complex64"):
        aotc.ShapeSpec((2,), "datetime64[s]")
