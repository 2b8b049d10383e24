"""Fuzzing the loader: random mutations of a real artifact (through `load` and `load_bytes`)
and of a real weights file (.irpa) must each end in a clean AotcError or in the unmutated
result: never a crash, a hang, a wrong result or another exception.

Each attempt runs in a forked child (os.fork of this process: no interpreter start-up) on the
`local-sync` device. A child runs a chunk of attempts and reports one outcome byte per attempt
through a pipe; when it dies or stops reporting, the attempt it was on is a crash or a hang and
a new child takes the rest of the chunk. The seed is fixed; AOTC_FUZZ_SCALE (default 1)
multiplies the counts (`make fuzz` runs 10x).
"""

import collections
import faulthandler
import os
import random
import select
import signal
import struct
import sys

import iree.runtime as rt
import numpy as np
import pytest
import runtime_reference as ref
from weights_model import WEIGHTS

import aotc_runtime

SCALE = max(1, int(os.environ.get("AOTC_FUZZ_SCALE", "1")))
N_ARTIFACT = 1000 * SCALE  # each through load() and load_bytes()
N_WEIGHTS = 300 * SCALE  # each through load() (recorded digest) and load_bytes(weights_digest=)
CHUNK = 250  # attempts per forked child
HANG_SECONDS = 20.0  # no outcome for this long: the attempt hangs
DEVICE = "local-sync"
X = ref.batch(3)
OUTCOMES = {b"E": "clean error", b"C": "correct", b"W": "wrong", b"U": "unclean error"}
FAILURES = ("crash", "hang", "wrong", "unclean error")


# ---- mutations -------------------------------------------------------------------------------

def _flip_bits(blob: bytearray, rng: random.Random, lo: int = 0) -> None:
    for _ in range(rng.randint(1, 8)):
        i = rng.randrange(lo, len(blob))
        blob[i] ^= 1 << rng.randrange(8)


def _overwrite(blob: bytearray, rng: random.Random, lo: int = 0) -> None:
    start = rng.randrange(lo, len(blob))
    n = min(rng.randint(1, 16), len(blob) - start)
    blob[start:start + n] = rng.randbytes(n)


def _tamper_comment(blob: bytearray, rng: random.Random) -> bytearray:
    """Change the ZIP comment that holds the seal (`aotc-sha256:<64 hex>`) or its length."""
    comment = len(blob) - 76
    choice = rng.randrange(5)
    if choice == 0:  # another hex digit
        i = len(blob) - rng.randint(1, 64)
        blob[i] = ord(rng.choice("0123456789abcdef".replace(chr(blob[i]), "")))
    elif choice == 1:  # the prefix
        i = comment + rng.randrange(12)
        blob[i] = (blob[i] + rng.randrange(1, 256)) % 256
    elif choice == 2:  # the comment-length field of the end-of-central-directory record
        struct.pack_into("<H", blob, comment - 2, rng.choice([0, 75, 77, 0xFFFF,
                                                              rng.randrange(1 << 16) | 0x100]))
    elif choice == 3:  # no comment, or a shorter one
        cut = rng.randint(1, 76)
        del blob[-cut:]
        struct.pack_into("<H", blob, comment - 2, 76 - cut)
    else:  # a longer comment
        blob += rng.randbytes(rng.randint(1, 40))
        struct.pack_into("<H", blob, comment - 2, len(blob) - comment)
    return blob


def mutate(data: bytes, rng: random.Random, header: int = 0) -> tuple[str, bytes]:
    """(kind, a mutation of data): bit flips, byte overwrites, truncation, appended junk, or
    (header > 0) changes inside the first header bytes, or (header == 0) ZIP-comment tampering."""
    kinds = ["flip", "flip", "overwrite", "truncate", "append", "header" if header else "seal"]
    kind = rng.choice(kinds)
    blob = bytearray(data)
    if kind == "flip":
        _flip_bits(blob, rng)
    elif kind == "overwrite":
        _overwrite(blob, rng)
    elif kind == "truncate":
        del blob[rng.randrange(len(blob)):]
    elif kind == "append":
        blob += rng.randbytes(rng.randint(1, 64))
    elif kind == "header":
        blob[:header] = _mutated_prefix(data[:header], rng)
    else:
        blob = _tamper_comment(blob, rng)
    return kind, bytes(blob)


def _mutated_prefix(prefix: bytes, rng: random.Random) -> bytes:
    blob = bytearray(prefix)
    (_flip_bits if rng.random() < 0.5 else _overwrite)(blob, rng)
    return bytes(blob)


