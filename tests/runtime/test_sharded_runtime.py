"""Sharded artifacts in aotc_runtime: a mesh and per-leaf shardings in the signature, N devices
created or given at load (and a clear error when fewer are given), global numpy arrays split
into per-device blocks or blocks given as lists, results assembled or returned as blocks
(`.shards`), `aotc inspect` showing the shardings, and the same artifact run by IREE's
iree-run-module and by an `aotc bundle` run.sh with one --device flag per device.

The artifacts are hand-written StableHLO in the form the trace side emits (per-device block
arguments marked aotc.device, @aotc.transfer custom_calls), sealed by the export pipeline
(ExportOutput.compile) with a hand-built Signature, and checked against numpy."""

import json
import os
import subprocess
import sys

import iree.runtime as rt
import numpy as np
import pytest

import aotc_runtime
from aotc.frontend.core.ir import ir, new_context
from aotc.tools.bundle import describe, run_script
from aotc.tools.cli import main as aotc_main
from aotc.tools.export import ExportOutput
from aotc.tools.gpu_check import data_parallel_text
from aotc.tools.targets import get_target
from aotc_runtime import mesh as meshes
from aotc_runtime.errors import ArtifactError, InputError
from aotc_runtime.signature import Signature

ROWS, COLS = 4, 3  # data_parallel_text's block shape
RUNNER = os.path.join(os.path.dirname(sys.executable), "iree-run-module")


def _array(shape, sharding=None) -> dict:
    node = {"kind": "array", "shape": list(shape), "dtype": "float32"}
    return node if sharding is None else {**node, "sharding": sharding}


def data_parallel_signature(n: int) -> dict:
    """main(x: f32[4n, 3] sharded P('x', None), w: f32[3]) -> (y like x, s: f32[3])."""
    return {"name": "main", "mesh": {"axes": ["x"], "shape": [n]},
            "args": [{"name": "x", "tree": _array((ROWS * n, COLS), [["x"], []])},
                     {"name": "w", "tree": _array((COLS,))}],
            "results": {"kind": "tuple", "children": [_array((ROWS * n, COLS), [["x"], []]),
                                                      _array((COLS,))]}}


def grid_text() -> str:
    """A mesh x=2, y=2: a: f32[4, 6] sharded P('x', 'y') (blocks 2x3 on devices 0..3) ->
    (a + 1 sharded like a, column sums f32[6] sharded P('y'): each device adds its partial sum
    to that of its partner along x, p ^ 2, moved by a transfer)."""
    block, vec = "tensor<2x3xf32>", "tensor<3xf32>"
    lines = []
    for p in range(4):
        lines += [f"%one{p} = stablehlo.constant dense<1.0> : {block}",
                  f"%r{p} = stablehlo.add %a{p}, %one{p} : {block}",
                  f"%zero{p} = stablehlo.constant dense<0.0> : tensor<f32>",
                  f"%s{p} = stablehlo.reduce(%a{p} init: %zero{p}) applies stablehlo.add "
                  f"across dimensions = [0] : ({block}, tensor<f32>) -> {vec}"]
    for p in range(4):
        q = p ^ 2
        lines += [f'%t{p} = stablehlo.custom_call @aotc.transfer(%s{q}) {{backend_config = '
                  f'"{q}->{p}"}} : ({vec}) -> {vec}',
                  f"%c{p} = stablehlo.add %s{p}, %t{p} : {vec}"]
    args = ", ".join(f"%a{p}: {block} {{aotc.device = {p} : i64}}" for p in range(4))
    outs = ", ".join([f"{block} {{aotc.device = {p} : i64}}" for p in range(4)]
                     + [f"{vec} {{aotc.device = {p} : i64}}" for p in range(4)])
    body = "\n    ".join(lines)
    values = ", ".join([f"%r{p}" for p in range(4)] + [f"%c{p}" for p in range(4)])
    return (f"module @grid {{\n  func.func public @main({args}) -> ({outs}) {{\n    {body}\n"
            f"    return {values} : {', '.join([block] * 4 + [vec] * 4)}\n  }}\n}}\n")


GRID_SIGNATURE = {
    "name": "main", "mesh": {"axes": ["x", "y"], "shape": [2, 2]},
    "args": [{"name": "a", "tree": _array((4, 6), [["x"], ["y"]])}],
    "results": {"kind": "tuple", "children": [_array((4, 6), [["x"], ["y"]]),
                                              _array((6,), [["y"]])]}}


