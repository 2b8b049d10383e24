"""Loop matrix-vector products laid out for IREE's x86 CPU code (aotc.tools.loop_matvec):
the rewrite's structure (what becomes `v @ transpose(a)`, where the transpose goes, what is left
alone), the tuning spec reaching IREE's dispatch configuration, and compiled results against
numpy in float64 on sizes that are not multiples of the vector tiles."""

import numpy as np
import pytest
from helpers import rewritten_by, stablehlo_lines

import aotc
import aotc.numpy as anp
from aotc.tools import loop_matvec
from aotc.tools.compile import compile_stablehlo
from aotc.tools.targets import flags

RNG = np.random.default_rng(3)


def power(a, v, unroll=1):
    return aotc.lax.fori_loop(0, 8, lambda i, v: (a @ v) / anp.sqrt(anp.sum((a @ v) ** 2)), v,
                              unroll=unroll)


def vector_times_transpose(a, v):
    return aotc.lax.fori_loop(0, 5, lambda i, v: anp.tanh(v @ a.T), v, unroll=1)


def transpose_times_vector(a, v):
    return aotc.lax.fori_loop(0, 5, lambda i, v: anp.tanh(a.T @ v), v, unroll=1)


def vector_times_matrix(a, v):
    return aotc.lax.fori_loop(0, 5, lambda i, v: anp.tanh(v @ a), v, unroll=1)


def changing_matrix(a, v):
    def body(i, state):
        a, v = state
        return a * 0.5, anp.tanh(a @ v)
    return aotc.lax.fori_loop(0, 5, body, (a, v), unroll=1)[1]


def carried(a, v):
    def body(state):
        i, a, v = state
        return i + 1, a, anp.tanh(a @ v)
    return aotc.lax.while_loop(lambda s: s[0] < 5, body, (0, a, v))[2]


def nested(a, v):
    inner = lambda v: aotc.lax.fori_loop(0, 3, lambda j, v: anp.tanh(a @ v), v, unroll=1)
    return aotc.lax.fori_loop(0, 4, lambda i, v: inner(v) + 0.1, v, unroll=1)


def straight_line(a, v):
    return anp.tanh(a @ v)


def loop_matmul(a, h):
    return aotc.lax.fori_loop(0, 5, lambda i, h: anp.tanh(a @ h), h, unroll=1)


