"""Collectives (aotc.lax.psum, pmean, pmax, pmin, all_gather, psum_scatter, ppermute, all_to_all,
axis_index) and the block-list helpers of aotc.passes.spmd under them.

Oracles: numpy formulas per device group (the helpers and shard_map, interpreted in float64),
jax.vmap(..., axis_name=) in process (vmap's collectives and their gradients), and jax.pmap /
jax.shard_map(check_vma=False) on 8 host CPU devices in a subprocess (XLA's device count is
fixed when JAX starts, and other test modules start it first). aotc's reverse mode follows
pmap's per-device view (psum transposes to psum), which is JAX's without replication checks.
"""

import json
import os
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

import aotc
from aotc.frontend.core import mesh as meshes
from aotc.frontend.core.ir import ir, new_context, tensor_type
from aotc.frontend.ops import elementwise as ew
from aotc.frontend.ops import shape as shape_ops
from aotc.passes import functions as util
from aotc.passes import spmd
from aotc.sharding import Mesh, P

RNG = np.random.default_rng(12)
MESHES = {"4": ((4,), ("i",)), "8": ((8,), ("i",)), "2x2": ((2, 2), ("x", "y")),
          "2x4": ((2, 4), ("x", "y"))}


# ---- the block-list helpers, on a module of their own, against numpy per group ----------------


def _run_helper(mesh: Mesh, x: np.ndarray, build) -> np.ndarray:
    """Interpret main(x): split x by rows over all mesh axes, apply build(blocks) -> blocks, and
    stack each device's result block (device order) along a new leading axis."""
    with new_context(), ir.Location.unknown():
        module = ir.Module.create()
        t = tensor_type(x.shape, ir.F64Type.get())
        fn, entry = util.new_function(module, "main", [t], False, ir.Location.unknown())
        with ir.InsertionPoint(entry):
            blocks = spmd.split(entry.arguments[0], 0, P(mesh.axis_names), mesh)
            out = build(blocks)
            stacked = [shape_ops.reshape(b, (1, *ir.RankedTensorType(b.type).shape))
                       for b in out]
            util.finish_function(fn, [spmd.assemble(stacked, P(mesh.axis_names), mesh)])
        module.operation.verify()
        return aotc.interpret(module, "main", x)[0]


def _device_blocks(x: np.ndarray, mesh: Mesh) -> list[np.ndarray]:
    return np.split(x, mesh.size)


def _groups(mesh: Mesh, axes) -> list[list[int]]:
    return meshes.axis_groups(axes, mesh)


def _expected(mesh: Mesh, axes, blocks, per_group) -> np.ndarray:
    """Each device's expected block: per_group(list of the group's blocks, k) for member k."""
    out = [None] * mesh.size
    for group in _groups(mesh, axes):
        members = [blocks[p] for p in group]
        for k, p in enumerate(group):
            out[p] = per_group(members, k)
    return np.stack(out)


AXES = [("4", ("i",)), ("8", ("i",)), ("2x2", ("x",)), ("2x2", ("y",)), ("2x4", ("y",)),
        ("2x4", ("x", "y")), ("2x4", ("y", "x"))]


@pytest.mark.parametrize("schedule", ["ring", "tree"])
@pytest.mark.parametrize("kind", ["psum", "pmax", "pmin"])
@pytest.mark.parametrize("mesh_name,axes", AXES)
def test_all_reduce_helper(mesh_name, axes, kind, schedule):
    mesh = Mesh(*MESHES[mesh_name])
    x = RNG.standard_normal((mesh.size * 3, 5))
    got = _run_helper(mesh, x, lambda b: spmd.all_reduce(b, axes, mesh, kind, schedule))
    reduce = {"psum": np.sum, "pmax": np.max, "pmin": np.min}[kind]
    want = _expected(mesh, axes, _device_blocks(x, mesh), lambda m, k: reduce(m, axis=0))
    np.testing.assert_allclose(got, want, rtol=1e-12)


