"""The corpus (issue 11 item 2): every program of corpus_harness.PROGRAMS, exported by JAX, is
differentiated in reverse and forward mode and vectorized by aotc, and each transform is run
through aotc's interpreter and through IREE (cpu target), then compared with jax.grad /
jax.jvp / jax.vmap (metric and tolerances: corpus_harness's docstring; the list and how to add
a program: README.md).

Each program is exported, transformed and given JAX's answers once per session. IREE compiles
are batched: CHUNK programs' transformed functions share one module (corpus_harness.merged_text),
so the whole corpus takes about a dozen compiles; a chunk that fails to compile falls back to
one compile per (program, transform), so a failure names its program.
A transform that is not defined for a program is listed in its Program.undefined with the
reason (test_undefined_transforms_have_reasons); a known failure is a strict xfail with its
reason in Program.xfail.
"""

import functools
import inspect
from pathlib import Path

import jax
import numpy as np
import pytest
from corpus_harness import BACKENDS, PROGRAMS, TOLERANCE, TRANSFORMS, Exported, check, merged_text

import aotc
from aotc.frontend.core.errors import CompileError
from aotc.tools.compile import compile_stablehlo
from aotc_runtime import load_bytes

BY_NAME = {p.name: p for p in PROGRAMS}
HERE = Path(__file__).parent
# public jax.nn functions the corpus leaves out, with the reason
JAX_NN_LEFT_OUT = {
    "scaled_matmul": "JAX cannot export it for CPU ('MLIR translation rule for primitive "
                     "scaled_matmul not found for platform cpu'): a cuDNN block-scaled matmul",
    "scaled_dot_general": "built on scaled_matmul (no CPU lowering in JAX)",
    "get_scaled_dot_general_config": "returns a configuration object, not a function of arrays",
}
CHUNK = 8  # programs per IREE compile (up to 24 functions)


@functools.cache
def cases(name: str) -> dict:
    return Exported(BY_NAME[name]).cases()


def _chunk_of(name: str) -> list[str]:
    index = [p.name for p in PROGRAMS].index(name)
    start = index - index % CHUNK
    return [p.name for p in PROGRAMS[start:start + CHUNK]]


def _prefix(name: str, transform: str) -> str:
    return f"{name}__{transform}__"


def _compile(entries) -> dict:
    """Entry name (prefixed) -> callable of one IREE module holding every entry."""
    module = load_bytes(compile_stablehlo(merged_text(entries)), require_aotc=False)
    return {prefix + entry: module[prefix + entry] for prefix, _, entry in entries}


def _compile_each(entries) -> dict:
    """One compile per entry; a failing entry maps to its CompileError."""
    functions = {}
    for entry in entries:
        try:
            functions.update(_compile([entry]))
        except CompileError as exc:
            functions[entry[0] + entry[2]] = exc
    return functions


@functools.cache
def _chunk_functions(first: str) -> dict:
    """The compiled functions of the chunk starting at program `first`. Its known IREE failures
    (strict xfails for iree or "*") compile one at a time, outside the chunk: one entry that
    does not compile fails its whole chunk, after IREE's retries (tools/iree_workarounds.py,
    the data-tiling fallback), and the chunk then went one entry per compile. A program with
    a `compile_alone` reason compiles in a module of its own (its retry would recompile the
    whole chunk). A module that fails to compile anyway is compiled one entry at a time (a
    failing entry maps to its CompileError)."""
    entries = {(name, t): (_prefix(name, t), case.module, case.entry)
               for name in _chunk_of(first) for t, case in cases(name).items()
               if case.error is None}
    known = {key for key in entries if _xfail(BY_NAME[key[0]], key[1], "iree")}
    functions = _compile_each(entries[key] for key in known)
    modules: dict[str, list] = {}  # "" for the chunk's module, else a program's own one
    for key, entry in entries.items():
        if key not in known:
            alone = BY_NAME[key[0]].compile_alone
            modules.setdefault(key[0] if alone else "", []).append(entry)
    for module_entries in modules.values():
        try:
            functions.update(_compile(module_entries))
        except CompileError:
            functions.update(_compile_each(module_entries))
    return functions


