"""Importing JAX's StableHLO text that carries Shardy (`sdy`) attributes.

JAX marks its LAPACK custom_calls with `sdy.sharding_rule` (a dimension mapping for sharding
propagation, not a sharding): parse_module drops it. Real shardings (`sdy.mesh`, `sdy.sharding`
on arguments, `sdy.sharding_constraint`) are refused with a clear error instead of being
silently compiled unsharded.
"""

import jax
import numpy as np
import pytest
from helpers import SHARDED_JAX_TEXT as SHARDED

import aotc
from aotc.frontend.trace.staging import parse_module

jax.config.update("jax_platforms", "cpu")

# a custom_call whose sharding rule is its only attribute, then the first of two
_RULE = "sdy.sharding_rule = #sdy.op_sharding_rule<([i, j])->([k, l]) {i=3, j=3, k=3, l=3}"
_T = "(tensor<3x3xf32>) -> tensor<3x3xf32>"
RULES = f"""func.func @main(%arg0: tensor<3x3xf32>) -> tensor<3x3xf32> {{
  %0 = stablehlo.custom_call @foo(%arg0) {{{_RULE}, custom>}} : {_T}
  %1 = stablehlo.custom_call @bar(%0) {{{_RULE}>, backend_config = "x"}} : {_T}
  return %1 : tensor<3x3xf32>
}}"""


def _orthogonal(key):
    return jax.nn.initializers.orthogonal()(jax.random.wrap_key_data(key), (3, 3))


def test_jax_lapack_custom_calls_parse_without_their_sharding_rules():
    text = jax.jit(_orthogonal).lower(np.zeros(2, np.uint32)).as_text()
    assert "sdy.sharding_rule" in text  # what JAX exports, so the test covers the real form
    module = str(parse_module(text))
    assert "sdy" not in module
    assert "@lapack_sgeqrf_ffi" in module and "@lapack_sorgqr_ffi" in module
    assert "output_operand_aliases" in module  # the call's other attributes are kept


def test_sharding_rule_as_only_and_first_attribute():
    module = str(parse_module(RULES))
    assert "sdy" not in module
    assert 'backend_config = "x"' in module


@pytest.mark.parametrize("api", ["parse", "differentiate", "vectorize"])
def test_shardy_shardings_are_refused_with_a_clear_error(api):
    calls = {"parse": lambda: parse_module(SHARDED),
             "differentiate": lambda: aotc.differentiate(SHARDED, "main", (0,)),
             "vectorize": lambda: aotc.vectorize(SHARDED, "main", (0,), 2)}
    with pytest.raises(aotc.TracingError, match=r"Shardy shardings \('sdy\.mesh'\).*without "
                                                 r"shardings"):
        calls[api]()
