"""aotc.debug.print: printed by compiled programs (through aotc_runtime's debug sink on CPU),
the interpreter and eager calls; refused at compile time for targets that cannot print."""

import numpy as np
import pytest

import aotc
import aotc_runtime
from aotc import CompileError, TracingError

X = np.arange(3, dtype=np.float32)


def show(x):
    aotc.debug.print("x = {}, total = {total}", x, total=x.sum())
    return x * 2


def test_compiled_program_prints_on_every_call(capsys):
    fast = aotc.jit(show)
    np.testing.assert_array_equal(fast(X), X * 2)
    fast(X + 1)
    assert capsys.readouterr().out.splitlines() == ["x = [0. 1. 2.], total = 3.0",
                                                    "x = [1. 2. 3.], total = 6.0"]


def test_dynamic_shapes_grad_and_vmap_print_their_values(capsys):
    module = aotc_runtime.load_bytes(aotc.compile(show, aotc.ShapeSpec((None,))))
    module.show(X[:2])
    assert capsys.readouterr().out == "x = [0. 1.], total = 1.0\n"
    np.testing.assert_array_equal(aotc.grad(lambda x: show(x).sum())(X), np.full(3, 2.0))
    assert capsys.readouterr().out == "x = [0. 1. 2.], total = 3.0\n"
    traced = aotc.lower(aotc.vmap(show), np.ones((2, 3), np.float32))
    aotc.interpret(traced.module, traced.name, np.ones((2, 3), np.float32))
    assert capsys.readouterr().out == "x = [[1. 1. 1.]\n [1. 1. 1.]], total = [3. 3.]\n"


def test_eager_calls_print_directly(capsys):
    show(X)
    aotc.debug.print("{} and {}", 1, np.float32(2.5))
    assert capsys.readouterr().out.splitlines() == ["x = [0. 1. 2.], total = 3.0", "1 and 2.5"]


def test_targets_that_cannot_print_are_refused_at_compile_time():
    with pytest.raises(CompileError, match=r"test_debug_print.py:\d+: aotc.debug.print .*CPU"):
        aotc.compile(show, aotc.ShapeSpec((3,)), target="vulkan")


def test_format_must_come_first():
    with pytest.raises(TracingError, match=r"test_debug_print.py:\d+.*format string"):
        aotc.lower(lambda x: aotc.debug.print(x), X)
