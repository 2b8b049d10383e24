"""aotc.shard_map and aotc.pmap: trace-time checks, the unrolled program, and the exactness of
sharded programs against the same program on one device, interpreted and compiled by IREE for
2, 4 and 8 CPU devices (and 2x2 / 2x4 meshes).

Oracles: the unsharded function (interpreted in float64, or compiled for one device), numpy,
finite differences for gradients through shard_map.
"""

import itertools

import numpy as np
import pytest

import aotc
import aotc.numpy as anp
from aotc.sharding import Mesh, P, ShardingError

RNG = np.random.default_rng(7)


def rel_err(got, want) -> float:
    """max |got - want| / max |want| over every leaf of two pytrees."""
    got, want = aotc.tree.leaves(got), aotc.tree.leaves(want)
    return max(float(np.max(np.abs(np.asarray(g, np.float64) - np.asarray(w, np.float64)))
                     / max(float(np.max(np.abs(np.asarray(w, np.float64)))), 1e-30))
               for g, w in zip(got, want, strict=True))


# ---- trace-time errors --------------------------------------------------------------------------


def _f(x, w):
    return x @ w


def test_spec_naming_an_unknown_axis():
    mesh = Mesh((2,), ("data",))
    x, w = np.ones((4, 3), np.float32), np.ones((3, 2), np.float32)
    with pytest.raises(ShardingError, match=r"argument x of '_f'.*mesh axis 'batch'.*\('data',\)"):
        aotc.shard_map(_f, mesh=mesh, in_specs=(P("batch"), P()), out_specs=P("data"))(x, w)
    with pytest.raises(ShardingError, match=r"output of '_f'.*mesh axis 'model'"):
        aotc.shard_map(_f, mesh=mesh, in_specs=(P("data"), P()), out_specs=P("model"))(x, w)


def test_dimension_not_divisible_by_its_mesh_axis():
    mesh = Mesh((4,), ("data",))
    x, w = np.ones((6, 3), np.float32), np.ones((3, 2), np.float32)
    with pytest.raises(ShardingError, match=r"argument x of '_f'.*dim 0 of size 6 is not "
                                            r"divisible by 4"):
        aotc.shard_map(_f, mesh=mesh, in_specs=(P("data"), P()), out_specs=P("data"))(x, w)


def test_in_specs_not_matching_the_arguments():
    mesh = Mesh((2,), ("data",))
    x, w = np.ones((4, 3), np.float32), np.ones((3, 2), np.float32)
    with pytest.raises(ShardingError, match=r"'_f': in_specs has 3 entries for 2 arguments"):
        aotc.shard_map(_f, mesh=mesh, in_specs=(P("data"), P(), P()), out_specs=P())(x, w)
    with pytest.raises(ShardingError, match=r"argument w of '_f'.*3 entries for an array of "
                                            r"rank 2"):
        aotc.shard_map(_f, mesh=mesh, in_specs=(P("data"), P(None, None, "data")),
                       out_specs=P())(x, w)

    def g(params, x):
        return x @ params["w"]

    with pytest.raises(ShardingError, match=r"in_specs .* does not match the structure"):
        aotc.shard_map(g, mesh=mesh, in_specs=({"v": P()}, P("data")), out_specs=P())(
            {"w": w}, x)
    with pytest.raises(ShardingError, match=r"argument params\['w'\] of 'g'.*mesh axis 'x'"):
        aotc.shard_map(g, mesh=mesh, in_specs=({"w": P("x")}, P("data")), out_specs=P())(
            {"w": w}, x)
    with pytest.raises(ShardingError, match="needs in_specs= and out_specs="):
        aotc.shard_map(_f, mesh=mesh, in_specs=(P(), P()))
    with pytest.raises(ShardingError, match=r"needs mesh=aotc\.sharding\.Mesh"):
        aotc.shard_map(_f, mesh=None, in_specs=(P(), P()), out_specs=P())


def test_mesh_larger_than_the_available_devices(monkeypatch):
    with pytest.raises(ShardingError, match=r"needs 16 devices, but only 8 are available"):
        Mesh((4, 4), ("x", "y"))
    monkeypatch.setenv("AOTC_DEVICE_COUNT", "2")
    with pytest.raises(ShardingError, match=r"needs 4 devices, but only 2"):
        Mesh((4,), ("x",))
    with pytest.raises(ShardingError, match="one name per axis"):
        Mesh((2, 1), ("x",))
    monkeypatch.setenv("AOTC_DEVICE_COUNT", "16")
    assert Mesh((4, 4), ("x", "y")).size == 16
    devices = np.array(aotc.sharding.devices()[:4]).reshape(2, 2)
    assert Mesh(devices, ("x", "y")).shape == {"x": 2, "y": 2}