def export(text: str, signature: dict, name: str, target: str = "cpu"):
    """The sealed Artifact of text's @main with signature, through the export pipeline."""
    with new_context():
        module = ir.Module.parse(text)
    exported = ExportOutput.__new__(ExportOutput)
    exported.name, exported.weights, exported.module = name, {}, module
    exported.signatures = {"main": Signature(signature)}
    return exported.compile(target)


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    """name -> path of a sealed sharded artifact: 'dp2', 'dp4', 'dp8' and 'grid' (compiled
    once per module)."""
    folder = tmp_path_factory.mktemp("sharded")
    made = {}

    def get(name):
        if name not in made:
            if name == "grid":
                built = export(grid_text(), GRID_SIGNATURE, "grid")
            else:
                n = int(name[2:])
                built = export(data_parallel_text(n), data_parallel_signature(n), name)
            made[name] = built.write(str(folder / f"{name}.vmfb"))[0]
        return made[name]

    return get


def _inputs(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((ROWS * n, COLS)).astype(np.float32),
            rng.standard_normal(COLS).astype(np.float32))


@pytest.mark.parametrize("n", [2, 4, 8])
def test_global_arrays_in_and_out_on_n_devices(artifacts, n):
    m = aotc_runtime.load(artifacts(f"dp{n}"))
    assert m.device_count == n and len(m.devices) == n and m.device is m.devices[0]
    x, w = _inputs(n)
    y, s = m.main(x, w)
    np.testing.assert_allclose(y, 2 * x + w, rtol=1e-6)
    np.testing.assert_allclose(s, x.sum(0), rtol=1e-5)
    y2, s2 = m.main(x=x[::-1].copy(), w=w)  # a second call, keyword arguments
    np.testing.assert_allclose(y2, 2 * x[::-1] + w, rtol=1e-6)
    np.testing.assert_allclose(s2, x.sum(0), rtol=1e-5)


def test_block_lists_in_and_shards_out(artifacts):
    m = aotc_runtime.load(artifacts("dp4"))
    x, w = _inputs(4, seed=1)
    blocks = [x[ROWS * p:ROWS * (p + 1)] for p in range(4)]
    y, s = m.main.shards(blocks, w)
    assert isinstance(y, list) and len(y) == 4
    for p, block in enumerate(blocks):
        np.testing.assert_allclose(y[p], 2 * block + w, rtol=1e-6)
    np.testing.assert_allclose(s, x.sum(0), rtol=1e-5)  # an unsharded result stays an array
    y_global, _ = m.main(tuple(blocks), w)
    np.testing.assert_allclose(y_global, 2 * x + w, rtol=1e-6)


def test_block_lists_are_checked(artifacts):
    m = aotc_runtime.load(artifacts("dp4"))
    x, w = _inputs(4)
    blocks = [x[ROWS * p:ROWS * (p + 1)] for p in range(4)]
    with pytest.raises(InputError, match=r"main\(\): argument x is sharded P\('x', None\) over "
                       r"the mesh\(x=4\): pass one global float32\[16, 3\] array or a list of 4 "
                       r"per-device blocks, not a list of 3"):
        m.main(blocks[:3], w)
    with pytest.raises(InputError, match=r"main\(\): argument x block 2 expects float32\[4, 3\], "
                       r"got float32\[3, 3\]"):
        m.main([*blocks[:2], blocks[2][:3], blocks[3]], w)
    with pytest.raises(InputError, match=r"argument x block 0 expects float32\[4, 3\], got "
                       r"float64\[4, 3\] \(convert with \.astype\(np\.float32\)\)"):
        m.main([blocks[0].astype(np.float64), *blocks[1:]], w)
    with pytest.raises(InputError, match=r"argument x expects float32\[16, 3\] sharded "
                       r"P\('x', None\), got float32\[12, 3\]"):
        m.main(x[:12], w)


def test_two_axis_mesh_splits_and_assembles_by_the_block_rule(artifacts):
    m = aotc_runtime.load(artifacts("grid"))
    a = np.arange(24, dtype=np.float32).reshape(4, 6)
    r, colsum = m.main(a)
    np.testing.assert_array_equal(r, a + 1)
    np.testing.assert_array_equal(colsum, a.sum(0))
    r_blocks, col_blocks = m.main.shards(a)
    for p in range(4):
        cx, cy = divmod(p, 2)  # row-major mesh position
        np.testing.assert_array_equal(r_blocks[p], a[2 * cx:2 * cx + 2, 3 * cy:3 * cy + 3] + 1)
        np.testing.assert_array_equal(col_blocks[p], a.sum(0)[3 * cy:3 * cy + 3])


