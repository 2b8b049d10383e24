"""The SPMD partitioner (passes/sharding.py) and the SHARD rules beside the ops.

Each case traces a global function, partitions it for a mesh and runs the per-device program
in the float64 reference interpreter (transfers are identities there): its blocks, assembled by
the runtime's block rule, must equal the unpartitioned function's results and numpy's. The
collectives the partitioner emitted are checked exactly: data parallelism all-reduces each
gradient once and never gathers the batch; Megatron's column- then row-parallel MLP all-reduces
once. Errors name the op and the user's line. IREE runs of these programs are in
tests/tools/test_sharded_jit.py.
"""

import numpy as np
import pytest

import aotc
import aotc.lax as lax
import aotc.numpy as anp
from aotc.frontend.core.mesh import Mesh, P, ShardingError, normalize_spec
from aotc.frontend.core.registry import TABLES, TRAITS
from aotc.frontend.ops.shape import _reshape_target
from aotc.passes.sharding import partition
from aotc_runtime import mesh as runtime_mesh

RNG = np.random.default_rng(7)


def _mesh_spec(mesh: Mesh) -> runtime_mesh.MeshSpec:
    return runtime_mesh.MeshSpec(mesh.axis_names, mesh.axis_sizes)


def run_partitioned(fn, args, specs, mesh, out_specs=None):
    """(global results of the partitioned program, its Partitioned, the traced module)."""
    traced = aotc.lower(fn, *args)
    normalized = [normalize_spec(s, np.ndim(a), mesh, f"argument {i}")
                  for i, (s, a) in enumerate(zip(specs, args))]
    outs = None if out_specs is None else [
        None if s is None else normalize_spec(s, 0 if s == P() else len(s), mesh, "out")
        for s in out_specs]
    part = partition(traced.module, traced.name, mesh, normalized, outs)
    ms = _mesh_spec(mesh)
    blocks = [b for a, s in zip(args, normalized) for b in runtime_mesh.split(np.asarray(a), s, ms)]
    flat = aotc.interpret(traced.module, part.name, *blocks)
    want = aotc.interpret(traced.module, traced.name, *args)
    n = mesh.size
    got = [runtime_mesh.assemble(flat[k * n:(k + 1) * n], s, w.shape, ms)
           for k, (s, w) in enumerate(zip(part.out_specs, want))]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)
    return got, part, traced


def kinds(part) -> list[str]:
    return [c.kind for c in part.collectives]


# ---- data parallelism ----------------------------------------------------------------------------


def mlp_loss(params, x, y):
    w1, b1, w2, b2 = params
    h = anp.maximum(x @ w1 + b1, 0.0)
    return anp.mean((h @ w2 + b2 - y) ** 2)


def mlp_params(d_in=6, hidden=16, d_out=3):
    return (RNG.normal(size=(d_in, hidden)), RNG.normal(size=(hidden,)),
            RNG.normal(size=(hidden, d_out)), RNG.normal(size=(d_out,)))


def numpy_grads(params, x, y):
    """The MLP loss's gradients by hand (the oracle)."""
    w1, b1, w2, b2 = params
    pre = x @ w1 + b1
    h = np.maximum(pre, 0.0)
    out = h @ w2 + b2
    d_out = 2 * (out - y) / out.size
    d_h = d_out @ w2.T * (pre > 0)
    return [x.T @ d_h, d_h.sum(0), h.T @ d_out, d_out.sum(0)]


@pytest.mark.parametrize("n", [2, 4, 8])
def test_data_parallel_grad_all_reduces_each_gradient_once(n):
    params = mlp_params()
    x, y = RNG.normal(size=(16, 6)), RNG.normal(size=(16, 3))

    def step(w1, b1, w2, b2, x, y):
        return aotc.grad(mlp_loss)((w1, b1, w2, b2), x, y)

    mesh = Mesh((n,), ("data",))
    got, part, _ = run_partitioned(step, [*params, x, y], [P()] * 4 + [P("data")] * 2, mesh)
    for g, w in zip(got, numpy_grads(params, x, y)):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)
    assert kinds(part) == ["all_reduce:sum"] * 4  # one per gradient, nothing gathered
    # each reduces one gradient's elements (some before a transpose of it)
    assert sorted(sorted(c.shape) for c in part.collectives) == sorted(
        sorted(p.shape) for p in params)
    assert part.out_specs == [((), ()), ((),), ((), ()), ((),)]


