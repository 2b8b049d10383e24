"""Shared test helpers: run a function through the interpreter and IREE and compare to numpy."""

import os

import jax
import jax.numpy as jnp
import numpy as np

import aotc
from aotc.frontend.core import tree

# The runtime tests' sample model, also compiled by the CLI tests. (A test module that imported it
# `from conftest` got whichever conftest.py pytest had loaded last under that name.)
SAMPLE_MODEL = os.path.join(os.path.dirname(__file__), "runtime", "sample_model.py")


def interpret_fn(fn, *args):
    """Trace fn on args and evaluate it with the numpy reference interpreter (pytree out)."""
    traced = aotc.lower(fn, *args)
    leaves = tree.leaves(args)
    outs = aotc.interpret(traced.module, traced.name, *[np.asarray(a) for a in leaves])
    return tree.unflatten(traced.out_tree, outs)


def assert_tree_close(actual, expected, rtol=1e-5, atol=1e-6, check_dtype=True):
    actual_leaves, actual_def = tree.flatten(actual)
    expected_leaves, expected_def = tree.flatten(expected)
    assert actual_def == expected_def, f"structure {actual_def} != {expected_def}"
    for a, e in zip(actual_leaves, expected_leaves):
        a, e = np.asarray(a), np.asarray(e)
        assert a.shape == e.shape, f"shape {a.shape} != {e.shape}"
        if check_dtype:
            assert a.dtype == e.dtype, f"dtype {a.dtype} != {e.dtype}"
        if a.dtype.kind in "biu":
            np.testing.assert_array_equal(a, e)
        else:
            wide = np.complex128 if "c" in (a.dtype.kind, e.dtype.kind) else np.float64
            np.testing.assert_allclose(a.astype(wide), e.astype(wide), rtol=rtol, atol=atol,
                                       equal_nan=True)


def check(fn, reference, *args, rtol=1e-5, atol=1e-6, jit=True, check_dtype=True):
    """fn through the interpreter (and IREE when jit) must match reference(*args) from numpy."""
    expected = reference(*args)
    assert_tree_close(interpret_fn(fn, *args), expected, rtol, atol, check_dtype)
    if jit:
        assert_tree_close(aotc.jit(fn)(*args), expected, rtol, atol, check_dtype)


def assert_entries_close(got: dict, expected: dict, rtol=1e-5, atol=1e-5, prefix="") -> None:
    """Compare two dicts of results entry by entry; a failure names the entry."""
    assert got.keys() == expected.keys()
    for key in expected:
        try:
            assert_tree_close(got[key], expected[key], rtol, atol)
        except AssertionError as err:
            raise AssertionError(f"{prefix}{key}: {err}") from None


# JAX's errors for a function that needs concrete values (data-dependent shapes, Python control
# flow on array values): it cannot run under jax.jit
_NEEDS_VALUES = (jax.errors.ConcretizationTypeError, jax.errors.TracerArrayConversionError,
                 jax.errors.TracerBoolConversionError, jax.errors.TracerIntegerConversionError,
                 jax.errors.NonConcreteBooleanIndexError)


def jax_oracle(fn, *args):
    """fn(*args) computed by JAX (numpy leaves): under jax.jit, one XLA compile for the whole
    table, where op-by-op dispatch compiles one XLA program per op and shape (2-3x the CPU
    time on the numpy tables); op by op where fn needs concrete values."""
    try:
        return jax.tree.map(np.asarray, jax.jit(fn)(*args))
    except _NEEDS_VALUES:
        return jax.tree.map(np.asarray, fn(*args))


def _leaf_shapes(fn, *args) -> list:
    """The shapes of fn(*args)'s leaves, from JAX's abstract evaluation (no XLA compile) where fn
    traces without concrete values."""
    try:
        return [leaf.shape for leaf in jax.tree.leaves(jax.eval_shape(fn, *args))]
    except _NEEDS_VALUES:
        return [np.shape(leaf) for leaf in jax.tree.leaves(fn(*args))]


def check_table(table, oracle, namespace, args, rtol=1e-5, atol=1e-5, expected=None) -> None:
    """A table `table(m, *args) -> dict`, written once against a namespace, run with the JAX
    oracle and with aotc's namespace, interpreted and in one aotc.jit compile. expected: the
    oracle's answers when the caller computes them (a table in parts: the rows JAX jits, the
    rows it runs op by op); None: jax_oracle of the whole table."""
    if expected is None:
        expected = jax_oracle(lambda *a: table(oracle, *a), *map(jnp.asarray, args))
    got = interpret_fn(lambda *a: table(namespace, *a), *args)
    assert_entries_close(got, expected, rtol, atol)
    compiled = aotc.jit(lambda *a: table(namespace, *a))(*args)
    assert_entries_close(compiled, expected, rtol, atol, "compiled ")


def check_grads(grad_table, oracle, namespace, x, y, rtol=1e-4, atol=1e-4, seed=4) -> None:
    """aotc.grad vs jax.grad of a random weighted sum of `grad_table(m, x, y)`'s outputs."""
    rng = np.random.default_rng(seed)
    weights = [rng.normal(size=shape).astype(np.float32)
               for shape in _leaf_shapes(lambda x, y: grad_table(oracle, x, y), x, y)]

    def loss(m, leaves):
        def f(x, y):
            return sum((out * w).sum() for out, w in zip(leaves(grad_table(m, x, y)), weights))
        return f

    expected = jax_oracle(jax.grad(loss(oracle, jax.tree.leaves), argnums=(0, 1)), x, y)
    got = aotc.grad(loss(namespace, tree.leaves), argnums=(0, 1))(x, y)
    assert_tree_close(got, jax.tree.map(np.asarray, expected), rtol, atol)


