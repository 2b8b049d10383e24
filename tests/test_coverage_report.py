"""How much of JAX's API aotc has, measured from JAX's own namespaces, and docs/coverage.md.

Each JAX namespace's public names (jax.lax without its `*_p` primitives) are looked up in
aotc's counterpart: a name is implemented when the aotc module has it (a missing name is an
AttributeError there).

docs/coverage.md is generated from this; regenerate it with
    AOTC_WRITE_COVERAGE=1 .venv/bin/python -m pytest tests/test_coverage_report.py
Its check compares only the implemented names, so percentages and grouping may lag harmlessly.
"""

import os
import pathlib
import re
import types

import jax
import jax.lax
import jax.nn
import jax.nn.initializers
import jax.numpy
import jax.numpy.fft
import jax.numpy.linalg
import jax.random
import jax.scipy.linalg
import jax.scipy.special
import jax.tree
import jax.tree_util
import numpy as np

import aotc
import aotc.lax
import aotc.nn
import aotc.nn.initializers
import aotc.numpy
import aotc.numpy.fft
import aotc.numpy.linalg
import aotc.random
import aotc.scipy.linalg
import aotc.scipy.special
import aotc.tree
import aotc.tree_util

DOC = pathlib.Path(__file__).parents[1] / "docs" / "coverage.md"
REGENERATE = "AOTC_WRITE_COVERAGE=1 .venv/bin/python -m pytest tests/test_coverage_report.py"

# aotc namespace -> the JAX namespace it ports.
NAMESPACES = {
    "aotc.numpy": (aotc.numpy, jax.numpy),
    "aotc.lax": (aotc.lax, jax.lax),
    "aotc.nn": (aotc.nn, jax.nn),
    "aotc.tree": (aotc.tree, jax.tree),
    "aotc.tree_util": (aotc.tree_util, jax.tree_util),
    "aotc.random": (aotc.random, jax.random),
    "aotc.nn.initializers": (aotc.nn.initializers, jax.nn.initializers),
    "aotc.numpy.linalg": (aotc.numpy.linalg, jax.numpy.linalg),
    "aotc.numpy.fft": (aotc.numpy.fft, jax.numpy.fft),
    "aotc.scipy.linalg": (aotc.scipy.linalg, jax.scipy.linalg),
    "aotc.scipy.special": (aotc.scipy.special, jax.scipy.special),
}

_COMPLEX = {"angle", "complex", "conj", "conjugate", "imag", "real", "iscomplex", "isreal",
            "iscomplexobj", "isrealobj", "sort_complex", "cdouble", "csingle", "ComplexWarning"}
_DEVICE = {"all_gather", "all_to_all", "axis_index", "axis_size", "pbroadcast", "pcast", "pmax",
           "pmean", "pmin", "ppermute", "precv", "psend", "pshuffle", "psum", "psum_scatter",
           "pswapaxes", "ragged_all_to_all", "with_sharding_constraint", "platform_dependent",
           "after_all", "create_token", "from_dlpack"}
_SPECIAL = {"bessel_i0e", "bessel_i1e", "betainc", "digamma", "erf_inv", "igamma",
            "igamma_grad_a", "igammac", "lgamma", "polygamma", "zeta"}
_INDEX_OBJECTS = {"c_", "r_", "s_", "mgrid", "ogrid", "index_exp"}

# Missing names by group, first match wins: (title, test on the name and JAX's value).
GROUPS = [
    ("complex numbers (numpy warning class)",
     lambda n, v: n in _COMPLEX or "complex" in n.lower()),
    ("lax submodules (jax.lax.linalg / fft primitives: use aotc.numpy.linalg / fft)",
     lambda n, v: isinstance(v, types.ModuleType) or n == "fft"),
    ("narrow dtypes (float8, float6, float4, int4, ...)",
     lambda n, v: re.fullmatch(r"u?int[124]|float[468]_.*", n) is not None),
    ("other dtypes", lambda n, v: isinstance(v, type) and issubclass(v, np.generic)),
    ("collectives, devices, tokens and interop (no multi-device runtime)",
     lambda n, v: n in _DEVICE),
    ("random numbers", lambda n, v: n.startswith(("rng_", "random_")) or n == "RandomAlgorithm"),
    ("special functions", lambda n, v: n in _SPECIAL),
    ("index objects", lambda n, v: n in _INDEX_OBJECTS),
    ("window functions",
     lambda n, v: n in ("bartlett", "blackman", "hamming", "hanning", "kaiser")),
    ("polynomial fitting and roots", lambda n, v: n in ("polydiv", "polyfit", "roots")),
    ("Python-function objects", lambda n, v: n in ("ufunc", "frompyfunc")),
    ("classes and named tuples (dimension numbers, enums, ...)",
     lambda n, v: isinstance(v, type)),
    ("other", lambda n, v: True),
]


def jax_names(jax_module) -> list[str]:
    """The public names of a JAX namespace (jax.lax's `*_p` primitives left out)."""
    names = [n for n in dir(jax_module) if not n.startswith("_")]
    if jax_module is jax.lax:
        names = [n for n in names if not n.endswith("_p")]
    return sorted(names)