def test_data_parallel_forward_keeps_the_batch_split():
    params = mlp_params()
    x = RNG.normal(size=(8, 6))

    def predict(w1, b1, w2, b2, x):
        return anp.tanh(x @ w1 + b1) @ w2 + b2

    _, part, _ = run_partitioned(predict, [*params, x], [P()] * 4 + [P("data")],
                                   Mesh((4,), ("data",)))
    assert part.collectives == []
    assert part.out_specs == [(("data",), ())]


# ---- tensor parallelism (Megatron) ------------------------------------------------------------


def tp_mlp(x, w1, b1, w2):
    return anp.tanh(x @ w1 + b1) @ w2


@pytest.mark.parametrize("shape,axes", [((2,), ("model",)), ((4,), ("model",))])
def test_megatron_column_then_row_all_reduces_once(shape, axes):
    x, w1, b1, w2 = (RNG.normal(size=s) for s in [(8, 6), (6, 16), (16,), (16, 3)])
    mesh = Mesh(shape, axes)
    (got,), part, _ = run_partitioned(tp_mlp, [x, w1, b1, w2],
                                      [P(), P(None, "model"), P("model"), P("model", None)], mesh)
    np.testing.assert_allclose(got, np.tanh(x @ w1 + b1) @ w2, rtol=1e-12)
    assert kinds(part) == ["all_reduce:sum"]
    assert part.collectives[0].axes == ("model",) and part.collectives[0].shape == (8, 3)
    assert part.out_specs == [((), ())]


def test_data_and_tensor_parallel_on_a_2d_mesh():
    x, w1, b1, w2 = (RNG.normal(size=s) for s in [(8, 6), (6, 16), (16,), (16, 3)])
    mesh = Mesh((2, 2), ("data", "model"))
    _, part, _ = run_partitioned(tp_mlp, [x, w1, b1, w2],
                                 [P("data"), P(None, "model"), P("model"), P("model", None)],
                                 mesh)
    assert [(c.kind, c.axes, c.shape) for c in part.collectives] == [
        ("all_reduce:sum", ("model",), (4, 3))]
    assert part.out_specs == [(("data",), ())]


# ---- propagation through each rule ----------------------------------------------------------


def test_elementwise_moves_a_mismatched_split_with_one_all_to_all():
    x, y = RNG.normal(size=(4, 8)), RNG.normal(size=(4, 8))
    _, part, _ = run_partitioned(lambda x, y: anp.sin(x) * y + 1.0, [x, y],
                                 [P("d", None), P(None, "d")], Mesh((2,), ("d",)))
    assert kinds(part) == ["all_to_all"]
    assert part.out_specs == [(("d",), ())]


def test_replicated_operand_is_sliced_without_communication():
    x, y = RNG.normal(size=(8, 4)), RNG.normal(size=(8, 4))
    _, part, _ = run_partitioned(lambda x, y: anp.where(x > y, x, y) - anp.clip(y, -0.5, 0.5),
                                 [x, y], [P("d"), P()], Mesh((4,), ("d",)))
    assert part.collectives == []
    assert part.out_specs == [(("d",), ())]


@pytest.mark.parametrize("shape,out,spec,keep,want", [
    ((8, 3, 5), (24, 5), (("d",), (), ()), [("d",), (), ()], [("d",), ()]),   # merge minor dims
    ((24, 5), (8, 3, 5), (("d",), ()), [("d",), ()], [("d",), (), ()]),       # split off minor
    ((4, 8), (4, 8), ((), ("d",)), [(), ("d",)], [(), ("d",)]),                # same shape
    ((8, 6), (6, 8), (("d",), ()), [(), ()], [(), ()]),                        # split broken
    ((3, 8), (24,), ((), ("d",)), [(), ()], [()]),                              # minor dim merged
    ((2, 12), (2, 4, 3), ((), ("d",)), [(), ("d",)], [(), ("d",), ()]),
    ((2, 12), (2, 3, 4), ((), ("d",)), [(), ()], [(), (), ()]),  # 3 % 4 != 0
    ((6, 4), (2, 3, 4), (("d",), ()), [(), ()], [(), (), ()]),  # 2 % 4 != 0
])
def test_reshape_keeps_whole_splits_only(shape, out, spec, keep, want):
    got_keep, got_out = _reshape_target(shape, out, spec, lambda axes: 4 if axes else 1)
    assert (got_keep, got_out) == (keep, want)