def test_dynamic_shapes_are_refused_at_trace_time():
    mesh = Mesh((2,), ("data",))
    f = aotc.shard_map(lambda x: x * 2.0, mesh=mesh, in_specs=(P("data"),), out_specs=P("data"))
    with pytest.raises(ShardingError, match=r"argument x of 'fn' has a dynamic shape "
                                            r"\(None, 3\); shard_map needs static"):
        aotc.lower(f, aotc.ShapeSpec((None, 3)))


def test_a_mesh_of_explicit_devices_is_checked():
    devices = aotc.sharding.devices()
    with pytest.raises(ShardingError, match="must be distinct"):
        Mesh(np.array([devices[0], devices[0]]), ("x",))
    with pytest.raises(ShardingError, match="tuple of axis sizes or an array"):
        Mesh(np.array([0, 1]), ("x",))
    with pytest.raises(ShardingError, match="distinct strings"):
        Mesh((2, 2), ("x", "x"))


# ---- the unrolled program -----------------------------------------------------------------------


def test_the_unrolled_program_is_stablehlo_plus_transfers():
    mesh = Mesh((4,), ("data",))
    f = aotc.shard_map(lambda x: aotc.lax.psum(anp.sin(x).sum(0), "data"), mesh=mesh,
                       in_specs=(P("data"),), out_specs=P())
    text = aotc.lower(f, np.ones((8, 3), np.float32)).text
    assert "aotc.collective" not in text
    assert text.count("stablehlo.sine") == 4  # one copy of the body per device
    assert text.count("func.func") == 1  # the traced body is dropped once unrolled
    # 3 blocks out of device 0; psum of 3 elements over 4 devices: a tree, 3 moves up and
    # 3 down; out_specs P() reads device 0's block, so nothing comes back
    assert text.count("@aotc.transfer") == 3 + 6


def test_a_second_shard_map_reuses_the_blocks_of_the_first():
    mesh = Mesh((4,), ("data",))
    double = aotc.shard_map(lambda b: b * 2.0, mesh=mesh, in_specs=(P("data"),),
                            out_specs=P("data"))
    text = aotc.lower(lambda x: double(double(x)), np.ones((8, 3), np.float32)).text
    # one split (4 slices, 3 transfers out of device 0); the first output's assembly (3
    # transfers back and a concatenate) is dead, the second shard_map takes its blocks; its
    # own assembly: 3 transfers. Resplitting would add 4 slices and 3 transfers.
    assert text.count("stablehlo.slice") == 4
    assert text.count("@aotc.transfer") == 9
    assert text.count("func.func") == 1


def test_out_specs_without_an_axis_read_device_0s_block():
    mesh = Mesh((4,), ("i",))
    f = aotc.shard_map(lambda b: b * 0 + aotc.lax.axis_index("i").astype(anp.float32) + 1,
                       mesh=mesh, in_specs=(P("i"),), out_specs=P())
    np.testing.assert_array_equal(f(np.zeros((8,), np.float32)), [1.0, 1.0])


# ---- exactness: data parallel training step -----------------------------------------------------


def _init_mlp(sizes):
    return [(RNG.standard_normal((m, n)).astype(np.float32) / np.sqrt(m),
             np.zeros(n, np.float32)) for m, n in itertools.pairwise(sizes)]


def _mlp(params, x):
    for w, b in params[:-1]:
        x = anp.tanh(x @ w + b)
    w, b = params[-1]
    return x @ w + b


def _loss(params, x, y):
    return anp.mean((_mlp(params, x) - y) ** 2)


def _sgd(params, grads, lr=0.1):
    return aotc.tree.map(lambda p, g: p - lr * g, params, grads)


def single_step(params, x, y):
    return _sgd(params, aotc.grad(_loss)(params, x, y))


def dp_step(mesh):
    def step(params, x, y):
        grads = aotc.lax.pmean(aotc.grad(_loss)(params, x, y), "data")
        return _sgd(params, grads)

    return aotc.shard_map(step, mesh=mesh, in_specs=(P(), P("data"), P("data")),
                          out_specs=P())


@pytest.fixture(scope="module")
def dp_problem():
    params = _init_mlp([5, 16, 3])
    x = RNG.standard_normal((32, 5)).astype(np.float32)
    y = RNG.standard_normal((32, 3)).astype(np.float32)
    return params, x, y, aotc.jit(single_step)(params, x, y)


@pytest.mark.parametrize("n", [2, 4, 8])
def test_data_parallel_step_equals_the_single_device_step_on_iree(dp_problem, n):
    params, x, y, want = dp_problem
    got = aotc.jit(dp_step(Mesh((n,), ("data",))))(params, x, y)
    assert rel_err(got, want) <= 1e-6


