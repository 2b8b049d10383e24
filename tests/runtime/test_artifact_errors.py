"""Bad artifacts raise ArtifactError, never crash or hang: missing, truncated, corrupt, foreign
and non-regular files, bytes given to load_bytes, and IREE's own errors.
(Thousands of random mutations: tests/runtime/test_fuzz.py.)"""

import contextlib
import os
import re
import signal
import socket
import zipfile

import numpy as np
import pytest
import runtime_reference as ref

import aotc
import aotc_runtime
from aotc_runtime import ArtifactError, artifact, weights


@pytest.fixture(scope="module")
def data(sample_artifact) -> bytes:
    with open(sample_artifact, "rb") as f:
        return f.read()


def load_data(tmp_path, blob: bytes, name="bad.vmfb"):
    path = tmp_path / name
    path.write_bytes(blob)
    return aotc_runtime.load(str(path))


def test_the_artifact_is_a_standard_zip_framed_vmfb_with_a_seal(data, sample_artifact):
    with zipfile.ZipFile(sample_artifact) as z:
        assert z.testzip() is None
        assert "module.fb" in z.namelist()
        assert z.comment.startswith(b"aotc-sha256:") and len(z.comment) == 76
    artifact.check(data, "sample.vmfb")


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ArtifactError, match="no such file"):
        aotc_runtime.load(str(tmp_path / "missing.vmfb"))
    with pytest.raises(ArtifactError, match="is a directory"):
        aotc_runtime.load(str(tmp_path))


@pytest.mark.parametrize("blob,words", [
    (b"", "empty file"),
    (b"def f(): pass\n" * 20, "not an IREE .vmfb"),
    (b"PK\x03\x04" + b"\0" * 300, "no 'IREE' flatbuffer identifier"),
])
def test_files_that_are_not_vmfbs(tmp_path, blob, words):
    with pytest.raises(ArtifactError, match=re.escape(words)):
        load_data(tmp_path, blob)


@pytest.mark.parametrize("keep", [10, 100, 0.5, -1, -64, -77])
def test_truncated_artifacts(tmp_path, data, keep):
    size = int(len(data) * keep) if isinstance(keep, float) else keep % len(data)
    with pytest.raises(ArtifactError, match=r"truncated|not an IREE|corrupt"):
        load_data(tmp_path, data[:size])


@pytest.mark.parametrize("where", [0.3, 0.6, 0.95, -70, -1])
def test_flipped_bytes_break_the_seal(tmp_path, data, where):
    blob = bytearray(data)
    i = int(len(blob) * where) if isinstance(where, float) else where
    blob[i] ^= 0x10
    with pytest.raises(ArtifactError, match=r"corrupt|not an aotc artifact"):
        load_data(tmp_path, bytes(blob))


@pytest.fixture(scope="module")
def plain_vmfb() -> bytes:
    """A .vmfb compiled by IREE without aotc's metadata or seal (what aotc.jit loads)."""
    from aotc.tools.compile import compile_stablehlo

    traced = aotc.lower(lambda x: x * 2.0, aotc.ShapeSpec((3,)), name="double")
    return compile_stablehlo(traced.text_with_locations())


def test_artifacts_not_made_by_aotc(tmp_path, plain_vmfb):
    with pytest.raises(ArtifactError, match="not an aotc artifact"):
        load_data(tmp_path, plain_vmfb)
    with pytest.raises(ArtifactError, match="no aotc metadata"):  # sealed, but no signature
        load_data(tmp_path, artifact.seal(plain_vmfb))
    with pytest.raises(ArtifactError, match=r"no aotc seal.*require_aotc=False"):
        aotc_runtime.load_bytes(plain_vmfb)  # the seal is checked by default, as by load()
    raw = aotc_runtime.load_bytes(plain_vmfb, require_aotc=False)  # the flat path of aotc.jit
    assert raw.functions == ["double"]
    np.testing.assert_array_equal(raw["double"](np.ones(3, np.float32))[0], [2, 2, 2])


def test_metadata_of_another_format_version_is_refused():
    reflection = {"aotc.format": "99", "aotc.version": "9.0", "aotc.target": "cpu",
                  "aotc.driver": "local-task", "aotc.signature": "{}"}
    with pytest.raises(ArtifactError, match=r"format 99.*reads format 1"):
        artifact.read_metadata(reflection, "f", "x.vmfb")
    reflection |= {"aotc.format": "1", "aotc.signature": "{not json"}
    with pytest.raises(ArtifactError, match="unreadable signature"):
        artifact.read_metadata(reflection, "f", "x.vmfb")