def test_reshape_transpose_broadcast_and_slice_propagate():
    x = RNG.normal(size=(8, 3, 4))

    def f(x):
        a = x.reshape(8, 12)                        # batch split kept
        b = anp.transpose(x, (2, 0, 1))              # split moves to dim 1
        c = a[:, :5]                                 # slice of a whole dim keeps it
        d = anp.broadcast_to(anp.sum(x, axis=(1, 2))[:, None], (8, 7))
        return a, b, c, d

    got, part, _ = run_partitioned(f, [x], [P("d")], Mesh((2,), ("d",)))
    assert part.out_specs == [(("d",), ()), ((), ("d",), ()), (("d",), ()), (("d",), ())]
    assert part.collectives == []
    np.testing.assert_allclose(got[3], np.broadcast_to(x.sum((1, 2))[:, None], (8, 7)))


@pytest.mark.parametrize("reduction,kind", [(anp.sum, "sum"), (anp.max, "max"),
                                            (anp.min, "min")])
def test_reduction_over_a_split_dim_all_reduces_with_its_combiner(reduction, kind):
    x = RNG.normal(size=(8, 5))
    got, part, _ = run_partitioned(lambda x: reduction(x, axis=0), [x], [P("d")],
                                   Mesh((4,), ("d",)))
    assert kinds(part) == [f"all_reduce:{kind}"]
    np.testing.assert_allclose(got[0], getattr(np, kind)(x, axis=0))


def test_reduction_over_kept_dims_needs_no_collective():
    x = RNG.normal(size=(8, 5))
    _, part, _ = run_partitioned(lambda x: anp.sum(x * x, axis=1), [x], [P("d")],
                                 Mesh((2,), ("d",)))
    assert part.collectives == [] and part.out_specs == [(("d",),)]


def test_reduction_without_an_identity_init_or_combiner_gathers_first():
    x = RNG.normal(size=(8, 5))

    def f(x):
        start = anp.asarray(3.0, x.dtype)  # not the identity of +: must be added once
        total = lax.reduce(x, start, lax.add, (0,))
        return total, anp.argmax(x, axis=0)

    got, part, _ = run_partitioned(f, [x], [P("d")], Mesh((2,), ("d",)))
    assert kinds(part) == ["all_gather", "all_gather"]
    np.testing.assert_allclose(got[0], x.sum(0) + 3.0)
    np.testing.assert_array_equal(got[1], np.argmax(x, axis=0))


def test_contraction_with_mismatched_splits_slices_the_replicated_side():
    a, b = RNG.normal(size=(4, 8)), RNG.normal(size=(8, 6))
    _, part, _ = run_partitioned(lambda a, b: a @ b, [a, b], [P(None, "d"), P()],
                                 Mesh((2,), ("d",)))
    assert kinds(part) == ["all_reduce:sum"]


def test_batched_dot_general_splits_batch_dims_alike():
    a, b = RNG.normal(size=(4, 3, 5)), RNG.normal(size=(4, 5, 2))
    _, part, _ = run_partitioned(lambda a, b: anp.einsum("bij,bjk->bik", a, b), [a, b],
                                 [P("d"), P()], Mesh((4,), ("d",)))
    assert part.collectives == [] and part.out_specs == [(("d",), (), ())]


def test_while_loop_carries_keep_their_layout():
    x = RNG.normal(size=(8, 3))

    def f(x):
        def body(i, c):
            return c * 0.5 + anp.sum(c, axis=0) / 8.0

        return lax.fori_loop(0, 4, body, x, unroll=1)  # one step per iteration

    def reference(x):
        c = x.copy()
        for _ in range(4):
            c = c * 0.5 + c.sum(0) / 8.0
        return c

    got, part, traced = run_partitioned(f, [x], [P("d")], Mesh((2,), ("d",)))
    np.testing.assert_allclose(got[0], reference(x), rtol=1e-12)
    assert part.out_specs == [(("d",), ())]
    assert kinds(part) == ["all_reduce:sum"]  # inside the loop body, once
    text = str(traced.module)
    assert text.count("stablehlo.while") == 2  # the global loop and ONE loop over both devices