# ---- forked runner ---------------------------------------------------------------------------

def run_forked(attempt, n: int) -> list[str]:
    """Outcome of attempt(i) for i in range(n), each in a forked child (chunks of CHUNK)."""
    outcomes: list[str] = []
    while len(outcomes) < n:
        start = len(outcomes)
        outcomes.extend(_run_chunk(attempt, start, min(n, start + CHUNK - start % CHUNK)))
    return outcomes


def _run_chunk(attempt, start: int, stop: int) -> list[str]:
    """Outcomes of attempts start.. until stop, or until the one that crashed or hung."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        faulthandler.disable()  # a crash is an outcome here, not a traceback to print
        try:
            for i in range(start, stop):
                os.write(write_end, _outcome_byte(attempt, i))
        finally:
            os._exit(0)
    os.close(write_end)
    outcomes: list[str] = []
    try:
        while start + len(outcomes) < stop:
            ready, _, _ = select.select([read_end], [], [], HANG_SECONDS)
            if not ready:
                os.kill(pid, signal.SIGKILL)
                return [*outcomes, "hang"]
            got = os.read(read_end, stop - start - len(outcomes))
            if not got:  # the child died on the attempt it was on
                return [*outcomes, "crash"]
            outcomes.extend(OUTCOMES[bytes([b])] for b in got)
        return outcomes
    finally:
        os.close(read_end)
        os.waitpid(pid, 0)


def _outcome_byte(attempt, i: int) -> bytes:
    try:
        return b"C" if attempt(i) else b"W"
    except aotc_runtime.AotcError:
        return b"E"
    except Exception:  # noqa: BLE001 (an error outside aotc's hierarchy: a failure here)
        return b"U"


def report(title: str, outcomes: list[str], kinds: list[str]) -> str:
    counts = collections.Counter(outcomes)
    failed = collections.Counter(k for k, o in zip(kinds, outcomes) if o in FAILURES)
    line = (f"{title}: {len(outcomes)} attempts: "
            + ", ".join(f"{name} {counts[name]}" for name in
                        ("clean error", "correct", "crash", "hang", "wrong", "unclean error")))
    if failed:
        line += f"; failures by mutation kind: {dict(failed)}"
    print(f"\n{line}")
    return line


# ---- the artifact -----------------------------------------------------------------------------

def test_mutated_artifacts_end_in_clean_errors_or_correct_results(sample_artifact, tmp_path):
    with open(sample_artifact, "rb") as f:
        data = f.read()
    expected = aotc_runtime.load(sample_artifact, device=DEVICE).predict(ref.PARAMS, X)
    rng = random.Random(20240601)
    mutations = [mutate(data, rng) for _ in range(N_ARTIFACT)]
    kinds = [kind for kind, _ in mutations for _ in range(2)]

    def attempt(i: int) -> bool:
        blob = mutations[i // 2][1]
        if i % 2 == 0:
            path = tmp_path / f"mutant-{os.getpid()}.vmfb"
            path.write_bytes(blob)
            m = aotc_runtime.load(path, device=DEVICE)
        else:
            m = aotc_runtime.load_bytes(blob, device=DEVICE)
        try:
            return np.array_equal(m.predict(ref.PARAMS, X), expected)
        finally:
            m.close()

    outcomes = run_forked(attempt, 2 * N_ARTIFACT)
    line = report("artifact mutations through load and load_bytes", outcomes, kinds)
    assert not any(o in FAILURES for o in outcomes), line
    assert outcomes.count("clean error") >= 0.95 * len(outcomes), line  # mutations do differ


# ---- the weights file -------------------------------------------------------------------------

def test_mutated_weights_end_in_clean_errors_or_correct_results(weights_artifact, tmp_path):
    vmfb, irpa = weights_artifact
    with open(irpa, "rb") as f:
        data = f.read()
    with open(vmfb, "rb") as f:
        code = f.read()
    digest = aotc_runtime.inspect(vmfb).weights_digest
    assert digest == aotc_runtime.file_digest(irpa), "the artifact must record its digest"
    x = X.astype(np.float32)
    expected = aotc_runtime.load(vmfb, device=DEVICE).affine(x)
    np.testing.assert_allclose(expected, x @ WEIGHTS["w"] + WEIGHTS["b"], rtol=1e-5)
    rng = random.Random(20240602)
    mutations = [mutate(data, rng, header=0x60) for _ in range(N_WEIGHTS)]
    kinds = [kind for kind, _ in mutations for _ in range(2)]

    def attempt(i: int) -> bool:
        folder = tmp_path / f"child-{os.getpid()}"
        if not folder.exists():
            folder.mkdir()
            (folder / "w.vmfb").write_bytes(code)
        (folder / "w.irpa").write_bytes(mutations[i // 2][1])
        if i % 2 == 0:  # the weights beside the artifact, checked against its recorded digest
            m = aotc_runtime.load(folder / "w.vmfb", device=DEVICE)
        else:
            m = aotc_runtime.load_bytes(code, device=DEVICE, weights=folder / "w.irpa",
                                        weights_digest=digest)
        try:
            return np.array_equal(m.affine(x), expected)
        finally:
            m.close()

    outcomes = run_forked(attempt, 2 * N_WEIGHTS)
    line = report("weights (.irpa) mutations through load and load_bytes", outcomes, kinds)
    assert not any(o in FAILURES for o in outcomes), line
    assert outcomes.count("clean error") >= 0.9 * len(outcomes), line



def weights_in_file(path) -> dict[str, np.ndarray]:
    """The arrays an .irpa holds, read with numpy at the offsets IREE's index gives."""
    index = rt.ParameterIndex()
    index.load(str(path))
    with open(path, "rb") as f:
        data = f.read()
    out = {}
    for key, entry in index.items():
        name, offset = key.removeprefix("params/"), entry.file_storage[1]
        out[name] = np.frombuffer(data[offset:offset + entry.length], np.float32).reshape(
            WEIGHTS[name].shape)
    return out


