"""The shared IR walker: tiny passes written as one Walker subclass each, run on traced IR."""

import numpy as np
import pytest

import aotc
import aotc.numpy as anp
from aotc.frontend.core.ir import clone_remapped, ir
from aotc.frontend.ops import elementwise as ew
from aotc.passes import functions as util
from aotc.passes.walker import RuleContext, Walker


class SineToCosine(Walker):
    """Re-emits a function with every sine replaced by a cosine (calls inlined by the walker)."""

    def __init__(self, module):
        super().__init__(module)
        self.contexts = []

    def visit(self, op):
        if op.name == "stablehlo.sine":
            self.contexts.append(RuleContext(op, self))
            return [self.apply(ew.cosine, op, self.read(op.operands[0]))]
        return list(clone_remapped(op, self.env).results)


class Liveness(Walker):
    """A reverse sweep: which values the function's results depend on."""

    def __init__(self, module):
        super().__init__(module)
        self.live: set = set()

    def seed(self, source, value):
        if value:
            self.live.add(source)

    def visit_backward(self, op):
        if any(r in self.live for r in op.results):
            self.live.update(op.operands)


def _program(x, y):
    z = aotc.grad(lambda a: anp.sum(anp.sin(a) * y))(x)  # a func.call for the walker to inline
    unused = anp.exp(y) * 3.0  # noqa: F841 (dead code for the reverse sweep)
    return anp.sin(z) + y


@pytest.fixture(scope="module")
def traced():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(5).astype(np.float32)
    y = rng.standard_normal(5).astype(np.float32)
    return aotc.lower(_program, x, y), x, y


def test_a_pass_is_one_walker_subclass(traced):
    traced, x, y = traced
    module = traced.module
    fn = util.find_function(module, traced.name)
    with module.context, fn.location:
        inputs = list(util.function_type(fn).inputs)
        new_fn, entry = util.new_function(module, "cosines", inputs, True, fn.location)
        walker = SineToCosine(module)
        with ir.InsertionPoint(entry):
            outs = walker.run_block(util.entry_block(fn), list(entry.arguments))
            util.finish_function(new_fn, outs)
    assert module.operation.verify()
    new_ops = []
    new_fn.operation.walk(lambda op: new_ops.append(op.name) or ir.WalkResult.ADVANCE)
    assert "func.call" not in new_ops and "stablehlo.sine" not in new_ops
    assert [c.op.name for c in walker.contexts] == ["stablehlo.sine"] * 2
    assert walker.contexts[0].emitter is walker and walker.contexts[0].location
    x, y = x.astype(np.float64), y.astype(np.float64)
    got = aotc.interpret(module, "cosines", x, y)[0]
    expected = np.cos(np.cos(x) * y) + y  # the program with sin -> cos, derivative included
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    original = aotc.interpret(module, traced.name, x, y)[0]
    np.testing.assert_allclose(original, np.sin(np.cos(x) * y) + y, rtol=1e-12)


def test_reverse_sweep_finds_what_the_results_depend_on(traced):
    traced, _, _ = traced
    fn = util.find_function(traced.module, traced.name)
    block = util.entry_block(fn)
    walker = Liveness(traced.module)
    walker.run_block_backward(block, [True])
    ops = [op.operation for op in block.operations][:-1]
    dead = [op.name for op in ops if not any(r in walker.live for r in op.results)]
    assert "stablehlo.exponential" in dead
    assert all(name != "func.call" for name in dead)
    # a forward oracle: an op is live when a later live op or the terminator uses its results
    used = set(list(block.operations)[-1].operands)
    for op in reversed(ops):
        if any(r in used for r in op.results):
            used.update(op.operands)
    assert used == walker.live


def test_typed_zeros_and_the_same_shape_trait():
    from aotc.frontend.core.ir import new_context, tensor_type
    from aotc.frontend.core.registry import has_trait
    from aotc.frontend.ops import tensors

    assert has_trait("stablehlo.add", "same_shape") and has_trait("stablehlo.sine", "same_shape")
    assert not has_trait("stablehlo.dot_general", "same_shape")
    with new_context(), ir.Location.unknown():
        module = ir.Module.create()
        f32 = ir.F32Type.get()
        t = tensor_type((2, 3), f32)
        fn, entry = util.new_function(module, "f", [t], False, ir.Location.unknown())
        zero = tensors.Zero(t)
        assert not zero and tensors.is_zero(zero) and tensors.is_zero(None)
        with ir.InsertionPoint(entry):
            x = entry.arguments[0]
            assert tensors.add_any(zero, x) == x and tensors.add_any(x, None) == x
            util.finish_function(fn, [tensors.add_any(tensors.instantiate(zero), x)])
        with pytest.raises(TypeError, match="needs `like`"):
            tensors.instantiate(None)
        assert module.operation.verify()
        x = np.arange(6.0).reshape(2, 3)
        np.testing.assert_array_equal(aotc.interpret(module, "f", x)[0], x)