def test_data_parallel_step_interpreted_in_float64():
    params = [(w.astype(np.float64), b.astype(np.float64)) for w, b in _init_mlp([4, 8, 2])]
    x, y = RNG.standard_normal((16, 4)), RNG.standard_normal((16, 2))
    for n in (2, 4, 8):
        got = _interpret(dp_step(Mesh((n,), ("data",))), params, x, y)
        want = _interpret(single_step, params, x, y)
        assert rel_err(got, want) <= 1e-12, n


def _interpret(fn, *args):
    """fn(*args) traced for args' dtypes and interpreted (float64 stays float64)."""
    lowered = aotc.lower(fn, *args)
    leaves = aotc.tree.leaves(args)
    outs = aotc.interpret(lowered.module, lowered.name, *leaves)
    return aotc.tree.unflatten(lowered.out_tree, outs)


# ---- exactness: Megatron tensor parallel MLP ----------------------------------------------------


def megatron(mesh):
    """Column-sharded W1 (and b1), row-sharded W2; one psum after the second matmul."""

    def block(x, w1, b1, w2, b2):
        h = anp.tanh(x @ w1 + b1)
        return aotc.lax.psum(h @ w2, "model") + b2

    return aotc.shard_map(block, mesh=mesh,
                          in_specs=(P(), P(None, "model"), P("model"), P("model", None), P()),
                          out_specs=P())


def dense_mlp(x, w1, b1, w2, b2):
    return anp.tanh(x @ w1 + b1) @ w2 + b2


@pytest.fixture(scope="module")
def tp_problem():
    args = (RNG.standard_normal((6, 8)).astype(np.float32),
            RNG.standard_normal((8, 32)).astype(np.float32) / 3,
            RNG.standard_normal(32).astype(np.float32),
            RNG.standard_normal((32, 4)).astype(np.float32) / 6,
            RNG.standard_normal(4).astype(np.float32))
    return args, aotc.jit(dense_mlp)(*args)


@pytest.mark.parametrize("n", [2, 4, 8])
def test_megatron_mlp_equals_the_dense_mlp_on_iree(tp_problem, n):
    args, want = tp_problem
    got = aotc.jit(megatron(Mesh((n,), ("model",))))(*args)
    assert rel_err(got, want) <= 1e-6


def test_megatron_grads_equal_the_dense_grads():
    args = [RNG.standard_normal(s) for s in [(3, 4), (4, 8), (8,), (8, 2), (2,)]]
    sharded = aotc.grad(lambda *a: anp.sum(megatron(Mesh((4,), ("model",)))(*a) ** 2),
                        argnums=(1, 2, 3, 4))
    dense = aotc.grad(lambda *a: anp.sum(dense_mlp(*a) ** 2), argnums=(1, 2, 3, 4))
    assert rel_err(_interpret(sharded, *args), _interpret(dense, *args)) <= 1e-12


# ---- a 2-D mesh: data x model -------------------------------------------------------------------


def dp_tp_step(mesh):
    """A Megatron MLP (hidden dim over 'model') trained data-parallel (batch over 'data').

    aotc differentiates mapped bodies in pmap's per-device view: the loss is the sum of every
    device's output. Each model device computes the same loss, so each reports 1/M of it; the
    model-sharded blocks then get exactly their gradient, and the replicated b2 sums its M
    partial gradients over 'model' (what JAX's replication checks insert by themselves)."""
    n_model = mesh.shape["model"]

    def step(x, y, w1, b1, w2, b2):
        def loss(w1, b1, w2, b2):
            h = anp.tanh(x @ w1 + b1)
            out = aotc.lax.psum(h @ w2, "model") + b2
            return anp.mean((out - y) ** 2) / n_model

        g1, gb1, g2, gb2 = aotc.grad(loss, argnums=(0, 1, 2, 3))(w1, b1, w2, b2)
        gb2 = aotc.lax.psum(gb2, "model")
        grads = aotc.lax.pmean((g1, gb1, g2, gb2), "data")
        return [p - 0.1 * g for p, g in zip((w1, b1, w2, b2), grads)]

    return aotc.shard_map(step, mesh=mesh,
                          in_specs=(P("data"), P("data"), P(None, "model"), P("model"),
                                    P("model", None), P()),
                          out_specs=[P(None, "model"), P("model"), P("model", None), P()])


def dense_step(x, y, w1, b1, w2, b2):
    def loss(w1, b1, w2, b2):
        return anp.mean((dense_mlp(x, w1, b1, w2, b2) - y) ** 2)

    grads = aotc.grad(loss, argnums=(0, 1, 2, 3))(w1, b1, w2, b2)
    return [p - 0.1 * g for p, g in zip((w1, b1, w2, b2), grads)]