def test_mesh_larger_than_the_available_devices_is_a_load_error(artifacts):
    path = artifacts("dp4")
    with pytest.raises(ArtifactError, match=r"dp4\.vmfb: this artifact runs on a mesh of 4 "
                       r"devices but only 2 were given; pass devices=4 \(or leave devices= out\) "
                       r"to create 4 'local-task' devices, or recompile it for a mesh of at most "
                       r"2 devices"):
        aotc_runtime.load(path, devices=2)
    with pytest.raises(ArtifactError, match=r"mesh of 4 devices but only 1 was given"):
        aotc_runtime.load(path, devices=["local-task"])
    with pytest.raises(ArtifactError, match=r"mesh of 4 devices; pass devices=\[\.\.\.\]"):
        aotc_runtime.load(path, device=rt.get_device("local-task"))
    with pytest.raises(ArtifactError, match=r"pass device= .* or devices= .*, not both"):
        aotc_runtime.load(path, device="local-task", devices=4)
    with pytest.raises(ArtifactError, match=r"devices= takes a device count or a list of "
                       r"devices, not str"):
        aotc_runtime.load(path, devices="local-task")


def test_devices_given_as_a_list_or_a_count(artifacts):
    driver = rt.get_driver("local-task")
    given = [driver.create_default_device() for _ in range(2)]
    x, w = _inputs(2, seed=3)
    m = aotc_runtime.load(artifacts("dp2"), devices=given)
    assert m.devices == given
    np.testing.assert_allclose(m.main(x, w)[0], 2 * x + w, rtol=1e-6)
    m.close()
    m = aotc_runtime.load(artifacts("dp2"), devices=["local-sync", "local-task", "local-task"])
    assert [repr(d) for d in m.devices] == ["local-sync", "local-task"]
    np.testing.assert_allclose(m.main(x, w)[1], x.sum(0), rtol=1e-5)
    m = aotc_runtime.load(artifacts("dp2"), devices=8)  # a count of at least 2: 2 are made
    assert len(m.devices) == 2
    np.testing.assert_allclose(m.main(x, w)[0], 2 * x + w, rtol=1e-6)


def test_signature_records_mesh_and_shardings(artifacts):
    info = aotc_runtime.inspect(artifacts("dp4"))
    assert info.device_count == 4
    sig = info.signature("main")
    assert sig.mesh == meshes.MeshSpec(("x",), (4,))
    assert sig.arg_leaves()[0][1].sharding == (("x",), ())
    assert repr(sig) == ("main(x: float32[16, 3] sharded P('x', None), w: float32[3]) -> "
                         "(float32[16, 3] sharded P('x', None), float32[3]) on mesh(x=4)")
    assert Signature(json.loads(sig.encode())).to_json() == data_parallel_signature(4)
    assert sig.placement() == ([0, 1, 2, 3, 0], [0, 1, 2, 3, 0])


@pytest.mark.parametrize("mesh, sharding, message", [
    ({"axes": ["x"], "shape": [0]}, [["x"], []], "malformed mesh"),
    ({"axes": ["x", "x"], "shape": [2, 2]}, [["x"], []], "malformed mesh"),
    ({"axes": ["x"], "shape": [4]}, [["y"], []], r"names axes \['y'\] that the mesh\(x=4\) lacks"),
    ({"axes": ["x"], "shape": [4]}, [["x"], ["x"]], "uses a mesh axis twice"),
    ({"axes": ["x"], "shape": [3]}, [["x"], []], r"dim 16 is not divisible into 3 blocks"),
    (None, [["x"], []], "has a sharding but the signature no mesh"),
    ({"axes": ["x"], "shape": [4]}, [["x"]], "malformed sharding"),
])
def test_malformed_shardings_are_artifact_errors(mesh, sharding, message):
    obj = data_parallel_signature(4)
    obj["mesh"] = mesh
    obj["args"][0]["tree"]["sharding"] = sharding
    with pytest.raises(ArtifactError, match=message):
        Signature(obj)


def test_signature_that_disagrees_with_the_compiled_placement_is_refused(tmp_path):
    """Two unsharded arguments (both on device 0, says the signature) where the program takes
    the blocks of devices 0 and 1."""
    wrong = {**data_parallel_signature(2), "args": [
        {"name": "x0", "tree": _array((ROWS, COLS))}, {"name": "x1", "tree": _array((ROWS, COLS))},
        {"name": "w", "tree": _array((COLS,))}]}
    path = export(data_parallel_text(2), wrong, "wrong").write(str(tmp_path / "w.vmfb"))[0]
    with pytest.raises(ArtifactError, match=r"function 'main' is sharded over the mesh\(x=2\), "
                       r"but its compiled arguments/results live on devices \[0, 1, 0\]/"
                       r"\[0, 1, 0\], not \[0, 0, 0\]/\[0, 1, 0\] as its signature says"):
        aotc_runtime.load(path)