def coverage() -> dict:
    """aotc namespace -> (implemented names, missing names), both sorted, from JAX's names."""
    out = {}
    for name, (ours, theirs) in NAMESPACES.items():
        names = jax_names(theirs)
        implemented = [n for n in names if hasattr(ours, n)]
        out[name] = (implemented, [n for n in names if n not in implemented])
    return out


def _grouped(jax_module, missing) -> dict:
    groups = {title: [] for title, _ in GROUPS}
    for n in missing:
        value = getattr(jax_module, n)
        groups[next(title for title, test in GROUPS if test(n, value))].append(n)
    return {title: names for title, names in groups.items() if names}


def _names(names) -> str:
    return ", ".join(f"`{n}`" for n in names)


def render(report: dict) -> str:
    lines = [
        "# Coverage of JAX's API",
        "",
        f"Generated by `tests/test_coverage_report.py` from the public names of JAX "
        f"{jax.__version__}'s namespaces (jax.lax without its `*_p` primitives); do not edit. "
        f"Regenerate with `{REGENERATE}`.",
        "",
        "A name counts as implemented when aotc's namespace has it. Each implemented function of "
        "aotc.numpy, aotc.lax and aotc.nn is also checked against JAX: "
        "`tests/frontend/test_public_api.py` requires a docstring and a spec-table row (a call "
        "compared with jax.numpy / jax.lax / jax.nn) or an exclusion with its reason; aotc.tree "
        "and aotc.tree_util are compared with JAX in `tests/frontend/test_tree.py` and "
        "`test_tree_util.py`; aotc.random and aotc.nn.initializers in "
        "`tests/frontend/test_random_api.py` and `test_initializers.py`; the linalg, fft and "
        "scipy.special namespaces in `tests/frontend/test_linalg_*.py`, `test_fft.py` and "
        "`test_scipy_special.py`.",
        "",
        "| aotc | JAX | implemented | total | percent |",
        "|---|---|---|---|---|",
    ]
    for name, (implemented, missing) in report.items():
        total = len(implemented) + len(missing)
        lines.append(f"| `{name}` | `{NAMESPACES[name][1].__name__}` | {len(implemented)} | "
                     f"{total} | {100 * len(implemented) / total:.0f}% |")
    for name, (implemented, missing) in report.items():
        jax_module = NAMESPACES[name][1]
        lines += ["", f"## {name} ({jax_module.__name__})", "",
                  f"Implemented ({len(implemented)}): {_names(implemented)}", ""]
        if not missing:
            lines.append("Missing: none.")
            continue
        lines.append(f"Missing ({len(missing)}):")
        lines.append("")
        for title, names in _grouped(jax_module, missing).items():
            lines.append(f"- {title}: {_names(names)}")
    return "\n".join(lines) + "\n"


def parse_implemented(text: str) -> dict:
    """aotc namespace -> the set of implemented names docs/coverage.md lists."""
    sections = re.split(r"^## ", text, flags=re.M)[1:]
    out = {}
    for section in sections:
        name = section.split(maxsplit=1)[0]
        listed = re.search(r"^Implemented \(\d+\): (.*)$", section, flags=re.M)
        out[name] = set(re.findall(r"`([^`]+)`", listed.group(1))) if listed else set()
    return out


def test_implemented_and_missing_partition_jaxs_names():
    report = coverage()
    assert report.keys() == NAMESPACES.keys()
    for name, (implemented, missing) in report.items():
        ours, theirs = NAMESPACES[name]
        assert set(implemented) | set(missing) == set(jax_names(theirs))
        assert not set(implemented) & set(missing)
        for n in missing:
            assert not hasattr(ours, n), f"{name}.{n}"
    assert {"sum", "einsum", "isdtype"} <= set(report["aotc.numpy"][0])
    assert "linalg" in report["aotc.numpy"][0] and "psum" in report["aotc.lax"][0]
    assert "pswapaxes" in report["aotc.lax"][1]
    assert not any(n.endswith("_p") for n in report["aotc.lax"][0] + report["aotc.lax"][1])


def test_missing_names_are_grouped():
    _, missing = coverage()["aotc.numpy"]
    groups = _grouped(jax.numpy, missing)
    assert sum(len(names) for names in groups.values()) == len(missing)
    assert "polyfit" in groups["polynomial fitting and roots"]


def test_render_round_trips_the_implemented_names():
    report = coverage()
    parsed = parse_implemented(render(report))
    assert parsed == {name: set(implemented) for name, (implemented, _) in report.items()}


def test_docs_coverage_is_up_to_date():
    report = coverage()
    if os.environ.get("AOTC_WRITE_COVERAGE") == "1":
        DOC.write_text(render(report))
    assert DOC.exists(), f"docs/coverage.md is missing; generate it with `{REGENERATE}`"
    listed = parse_implemented(DOC.read_text())
    for name, (implemented, _) in report.items():
        gained = sorted(set(implemented) - listed.get(name, set()))
        lost = sorted(listed.get(name, set()) - set(implemented))
        assert not gained and not lost, (
            f"docs/coverage.md is stale for {name} (now implemented: {gained}; listed but gone: "
            f"{lost}); regenerate it with `{REGENERATE}`")