@pytest.fixture(scope="module")
def dp_tp_problem():
    args = (RNG.standard_normal((16, 6)).astype(np.float32),
            RNG.standard_normal((16, 3)).astype(np.float32),
            RNG.standard_normal((6, 16)).astype(np.float32) / 3,
            RNG.standard_normal(16).astype(np.float32) / 4,
            RNG.standard_normal((16, 3)).astype(np.float32) / 4,
            RNG.standard_normal(3).astype(np.float32))
    return args, aotc.jit(dense_step)(*args)


@pytest.mark.parametrize("shape", [(2, 2), (2, 4), (4, 2)])
def test_2d_mesh_data_and_model_parallel_step_on_iree(dp_tp_problem, shape):
    args, want = dp_tp_problem
    got = aotc.jit(dp_tp_step(Mesh(shape, ("data", "model"))))(*args)
    assert rel_err(got, want) <= 1e-6


# ---- transforms of shard_map'd functions --------------------------------------------------------


def test_grad_of_a_shard_mapped_function_matches_finite_differences():
    mesh = Mesh((2, 2), ("x", "y"))
    f = aotc.shard_map(lambda a, w: aotc.lax.psum(anp.sin(a) @ w, "y"), mesh=mesh,
                       in_specs=(P("x", "y"), P("y", None)), out_specs=P("x"))

    def loss(a, w):
        return anp.sum(f(a, w) ** 2)

    a, w = RNG.standard_normal((4, 6)), RNG.standard_normal((6, 2))
    ga, gw = _interpret(aotc.grad(loss, argnums=(0, 1)), a, w)
    dense = _interpret(aotc.grad(lambda a, w: anp.sum((anp.sin(a) @ w) ** 2), argnums=(0, 1)),
                       a, w)
    assert rel_err((ga, gw), dense) <= 1e-12
    eps, da = 1e-6, RNG.standard_normal(a.shape)
    plus, minus = _interpret(loss, a + eps * da, w), _interpret(loss, a - eps * da, w)
    np.testing.assert_allclose((plus - minus) / (2 * eps), np.vdot(ga, da), rtol=1e-6)


def test_vmap_of_a_shard_mapped_function_equals_a_loop():
    mesh = Mesh((4,), ("d",))
    f = aotc.shard_map(lambda b, w: aotc.lax.psum(anp.tanh(b @ w).sum(0), "d"), mesh=mesh,
                       in_specs=(P("d"), P()), out_specs=P())
    xs = RNG.standard_normal((3, 8, 5))
    w = RNG.standard_normal((5, 2))
    got = _interpret(aotc.vmap(f, in_axes=(0, None)), xs, w)
    want = np.stack([np.tanh(x @ w).sum(0) for x in xs])
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_vmap_with_axis_name_inside_a_shard_map_body():
    """vmap resolves its own axis; the shard_map axis stays a collective for the unroller."""
    mesh = Mesh((2,), ("d",))

    def body(b):  # b: (2, 3) per device
        return aotc.vmap(lambda r: aotc.lax.psum(r, "d") - aotc.lax.pmean(r, "lanes"),
                         axis_name="lanes")(b)

    x = RNG.standard_normal((4, 3))
    got = _interpret(aotc.shard_map(body, mesh=mesh, in_specs=(P("d"),), out_specs=P("d")), x)
    blocks = np.split(x, 2)
    want = np.concatenate([blocks[0] + blocks[1] - b.mean(0) for b in blocks])
    np.testing.assert_allclose(got, want, rtol=1e-12)


# ---- pmap ---------------------------------------------------------------------------------------


def test_pmap_maps_the_leading_axis_over_devices():
    x = RNG.standard_normal((4, 3)).astype(np.float32)
    w = RNG.standard_normal((3,)).astype(np.float32)
    f = aotc.pmap(lambda r, w: r * w / aotc.lax.psum(r.sum(), "i"), axis_name="i",
                  in_axes=(0, None))
    np.testing.assert_allclose(f(x, w), x * w / x.sum(), rtol=1e-5)
    np.testing.assert_allclose(aotc.jit(f)(x, w), x * w / x.sum(), rtol=1e-5)
    moved = aotc.pmap(lambda c: c * aotc.lax.axis_index("i"), axis_name="i", in_axes=1)(x.T)
    np.testing.assert_allclose(moved, x * np.arange(4)[:, None], rtol=1e-6)
    total = aotc.pmap(lambda r: aotc.lax.psum(r, "i"), axis_name="i", out_axes=None)(x)
    np.testing.assert_allclose(total, x.sum(0), rtol=1e-5)
    with pytest.raises(ShardingError, match="one size along their mapped axes"):
        aotc.pmap(lambda a, b: a + b, axis_name="i")(x, x[:2])