def _transfer_types(schedule: str) -> list[str]:
    """The types of the values an all-reduce of 4 blocks of 8x16 f32 moves between devices."""
    mesh = Mesh((4,), ("i",))
    with new_context(), ir.Location.unknown():
        module = ir.Module.create()
        t = tensor_type((4 * 8, 16), ir.F32Type.get())
        _, entry = util.new_function(module, "main", [t], False, ir.Location.unknown())
        with ir.InsertionPoint(entry):
            blocks = spmd.split(entry.arguments[0], 0, P("i"), mesh)
            before = len(list(entry.operations))
            spmd.all_reduce(blocks, "i", mesh, "psum", schedule)
        return [str(op.operation.results[0].type) for op in list(entry.operations)[before:]
                if "aotc.transfer" in str(op)]


def test_ring_all_reduce_moves_chunks_and_tree_moves_whole_blocks():
    ring, tree = _transfer_types("ring"), _transfer_types("tree")
    assert set(ring) == {"tensor<32xf32>"} and len(ring) == 2 * 3 * 4  # 2(n-1) per member
    assert set(tree) == {"tensor<8x16xf32>"} and len(tree) == 2 * 3  # up and down the tree


@pytest.mark.parametrize("tiled", [True, False])
@pytest.mark.parametrize("mesh_name,axes", AXES)
def test_all_gather_helper(mesh_name, axes, tiled):
    mesh = Mesh(*MESHES[mesh_name])
    x = RNG.standard_normal((mesh.size * 2, 3))
    got = _run_helper(mesh, x, lambda b: spmd.all_gather(b, axes, mesh, 1, tiled))
    join = np.concatenate if tiled else np.stack
    want = _expected(mesh, axes, _device_blocks(x, mesh), lambda m, k: join(m, axis=1))
    np.testing.assert_allclose(got, want)


@pytest.mark.parametrize("mesh_name,axes", AXES)
def test_reduce_scatter_helper(mesh_name, axes):
    mesh = Mesh(*MESHES[mesh_name])
    n = meshes.axes_size(axes, mesh)
    x = RNG.standard_normal((mesh.size * 2, 3 * n))
    got = _run_helper(mesh, x, lambda b: spmd.reduce_scatter(b, axes, mesh, 1, True))
    want = _expected(mesh, axes, _device_blocks(x, mesh),
                     lambda m, k: np.split(np.sum(m, axis=0), n, axis=1)[k])
    np.testing.assert_allclose(got, want, rtol=1e-12)
    x = RNG.standard_normal((mesh.size * n, 3))
    got = _run_helper(mesh, x, lambda b: spmd.reduce_scatter(b, axes, mesh, 0, False))
    want = _expected(mesh, axes, _device_blocks(x, mesh), lambda m, k: np.sum(m, axis=0)[k])
    np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize("mesh_name,axes", AXES)
def test_ppermute_helper(mesh_name, axes):
    mesh = Mesh(*MESHES[mesh_name])
    n = meshes.axes_size(axes, mesh)
    perm = [(k, (k + 1) % n) for k in range(n - 1)]  # a shift that leaves member 0 empty
    x = RNG.standard_normal((mesh.size * 2, 3))
    got = _run_helper(mesh, x, lambda b: spmd.ppermute(b, axes, mesh, perm))
    sources = {d: s for s, d in perm}
    want = _expected(mesh, axes, _device_blocks(x, mesh),
                     lambda m, k: m[sources[k]] if k in sources else np.zeros_like(m[0]))
    np.testing.assert_allclose(got, want)


@pytest.mark.parametrize("mesh_name,axes", AXES)
def test_all_to_all_helper(mesh_name, axes):
    mesh = Mesh(*MESHES[mesh_name])
    n = meshes.axes_size(axes, mesh)
    x = RNG.standard_normal((mesh.size * n, 2))
    got = _run_helper(mesh, x, lambda b: spmd.all_to_all(b, axes, mesh, 0, 1))
    want = _expected(mesh, axes, _device_blocks(x, mesh),
                     lambda m, k: np.concatenate([np.split(b, n, 0)[k] for b in m], 1))
    np.testing.assert_allclose(got, want)


