"""aotc_runtime.distributed with real MPI ranks (`mpiexec -n 2`, Open MPI from the venv).

The collectives are checked against numpy on every rank's recomputed inputs
(tests/runtime/mpi_collectives.py); the data-parallel digits training on 2 ranks against one
process on the whole batch with models/mlp.py's train_step, a separately compiled program.
"""

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from aotc_runtime import InputError, distributed

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
WORKER = os.path.join(HERE, "mpi_collectives.py")
TRAIN_SCRIPT = os.path.join(ROOT, "models", "train_digits_mpi.py")
STEPS = 25
TOLERANCE = 1e-5  # numpy allclose: |mpi - single| <= 1e-5 + 1e-5 * |single|, every element

needs_mpi = pytest.mark.skipif(
    importlib.util.find_spec("mpi4py") is None,
    reason="mpi4py is not installed: pip install aotc-runtime[mpi] (the test extra has it)")


def _load(path: str, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _mpiexec(n: int, argv: list[str], timeout: float = 180) -> subprocess.CompletedProcess:
    command = distributed.mpiexec_command(n, argv)
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=ROOT)


worker = _load(WORKER, "mpi_collectives")


# ---- without MPI ----
def test_shard_batch_gives_each_rank_its_contiguous_slice():
    x, y = np.arange(24.0).reshape(12, 2), np.arange(12)
    parts = [distributed.shard_batch((x, y), rank, 3) for rank in range(3)]
    np.testing.assert_array_equal(np.concatenate([p[0] for p in parts]), x)
    np.testing.assert_array_equal(parts[1][1], [4, 5, 6, 7])
    assert isinstance(parts[0], tuple)
    tree = distributed.shard_batch({"x": x, "y": [y]}, 1, 2)
    np.testing.assert_array_equal(tree["y"][0], y[6:])


def test_a_rank_count_that_does_not_divide_the_batch_is_an_error():
    with pytest.raises(InputError) as info:
        distributed.shard_batch(np.zeros((64, 8)), 0, 3)
    message = str(info.value)
    assert "64 examples" in message and "3 MPI ranks" in message
    assert "multiple of 3 (e.g. 63 or 66)" in message and "mpiexec -n one of [2, 4, 8" in message


def test_shard_batch_rejects_mismatched_arrays_scalars_and_bad_ranks():
    with pytest.raises(InputError, match="different leading"):
        distributed.shard_batch((np.zeros(4), np.zeros(6)), 0, 2)
    with pytest.raises(InputError, match="scalar"):
        distributed.shard_batch({"x": np.zeros(4), "n": np.float32(1)}, 0, 2)
    with pytest.raises(InputError, match=r"outside 0\.\.1"):
        distributed.shard_batch(np.zeros(4), 2, 2)


@needs_mpi
def test_mpiexec_command_is_the_venvs_with_the_flags_this_machine_needs():
    command = distributed.mpiexec_command(2, ["python", "x.py"])
    beside = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    if os.access(beside, os.X_OK):
        assert command[0] == beside
    assert command[1:3] == ["-n", "2"] and command[-2:] == ["python", "x.py"]
    assert ("--allow-run-as-root" in command) == (os.geteuid() == 0)
    many = distributed.mpiexec_command(os.cpu_count() + 1, ["a"])
    assert "--oversubscribe" in many
    cluster = distributed.mpiexec_command(64, ["a"], hostfile="hosts")
    assert "--oversubscribe" not in cluster and cluster[3:5] == ["--hostfile", "hosts"]
    with pytest.raises(InputError, match="at least 1"):
        distributed.mpiexec_command(0, ["a"])


