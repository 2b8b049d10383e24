"""Every public function of aotc.numpy, aotc.lax and aotc.nn has a docstring and a spec-table row.

Which names have rows is derived from the tables themselves: each table (written once against a
namespace) is run here against a recording namespace that forwards to its oracle (numpy,
jax.numpy, jax.lax, jax.nn) and notes every name the table reads. A public function without a row
needs an entry in EXCLUDED with its reason; an excluded name that gains a row fails as stale.
"""

import importlib
import inspect
import pathlib
import types
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import test_extra
import test_lax
import test_nn
import test_numpy_more
import test_numpy_spec
from helpers import Recorder

import aotc.lax
import aotc.nn
import aotc.numpy
from aotc.frontend.numpy.index_tricks import IndexTrick

jax.config.update("jax_platforms", "cpu")

FACADES = {"aotc.numpy": aotc.numpy, "aotc.lax": aotc.lax, "aotc.nn": aotc.nn}

# Public values that are not functions, by kind: neither documented nor tabled one by one.
NOT_FUNCTIONS = {
    types.ModuleType: "aotc.numpy's own submodules (core, math, ...) that its imports expose",
    type: "dtypes (float32, ..., bool_, dtype) are numpy's classes; ndarray is the Tracer class",
    float: "the constants pi, e, inf and nan (test_constants_are_numpys checks their values)",
    type(None): "newaxis is None, as numpy.newaxis",
    IndexTrick: "mgrid, ogrid, r_, c_, s_, index_exp are used with [...]; test_numpy_manipulation "
                "checks them against jax.numpy's",
}

# Public functions with no spec-table row, and why.
EXCLUDED = {
    "aotc.numpy": {
        "fix": "alias of trunc (which has rows); jax.numpy.fix was removed in JAX 0.10",
        "empty": "numpy leaves the values unspecified (aotc and JAX give zeros)",
        "empty_like": "numpy leaves the values unspecified (aotc and JAX give zeros)",
        "shape": "returns a static tuple, not an array",
        "ndim": "returns a static int, not an array",
        "size": "returns a static int, not an array",
        "result_type": "returns a dtype; test_promotion.py checks it against JAX",
        "promote_types": "returns a dtype; test_promotion.py checks every pair against JAX",
    },
    "aotc.lax": {
        "max_pool": "no jax.lax counterpart; test_pooling_helpers checks it against reduce_window",
        "avg_pool": "no jax.lax counterpart; test_pooling_helpers checks it against reduce_window",
        **{name: "a collective: only inside a mapped body; tests/frontend/test_collectives.py "
                 "checks it against numpy and jax.vmap/shard_map"
           for name in ("all_gather", "all_to_all", "axis_index", "pmax", "pmean", "pmin",
                        "ppermute", "psum", "psum_scatter")},
    },
    "aotc.nn": {
        "normalize": "alias of standardize (which has rows); jax.nn no longer has normalize",
    },
}


def _numpy_spec_rows(seen: set) -> None:
    for (family, name), case in test_numpy_spec.CASES.items():
        dt = case.dtypes[0]
        for key, args in test_numpy_spec._inputs(family, name, dt).items():
            variant = int(key.rsplit(".", 1)[1])
            with np.errstate(all="ignore"):
                case.call(Recorder(np, seen), *args, **case.kwargs(variant, dt))


# A table that reads a traced value (a Python bool or shape from data) cannot be traced
# abstractly; it is then run eagerly.
_NEEDS_VALUES = (jax.errors.ConcretizationTypeError, jax.errors.TracerArrayConversionError,
                 jax.errors.TracerBoolConversionError, jax.errors.TracerIntegerConversionError,
                 jax.errors.NonConcreteBooleanIndexError)


def _record(table, *args) -> None:
    """Run table(*args) for the names it reads: traced abstractly by jax.eval_shape (the same
    calls, without compiling and running each jax.numpy op eagerly, which took most of this
    file's time), or eagerly when the table needs values."""
    try:
        jax.eval_shape(table, *args)
    except _NEEDS_VALUES:
        table(*args)


def _extra_rows(seen: set) -> None:
    x = test_extra._data((4, 6), np.float32)  # a float array reaches every sub-table
    _record(partial(test_extra._table, Recorder(test_extra.JNP, seen)), jnp.asarray(x))


# More tables by convention: a module tests/frontend/test_<facade>_<topic>.py that defines
# `_table(m, *args)` (m: the facade's namespace: aotc.numpy/jax.numpy, aotc.lax/jax.lax, or
# aotc.nn/jax.nn) and `_args()` (numpy arrays) gives rows to every name its table reads. A table
# made of parts that JAX runs differently (rows it traces, rows that need values) lists them in
# `_TABLE_PARTS`: each part is recorded on its own, so only the rows that need values run eagerly.
HERE = pathlib.Path(__file__).parent
ORACLES = {"numpy": jnp, "lax": jax.lax, "nn": jax.nn}