def test_aotc_inspect_shows_the_mesh_and_shardings(artifacts, capsys):
    path = artifacts("grid")
    assert aotc_main(["inspect", path]) == 0
    out = capsys.readouterr().out
    assert "  devices  4 (mesh(x=2, y=2); device p runs mesh position p, row-major)" in out
    assert ("main(a: float32[4, 6] sharded P('x', 'y')) -> (float32[4, 6] sharded P('x', 'y'), "
            "float32[6] sharded P('y')) on mesh(x=2, y=2)") in out
    assert "  in  a  float32[4, 6] sharded P('x', 'y')\n" in out
    assert "  out 1  float32[6] sharded P('y')\n" in out
    assert aotc_main(["inspect", path, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["devices"] == 4 and info["functions"]["main"]["mesh"] == GRID_SIGNATURE["mesh"]


def _blocks_on_disk(folder, name, array, sharding, mesh) -> list[str]:
    paths = []
    for p, block in enumerate(meshes.split(array, sharding, mesh)):
        paths.append(str(folder / f"{name}{p}.npy"))
        np.save(paths[-1], np.ascontiguousarray(block))
    return paths


def test_iree_run_module_runs_a_sharded_artifact(artifacts, tmp_path):
    """IREE's own tool, one --device=local-task per mesh device, one --input per block."""
    a = np.arange(24, dtype=np.float32).reshape(4, 6) * 0.5
    mesh = meshes.MeshSpec(("x", "y"), (2, 2))
    inputs = _blocks_on_disk(tmp_path, "a", a, (("x",), ("y",)), mesh)
    outs = [str(tmp_path / f"out{i}.npy") for i in range(8)]
    done = subprocess.run([RUNNER, f"--module={artifacts('grid')}", "--function=main",
                           *["--device=local-task"] * 4, *[f"--input=@{f}" for f in inputs],
                           *[f"--output=@{f}" for f in outs]], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    blocks = [np.load(f) for f in outs]
    np.testing.assert_array_equal(meshes.assemble(blocks[:4], (("x",), ("y",)), (4, 6), mesh),
                                  a + 1)
    np.testing.assert_array_equal(meshes.assemble(blocks[4:], (("y",),), (6,), mesh), a.sum(0))


def test_bundle_run_sh_passes_one_device_flag_per_mesh_device(tmp_path):
    built = export(data_parallel_text(2), data_parallel_signature(2), "dp")
    description = describe(built, "dp", get_target("cpu"))
    assert description["devices"] == 2
    main = description["functions"]["main"]
    assert [(i["name"], i["shape"], i["device"]) for i in main["inputs"]] == [
        ("x.block0", [4, 3], 0), ("x.block1", [4, 3], 1), ("w", [3], 0)]
    assert [o["file"] for o in main["outputs"]] == ["main.0.block0.npy", "main.0.block1.npy",
                                                    "main.1.npy"]
    script = run_script(description)
    assert '--device=local-task --device=local-task \\' in script
    built.write(str(tmp_path / "dp.vmfb"))
    (tmp_path / "run.sh").write_text(script)
    x, w = _inputs(2, seed=5)
    inputs = [*_blocks_on_disk(tmp_path, "x", x, (("x",), ()), meshes.MeshSpec(("x",), (2,))),
              str(tmp_path / "w.npy")]
    np.save(inputs[-1], w)
    done = subprocess.run(["sh", str(tmp_path / "run.sh"), "main", *inputs], cwd=tmp_path,
                          env={**os.environ, "IREE_RUN_MODULE": RUNNER}, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    out = tmp_path / "out"
    np.testing.assert_allclose(np.load(out / "main.0.block0.npy"), 2 * x[:4] + w, rtol=1e-6)
    np.testing.assert_allclose(np.load(out / "main.0.block1.npy"), 2 * x[4:] + w, rtol=1e-6)
    np.testing.assert_allclose(np.load(out / "main.1.npy"), x.sum(0), rtol=1e-5)


def test_split_and_assemble_are_inverse_on_every_spec():
    """The block rule alone, on a 2x3 mesh: split then assemble gives the array back, and each
    block is where block_index says (first axis major)."""
    mesh = meshes.MeshSpec(("x", "y"), (2, 3))
    array = np.arange(12 * 6, dtype=np.int32).reshape(12, 6)
    for sharding in [((), ()), (("x",), ()), (("y",), ("x",)), (("x", "y"), ()),
                     (("y", "x"), ()), ((), ("x", "y"))]:
        blocks = meshes.split(array, sharding, mesh)
        shape = meshes.block_shape(array.shape, sharding, mesh)
        for p, block in enumerate(blocks):
            index = meshes.block_index(p, sharding, mesh)
            rows, cols = (slice(i * n, (i + 1) * n) for i, n in zip(index, shape))
            np.testing.assert_array_equal(block, array[rows, cols])
        np.testing.assert_array_equal(meshes.assemble(blocks, sharding, array.shape, mesh), array)
    assert meshes.block_index(4, (("x", "y"),), mesh) == (4,)  # x=1, y=1: 1 * 3 + 1
    assert meshes.block_index(4, (("y", "x"),), mesh) == (3,)  # y=1, x=1: 1 * 2 + 1
