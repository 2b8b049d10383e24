"""The public names of aotc.random and aotc.nn.initializers: each has a docstring and a
JAX-compared test (a row read from JAX's namespace by the draws tables of test_random.py and
test_random_more.py, or an initializer test of test_initializers.py), and JAX's names left out
are listed with reasons, so the sets are checked both ways."""

import inspect

import jax
import jax.nn.initializers as ji
import jax.random as jr
import test_initializers
import test_random
import test_random_gamma
import test_random_more
from helpers import Recorder

import aotc.nn as ann
import aotc.random as ar
from aotc.frontend import initializers as frontend_initializers
from aotc.frontend import random as frontend_random

# Tested outside the draws table, by these tests of test_random.py.
TESTED_ELSEWHERE = {
    "PRNGKey": "test_keys_from_seeds", "key": "test_keys_from_seeds",
    "key_data": "test_keys_from_seeds", "wrap_key_data": "test_keys_from_seeds",
    "shuffle": "test_shuffle_matches_independent_permutation",
}
# Tested in test_random_gamma.py (the rejection samplers compile their own programs).
TESTED_IN_GAMMA = {
    "gamma": "test_gamma_bits_interpreted", "loggamma": "test_gamma_bits_interpreted",
    "beta": "test_beta_dirichlet_bits_interpreted",
    "dirichlet": "test_beta_dirichlet_bits_interpreted",
}

# jax.random names aotc.random does not have, and why.
LEFT_OUT_RANDOM = {
    "clone": "a no-op for aotc's keys, which are plain arrays",
    "key_dtype": "aotc's keys are uint32 data, with no key dtype",
    "key_impl": "aotc has one implementation, threefry2x32",
    "orthogonal": "needs a QR, which lives in aotc's linalg layer above random, and JAX's bits "
                  "follow LAPACK's Householder rounding; aotc.nn.initializers.orthogonal has it "
                  "(within 1e-6 of JAX)",
    "random_gamma_p": "a JAX primitive, not an API",
}
LEFT_OUT_INITIALIZERS = {"Initializer": "a typing Protocol, not a function"}


def _public(facade) -> set:
    """The public names of a facade: its frontend package's __all__."""
    source = {ar: frontend_random, ann.initializers: frontend_initializers}[facade]
    return set(source.__all__)


def test_every_random_name_has_a_docstring_and_a_jax_compared_test():
    seen = set()
    jax.eval_shape(lambda k: test_random.draws(Recorder(jr, seen), k), test_random.KEYS[0])
    jax.eval_shape(lambda k: test_random_more.draws(Recorder(jr, seen), k), test_random.KEYS[0])
    for name in sorted(_public(ar)):
        assert inspect.getdoc(getattr(ar, name)), f"aotc.random.{name} has no docstring"
        assert name in seen or name in TESTED_ELSEWHERE or name in TESTED_IN_GAMMA, \
            f"aotc.random.{name} has no test"
        if name in TESTED_ELSEWHERE:
            assert hasattr(test_random, TESTED_ELSEWHERE[name]), name
        if name in TESTED_IN_GAMMA:
            assert hasattr(test_random_gamma, TESTED_IN_GAMMA[name]), name


def test_random_names_are_jax_names_and_the_rest_are_listed():
    jax_names = {n for n in dir(jr) if not n.startswith("_")}
    assert _public(ar) <= jax_names | {"shuffle"}  # jax.random.shuffle was removed in 0.10
    assert jax_names - _public(ar) == set(LEFT_OUT_RANDOM)


def test_every_initializer_has_a_docstring_and_a_jax_compared_test():
    tested = {c[0] for c in test_initializers.CASES} | {c[0] for c in test_initializers.ORTHOGONAL}
    for name in sorted(_public(ai := ann.initializers)):
        assert inspect.getdoc(getattr(ai, name)), f"initializers.{name} has no docstring"
        assert name in tested, f"initializers.{name} has no test"
    jax_names = {n for n in dir(ji) if not n.startswith("_")}
    assert jax_names - _public(ai) == set(LEFT_OUT_INITIALIZERS)
    assert _public(ai) <= jax_names


def test_missing_names_say_so():
    for module, name in [(ar, "orthogonal"), (ann.initializers, "glorot_uniformm")]:
        try:
            getattr(module, name)
        except AttributeError as err:
            assert name in str(err)
        else:
            raise AssertionError(f"{module.__name__}.{name} exists")