def edgy(shape, seed=0) -> np.ndarray:
    """float32 rounded normals (many ties) with NaN, +-inf and -0.0 planted: table inputs."""
    rng = np.random.default_rng(seed)
    x = np.round(rng.normal(size=shape) * 2) / 2
    flat = x.reshape(-1)
    flat[[1, 6]], flat[2], flat[3], flat[4] = np.nan, np.inf, -np.inf, -0.0
    return x.astype(np.float32)


class Recorder:
    """A namespace that forwards to `target` and notes every attribute read in `seen`: run a table
    against it to learn which public names the table exercises."""

    def __init__(self, target, seen: set):
        self._target, self._seen = target, seen

    def __getattr__(self, name):
        self._seen.add(name)
        return getattr(self._target, name)


# what jax.jit(lambda a: jnp.sin(a) * 2, in_shardings=s, out_shardings=s) exports for
# s = NamedSharding(make_mesh((2,), ("x",)), P("x")) (JAX 0.10, two CPU devices)
SHARDED_JAX_TEXT = """module @jit__lambda attributes {mhlo.num_partitions = 2 : i32} {
  sdy.mesh @mesh = <["x"=2]> {stablehlo.mesh = {axes = [{name = "x", size = 2 : i64}]}}
  func.func public @main(%arg0: tensor<4xf32> {sdy.sharding = #sdy.sharding<@mesh, [{"x"}]>})
      -> (tensor<4xf32> {sdy.sharding = #sdy.sharding<@mesh, [{"x"}]>}) {
    %0 = stablehlo.sine %arg0 : tensor<4xf32>
    return %0 : tensor<4xf32>
  }
}"""


def load_test_module(folder: str, name: str):
    """tests/<folder>/<name>.py as a module, for the tables another test file shares: the one
    pytest already imported under that name, when it did, else a fresh import of the file."""
    import importlib.util
    import os
    import sys

    if name in sys.modules:
        return sys.modules[name]
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), folder, f"{name}.py")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def check_vjp_jvp_vmap(run, args, grads, directions, tangent, batched, mapped, tol,
                       vmap_tol=None, value=None):
    """Check an imported program's @main_vjp (its gradients, from a unit cotangent, and its
    value to 1e-4 when given), @main_jvp (its last output, the tangent) and @main_vmap
    against JAX's answers; run(name, *args) calls one function (interpreter or IREE).
    vmap_tol defaults to tol."""
    f32 = np.float32
    outs = run("main_vjp", *args, f32(1.0))
    if value is not None:
        np.testing.assert_allclose(np.asarray(outs[0], f32), value, rtol=1e-4, atol=1e-4)
    for got, want in zip(outs[1:], grads):
        np.testing.assert_allclose(np.asarray(got, f32), np.asarray(want, f32), rtol=tol,
                                   atol=tol)
    outs = run("main_jvp", *args, *directions)
    np.testing.assert_allclose(np.asarray(outs[-1], f32), np.asarray(tangent, f32), rtol=tol,
                               atol=tol)
    (got,) = run("main_vmap", *batched)
    vmap_tol = tol if vmap_tol is None else vmap_tol
    np.testing.assert_allclose(np.asarray(got, f32), np.asarray(mapped, f32), rtol=vmap_tol,
                               atol=vmap_tol)


def run_keys_program_on_aarch64(qemu, run, folder, vmfb: bytes, keys, n_outputs: int) -> list:
    """Run @program(keys) of an aarch64 artifact under qemu (iree-run-module) in `folder`;
    its n_outputs results as numpy arrays."""
    (folder / "m.vmfb").write_bytes(vmfb)
    np.save(folder / "keys.npy", keys)
    outputs = [f"--output=@{folder / f'out{k}.npy'}" for k in range(n_outputs)]
    done = run([*qemu, f"--module={folder / 'm.vmfb'}", "--device=local-task",
                "--function=program", f"--input=@{folder / 'keys.npy'}", *outputs])
    assert done.returncode == 0, done.stderr
    return [np.load(folder / f"out{k}.npy") for k in range(n_outputs)]


def rewritten_by(rewrite, fn, *args) -> tuple[int, str]:
    """Lower aotc.jit(fn) on args, run the module pass `rewrite` (tools/loop_matvec.rewrite,
    tools/product_sums.rewrite, ...) on it: (what it returns, a count; the verified module's
    text)."""
    from aotc.frontend.core.ir import ir, new_context

    with new_context():
        module = ir.Module.parse(aotc.jit(fn).lower(*args).text_with_locations())
        count = rewrite(module)
        assert module.operation.verify()
        return count, str(module)


def stablehlo_lines(text: str, name: str) -> list[str]:
    """The stripped lines of module text that hold a stablehlo.<name> op."""
    return [line.strip() for line in text.splitlines() if f"stablehlo.{name}" in line]