def test_mutated_weights_given_without_a_digest_load_what_the_file_holds(weights_artifact,
                                                                         tmp_path):
    """weights=PATH without weights_digest: other weights on purpose, checked by name, shape
    and dtype only. A mutation is then a clean error, or the results of the values the mutated
    file holds (changed values are this path's documented limit, not a wrong result)."""
    vmfb, irpa = weights_artifact
    with open(irpa, "rb") as f:
        data = f.read()
    with open(vmfb, "rb") as f:
        code = f.read()
    x = X.astype(np.float32)
    rng = random.Random(20240603)
    mutations = [mutate(data, rng, header=0x60) for _ in range(N_WEIGHTS)]

    def attempt(i: int) -> bool:
        path = tmp_path / f"w-{os.getpid()}.irpa"
        path.write_bytes(mutations[i][1])
        m = aotc_runtime.load_bytes(code, device=DEVICE, weights=path)
        try:
            got = m.affine(x)
        finally:
            m.close()
        held = weights_in_file(path)
        with np.errstate(all="ignore"):
            want = x @ held["w"] + held["b"]
        return np.allclose(got, want, rtol=1e-5, atol=1e-5, equal_nan=True)

    outcomes = run_forked(attempt, N_WEIGHTS)
    line = report("weights (.irpa) mutations through weights= without a digest", outcomes,
                  [kind for kind, _ in mutations])
    assert not any(o in FAILURES for o in outcomes), line
    assert outcomes.count("clean error") >= 0.2 * len(outcomes), line

def test_the_runner_reports_crashes_hangs_and_wrong_results(monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "HANG_SECONDS", 1.0)

    def attempt(i: int) -> bool:
        if i == 1:
            os.kill(os.getpid(), signal.SIGSEGV)
        if i == 3:
            signal.pause()
        if i == 4:
            raise aotc_runtime.ArtifactError("clean")
        if i == 5:
            raise IndexError("not aotc's")
        return i != 2

    assert run_forked(attempt, 7) == ["correct", "crash", "wrong", "hang", "clean error",
                                      "unclean error", "correct"]


@pytest.mark.parametrize("seed", range(3))
def test_mutations_change_the_bytes_as_their_kind_says(sample_artifact, seed):
    with open(sample_artifact, "rb") as f:
        data = f.read()
    rng = random.Random(seed)
    seen = set()
    for _ in range(200):
        kind, blob = mutate(data, rng)
        seen.add(kind)
        if kind == "truncate":
            assert len(blob) < len(data) and data.startswith(blob)
        elif kind == "append":
            assert len(blob) > len(data) and blob.startswith(data)
        elif kind == "seal":
            assert blob[:len(data) - 78] == data[:len(data) - 78] and blob != data
        elif kind in ("flip", "overwrite"):
            assert len(blob) == len(data)
    assert seen == {"flip", "overwrite", "truncate", "append", "seal"}