def test_load_bytes_checks_the_seal_by_default(data):
    blob = bytearray(data)
    blob[-10] ^= 0x01  # one digit of the seal, in the ZIP comment that IREE ignores
    with pytest.raises(ArtifactError, match="SHA-256 does not match"):
        aotc_runtime.load_bytes(bytes(blob))
    blob = bytearray(data)
    blob[len(blob) // 2] ^= 0x01  # one bit of the module
    with pytest.raises(ArtifactError, match="SHA-256 does not match"):
        aotc_runtime.load_bytes(bytes(blob))
    x = ref.batch(2)
    m = aotc_runtime.load_bytes(data)
    np.testing.assert_allclose(m.predict(ref.PARAMS, x), ref.predict(ref.PARAMS, x), rtol=1e-5,
                               atol=1e-6)


@contextlib.contextmanager
def no_hang(seconds: float = 5.0):
    """TimeoutError instead of a test that blocks forever (on today's code, say)."""

    def expire(signum, frame):
        raise TimeoutError(f"blocked for more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def special_files(tmp_path):
    """name -> (path of a non-regular file, the words an error must use for it)."""
    fifo = tmp_path / "pipe.vmfb"
    os.mkfifo(fifo)
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(tmp_path / "sock.vmfb"))
    yield {"fifo": (str(fifo), "FIFO"), "socket": (str(tmp_path / "sock.vmfb"), "socket"),
           "device": ("/dev/null", "character device"), "directory": (str(tmp_path), "directory")}
    server.close()


@pytest.mark.parametrize("kind", ["fifo", "socket", "device", "directory"])
def test_non_regular_artifact_paths_are_refused_without_blocking(special_files, kind):
    path, words = special_files[kind]
    with no_hang(), pytest.raises(ArtifactError, match=f"is a {words}.*not an artifact"):
        aotc_runtime.load(path)
    with no_hang(), pytest.raises(ArtifactError, match=words):
        aotc_runtime.inspect(path)


@pytest.mark.parametrize("kind", ["fifo", "device", "directory"])
def test_non_regular_weights_paths_are_refused_without_blocking(special_files, kind,
                                                               weights_artifact):
    path, words = special_files[kind]
    with no_hang(), pytest.raises(aotc_runtime.WeightsError, match=f"weights {path}: is a {words}"):
        aotc_runtime.load(weights_artifact[0], weights=path)


def test_errors_of_iree_and_its_binding_become_artifact_errors(plain_vmfb, sample_artifact):
    # The function-name table of a plain module, made invalid UTF-8: nanobind raises
    # RuntimeError("str_from_cstr_and_size(): conversion error!") when it is read.
    broken = plain_vmfb.replace(b"double", b"\xff\xfeuble", 1)
    with pytest.raises(ArtifactError, match="not a loadable IREE module"):
        aotc_runtime.load_bytes(broken, require_aotc=False)
    with pytest.raises(ArtifactError, match="not a loadable IREE module"):
        aotc_runtime.load_bytes(artifact.seal(broken))  # sealed, so only IREE can object
    with pytest.raises(ArtifactError, match="device must be an IREE device name"):
        aotc_runtime.load(sample_artifact, device=123)
    with pytest.raises(ArtifactError, match="load_bytes\\(\\) needs bytes"):
        aotc_runtime.load_bytes(3.5)
    with pytest.raises(ArtifactError, match="malformed weights metadata"):
        weights.needed({"f": {"weights": {"params/w": {"shape": [4, 3]}}}}, "x.vmfb")


def test_flat_calls_take_big_endian_arrays_and_name_unusable_dtypes(plain_vmfb):
    raw = aotc_runtime.load_bytes(plain_vmfb, require_aotc=False)
    big_endian = np.array([1, 2, 3], dtype=">f4")
    np.testing.assert_array_equal(raw["double"](big_endian)[0], [2, 4, 6])
    with pytest.raises(aotc_runtime.InputError, match="dtype IREE cannot take"):
        raw["double"](np.array(["a", "b", "c"]))