@pytest.mark.parametrize("mesh_name,axes", AXES)
def test_axis_index_helper(mesh_name, axes):
    mesh = Mesh(*MESHES[mesh_name])
    x = np.zeros((mesh.size, 1))

    def build(blocks):
        index = spmd.axis_index(axes, mesh)
        return [ew.add(b, shape_ops.reshape(ew.convert(i, ir.F64Type.get()), (1, 1)))
                for b, i in zip(blocks, index)]

    got = _run_helper(mesh, x, build)
    coords = [meshes.coordinates(p, mesh) for p in range(mesh.size)]
    sizes = mesh.shape
    want = []
    for c in coords:
        k = 0
        for a in axes:
            k = k * sizes[a] + int(c[a])
        want.append(k)
    np.testing.assert_array_equal(got.reshape(-1), want)


def test_split_and_assemble_round_trip_every_spec_of_a_2x2_mesh():
    mesh = Mesh((2, 2), ("x", "y"))
    x = RNG.standard_normal((4, 8))
    for spec in [P(), P("x"), P("y"), P("x", "y"), P("y", "x"), P(None, "x"), P(("x", "y")),
                 P(None, ("y", "x"))]:
        with new_context(), ir.Location.unknown():
            module = ir.Module.create()
            t = tensor_type(x.shape, ir.F64Type.get())
            fn, entry = util.new_function(module, "main", [t], False, ir.Location.unknown())
            with ir.InsertionPoint(entry):
                blocks = spmd.split(entry.arguments[0], 0, spec, mesh)
                util.finish_function(fn, [spmd.assemble(blocks, spec, mesh, dst=3)])
            np.testing.assert_array_equal(aotc.interpret(module, "main", x)[0], x, str(spec))


# ---- the collectives inside shard_map (interpreted) against numpy --------------------------------
# Eager calls run in float32 (like JAX without x64), so these compare at float32 precision.


def _sm(fn, mesh, in_spec, out_spec):
    return aotc.shard_map(fn, mesh=mesh, in_specs=(in_spec,), out_specs=out_spec)