def test_cond_branches_take_the_first_branch_layout():
    x, p = RNG.normal(size=(8, 3)), np.array(1, np.int32)

    def f(p, x):
        return lax.cond(p > 0, lambda x: anp.sin(x), lambda x: x * 2.0, x)

    got, part, _ = run_partitioned(f, [p, x], [P(), P("d")], Mesh((2,), ("d",)))
    np.testing.assert_allclose(got[0], np.sin(x))
    assert part.out_specs == [(("d",), ())]
    got, _, _ = run_partitioned(f, [np.array(0, np.int32), x], [P(), P("d")],
                                Mesh((2,), ("d",)))
    np.testing.assert_allclose(got[0], x * 2.0)


def test_every_elementwise_op_partitions_block_by_block():
    """Derived from the registry: ops with the "same_shape" trait have the elementwise SHARD
    rule, except bitcast_convert (a bitcast between widths changes the shape)."""
    elementwise = TABLES["shard"]["stablehlo.add"]
    missing = sorted(n for n in TRAITS["same_shape"] if TABLES["shard"].get(n) is not elementwise)
    assert missing == ["stablehlo.bitcast_convert"]


def test_optimization_barrier_keeps_its_layouts():
    x, w = RNG.normal(size=(8, 6)), RNG.normal(size=(6, 4))

    def f(w, x):
        h, v = lax.optimization_barrier((x @ w, w))
        return anp.sum(h, axis=0) + v[0]

    got, part, traced = run_partitioned(f, [w, x], [P(), P("d")], Mesh((2,), ("d",)))
    assert "stablehlo.optimization_barrier" in str(traced.module)
    assert kinds(part) == ["all_reduce:sum"]  # the sum over the batch only
    np.testing.assert_allclose(got[0], (x @ w).sum(0) + w[0])


def test_op_without_a_rule_runs_replicated():
    x = RNG.normal(size=(8, 3))
    assert "stablehlo.sort" not in TABLES["shard"]
    _, part, _ = run_partitioned(lambda x: anp.sort(x, axis=0) + 1.0, [x], [P("d")],
                                   Mesh((2,), ("d",)))
    assert kinds(part) == ["all_gather"]
    assert part.out_specs == [((), ())]


def test_out_specs_reshard_the_results():
    x = RNG.normal(size=(8, 4))
    _, part, _ = run_partitioned(lambda x: x * 2.0, [x], [P("d")], Mesh((2,), ("d",)),
                                 out_specs=[P(None, "d")])
    assert kinds(part) == ["all_to_all"] and part.out_specs == [((), ("d",))]


def test_partitioned_function_places_blocks_and_moves_data_by_transfers():
    x, w = RNG.normal(size=(8, 6)), RNG.normal(size=(6, 4))
    _, part, traced = run_partitioned(lambda x, w: anp.sum(x @ w, axis=0), [x, w],
                                      [P("d"), P()], Mesh((2,), ("d",)))
    text = str(traced.module)
    fn_text = text[text.index(f"func.func @{part.name}"):]
    assert fn_text.count("aotc.device = 0") == 3 and fn_text.count("aotc.device = 1") == 3
    assert "@aotc.transfer" in fn_text and '"0->1"' in fn_text and '"1->0"' in fn_text


# ---- errors --------------------------------------------------------------------------------------


def test_side_effecting_custom_call_is_refused_with_the_users_line():
    x = RNG.normal(size=(8, 3))

    def f(x):
        aotc.debug.print("x = {}", x)
        return x + 1.0

    traced = aotc.lower(f, x)
    mesh = Mesh((2,), ("d",))
    with pytest.raises(ShardingError, match=r"test_sharding_partition.py:\d+.*aotc.debug_print"
                                            r".*side effects"):
        partition(traced.module, traced.name, mesh, [(("d",), ())])


def test_dynamic_shapes_are_refused():
    traced = aotc.lower(lambda x: x * 2.0, aotc.ShapeSpec((None, 3)))
    with pytest.raises(ShardingError, match="dynamic shape"):
        partition(traced.module, traced.name, Mesh((2,), ("d",)), [(("d",), ())])


def test_split_that_does_not_divide_is_refused():
    traced = aotc.lower(lambda x: x * 2.0, np.ones((6, 3)))
    with pytest.raises(ShardingError, match="not divisible by 4"):
        partition(traced.module, traced.name, Mesh((4,), ("d",)), [(("d",), ())])


def test_wrong_number_of_specs_is_refused():
    traced = aotc.lower(lambda x, y: x * y, np.ones(4), np.ones(4))
    with pytest.raises(ShardingError, match="takes 2 arrays but 1 input shardings"):
        partition(traced.module, traced.name, Mesh((2,), ("d",)), [(("d",),)])
