"""The persistent compilation cache (aotc.tools.cache) behind compile_stablehlo, aotc.jit and
aotc.compile: hits, misses, what the key depends on, corrupt entries, concurrent processes,
the size cap and the off switch. Every test uses its own cache folder."""

import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import aotc
import aotc.numpy as anp
import aotc_runtime
from aotc.frontend.core.errors import CompileError
from aotc.tools import cache
from aotc.tools import compile as compile_module
from aotc.tools.compile import compile_stablehlo

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _tanh_plus(x):
    return anp.tanh(x) + 1.0


def _tanh_minus(x):
    return anp.tanh(x) - 1.0


X = np.linspace(-2, 2, 8, dtype=np.float32)


@pytest.fixture
def cache_dir(tmp_path, monkeypatch) -> str:
    folder = str(tmp_path / "cache")
    monkeypatch.setenv("AOTC_CACHE_DIR", folder)
    monkeypatch.delenv("AOTC_CACHE", raising=False)
    monkeypatch.delenv("AOTC_CACHE_MAX_BYTES", raising=False)
    return folder


@pytest.fixture
def iree_calls(monkeypatch) -> list:
    """Every flag list that compile_stablehlo handed to IREE in this test."""
    calls = []
    real = compile_module.compile_str

    def counting(text, **kwargs):
        calls.append(kwargs["extra_args"])
        return real(text, **kwargs)

    monkeypatch.setattr(compile_module, "compile_str", counting)
    return calls


def _entries(folder: str) -> list[str]:
    return sorted(n for n in os.listdir(folder) if n.endswith(".vmfb")) if os.path.isdir(
        folder) else []


def _run(vmfb: bytes, x: np.ndarray) -> np.ndarray:
    module = aotc_runtime.load_bytes(vmfb, device="local-sync", require_aotc=False)
    return module[module.functions[0]](x)[0]


def test_hit_miss_and_key_inputs(cache_dir, iree_calls):
    text = aotc.lower(_tanh_plus, X).text_with_locations()
    first = compile_stablehlo(text)
    assert len(iree_calls) == 1 and len(_entries(cache_dir)) == 1
    again = compile_stablehlo(text)
    assert again == first and len(iree_calls) == 1  # a hit: IREE did not run
    np.testing.assert_allclose(_run(again, X), np.tanh(X) + 1, rtol=1e-6)

    compile_stablehlo(text, flags=["--iree-opt-level=O1"])  # other flags: a miss
    compile_stablehlo(text, "x86_64")  # other target: a miss
    other = aotc.lower(_tanh_minus, X).text_with_locations()
    minus = compile_stablehlo(other)  # other module: a miss
    assert len(iree_calls) == 4 and len(_entries(cache_dir)) == 4
    np.testing.assert_allclose(_run(minus, X), np.tanh(X) - 1, rtol=1e-6)
    compile_stablehlo(text, "x86_64")
    compile_stablehlo(text, use_cache=False)
    assert len(iree_calls) == 5  # the x86_64 compile was a hit; use_cache=False compiled


def test_key_depends_on_everything_the_bytes_depend_on(monkeypatch):
    flags = ["--iree-hal-target-device=local", "--iree-llvmcpu-target-cpu=x86-64-v3"]
    base = cache.key("module {}", flags)
    assert cache.key("module {}", list(flags)) == base
    assert cache.key("module { }", flags) != base
    assert cache.key("module {}", [*flags, "--iree-opt-level=O3"]) != base
    assert cache.key("module {}", flags[::-1]) != base
    assert cache.key("module {}", flags, bounds=False) != base
    assert cache.key("module {}", flags, target="vulkan") != base
    monkeypatch.setattr(cache, "VERSION", "0.0.0-other")
    assert cache.key("module {}", flags) != base
    monkeypatch.undo()
    monkeypatch.setattr(cache.iree_version, "VERSION", "0.0.0-other")
    assert cache.key("module {}", flags) != base
    monkeypatch.undo()
    host = ["--iree-llvmcpu-target-cpu=host"]
    host_key = cache.key("module {}", host)
    monkeypatch.setattr(cache, "host_flags", lambda: frozenset({"sse2"}))
    assert cache.key("module {}", host) != host_key  # another CPU: another key
    assert cache.key("module {}", flags) == base  # named CPUs do not depend on this one


@pytest.mark.parametrize("package, name", [("passes_package", "bounds.py"),
                                           (None, "product_sums.py")])
def test_code_fingerprint_follows_the_code_before_iree(package, name):
    """Editing the code that rewrites the text before IREE (a pass, or a module rewrite in
    tools/ such as product_sums; here: the file's mtime) changes the key, so a source
    checkout never gets a program compiled by older code."""
    before = cache._code_fingerprint()
    folder = os.path.dirname(getattr(cache, package).__file__ if package else cache.__file__)
    path = os.path.join(folder, name)
    st = os.stat(path)
    try:
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
        cache._code_fingerprint.cache_clear()
        assert cache._code_fingerprint() != before
    finally:
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
        cache._code_fingerprint.cache_clear()
    assert cache._code_fingerprint() == before