def test_collectives_inside_shard_map_match_numpy():
    mesh = Mesh((4,), ("i",))
    x = RNG.standard_normal((8, 4))
    blocks = np.split(x, 4)
    total = sum(blocks)
    np.testing.assert_allclose(_sm(lambda b: aotc.lax.psum(b, "i"), mesh, P("i"), P())(x),
                               total, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(_sm(lambda b: aotc.lax.pmean(b, "i"), mesh, P("i"), P())(x),
                               total / 4, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(_sm(lambda b: aotc.lax.pmax(b, "i"), mesh, P("i"), P())(x),
                               np.max(blocks, 0))
    np.testing.assert_allclose(_sm(lambda b: aotc.lax.pmin(b, "i"), mesh, P("i"), P())(x),
                               np.min(blocks, 0))
    gathered = _sm(lambda b: aotc.lax.all_gather(b, "i"), mesh, P("i"), P())(x)
    np.testing.assert_allclose(gathered, np.stack(blocks))
    tiled = _sm(lambda b: aotc.lax.all_gather(b, "i", axis=1, tiled=True), mesh, P("i"),
                P("i"))(x)
    np.testing.assert_allclose(tiled, np.concatenate([np.concatenate(blocks, 1)] * 4, 0))
    scattered = _sm(lambda b: aotc.lax.psum_scatter(b, "i", scatter_dimension=1, tiled=True),
                    mesh, P("i"), P(None, "i"))(x)
    np.testing.assert_allclose(scattered, total, rtol=1e-6, atol=1e-6)
    shifted = _sm(lambda b: aotc.lax.ppermute(b, "i", [(k, (k + 1) % 4) for k in range(4)]),
                  mesh, P("i"), P("i"))(x)
    np.testing.assert_allclose(shifted, np.concatenate(blocks[-1:] + blocks[:-1]))
    index = _sm(lambda b: b[:1, :1] * 0 + aotc.lax.axis_index("i"), mesh, P("i"), P("i"))(x)
    np.testing.assert_array_equal(index.ravel(), [0, 1, 2, 3])
    y = RNG.standard_normal((16, 3))  # block (4, 3): split rows 4 ways, stack along cols
    moved = _sm(lambda b: aotc.lax.all_to_all(b, "i", 0, 1, tiled=True), mesh, P("i"),
                P("i"))(y)
    yb = np.split(y, 4)
    want = np.concatenate([np.concatenate([np.split(b, 4)[k] for b in yb], 1)
                           for k in range(4)])
    np.testing.assert_allclose(moved, want)


def test_collectives_over_one_axis_of_a_2d_mesh():
    mesh = Mesh((2, 2), ("x", "y"))
    x = RNG.standard_normal((4, 6))
    f = aotc.shard_map(lambda b: aotc.lax.psum(b, "x"), mesh=mesh, in_specs=(P("x", "y"),),
                       out_specs=P(None, "y"))
    np.testing.assert_allclose(f(x), x[:2] + x[2:], rtol=1e-6, atol=1e-6)
    g = aotc.shard_map(lambda b: aotc.lax.psum(b, ("x", "y")), mesh=mesh,
                       in_specs=(P("x", "y"),), out_specs=P())
    np.testing.assert_allclose(g(x), x[:2, :3] + x[:2, 3:] + x[2:, :3] + x[2:, 3:], rtol=1e-6,
                               atol=1e-6)
    h = aotc.shard_map(lambda b: b * 0 + aotc.lax.axis_index(("x", "y")), mesh=mesh,
                       in_specs=(P("x", "y"),), out_specs=P("x", "y"))
    np.testing.assert_array_equal(h(np.zeros((2, 2))), [[0, 1], [2, 3]])


def test_a_collective_in_a_fori_loop_runs_in_lockstep():
    mesh = Mesh((4,), ("i",))

    def body(b):
        return aotc.lax.fori_loop(0, 3, lambda k, v: aotc.lax.pmean(v * 2.0, "i") + v, b)

    x = RNG.standard_normal((8,))
    got = _sm(body, mesh, P("i"), P("i"))(x)
    blocks = np.split(x, 4)
    for _ in range(3):
        mean = np.mean([2 * b for b in blocks], 0)
        blocks = [mean + b for b in blocks]
    np.testing.assert_allclose(got, np.concatenate(blocks), rtol=1e-6, atol=1e-6)


def test_collectives_in_cond_and_switch_branches():
    """One merged conditional for all devices; device 0's predicate picks the branch."""
    mesh = Mesh((4,), ("i",))
    x = RNG.standard_normal((8,)).astype(np.float32)
    blocks = np.split(x, 4)

    def with_cond(b):
        return aotc.lax.cond(b.sum() > -1e9, lambda v: aotc.lax.psum(v, "i"),
                             lambda v: v * 0.0, b)

    def with_switch(b):
        return aotc.lax.switch(aotc.lax.axis_index("i") * 0 + 1,
                               [lambda v: v, lambda v: aotc.lax.pmax(v, "i")], b)

    for fn, want in [(with_cond, np.tile(sum(blocks), 4)),
                     (with_switch, np.tile(np.max(blocks, 0), 4))]:
        f = _sm(fn, mesh, P("i"), P("i"))
        np.testing.assert_allclose(f(x), want, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(aotc.jit(f)(x), want, rtol=1e-6, atol=1e-6)


# ---- vmap(axis_name=) against jax.vmap, values and gradients ------------------------------------

VMAP_CASES = {
    "psum": lambda lax, v: v / lax.psum(v, "i"),
    "pmean": lambda lax, v: v - lax.pmean(v, "i"),
    "pmax": lambda lax, v: lax.pmax(v, "i"),
    "pmin": lambda lax, v: lax.pmin(v, "i"),
    "all_gather": lambda lax, v: lax.all_gather(v, "i"),
    "all_gather_axis1": lambda lax, v: lax.all_gather(v, "i", axis=1),
    "all_gather_tiled": lambda lax, v: lax.all_gather(v, "i", tiled=True),
    "psum_scatter": lambda lax, v: lax.psum_scatter(v, "i"),
    "psum_scatter_tiled": lambda lax, v: lax.psum_scatter(v.reshape(-1), "i", tiled=True),
    "ppermute": lambda lax, v: lax.ppermute(v, "i", [(0, 2), (2, 1), (1, 3), (3, 0)]),
    "all_to_all": lambda lax, v: lax.all_to_all(v, "i", 0, 1),
    "all_to_all_tiled": lambda lax, v: lax.all_to_all(v, "i", 0, 1, tiled=True),
    "axis_index": lambda lax, v: v * lax.axis_index("i"),
    "psum_of_unmapped": lambda lax, v: lax.psum(2.0, "i") * v,
}


@pytest.mark.parametrize("name", sorted(VMAP_CASES))
def test_vmap_collectives_match_jax(name):
    case = VMAP_CASES[name]
    x = RNG.standard_normal((4, 4, 2)).astype(np.float32)
    got = aotc.vmap(lambda v: case(aotc.lax, v), axis_name="i")(x)
    want = jax.vmap(lambda v: case(jax.lax, v), axis_name="i")(x)
    np.testing.assert_allclose(got, np.asarray(want), rtol=1e-5, atol=1e-6)


GRAD_CASES = {
    "psum": lambda lax, v: jnp_sum(lax.psum(v, "i") * v),
    "pmean": lambda lax, v: jnp_sum(lax.pmean(v * v, "i") * v),
    "all_gather": lambda lax, v: jnp_sum(lax.all_gather(v, "i") ** 2 * v[0]),
    "psum_scatter": lambda lax, v: jnp_sum(lax.psum_scatter(v, "i", tiled=True) ** 3),
    "ppermute": lambda lax, v: jnp_sum(
        lax.ppermute(v, "i", [(0, 1), (1, 3), (3, 2), (2, 0)]) * v * v),
    "all_to_all": lambda lax, v: jnp_sum(
        lax.all_to_all(v.reshape(4, 2), "i", 0, 1, tiled=True) ** 2 * 1.5),
}


def jnp_sum(x):
    return x.sum()


@pytest.mark.parametrize("name", sorted(GRAD_CASES))
def test_grad_inside_vmap_matches_jax(name):
    case = GRAD_CASES[name]
    x = RNG.standard_normal((4, 8)).astype(np.float32)
    got = aotc.vmap(aotc.grad(lambda v: case(aotc.lax, v)), axis_name="i")(x)
    want = jax.vmap(jax.grad(lambda v: case(jax.lax, v)), axis_name="i")(x)
    np.testing.assert_allclose(got, np.asarray(want), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", sorted(GRAD_CASES))
def test_grad_inside_shard_map_equals_grad_inside_vmap(name):
    """The same per-member function: shard_map over 4 devices (one row each) and vmap over
    4 lanes (checked against JAX above) give the same gradients."""
    case = GRAD_CASES[name]
    x = RNG.standard_normal((4, 8))
    mesh = Mesh((4,), ("i",))
    per_member = aotc.grad(lambda v: case(aotc.lax, v))
    sharded = aotc.shard_map(lambda b: per_member(b[0])[None], mesh=mesh, in_specs=(P("i"),),
                             out_specs=P("i"))(x)
    vmapped = aotc.vmap(per_member, axis_name="i")(x)
    np.testing.assert_allclose(sharded, vmapped, rtol=1e-5)


@pytest.mark.parametrize("name", ["psum", "all_gather", "psum_scatter", "ppermute",
                                  "all_to_all"])
def test_collective_transposes_are_adjoints(name):
    """<ct, L t> = <L^T ct, t> for the linear map t -> collective(t) inside shard_map."""
    mesh = Mesh((4,), ("i",))
    ops = {
        "psum": lambda b: aotc.lax.psum(b, "i"),
        "all_gather": lambda b: aotc.lax.all_gather(b, "i", axis=1, tiled=True),
        "psum_scatter": lambda b: aotc.lax.psum_scatter(b, "i", scatter_dimension=1,
                                                        tiled=True),
        "ppermute": lambda b: aotc.lax.ppermute(b, "i", [(0, 3), (3, 1), (1, 0)]),
        "all_to_all": lambda b: aotc.lax.all_to_all(b, "i", 1, 0, tiled=True),
    }
    f = aotc.shard_map(ops[name], mesh=mesh, in_specs=(P("i"),), out_specs=P("i"))
    t = RNG.standard_normal((8, 4))
    y, vjp = aotc.vjp(f, t)
    ct = RNG.standard_normal(np.shape(y))
    (back,) = vjp(ct)
    _, forward = aotc.jvp(f, (t,), (t,))
    np.testing.assert_allclose(np.vdot(ct, forward), np.vdot(back, t), rtol=1e-5)


# ---- JAX's pmap and shard_map on 8 host CPU devices (subprocess) ---------------------------------

_JAX_SCRIPT = textwrap.dedent("""
    import json, os, sys
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"
    import jax, jax.numpy as jnp, numpy as np
    from jax.sharding import PartitionSpec as P
    x = np.load(sys.argv[1])
    out = {}
    out["pmap_psum"] = jax.pmap(lambda v: v / jax.lax.psum(v, "i"), "i")(x)
    out["pmap_grad_psum"] = jax.pmap(jax.grad(lambda v: (jax.lax.psum(v, "i") * v).sum()),
                                     "i")(x)
    out["pmap_grad_gather"] = jax.pmap(jax.grad(
        lambda v: (jax.lax.all_gather(v, "i") ** 2).sum() * v[0]), "i")(x)
    mesh = jax.make_mesh((8,), ("i",), axis_types=(jax.sharding.AxisType.Explicit,))
    with jax.set_mesh(mesh):
        xs = jax.device_put(x, jax.NamedSharding(mesh, P("i")))
        f = jax.shard_map(lambda b: jax.grad(lambda u: (jax.lax.psum(u, "i") ** 2).sum())(b),
                          mesh=mesh, in_specs=P("i"), out_specs=P("i"), check_vma=False)
        out["shard_map_grad_psum_sq"] = f(xs)
        g = jax.shard_map(lambda b: jax.lax.ppermute(b, "i", [(k, (k + 3) % 8) for k in
                          range(8)]) * jax.lax.axis_index("i"), mesh=mesh, in_specs=P("i"),
                          out_specs=P("i"))
        out["shard_map_ppermute"] = g(xs)
    np.savez(sys.argv[2], **{k: np.asarray(v) for k, v in out.items()})
""")


@pytest.fixture(scope="module")
def jax8(tmp_path_factory):
    """JAX's results on 8 host devices for the input x (8, 3)."""
    d = tmp_path_factory.mktemp("jax8")
    x = RNG.standard_normal((8, 3)).astype(np.float32)
    np.save(d / "x.npy", x)
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    done = subprocess.run([sys.executable, "-c", _JAX_SCRIPT, str(d / "x.npy"),
                           str(d / "out.npz")], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return x, dict(np.load(d / "out.npz"))


def test_pmap_and_its_gradients_match_jax_pmap(jax8):
    x, want = jax8
    np.testing.assert_allclose(aotc.pmap(lambda v: v / aotc.lax.psum(v, "i"), "i")(x),
                               want["pmap_psum"], rtol=1e-5)
    grad_psum = aotc.pmap(aotc.grad(lambda v: (aotc.lax.psum(v, "i") * v).sum()), "i")(x)
    np.testing.assert_allclose(grad_psum, want["pmap_grad_psum"], rtol=1e-5)
    grad_gather = aotc.pmap(aotc.grad(
        lambda v: (aotc.lax.all_gather(v, "i") ** 2).sum() * v[0]), "i")(x)
    np.testing.assert_allclose(grad_gather, want["pmap_grad_gather"], rtol=1e-5, atol=1e-5)


def test_shard_map_on_8_devices_matches_jax_shard_map(jax8):
    x, want = jax8
    mesh = Mesh((8,), ("i",))
    f = aotc.shard_map(lambda b: aotc.grad(lambda u: (aotc.lax.psum(u, "i") ** 2).sum())(b),
                       mesh=mesh, in_specs=(P("i"),), out_specs=P("i"))
    np.testing.assert_allclose(f(x), want["shard_map_grad_psum_sq"], rtol=1e-5)
    g = aotc.shard_map(lambda b: aotc.lax.ppermute(b, "i", [(k, (k + 3) % 8) for k in range(8)])
                       * aotc.lax.axis_index("i"), mesh=mesh, in_specs=(P("i"),),
                       out_specs=P("i"))
    np.testing.assert_allclose(g(x), want["shard_map_ppermute"], rtol=1e-6)


# ---- errors ------------------------------------------------------------------------------------


def test_a_collective_outside_a_mapped_context_is_a_clear_error():
    x = np.ones(4, np.float32)
    with pytest.raises(aotc.sharding.ShardingError, match="outside a mapped context"):
        aotc.jit(lambda v: aotc.lax.psum(v, "i"))(x)
    with pytest.raises(aotc.sharding.ShardingError, match="outside a mapped context"):
        aotc.lax.all_gather(x, "i")
    with pytest.raises(aotc.sharding.ShardingError, match=r"axis 'j' outside a mapped context"
                       r".*mapped axes here are \['i'\]"):
        aotc.vmap(lambda v: aotc.lax.psum(v, "j"), axis_name="i")(x)
    with pytest.raises(aotc.sharding.ShardingError, match="outside a mapped context"):
        aotc.vmap(lambda v: aotc.lax.axis_index("i"))(x)  # vmap without axis_name
    mesh = Mesh((2,), ("data",))
    with pytest.raises(aotc.sharding.ShardingError,
                       match=r"test_collectives.py:\d+: pmean over axis 'model'"):
        aotc.shard_map(lambda b: aotc.lax.pmean(b, "model"), mesh=mesh, in_specs=(P("data"),),
                       out_specs=P())(x)


def test_collective_argument_errors():
    mesh = Mesh((4,), ("i",))
    x = np.ones((8, 3), np.float32)
    with pytest.raises(aotc.sharding.ShardingError, match=r"perm .* distinct"):
        _sm(lambda b: aotc.lax.ppermute(b, "i", [(0, 1), (2, 1)]), mesh, P("i"), P("i"))(x)
    with pytest.raises(aotc.sharding.ShardingError, match="must equal the 4 members"):
        _sm(lambda b: aotc.lax.psum_scatter(b, "i"), mesh, P("i"), P("i"))(x)
    with pytest.raises(aotc.sharding.ShardingError, match="divisible by the 4 members"):
        _sm(lambda b: aotc.lax.psum_scatter(b, "i", scatter_dimension=1, tiled=True), mesh,
            P("i"), P("i"))(x)


def test_interpreting_an_unresolved_collective_names_the_problem():
    """A collective op that reaches the interpreter (imported IR, say) fails clearly."""
    text = ('func.func @main(%x: tensor<4xf32>) -> tensor<4xf32> {\n'
            '  %r = stablehlo.custom_call @aotc.collective(%x) {backend_config = '
            + json.dumps(json.dumps({"kind": "psum", "axes": ["i"], "size": 2}))
            + '} : (tensor<4xf32>) -> tensor<4xf32>\n  return %r : tensor<4xf32>\n}')
    with pytest.raises(aotc.TracingError, match="psum over axis \\['i'\\] outside a mapped"):
        aotc.interpret(text, "main", np.ones(4, np.float32))


# ---- compiled: vmap with collectives through IREE ------------------------------------------------


def test_vmap_with_collectives_compiles_and_runs_on_iree():
    x = RNG.standard_normal((4, 6)).astype(np.float32)

    def f(v):
        return aotc.lax.all_gather(v, "i", tiled=True) * aotc.lax.pmean(v, "i").sum()

    got = aotc.jit(aotc.vmap(f, axis_name="i"))(x)
    want = jax.vmap(lambda v: jax.lax.all_gather(v, "i", tiled=True)
                    * jax.lax.pmean(v, "i").sum(), axis_name="i")(x)
    np.testing.assert_allclose(got, np.asarray(want), rtol=1e-5)
    assert "aotc.collective" not in aotc.lower(aotc.vmap(f, axis_name="i"), x).text

