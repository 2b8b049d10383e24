"""Bad artifacts raise ArtifactError, never crash: missing, truncated, corrupt, foreign files."""

import json
import os
import random
import re
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import aotc
import aotc_runtime
from aotc_runtime import ArtifactError, artifact


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
    raw = aotc_runtime.load_bytes(plain_vmfb)  # the flat path aotc.jit uses still works
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


# ---- fuzzing: 200 mutations, each loaded in its own forked process --------------------------

FUZZ_CHILD = r"""
import json, os, sys
import numpy as np
import aotc_runtime

paths, expected_path = json.loads(sys.argv[1]), sys.argv[2]
expected = np.load(expected_path)
params = {"w": expected["w"], "b": expected["b"]}
status = {}
for path in paths:
    pid = os.fork()
    if pid == 0:
        code = 5
        try:
            m = aotc_runtime.load(path)
            out = m.predict(params, expected["x"])
            code = 0 if np.allclose(out, expected["y"], rtol=1e-5, atol=1e-6) else 4
        except aotc_runtime.AotcError:
            code = 3
        except BaseException:
            code = 5
        os._exit(code)
    _, wait_status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(wait_status):
        status[path] = f"signal {os.WTERMSIG(wait_status)}"
    else:
        status[path] = {0: "correct", 3: "clean error", 4: "WRONG RESULT"}.get(
            os.WEXITSTATUS(wait_status), f"exit {os.WEXITSTATUS(wait_status)}")
print(json.dumps(status))
"""


def mutate(data: bytes, rng: random.Random) -> bytes:
    kind = rng.choice(["truncate", "flip", "flip", "invert_run", "append", "seal_region"])
    blob = bytearray(data)
    if kind == "truncate":
        return bytes(blob[:rng.randrange(len(blob))])
    if kind == "append":
        return bytes(blob) + rng.randbytes(rng.randint(1, 64))
    if kind == "invert_run":
        start, n = rng.randrange(len(blob) - 16), rng.randint(1, 16)
        blob[start:start + n] = bytes(b ^ 0xFF for b in blob[start:start + n])
        return bytes(blob)
    for _ in range(rng.randint(1, 8)):
        i = rng.randrange(len(blob) - 80, len(blob)) if kind == "seal_region" else \
            rng.randrange(len(blob))
        blob[i] ^= rng.randrange(1, 256)
    return bytes(blob)


@pytest.mark.slow
def test_200_mutated_artifacts_end_cleanly_in_separate_processes(tmp_path, data):
    import runtime_reference as ref

    rng = random.Random(1234)
    paths = []
    for i in range(200):
        path = tmp_path / f"mutant{i:03d}.vmfb"
        path.write_bytes(mutate(data, rng))
        paths.append(str(path))
    x = ref.batch(3)
    expected = str(tmp_path / "expected.npz")
    np.savez(expected, x=x, y=ref.predict(ref.PARAMS, x), **ref.PARAMS)
    batches = [paths[i:i + 10] for i in range(0, 200, 10)]

    def run(batch):
        proc = subprocess.run([sys.executable, "-c", FUZZ_CHILD, json.dumps(batch), expected],
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout.strip().splitlines()[-1])

    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        status = {k: v for result in pool.map(run, batches) for k, v in result.items()}
    assert len(status) == 200
    bad = {os.path.basename(p): s for p, s in status.items() if s not in ("correct",
                                                                             "clean error")}
    assert bad == {}
    assert sum(s == "clean error" for s in status.values()) >= 190  # mutations really differ