def loop_lines(text: str) -> tuple[list[str], list[str]]:
    """(lines before the first while, lines from it on) of a one-function module."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if "stablehlo.while" in line)
    return lines[:start], lines[start:]


A = RNG.normal(size=(37, 37)).astype(np.float32) / 6
V = RNG.normal(size=37).astype(np.float32)


# ---- structure ----
@pytest.mark.parametrize("unroll", [1, 4])
def test_matvec_becomes_vecmat_of_one_transpose_before_the_loop(unroll):
    count, text = rewritten_by(loop_matvec.rewrite, lambda a, v: power(a, v, unroll), A, V)
    assert count == 2 * unroll
    before, inside = loop_lines(text)
    assert len(stablehlo_lines("\n".join(before), "transpose")) == 1
    assert not stablehlo_lines("\n".join(inside), "transpose")
    dots = stablehlo_lines("\n".join(inside), "dot_general")
    assert len(dots) == 2 * unroll
    assert all("contracting_dims = [0] x [0]" in d and "(tensor<37xf32>, tensor<37x37xf32>)" in d
               for d in dots)


def test_transpose_in_the_loop_body_moves_out_or_goes():
    """`v @ a.T` traces as a transpose of a inside the body: it moves before the loop.
    `a.T @ v` is `v @ a`: the transpose goes, the product reads a itself."""
    count, text = rewritten_by(loop_matvec.rewrite, vector_times_transpose, A, V)
    before, inside = loop_lines(text)
    assert count == 1 and len(stablehlo_lines("\n".join(before), "transpose")) == 1
    assert not stablehlo_lines("\n".join(inside), "transpose")
    assert "contracting_dims = [0] x [0]" in stablehlo_lines(text, "dot_general")[0]
    count, text = rewritten_by(loop_matvec.rewrite, transpose_times_vector, A, V)
    assert count == 1 and not stablehlo_lines(text, "transpose")
    (dot,) = stablehlo_lines(text, "dot_general")
    assert "%arg0, contracting_dims = [0] x [0]" in dot


@pytest.mark.parametrize("fn, args", [
    (vector_times_matrix, (A, V)),  # already a vecmat
    (changing_matrix, (A, V)),  # the loop changes a
    (straight_line, (A, V)),  # no loop
    (loop_matmul, (A, RNG.normal(size=(37, 3)).astype(np.float32))),  # matrix result
], ids=["vecmat", "changing", "straight", "matmul"])
def test_left_alone(fn, args):
    count, text = rewritten_by(loop_matvec.rewrite, fn, *args)
    assert count == 0 and not stablehlo_lines(text, "transpose")


def test_carried_invariant_matrix_is_transposed_from_its_initial_value():
    count, text = rewritten_by(loop_matvec.rewrite, carried, A, V)
    assert count == 1
    before, _ = loop_lines(text)
    (line,) = stablehlo_lines("\n".join(before), "transpose")
    assert "%arg0" in line


def test_nested_loops_transpose_before_the_outer_loop():
    count, text = rewritten_by(loop_matvec.rewrite, nested, A, V)
    assert count == 1
    before, inside = loop_lines(text)
    assert len(stablehlo_lines("\n".join(before), "transpose")) == 1
    assert not stablehlo_lines("\n".join(inside), "transpose")


def test_applies_to_x86_64_only():
    assert loop_matvec.applies(flags("x86_64"))
    assert not loop_matvec.applies(flags("aarch64"))
    assert not loop_matvec.applies(flags("riscv64"))


def test_tuning_spec_file_holds_the_spec(tmp_path, monkeypatch):
    loop_matvec.tuning_spec_flag.cache_clear()
    monkeypatch.setenv("AOTC_CACHE_DIR", str(tmp_path))
    flag = loop_matvec.tuning_spec_flag()
    path = flag[len(loop_matvec.TUNING_SPEC_FLAG):]
    assert path.startswith(str(tmp_path))
    assert open(path).read() == loop_matvec.TUNING_SPEC
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    monkeypatch.setenv("AOTC_CACHE_DIR", str(blocked))
    loop_matvec.tuning_spec_flag.cache_clear()
    fallback = loop_matvec.tuning_spec_flag()[len(loop_matvec.TUNING_SPEC_FLAG):]
    assert not fallback.startswith(str(blocked))
    assert open(fallback).read() == loop_matvec.TUNING_SPEC
    loop_matvec.tuning_spec_flag.cache_clear()


# ---- IREE: the spec configures the vecmat dispatch; results match numpy ----
def test_iree_tiles_the_loop_vecmat_as_the_spec_says(tmp_path):
    text = aotc.jit(power).lower(A, V).text_with_locations()
    dump = tmp_path / "dump"
    compile_stablehlo(text, "x86_64", [f"--iree-hal-dump-executable-files-to={dump}"],
                      use_cache=False)
    configured = "".join(p.read_text() for p in dump.glob("configured_*.mlir"))
    tile = loop_matvec.VECMAT_TILE
    assert "linalg.vecmat" in configured and "linalg.matvec" not in configured
    assert f"vector_common_parallel = [{tile}, 0]" in configured


def numpy_loop(step, v, steps):
    v = v.astype(np.float64)
    for _ in range(steps):
        v = step(v)
    return v


@pytest.mark.parametrize("n, m", [(37, 37), (130, 70), (257, 257)])
def test_compiled_results_match_numpy(n, m):
    """Sizes off the 64-wide tiles and a non-square matrix, for a @ x, v @ s.T and a carried
    matrix, compiled with the rewrite and the spec (x86-64), against float64 numpy."""
    a = (RNG.normal(size=(n, m)) / np.sqrt(m)).astype(np.float32)
    x = RNG.normal(size=m).astype(np.float32)
    k = min(n, m)
    s, y = a[:k, :k].copy(), x[:k].copy()
    a64, s64 = a.astype(np.float64), s.astype(np.float64)

    def accumulate(a, x):
        return aotc.lax.fori_loop(0, 3, lambda i, w: w + anp.tanh(a @ x + w),
                                  anp.zeros(n, np.float32), unroll=1)

    cases = {
        "a @ x": (accumulate, (a, x),
                  numpy_loop(lambda w: w + np.tanh(a64 @ x + w), np.zeros(n), 3)),
        "v @ s.T": (vector_times_transpose, (s, y), numpy_loop(lambda v: np.tanh(v @ s64.T), y, 5)),
        "carried": (carried, (s, y), numpy_loop(lambda v: np.tanh(s64 @ v), y, 5)),
        "s.T @ v": (transpose_times_vector, (s, y), numpy_loop(lambda v: np.tanh(s64.T @ v), y, 5)),
    }
    for name, (fn, args, want) in cases.items():
        got = aotc.jit(fn, target="x86_64")(*args)
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5, err_msg=name)