def test_without_mpi4py_init_names_the_install_command_and_import_needs_none():
    code = ("import json, sys; sys.modules['mpi4py'] = None\n"
            "import aotc_runtime, aotc_runtime.distributed as d\n"
            "imported = 'mpi4py.MPI' in sys.modules\n"
            "try:\n    d.init(); error = None\n"
            "except aotc_runtime.AotcError as exc:\n    error = [type(exc).__name__, str(exc)]\n"
            "print(json.dumps([imported, error]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    imported, (kind, message) = json.loads(out)
    assert not imported
    assert kind == "MPIUnavailableError" and "pip install aotc-runtime[mpi]" in message


# ---- real ranks ----
@pytest.fixture(scope="module")
def collectives(tmp_path_factory) -> list[dict]:
    """Each of 2 ranks' results of tests/runtime/mpi_collectives.py."""
    folder = tmp_path_factory.mktemp("mpi_collectives")
    run = _mpiexec(2, [sys.executable, WORKER, str(folder)])
    assert run.returncode == 0, run.stdout + run.stderr
    return [dict(np.load(folder / f"rank{r}.npz")) for r in range(2)]


def _expected(op: str, trees: list[dict]) -> dict:
    reduce = {"sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min}[op]
    flats = [worker.flat(t) for t in trees]
    return {k: reduce(np.stack([f[k] for f in flats]), axis=0) for k in flats[0]}


@needs_mpi
@pytest.mark.parametrize("op", ["sum", "max", "min"])
def test_allreduce_of_many_mixed_dtype_arrays_matches_numpy(collectives, op):
    trees = [worker.rank_arrays(r, complex_arrays=op == "sum") for r in range(2)]
    expected, inputs = _expected(op, trees), worker.flat(trees[0])
    for rank, results in enumerate(collectives):
        for key, want in expected.items():
            got = results[f"{op}/{key}"]
            assert got.dtype == inputs[key].dtype, (rank, key)  # reduced in place
            rtol = 1e-3 if got.dtype == np.float16 else 1e-6
            np.testing.assert_allclose(got, want.astype(got.dtype), rtol=rtol,
                                       err_msg=f"rank {rank} {op} {key}")


@needs_mpi
def test_allreduce_mean_and_the_default_world(collectives):
    expected = _expected("mean", [worker.float_arrays(r) for r in range(2)])
    for results in collectives:
        for key, want in expected.items():
            np.testing.assert_allclose(results[f"mean/{key}"], want, rtol=1e-6)
        np.testing.assert_array_equal(results["default/a"], [3.0, 3.0, 3.0])
        assert int(results["world_size"]) == 2
        assert str(results["library"]).startswith("Open MPI")  # mpi4py found Open MPI


@needs_mpi
def test_bucketing_packs_many_small_arrays_into_few_allreduce_calls(collectives):
    leaves = list(worker.flat(worker.rank_arrays(0)).values())
    alone = [a for a in leaves if a.nbytes >= worker.SMALL_BUCKET]
    small = [a for a in leaves if a.nbytes < worker.SMALL_BUCKET]
    usable = worker.SMALL_BUCKET - max(a.nbytes for a in small)  # greedy packing's worst case
    by_dtype: dict = {}
    for a in small:
        by_dtype[a.dtype] = by_dtype.get(a.dtype, 0) + a.nbytes
    least = len(by_dtype) + len(alone)
    most = sum(-(-nbytes // usable) for nbytes in by_dtype.values()) + len(alone)
    assert len(alone) == 2
    for results in collectives:
        calls = int(results["calls/sum"])
        assert least <= calls <= most < len(leaves) // 10, (calls, least, most)
        assert int(results["calls/bcast"]) == calls


@needs_mpi
def test_broadcast_overwrites_every_rank_with_the_roots_arrays(collectives):
    root = worker.flat(worker.rank_arrays(1))
    for results in collectives:
        for key, want in root.items():
            np.testing.assert_array_equal(results[f"bcast/{key}"], want)


@needs_mpi
@pytest.mark.parametrize("case, words", [
    ("mismatch", ["pass different arrays", "shape (3,)", "shape (4,)"]),
    ("mean_of_ints", ["array['n']", "op='mean'", "int64"]),
    ("read_only", ["read-only", "np.array(value)"]),
    ("not_array", ["is a float", "np.asarray"]),
    ("bool", ["dtype bool"]),
    ("complex_max", ["op='max'", "complex64"]),
    ("unknown_op", ["'prod'", "sum, mean, max, min"]),
])
def test_bad_collective_inputs_raise_clear_errors_on_every_rank(collectives, case, words):
    for results in collectives:
        message = str(results[f"error/{case}"])
        assert all(w in message for w in words), message


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """(folder, the 2-rank run, the single-process reference parameters).

    The reference is models/mlp.py's train_step (digits sizes, batch 64), compiled here into
    the folder where the script's --check also finds it, run on the same global batches."""
    import aotc_runtime

    folder = tmp_path_factory.mktemp("mpi_digits")
    script = _load(TRAIN_SCRIPT, "train_digits_mpi")
    train_digits = script._train_digits()
    reference_artifact = train_digits.compile_artifact(str(folder / "digits.vmfb"), script.SIZES)
    run = _mpiexec(2, [sys.executable, TRAIN_SCRIPT, "--steps", str(STEPS), "--check",
                       "--artifact", str(folder / "digits_mpi.vmfb"),
                       "--save", str(folder / "params.npz")])
    module = aotc_runtime.load(reference_artifact)
    mlp = train_digits.load_mlp()
    start = mlp.init_params(0, script.SIZES)
    params, opt_state = start, mlp.init_opt_state(0.2)
    x_train, _, y_train, _ = train_digits.load_data(0)
    for xb, yb in script.global_batches(x_train, y_train, 64, STEPS, 0):
        params, opt_state, _ = module.train_step(params, opt_state, xb, yb)
    return folder, run, start, params


@needs_mpi
def test_two_ranks_train_to_the_single_process_parameters(digits):
    folder, run, start, reference = digits
    assert run.returncode == 0, run.stdout + run.stderr
    assert "2 ranks x 32 examples" in run.stdout and "ranks agree within 0.0e+00" in run.stdout
    assert "allclose(rtol=atol=1e-05) holds" in run.stdout
    trained = np.load(folder / "params.npz")
    assert sorted(trained) == sorted(reference)
    for key, want in reference.items():
        assert np.max(np.abs(want - start[key])) > 1e-3  # training moved every parameter
        np.testing.assert_allclose(trained[key], want, rtol=TOLERANCE, atol=TOLERANCE,
                                   err_msg=key)


@needs_mpi
def test_a_three_rank_run_with_a_batch_of_64_stops_with_the_rank_count_error(tmp_path):
    run = _mpiexec(3, [sys.executable, TRAIN_SCRIPT, "--steps", "1",
                       "--artifact", str(tmp_path / "never.vmfb")])
    assert run.returncode != 0
    assert run.stderr.count("a global batch of 64 examples does not split evenly over 3 MPI "
                            "ranks") == 1, run.stderr  # said once, by rank 0
    assert not (tmp_path / "never.vmfb").exists()


@needs_mpi
def test_data_parallel_names_the_missing_functions(digits):
    import aotc_runtime

    module = aotc_runtime.load(str(digits[0] / "digits_mpi.vmfb"))
    with pytest.raises(InputError, match=r"does not export \['gradient'\]"):
        distributed.DataParallel(module, world=object(), grad="gradient")


@needs_mpi
def test_a_rank_loads_artifacts_before_starting_mpi(digits):
    """IREE starts an MPI of its own when it creates a device under mpiexec; the runtime hides
    the launcher's variables from it, so loading before distributed.init() works too."""
    program = ("import sys, aotc_runtime\n"
               "from aotc_runtime import distributed\n"
               "m = aotc_runtime.load(sys.argv[1])\n"
               "world = distributed.init()\n"
               "print('rank', world.rank, 'of', world.size, sorted(m.functions))\n")
    run = _mpiexec(2, [sys.executable, "-c", program, str(digits[0] / "digits_mpi.vmfb")])
    assert run.returncode == 0, run.stderr
    assert sorted(run.stdout.split("\n")[:2]) == [
        "rank 0 of 2 ['grad', 'logits', 'update']", "rank 1 of 2 ['grad', 'logits', 'update']"]