def _iree_function(name: str, transform: str):
    case = cases(name)[transform]
    found = _chunk_functions(_chunk_of(name)[0])[_prefix(name, transform) + case.entry]
    if isinstance(found, Exception):
        raise found
    return found


def _xfail(program, transform: str, backend: str) -> str | None:
    """The reason of program's strict xfail for (transform, backend), if it has one."""
    return program.xfail.get((transform, backend)) or program.xfail.get((transform, "*"))


def _params():
    for program in PROGRAMS:
        for transform in TRANSFORMS:
            if transform in program.undefined:
                continue
            for backend in BACKENDS:
                reason = _xfail(program, transform, backend)
                marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
                if backend == "iree":
                    marks.append(pytest.mark.slow)
                yield pytest.param(program.name, transform, backend, marks=marks,
                                   id=f"{program.name}-{transform}-{backend}")


@pytest.mark.parametrize("name, transform, backend", list(_params()))
def test_corpus(name, transform, backend):
    case = cases(name)[transform]
    if case.error is not None:
        raise case.error
    if backend == "interpreter":
        outputs = aotc.interpret(case.module, case.entry, *case.inputs)
    else:
        outputs = _iree_function(name, transform)(*case.inputs)
    check(outputs, case, TOLERANCE[transform])


def test_corpus_size_and_coverage():
    """At least 60 programs, every family of the issue present, names unique."""
    assert len(PROGRAMS) >= 60
    assert len(BY_NAME) == len(PROGRAMS)
    families = {p.family for p in PROGRAMS}
    assert families >= {"jax.nn", "jax.scipy.special", "optax.losses", "optax.optimizers",
                        "flax.linen", "sort/cumulative", "gather/scatter", "dynamic_slice",
                        "mixed precision", "loops"}


def test_undefined_transforms_have_reasons():
    """A transform left out of a program names a known transform and says why."""
    for program in PROGRAMS:
        for transform, reason in program.undefined.items():
            assert transform in TRANSFORMS and len(reason) > 20, (program.name, transform)
        for (transform, backend), reason in program.xfail.items():
            assert transform in TRANSFORMS and backend in (*BACKENDS, "*"), program.name
            assert len(reason) > 20 and transform not in program.undefined, program.name
        assert not program.compile_alone or len(program.compile_alone) > 20, program.name


def test_every_jax_nn_function_is_in_the_corpus():
    """All of jax.nn: each public function is called by a program or left out with a reason."""
    source = "".join((HERE / f).read_text() for f in ("corpus_programs.py", "corpus_flax.py"))
    names = [n for n in dir(jax.nn) if not n.startswith("_")
             and callable(getattr(jax.nn, n)) and not inspect.ismodule(getattr(jax.nn, n))]
    missing = [n for n in names if f"jax.nn.{n}(" not in source and n not in JAX_NN_LEFT_OUT]
    assert not missing, f"jax.nn functions without a corpus program: {missing}"
    assert "jax.nn.initializers." in source


def test_readme_lists_every_program():
    """README.md's program list is complete (it is written by hand, so a test keeps it so)."""
    readme = (HERE / "README.md").read_text()
    missing = [p.name for p in PROGRAMS if f"`{p.name}`" not in readme]
    assert not missing, f"add these programs to tests/corpus/README.md: {missing}"


def test_error_metric_fails_on_wrong_answers():
    """The metric the corpus uses: relative in the max norm, NaN-aware, exact for integers."""
    case_like = type("C", (), {"entry": "f", "expected": [np.array([1.0, 2.0, np.nan])]})
    check([np.array([1.0, 2.0001, np.nan])], case_like, 1e-4)
    with pytest.raises(AssertionError, match="output 0"):
        check([np.array([1.0, 2.001, np.nan])], case_like, 1e-4)
    with pytest.raises(AssertionError):
        check([np.array([1.0, 2.0, 0.0])], case_like, 1e-4)
    ints = type("C", (), {"entry": "f", "expected": [np.array([1, 2], np.int32)]})
    with pytest.raises(AssertionError):
        check([np.array([1, 3], np.int32)], ints, 1e-4)