def _convention_tables(facade: str) -> list:
    found = []
    for path in sorted(HERE.glob(f"test_{facade}_*.py")):
        module = importlib.import_module(path.stem)
        if hasattr(module, "_table") and hasattr(module, "_args"):
            found.append(module)
    return found


def _convention_rows(facade: str):
    def rows(seen: set) -> None:
        for module in _convention_tables(facade):
            args = [jnp.asarray(a) for a in module._args()]
            for part in getattr(module, "_TABLE_PARTS", (module._table,)):
                _record(partial(part, Recorder(ORACLES[facade], seen)), *args)

    return rows


def test_convention_tables_are_found():
    assert test_numpy_more in _convention_tables("numpy")


RNG = np.random.default_rng(0)
F32 = np.float32
# test_lax's programs `(L, m, *args)` with arguments of the shapes its tests use.
LAX_PROGRAMS = {
    "control_program": (test_lax.X, np.int32(1)),
    "window_program": (RNG.standard_normal((2, 7, 6, 3)).astype(F32),
                       RNG.integers(-50, 50, (2, 7, 6, 3)).astype(np.int32)),
    "wrappers_program": (RNG.standard_normal((2, 3, 4)).astype(F32),
                         RNG.standard_normal((2, 4, 5)).astype(F32), np.int32(1)),
}
# test_nn's tables `(nn, x)` with their inputs.
NN_TABLES = {
    "_table": test_nn._data(*test_nn.GROUPS[0][:3]),
    "_one_hot_table": test_nn.ONE_HOT_LABELS,
}


def _lax_rows(seen: set) -> None:
    for name, args in LAX_PROGRAMS.items():
        _record(partial(getattr(test_lax, name), Recorder(jax.lax, seen), jnp), *args)


def _nn_rows(seen: set) -> None:
    for name, x in NN_TABLES.items():
        _record(partial(getattr(test_nn, name), Recorder(jax.nn, seen)), jnp.asarray(x))


SPEC_TABLES = {
    "aotc.numpy": (_numpy_spec_rows, _extra_rows, _convention_rows("numpy")),
    "aotc.lax": (_lax_rows, _convention_rows("lax")),
    "aotc.nn": (_nn_rows, _convention_rows("nn")),
}


def _functions(facade: str) -> dict:
    module = FACADES[facade]
    out = {}
    for name in dir(module):
        value = getattr(module, name)
        if name.startswith("_") or isinstance(value, tuple(NOT_FUNCTIONS)):
            continue
        out[name] = value
    return out


def _covered(facade: str) -> set:
    seen = set()
    for run_tables in SPEC_TABLES[facade]:
        run_tables(seen)
    return seen


@pytest.mark.parametrize("facade", FACADES)
def test_every_public_function_has_a_docstring(facade):
    functions = _functions(facade)
    assert all(callable(f) for f in functions.values())
    undocumented = sorted(n for n, f in functions.items() if not inspect.getdoc(f))
    assert not undocumented, f"{facade}: no docstring: {undocumented}"


@pytest.mark.parametrize("facade", FACADES)
def test_every_public_function_has_a_spec_row_or_a_reasoned_exclusion(facade):
    functions, covered, excluded = _functions(facade), _covered(facade), EXCLUDED[facade]
    missing = sorted(set(functions) - covered - set(excluded))
    assert not missing, f"{facade}: add spec-table rows (or EXCLUDED entries) for {missing}"
    stale = sorted(set(excluded) & covered)
    assert not stale, f"{facade}: these now have rows; drop them from EXCLUDED: {stale}"
    unknown = sorted(set(excluded) - set(functions))
    assert not unknown, f"{facade}: EXCLUDED names that are not public functions: {unknown}"
    assert all(reason.strip() for reason in excluded.values())


def test_the_recorded_tables_are_all_the_tables():
    """A new `*_program` in test_lax or `*table` in test_nn must be added to the maps above."""
    programs = {n for n, f in vars(test_lax).items() if n.endswith("_program") and callable(f)}
    assert programs == set(LAX_PROGRAMS)
    tables = {n for n, f in vars(test_nn).items() if n.endswith("table") and callable(f)}
    assert tables == set(NN_TABLES)


@pytest.mark.parametrize("facade", ["aotc.lax", "aotc.nn"])
def test_all_of_the_frontend_module_is_exported(facade):
    frontend = {"aotc.lax": aotc.frontend.lax, "aotc.nn": aotc.frontend.nn}[facade]
    assert set(frontend.__all__) <= set(dir(FACADES[facade]))


def test_constants_are_numpys():
    assert (aotc.numpy.pi, aotc.numpy.e, aotc.numpy.inf) == (np.pi, np.e, np.inf)
    assert np.isnan(aotc.numpy.nan) and aotc.numpy.newaxis is np.newaxis
    assert aotc.numpy.float32 is np.float32 and aotc.numpy.dtype is np.dtype