@pytest.mark.parametrize("damage", ["truncate", "flip", "empty", "magic"])
def test_corrupt_entry_is_a_miss_and_is_replaced(cache_dir, damage):
    payload = os.urandom(4096)
    cache.put("k" * 64, payload)
    path = os.path.join(cache_dir, "k" * 64 + ".vmfb")
    data = bytearray(open(path, "rb").read())
    if damage == "truncate":
        data = data[:-100]
    elif damage == "flip":
        data[-1] ^= 0xFF
    elif damage == "empty":
        data = b""
    else:
        data[:8] = b"NOTAOTC!"
    open(path, "wb").write(bytes(data))
    assert cache.get("k" * 64) is None
    assert not os.path.exists(path)  # deleted, so the next compile writes a good one
    cache.put("k" * 64, payload)
    assert cache.get("k" * 64) == payload


def test_corrupt_compiled_entry_recompiles(cache_dir, iree_calls):
    text = aotc.lower(_tanh_plus, X).text_with_locations()
    good = compile_stablehlo(text)
    (name,) = _entries(cache_dir)
    path = os.path.join(cache_dir, name)
    data = bytearray(open(path, "rb").read())
    data[len(data) // 2] ^= 0x55
    open(path, "wb").write(bytes(data))
    assert compile_stablehlo(text) == good and len(iree_calls) == 2
    assert compile_stablehlo(text) == good and len(iree_calls) == 2


WRITER = textwrap.dedent("""
    import hashlib, sys
    from aotc.tools import cache
    me, writers, rounds = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    payloads = [bytes([w]) * (1 << 20) + bytes([w, 7]) for w in range(writers)]
    good = {hashlib.sha256(p).digest() for p in payloads}
    for r in range(rounds):
        cache.put("shared" + "0" * 58, payloads[me])
        cache.put(f"{me:02d}{r:04d}" + "0" * 58, payloads[me])
        seen = cache.get("shared" + "0" * 58)
        if seen is not None and hashlib.sha256(seen).digest() not in good:
            sys.exit("read a torn entry")
""")


@pytest.mark.slow
def test_concurrent_writers_never_expose_torn_entries(cache_dir, monkeypatch):
    monkeypatch.setenv("AOTC_CACHE_MAX_BYTES", str(12 << 20))  # evictions race the writers too
    writers, rounds = 4, 15
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(w), str(writers), str(rounds)],
                              stderr=subprocess.PIPE, text=True) for w in range(writers)]
    for proc in procs:
        _, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err
    payloads = {bytes([w]) * (1 << 20) + bytes([w, 7]) for w in range(writers)}
    for name in _entries(cache_dir):
        assert cache.get(name[:-5]) in payloads
    assert not [n for n in os.listdir(cache_dir) if n.endswith(".tmp")]  # no debris
    assert cache.size()[1] <= (12 << 20) + writers * ((1 << 20) + 54)  # a last racing write


def test_size_cap_evicts_least_recently_used(cache_dir, monkeypatch):
    entry = 10_000
    monkeypatch.setenv("AOTC_CACHE_MAX_BYTES", str(3 * (entry + 52)))
    now = time.time()
    for i in range(3):
        cache.put(f"{i}" * 64, bytes([i]) * entry)
        os.utime(os.path.join(cache_dir, f"{i}" * 64 + ".vmfb"), (now - 100 + i, now - 100 + i))
    assert len(_entries(cache_dir)) == 3
    assert cache.get("0" * 64) == bytes([0]) * entry  # a hit makes 0 the most recently used
    cache.put("3" * 64, bytes([3]) * entry)  # over the cap: the least recently used (1) goes
    assert cache.get("1" * 64) is None
    assert [cache.get(f"{i}" * 64) is not None for i in (0, 2, 3)] == [True, True, True]
    cache.put("4" * 64, os.urandom(4 * entry))  # bigger than the whole cap: not stored
    assert cache.get("4" * 64) is None and len(_entries(cache_dir)) == 3


def test_stale_temporary_files_are_removed(cache_dir):
    cache.put("a" * 64, b"x" * 100)
    old = os.path.join(cache_dir, ".dead-writer.tmp")
    fresh = os.path.join(cache_dir, ".live-writer.tmp")
    for path in (old, fresh):
        open(path, "wb").write(b"partial")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    cache.put("b" * 64, b"y" * 100)
    assert not os.path.exists(old) and os.path.exists(fresh)


@pytest.mark.parametrize("value", ["0", "off", "OFF", "false", "no"])
def test_off_switch(cache_dir, monkeypatch, value):
    monkeypatch.setenv("AOTC_CACHE", value)
    assert not cache.enabled()
    cache.put("c" * 64, b"data")
    assert cache.get("c" * 64) is None and not os.path.exists(cache_dir)


