"""Weights files (.irpa) at load: every corrupt file is a WeightsError, every entry's dtype and
shape are checked, and an artifact's recorded SHA-256 catches changed values."""

import hashlib
import os
import shutil

import iree.runtime as rt
import numpy as np
import pytest
from weights_model import WEIGHTS, reference

import aotc_runtime
from aotc_runtime import WeightsError
from aotc_runtime.weights import file_digest

X = np.random.default_rng(3).standard_normal((5, 4)).astype(np.float32)


def check_result(m, weights=WEIGHTS):
    np.testing.assert_allclose(m.affine(X), reference(weights, X), rtol=1e-5, atol=1e-5)


@pytest.fixture(scope="module")
def irpa_bytes(weights_artifact) -> bytes:
    with open(weights_artifact[1], "rb") as f:
        return f.read()


def test_the_weights_beside_the_artifact_load_checked_by_their_digest(weights_artifact):
    m = aotc_runtime.load(weights_artifact[0])
    assert m.weights_path == weights_artifact[1]
    assert m.weights_digest == file_digest(weights_artifact[1])  # recorded by aotc compile
    check_result(m)


def data_end(irpa: str) -> int:
    """Where the last entry's bytes end (the file may go on with padding)."""
    index = rt.ParameterIndex()
    index.load(irpa)
    return max(e.file_storage[1] + e.length for _, e in index.items())


@pytest.mark.parametrize("keep", [0, 7, 40, 100, 200, "half", "last byte"])
def test_truncated_weights_are_weights_errors(tmp_path, weights_artifact, irpa_bytes, keep):
    end = data_end(weights_artifact[1])
    size = {"half": end // 2, "last byte": end - 1}.get(keep, keep)
    path = tmp_path / "cut.irpa"
    path.write_bytes(irpa_bytes[:size])
    with pytest.raises(WeightsError, match=r"weights .*cut\.irpa"):
        aotc_runtime.load(weights_artifact[0], weights=path)


def write_without_metadata(path, arrays: dict) -> None:
    """An .irpa as iree-create-parameters or rt.save_archive_file write it: raw bytes only."""
    index = rt.ParameterIndex()
    for key, array in arrays.items():
        index.add_buffer(key, np.ascontiguousarray(array).tobytes())
    index.create_archive_file(str(path))


def test_entries_without_dtype_and_shape_metadata_are_refused(tmp_path, weights_artifact):
    # float16 values of twice as many elements: the same byte length as float32[4, 3]
    impostor = {"params/w": np.ones(24, np.float16), "params/b": np.ones(6, np.float16)}
    write_without_metadata(tmp_path / "raw.irpa", impostor)
    with pytest.raises(WeightsError) as err:
        aotc_runtime.load(weights_artifact[0], weights=tmp_path / "raw.irpa")
    for words in ("entry 'params/w' has no dtype/shape metadata", "entry 'params/b'",
                  "aotc_runtime.save_weights"):
        assert words in str(err.value)
    write_without_metadata(tmp_path / "raw32.irpa", {f"params/{k}": v for k, v in
                                                     WEIGHTS.items()})
    with pytest.raises(WeightsError, match="no dtype/shape metadata"):  # even the right bytes
        aotc_runtime.load(weights_artifact[0], weights=tmp_path / "raw32.irpa")


def test_entries_are_checked_by_name_shape_and_dtype(tmp_path, weights_artifact):
    cases = {
        "dtype": ({"params": {"w": WEIGHTS["w"].astype(np.float16), "b": WEIGHTS["b"]}},
                  "entry 'params/w' has dtype float16[4, 3], expected float32[4, 3]"),
        "shape": ({"params": {"w": WEIGHTS["w"].T.copy(), "b": WEIGHTS["b"]}},
                  "entry 'params/w' has shape float32[3, 4], expected float32[4, 3]"),
        "name": ({"params": {"w": WEIGHTS["w"]}}, "no entry 'params/b' (float32[3])"),
    }
    for name, (tree, words) in cases.items():
        path = aotc_runtime.save_weights(tmp_path / f"{name}.irpa", tree)
        with pytest.raises(WeightsError) as err:
            aotc_runtime.load(weights_artifact[0], weights=path)
        assert words in str(err.value), (name, str(err.value))


def test_save_weights_returns_the_sha256_of_the_file_it_wrote(tmp_path):
    path, digest = aotc_runtime.save_weights(tmp_path / "w.irpa", {"params": WEIGHTS},
                                             digest=True)
    assert path == str(tmp_path / "w.irpa")
    assert digest == hashlib.sha256((tmp_path / "w.irpa").read_bytes()).hexdigest()
    assert file_digest(path) == digest == aotc_runtime.file_digest(path)
    assert aotc_runtime.save_weights(tmp_path / "v.irpa", {"params": WEIGHTS}) == str(
        tmp_path / "v.irpa")


def changed_copy(irpa: str, folder) -> str:
    """The .irpa with one weight changed in place: same size, same names, shapes, dtypes."""
    data = bytearray(open(irpa, "rb").read())
    index = rt.ParameterIndex()
    index.load(irpa)
    offset = dict(index.items())["params/b"].file_storage[1]
    data[offset:offset + 4] = np.float32(42.0).tobytes()
    path = os.path.join(folder, os.path.basename(irpa))
    with open(path, "wb") as f:
        f.write(data)
    return path


def test_the_recorded_digest_catches_changed_values(digest_artifact, tmp_path):
    vmfb, irpa, digest = digest_artifact
    m = aotc_runtime.load(vmfb)
    assert m.weights_digest == digest and aotc_runtime.inspect(vmfb).weights_digest == digest
    check_result(m)
    shutil.copy(vmfb, tmp_path)
    changed_copy(irpa, tmp_path)  # beside the copy of the artifact, under the same name
    with pytest.raises(WeightsError, match=r"SHA-256 .* does not match the digest"):
        aotc_runtime.load(tmp_path / os.path.basename(vmfb))


def test_explicit_weights_skip_the_recorded_digest_unless_one_is_given(digest_artifact,
                                                                       tmp_path):
    vmfb, irpa, digest = digest_artifact
    changed = changed_copy(irpa, tmp_path)
    m = aotc_runtime.load(vmfb, weights=changed)  # other weights, on purpose
    new = {"w": WEIGHTS["w"], "b": WEIGHTS["b"].copy()}
    new["b"][0] = 42.0
    check_result(m, new)
    with pytest.raises(WeightsError, match="does not match the digest"):
        aotc_runtime.load(vmfb, weights=changed, weights_digest=digest)
    with pytest.raises(WeightsError, match="does not match the digest"):
        aotc_runtime.load_bytes(open(vmfb, "rb").read(), weights=changed, weights_digest=digest)
    check_result(aotc_runtime.load(vmfb, weights=irpa, weights_digest=digest))