def test_off_switch_compiles_every_time(cache_dir, monkeypatch, iree_calls):
    monkeypatch.setenv("AOTC_CACHE", "off")
    text = aotc.lower(_tanh_minus, X).text_with_locations()
    compile_stablehlo(text)
    compile_stablehlo(text)
    assert len(iree_calls) == 2 and not os.path.exists(cache_dir)


def test_bad_settings_and_unwritable_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("AOTC_CACHE_MAX_BYTES", "1GB")
    with pytest.raises(CompileError, match=r"AOTC_CACHE_MAX_BYTES='1GB'.*whole number"):
        cache.max_bytes()
    monkeypatch.delenv("AOTC_CACHE_MAX_BYTES")
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("AOTC_CACHE_DIR", str(blocker / "cache"))
    cache._warn_unwritable.cache_clear()
    with pytest.warns(UserWarning, match="cannot write the compilation cache.*AOTC_CACHE_DIR"):
        cache.put("d" * 64, b"data")
    assert cache.get("d" * 64) is None


def test_default_location(monkeypatch):
    monkeypatch.delenv("AOTC_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", "/somewhere/cache")
    assert cache.directory() == "/somewhere/cache/aotc"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", "/home/someone")
    assert cache.directory() == "/home/someone/.cache/aotc"


SECOND_PROCESS = textwrap.dedent("""
    import sys, time
    import numpy as np
    import aotc, aotc.numpy as anp
    from aotc.tools import cache, compile as compile_module
    cache._code_fingerprint = lambda: "pinned"  # aotc's files may be edited between the runs
    if sys.argv[1] == "warm":
        def refuse(*args, **kwargs):
            raise SystemExit("IREE ran although the cache holds this program")
        compile_module.compile_str = refuse

    def model(x, y):
        return anp.tanh(x @ y) * 2.0

    x = np.full((4, 4), 0.25, np.float32)
    start = time.perf_counter()
    out = aotc.jit(model)(x, x)
    print(time.perf_counter() - start)
    np.testing.assert_allclose(out, np.tanh(x @ x) * 2, rtol=1e-6)
""")


@pytest.mark.slow
def test_second_process_skips_iree(cache_dir):
    """aotc.jit in a fresh process finds what an earlier process compiled."""
    cold = subprocess.run([sys.executable, "-c", SECOND_PROCESS, "cold"], capture_output=True,
                          text=True, timeout=300)
    assert cold.returncode == 0, cold.stderr
    assert len(_entries(cache_dir)) == 1
    warm = subprocess.run([sys.executable, "-c", SECOND_PROCESS, "warm"], capture_output=True,
                          text=True, timeout=300)
    assert warm.returncode == 0, warm.stderr + warm.stdout


def _jit_call(x):
    return aotc.jit(_tanh_plus)(x)  # traced programs carry the call site: always this line


def _compile_call(x):
    return aotc.compile(_tanh_plus, x)


def test_jit_and_compile_share_the_cache(cache_dir, iree_calls):
    np.testing.assert_allclose(_jit_call(X), np.tanh(X) + 1, rtol=1e-6)
    assert len(iree_calls) == 1
    np.testing.assert_allclose(_jit_call(X), np.tanh(X) + 1, rtol=1e-6)
    assert len(iree_calls) == 1  # a new jit object, the same program: from the cache
    vmfb = _compile_call(X)
    assert _compile_call(X) == vmfb and len(iree_calls) == 2
    module = aotc_runtime.load_bytes(vmfb, device="local-sync")
    np.testing.assert_allclose(module[module.functions[0]](X), np.tanh(X) + 1, rtol=1e-6)


def test_one_thread_compiles_the_same_bytes(cache_dir, monkeypatch, iree_calls):
    """AOTC_COMPILE_THREADS=1 (set for the test suite's xdist workers) adds IREE's
    --mlir-disable-threading: the same program bytes, so the same cache entry."""
    text = aotc.lower(_tanh_plus, X).text_with_locations()
    monkeypatch.delenv("AOTC_COMPILE_THREADS", raising=False)
    pooled = compile_stablehlo(text)
    monkeypatch.setenv("AOTC_COMPILE_THREADS", "1")
    assert compile_stablehlo(text) == pooled          # a hit: the key ignores the setting
    assert len(iree_calls) == 1 and len(_entries(cache_dir)) == 1
    single = compile_stablehlo(text, use_cache=False)
    assert "--mlir-disable-threading" not in iree_calls[0]
    assert "--mlir-disable-threading" in iree_calls[1]
    assert single == pooled
    np.testing.assert_allclose(_run(single, X), np.tanh(X) + 1.0, rtol=1e-6)


def test_bad_thread_setting_names_the_fix(monkeypatch):
    monkeypatch.setenv("AOTC_COMPILE_THREADS", "4")
    with pytest.raises(CompileError, match=r"AOTC_COMPILE_THREADS='4'.*use 1.*0 or leave it unset"):
        compile_stablehlo(aotc.lower(_tanh_plus, X).text_with_locations(), use_cache=False)
